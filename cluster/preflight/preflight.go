// Package preflight checks a plan against what discovery found on the boards,
// before anything is applied: the mistakes a plan alone cannot show (an image
// for another CPU, an SD card chosen over an SSD, a board whose Talos cannot
// read the config liftoff writes). It speaks plan.Problem, so the wizard's
// review, `liftoff preflight` and apply show these next to validation.
package preflight

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/config"

	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// machineryModule is the Talos machinery liftoff generates configs and reads
// resources with.
const machineryModule = "github.com/siderolabs/talos/pkg/machinery"

// fallbackMachinery is go.mod's machinery version, for binaries built
// without module information.
const fallbackMachinery = "v1.13.3"

// Links the fixes point at.
const (
	PiEEPROMDoc   = "https://www.raspberrypi.com/documentation/computers/raspberry-pi.html#raspberry-pi-boot-eeprom"
	TalosPiGuide  = "https://docs.siderolabs.com/talos/v1.13/platform-specific-installations/single-board-computers/rpi_generic"
	minInstallGiB = 10 // Talos's minimum system disk; smaller disks are not worth suggesting
)

// MachineryVersion is the Talos machinery liftoff was built with.
func MachineryVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == machineryModule {
				if m.Replace != nil && m.Replace.Version != "" {
					return m.Replace.Version
				}

				return m.Version
			}
		}
	}

	return fallbackMachinery
}

// Check compares the plan with the boards discovery found, keyed by board
// name; machinery is liftoff's Talos machinery version (MachineryVersion).
// A board missing from found is reported and otherwise skipped: as an
// error with its reason when unanswered says why it did not answer (it
// was asked and could not be checked), else as a warning (the wizard's
// scan did not reach it).
func Check(p *plan.Plan, found map[string]discover.Board, unanswered map[string]string, machinery string) plan.Problems {
	c := &checker{plan: p, machinery: machinery}

	c.versions()

	for i, b := range p.Boards {
		field := fmt.Sprintf("boards[%d]", i)

		d, ok := found[b.Name]
		if why, asked := unanswered[b.Name]; !ok && asked {
			c.add(plan.Error, b.Name, field+".address",
				"check the address, power and network, and that the board shows Talos maintenance mode on its screen (a board that already runs a config is past preflight)",
				"no board answered at %s in Talos maintenance mode, so it could not be checked: %s", b.Address, why)

			continue
		}

		if !ok {
			c.add(plan.Warning, b.Name, field+".address",
				"check the address and that the board shows Talos maintenance mode on its screen; liftoff checks it once it answers",
				"no board answered at %s: its hardware checks were skipped", b.Address)

			continue
		}

		c.arch(field, b, d)
		c.disk(field, b, d)
		c.skew(field, b, d)
	}

	c.firmware()

	return c.out
}

type checker struct {
	plan      *plan.Plan
	machinery string
	out       plan.Problems
}

