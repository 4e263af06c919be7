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
	"github.com/liftoff-lab/liftoff/cluster/image"
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
	PiEEPROMDoc = "https://www.raspberrypi.com/documentation/computers/raspberry-pi.html#raspberry-pi-boot-eeprom"
	// TalosPiGuide is Talos's guide for the rpi_generic overlay (Pi 4, CM4).
	TalosPiGuide = "https://docs.siderolabs.com/talos/v1.13/platform-specific-installations/single-board-computers/rpi_generic"
	// Pi5OverlayDoc is the rpi_5 overlay's home: Talos v1.13's docs have no
	// Pi 5 page of their own.
	Pi5OverlayDoc = "https://github.com/siderolabs/sbc-raspberrypi"
	// EphemeralDoc tells how to move /var (etcd, images, logs) off the
	// system disk with a VolumeConfig for EPHEMERAL.
	EphemeralDoc  = "https://docs.siderolabs.com/talos/v1.13/configure-your-talos-cluster/storage-and-disk-management/disk-management/system"
	minInstallGiB = 10 // Talos's minimum system disk; smaller disks are not worth suggesting
)

// PiGuide is the guide for a Raspberry Pi model's overlay ("" for others).
func PiGuide(model string) string {
	switch plan.Overlay(model) {
	case plan.OverlayRPiGeneric:
		return TalosPiGuide
	case plan.OverlayRPi5:
		return Pi5OverlayDoc
	}

	return ""
}

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
		c.card(field, b, d)
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
			fmt.Sprintf("set %s.model to %s: its images carry the %s overlay (see %s)", field, d.Model(), plan.Overlay(d.Model()), PiGuide(d.Model())),
			"the plan's model %s has no Raspberry Pi overlay, but the board is%s: it would not boot what it installs",
			b.Model, product(d))

		return
	}

	// The two Pi overlays are not interchangeable (sbc-raspberrypi v0.2.0):
	// rpi_generic's firmware step removes the bcm2712 device trees a Pi 5
	// needs, and rpi_5 carries only those.
	want, is := plan.Overlay(b.Model), plan.Overlay(d.Model())
	if want != "" && is != "" && want != is {
		c.add(plan.Error, b.Name, field+".model",
			fmt.Sprintf("set %s.model to %s, so it gets the %s overlay (see %s)", field, d.Model(), is, PiGuide(d.Model())),
			"the plan's model %s means the %s overlay, but the board is%s, which boots only the %s overlay: it would not boot what it installs",
			b.Model, want, product(d), is)
	}
}

// card warns when a board booted from its card (an SBC, or any board whose
// META partition was found) runs another image than its role's: Talos
// installs nothing on an installed board (talos v1.13.3
// v1alpha1_sequencer.go, Install), so after apply it would keep the
// card's extensions. liftoff's bring-up upgrades it; the warning says so
// and how to avoid the extra reboot.
func (c *checker) card(field string, b plan.Board, d discover.Board) {
	if d.Schematic == "" || (d.SystemDisk == "" && b.Model == plan.AMD64) {
		return
	}

	im, err := image.For(c.plan, b)
	if err != nil || im.SchematicID == "" || im.SchematicID == d.Schematic {
		return
	}

	fix := fmt.Sprintf("nothing to do: liftoff up upgrades %s to %s after apply (the Talos machine API's Upgrade: one more install and reboot)", b.Name, im.Installer)
	if im.DiskImage != "" {
		fix += fmt.Sprintf("; to skip that, write the role's disk image %s to its card first", im.DiskImage)
	}

	c.add(plan.Warning, b.Name, field+".role",
		fix,
		"%s booted an image (schematic %s, extensions: %s) that is not its %s role's (schematic %s, extensions: %s): Talos installs nothing on a board booted from its card, so applying its config alone leaves the card's image running",
		b.Name, image.ShortID(d.Schematic), orNone(strings.Join(d.Extensions, " ")), b.Role, image.ShortID(im.SchematicID), orNone(strings.Join(im.Extensions, " ")))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}

	return s
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

	c.booted(field, b, d)

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

	// A Pi 5 / CM5 boots Talos only from SD or eMMC (plan.BootsOnlyFromMMC):
	// the SD card stays; /var can move to the faster disk.
	if plan.BootsOnlyFromMMC(b.Model) {
		c.add(plan.Warning, b.Name, field+".installDisk",
			fmt.Sprintf("keep Talos on %s — a %s boots only from its SD card or eMMC — and use %s once Talos runs: as a data volume (UserVolumeConfig), "+
				"or for /var (etcd, container images, logs) with a VolumeConfig for EPHEMERAL whose diskSelector picks it, which Talos honours only before /var is first provisioned; see %s",
				install.Path, b.Model, better.Path, EphemeralDoc),
			"Talos runs from %s (%s), and %s is free: etcd and logs write all the time, and an SD card is slow and wears out under them",
			install.Path, medium, describe(better))

		return
	}

	c.add(plan.Warning, b.Name, field+".installDisk",
		fmt.Sprintf("write the role's disk image (liftoff images prints its URL) to %s instead of the SD card, boot the Pi from it with the card out, "+
			"and set %s.installDisk: %s — a Pi booted from an SD card image counts as installed there, so Talos does not move itself on apply", better.Path, field, better.Path),
		"Talos would install to %s (%s), while %s is free: etcd and logs write all the time, and an SD card is slow and wears out under them",
		install.Path, medium, describe(better))
}