func (c *checker) add(sev plan.Severity, board, field, fix, format string, args ...any) {
	c.out = append(c.out, plan.Problem{Severity: sev, Board: board, Field: field, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// arch catches an image for another CPU: the board would install it and
// boot-loop (the wrong-arch-image scenario), so it is an error.
func (c *checker) arch(field string, b plan.Board, d discover.Board) {
	want := plan.Arch(b.Model)

	if d.Arch != "" && d.Arch != want {
		c.add(plan.Error, b.Name, field+".model",
			fmt.Sprintf("set %s.model to %s (what the board is), so it gets an %s image", field, d.Model(), d.Arch),
			"the plan's model %s means an %s image, but the board is %s%s: an image for another CPU installs and then boot-loops",
			b.Model, want, d.Arch, product(d))

		return
	}

	// A Pi planned as generic arm64 gets no Raspberry Pi overlay (firmware,
	// device tree, U-Boot) and does not boot the installed image.
	if !plan.IsRaspberryPi(b.Model) && plan.IsRaspberryPi(d.Model()) {
		c.add(plan.Error, b.Name, field+".model",
			fmt.Sprintf("set %s.model to %s: Raspberry Pi images carry the rpi_generic overlay", field, d.Model()),
			"the plan's model %s has no Raspberry Pi overlay, but the board is%s: it would not boot what it installs",
			b.Model, product(d))
	}
}

func product(d discover.Board) string {
	if d.Product == "" {
		return ""
	}

	return " (" + d.Product + ")"
}

// disk warns when Talos would go on an SD card while a better disk sits
// next to it: etcd and logs write constantly, and SD cards wear out and are
// slow. A Pi with only its SD card is the normal install: no warning.
func (c *checker) disk(field string, b plan.Board, d discover.Board) {
	if len(d.Disks) == 0 {
		return // the board did not list its disks
	}

	idx := slices.IndexFunc(d.Disks, func(x discover.Disk) bool { return x.Path == b.InstallDisk })
	if idx < 0 {
		c.add(plan.Error, b.Name, field+".installDisk",
			fmt.Sprintf("set %s.installDisk to one of the board's disks", field),
			"install disk %s does not exist on the board; it has %s", b.InstallDisk, listDisks(d.Disks))

		return
	}

	install := d.Disks[idx]
	if !isFlash(install) {
		return
	}

	better, ok := bestOther(d.Disks, install)
	if !ok {
		return
	}

	medium := "an SD card"
	if d.SystemDisk == install.Path {
		medium = "the SD card it booted from"
	}

	c.add(plan.Warning, b.Name, field+".installDisk",
		fmt.Sprintf("set %s.installDisk: %s, and take the SD card out once the install finishes (or put USB/NVMe first in the EEPROM boot order), "+
			"or the Pi boots the maintenance image on the card again", field, better.Path),
		"Talos would install to %s (%s), while %s is free: etcd and logs write all the time, and an SD card is slow and wears out under them",
		install.Path, medium, describe(better))
}

// isFlash is an SD card or eMMC: the Pi's mmc devices.
func isFlash(d discover.Disk) bool {
	return d.Transport == "mmc" || strings.HasPrefix(d.Path, "/dev/mmcblk")
}

// bestOther is the largest writable non-mmc disk big enough for Talos.
func bestOther(disks []discover.Disk, install discover.Disk) (discover.Disk, bool) {
	var (
		best discover.Disk
		ok   bool
	)

	for _, x := range disks {
		if x.Path == install.Path || x.Readonly || isFlash(x) || x.Bytes != 0 && x.Bytes < minInstallGiB<<30 {
			continue
		}

		if !ok || x.Bytes > best.Bytes {
			best, ok = x, true
		}
	}

	return best, ok
}

func describe(d discover.Disk) string {
	var parts []string

	for _, s := range []string{d.Size, d.Transport, d.Model} {
		if s != "" {
			parts = append(parts, s)
		}
	}

	if len(parts) == 0 {
		return d.Path
	}

	return d.Path + " (" + strings.Join(parts, " ") + ")"
}

func listDisks(disks []discover.Disk) string {
	out := make([]string, len(disks))
	for i, d := range disks {
		out[i] = describe(d)
	}

	return strings.Join(out, ", ")
}

// firmware warns once per Raspberry Pi model: Talos's Pi image boots
// through U-Boot from the bootloader in the board's EEPROM, and an old EEPROM
// does not boot it. Pi 5 support in the rpi_generic overlay is recent
// (sbc-raspberrypi v0.1.6 moved to a U-Boot that knows the Pi 5), so every
// Pi 5 gets the warning; a Pi 4 only when it is to boot from USB or NVMe,
// which its EEPROM learnt in 2020-09 (Talos's Pi 4 guide asks for that one).
func (c *checker) firmware() {
	var pi4, pi5 []string

	for _, b := range c.plan.Boards {
		switch {
		case b.Model == plan.RPi5:
			pi5 = append(pi5, b.Name)
		case b.Model == plan.RPi4 && !strings.HasPrefix(b.InstallDisk, "/dev/mmcblk"):
			pi4 = append(pi4, b.Name)
		}
	}

	imager := "update the bootloader first: write Raspberry Pi Imager's Misc utility images → Bootloader (%s) → %s to a spare SD card, " +
		"boot the Pi from it once (a green screen means done); or run sudo rpi-eeprom-update -a under Raspberry Pi OS. See " + PiEEPROMDoc + " and " + TalosPiGuide

	if len(pi5) > 0 {
		c.add(plan.Warning, strings.Join(pi5, ", "), "boards[].model",
			fmt.Sprintf(imager, "Pi 5 family", "SD Card Boot (or NVMe/USB Boot for a board installing there)"),
			"a Raspberry Pi 5 boots Talos's rpi_generic image only with a recent bootloader EEPROM; with an older one it stops before Talos, "+
				"or reaches maintenance mode from the SD card but not the installed system on NVMe or USB")
	}

	if len(pi4) > 0 {
		c.add(plan.Warning, strings.Join(pi4, ", "), "boards[].model",
			fmt.Sprintf(imager, "Pi 4 family", "USB Boot"),
			"a Raspberry Pi 4 installing to USB or NVMe boots from it only with a bootloader EEPROM from 2020-09-03 or later; an older one keeps booting the SD card")
	}
}

// versions checks the plan's version contract against liftoff's machinery:
// machinery cannot write documents for a Talos it predates.
func (c *checker) versions() {
	cfg, err := config.ParseContractFromVersion(c.plan.Cluster.TalosVersion)
	if err != nil {
		return // validation reports it
	}

	mach, err := config.ParseContractFromVersion(c.machinery)
	if err != nil || !cfg.Greater(mach) {
		return
	}

	c.add(plan.Error, "", "cluster.talosVersion",
		fmt.Sprintf("set cluster.talosVersion to a %s release, or use a liftoff built with Talos machinery %s", mach, cfg),
		"the plan asks for Talos %s, but liftoff's Talos machinery is %s: it cannot write the documents and fields %s added, so the configs would not be %s configs",
		c.plan.Cluster.TalosVersion, c.machinery, cfg, cfg)
}

// skew compares the Talos a board runs in maintenance mode, which reads and
// validates the config it is given, with the config's version contract and
// with liftoff's machinery.
func (c *checker) skew(field string, b plan.Board, d discover.Board) {
	node, err := config.ParseContractFromVersion(d.TalosVersion)
	if err != nil {
		return // an unknown version: nothing to compare
	}

	cfg, cerr := config.ParseContractFromVersion(c.plan.Cluster.TalosVersion)
	mach, merr := config.ParseContractFromVersion(c.machinery)

	fix := fmt.Sprintf("boot the board from a %s image (write the one liftoff images lists to its SD card), or set cluster.talosVersion to %s so the config matches what it runs",
		cfg, d.TalosVersion)

	switch {
	case cerr != nil, merr == nil && cfg.Greater(mach):
		// no config to compare: versions() reports a plan newer than machinery
	case cfg.MultidocNetworkConfigSupported() && !node.MultidocNetworkConfigSupported():
		c.add(plan.Error, b.Name, "cluster.talosVersion", fix,
			"the board runs Talos %s, and the config is written for %s (cluster.talosVersion): it carries documents %s does not know, such as HostnameConfig (new in v1.12), so the board refuses the config",
			d.TalosVersion, cfg, node)
	case cfg.Greater(node):
		c.add(plan.Warning, b.Name, "cluster.talosVersion", fix,
			"the board runs Talos %s, and the config is written for %s (cluster.talosVersion): fields added after %s are unknown to the Talos that validates it, and it may refuse the config",
			d.TalosVersion, cfg, node)
	}

	if merr == nil && node.Greater(mach) {
		c.add(plan.Warning, b.Name, field+".address",
			fmt.Sprintf("use a liftoff built with Talos machinery %s or newer, or boot the board from a %s image", node, mach),
			"the board runs Talos %s, newer than liftoff's Talos machinery %s: resources and fields added since are unknown to liftoff, so its checks and diagnoses may miss what they say",
			d.TalosVersion, c.machinery)
	}
}