// booted warns when the plan names another install disk than the one the
// board booted Talos from. A board whose boot disk holds Talos's META
// partition (a Pi booted from a factory disk image) counts as installed,
// and Talos v1.13 runs its install sequence only when not installed
// (internal/app/machined/pkg/runtime/v1alpha1: Sequencer.Install,
// MachineState.Installed), so machine.install.disk is not acted on.
func (c *checker) booted(field string, b plan.Board, d discover.Board) {
	if d.SystemDisk == "" || d.SystemDisk == b.InstallDisk {
		return
	}

	c.add(plan.Warning, b.Name, field+".installDisk",
		fmt.Sprintf("set %s.installDisk: %s, or write the role's disk image (liftoff images prints its URL) to %s and boot the board from it", field, d.SystemDisk, b.InstallDisk),
		"the board booted Talos from %s, which holds Talos's META partition, so Talos counts itself installed there and does not install to %s when its config is applied",
		d.SystemDisk, b.InstallDisk)
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

// firmware warns once per Pi family whose boards are to boot from USB or
// NVMe: a Pi 4 or CM4 boots from them only when its bootloader EEPROM's
// BOOT_ORDER lists them (a Pi 4 learnt USB boot in its 2020-09-03 EEPROM;
// Talos's Pi guide asks for an up-to-date one). A Pi 5 gets no such
// warning: what keeps it on its SD card is its overlay's U-Boot, not its
// EEPROM, and plan validation says so.
func (c *checker) firmware() {
	var pi4, cm4 []string

	for _, b := range c.plan.Boards {
		if plan.IsMMC(b.InstallDisk) {
			continue
		}

		switch b.Model {
		case plan.RPi4:
			pi4 = append(pi4, b.Name)
		case plan.CM4:
			cm4 = append(cm4, b.Name)
		}
	}

	imager := "update the bootloader first: write Raspberry Pi Imager's Misc utility images → Bootloader (%s) → %s to a spare SD card, " +
		"boot the Pi from it once (a green screen means done); or run sudo rpi-eeprom-update -a under Raspberry Pi OS. See " + PiEEPROMDoc + " and " + TalosPiGuide

	if len(pi4) > 0 {
		c.add(plan.Warning, strings.Join(pi4, ", "), "boards[].model",
			fmt.Sprintf(imager, "Pi 4 family", "USB Boot"),
			"a Raspberry Pi 4 installing to USB or NVMe boots from it only with a bootloader EEPROM from 2020-09-03 or later; an older one keeps booting the SD card")
	}

	if len(cm4) > 0 {
		c.add(plan.Warning, strings.Join(cm4, ", "), "boards[].model",
			"check its EEPROM's BOOT_ORDER with rpi-eeprom-config (NVMe is 6, USB 4), and update it with rpiboot's recovery image if it lacks them; see "+PiEEPROMDoc+" and "+TalosPiGuide,
			"a Compute Module 4 boots from NVMe or USB only when its bootloader EEPROM's BOOT_ORDER lists them")
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
