package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/flash"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// flashFlags are liftoff flash's flags.
type flashFlags struct {
	path, device, to, img, lab, fac, cache string
	yes                                    bool
}

func newFlashCmd() *cobra.Command {
	var f flashFlags

	c := &cobra.Command{
		Use:   "flash BOARD (--device /dev/sdX | --to FILE)",
		Short: "Write a board's role image to its SD card or boot disk",
		Long: `Writes the plan's image for BOARD — its role's extensions, its model's
overlay (rpi_generic for a Pi 4 / CM4, rpi_5 for a Pi 5 / CM5) and its
architecture — to its boot medium, the step before maintenance mode.

It registers the board's schematic with the Image Factory, downloads the
disk image (metal-<arch>.raw.xz) once into a cache ($XDG_CACHE_HOME/liftoff/
images, resumed when a download stopped, checked against its recorded
SHA-256 when reused), decompresses it as it writes, syncs, and reads every
byte back to verify it. The medium's first MiB is zeroed first and written
last: a write that fails or is cancelled leaves a medium that does not boot,
never a half-written one that seems to.

Why the role's image and not any Talos image: a Pi booted from a factory
disk image counts as installed (its META partition exists), so applying a
config does not install the config's installer. The extensions the board
runs are the ones on the medium until an upgrade.

Only whole removable or USB disks are written. The system disk, anything
mounted, swap, LVM/LUKS/RAID members and partitions are refused with the
reason; without --device, flash lists the devices and why each is or is not
offered. The confirmation shows the device, its model, size and partitions
and asks you to type its name; --yes skips that, for scripts that name
--device. A symlink (/dev/disk/by-id/…) is resolved once and the device is
checked again, by its /dev node, just before writing.

--to FILE writes the raw image to a file instead (for another flashing tool,
or tests). --image FILE|URL writes a self-built image (required with
images.custom). The board's record in --lab (` + plan.FlashedFile + `) says
which role and schematic its medium carries: liftoff up's wizard reads it.

Devices are Linux only (sysfs, /dev). On macOS use --to and the dd steps
flash prints.`,
		Example: `  liftoff flash pi-1 --plan lab.yaml               # list the devices it would write
  sudo liftoff flash pi-1 --plan lab.yaml --device /dev/sdb
  liftoff flash pi-1 --plan lab.yaml --to pi-1.raw
  liftoff flash pi-1 --plan lab.yaml --image ./my-talos.raw.xz --device /dev/sdb --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return f.run(c, args[0]) },
	}

	addPlanFlag(c, &f.path)
	c.Flags().StringVar(&f.device, "device", "", "the whole device to write, e.g. /dev/sdb (Linux)")
	c.Flags().StringVar(&f.to, "to", "", "write the raw image to this file instead of a device")
	c.Flags().StringVar(&f.img, "image", "", "a self-built image, file or URL (.raw or .raw.xz), instead of the factory's")
	c.Flags().BoolVar(&f.yes, "yes", false, "do not ask to type the device name (with --device; for scripts)")
	c.Flags().StringVar(&f.lab, "lab", "homelab", "the lab's output directory (liftoff up --out): registrations and written media are recorded there")
	c.Flags().StringVar(&f.cache, "cache", "", "the image cache (default $XDG_CACHE_HOME/liftoff/images)")
	addFactoryFlag(c, &f.fac)

	return c
}

// run writes board's image: the flags checked, the target checked before
// any download, then fetch, write and verify, and what to do next.
func (f *flashFlags) run(c *cobra.Command, board string) error {
	out := c.OutOrStdout()

	if f.device != "" && f.to != "" {
		return usageError{errors.New("--device and --to: write to one of them")}
	}

	if f.yes && f.device == "" && f.to == "" {
		return usageError{errors.New("--yes needs an explicit --device (or --to): liftoff never picks a device for you")}
	}

	job, err := f.job(c, board)
	if err != nil {
		return err
	}

	if f.to == "" && runtime.GOOS != "linux" {
		return unsupportedOS(out, job)
	}

	host := flash.Linux()

	if f.device == "" && f.to == "" {
		return listDevices(out, host, job)
	}

	// The target is checked before any download: a refusal costs nothing.
	var dev flash.Device

	if f.device != "" {
		if dev, err = host.Lookup(f.device); err != nil {
			return err
		}

		if !dev.Offered() {
			return fmt.Errorf("%s: %s — nothing was written", dev.Path, dev.Refusal)
		}
	} else if err := checkImageFile(f.to, f.path, f.yes); err != nil {
		return err
	}

	printFacts(out, job)

	file, err := job.Fetch(c.Context(), lines(out), func(s string) { fmt.Fprintln(out, s) })
	if err != nil {
		return err
	}

	card, err := job.Flash(c.Context(), file, func(size int64) (flash.Medium, error) {
		fmt.Fprintf(out, "image: %s (%s raw)\n", file, flash.Bytes(size))

		return f.medium(c, job, host, dev, size)
	}, lines(out))
	if err != nil {
		return err
	}

	f.done(out, job, card)

	return nil
}

// job is the board's flash job from the plan, with the factory and cache
// the flags name.
func (f *flashFlags) job(c *cobra.Command, board string) (*flash.Job, error) {
	p, err := loadValid(c.ErrOrStderr(), f.path)
	if err != nil {
		return nil, err
	}

	if err := useFactory(p, f.fac); err != nil {
		return nil, err
	}

	cache := f.cache
	if cache == "" {
		if cache, err = flash.DefaultCacheDir(); err != nil {
			return nil, err
		}
	}

	out := c.OutOrStdout()

	return flash.NewJob(p, board, f.img, f.lab, &flash.Cache{Dir: cache, Note: func(s string) { fmt.Fprintln(out, s) }})
}

// medium opens what the image goes to: the --to file, or the device once
// the image fits and the person typed its name (unless --yes).
func (f *flashFlags) medium(c *cobra.Command, job *flash.Job, host flash.Host, dev flash.Device, size int64) (flash.Medium, error) {
	out := c.OutOrStdout()

	if f.device == "" {
		return os.OpenFile(f.to, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	}

	if err := dev.Fits(size); err != nil {
		return nil, err
	}

	fmt.Fprintf(out, "\nabout to write %s's %s image — everything on it is lost:\n  %s\n", job.Board.Name, job.Board.Role, dev.Describe())

	if f.device != dev.Path {
		fmt.Fprintf(out, "  (%s is %s)\n", f.device, dev.Path)
	}

	if !f.yes {
		if err := confirmDevice(c.InOrStdin(), out, dev); err != nil {
			return nil, err
		}
	}

	return host.Open(dev)
}

// done says what was written, where it is recorded, and the first boot's
// steps.
func (f *flashFlags) done(out io.Writer, job *flash.Job, card flash.Card) {
	fmt.Fprintf(out, "written and verified: sha256 %s (of the raw image, read back from the medium)\n", card.SHA256[:12])
	fmt.Fprintf(out, "recorded in %s: %s's medium carries the %s image\n", filepath.Join(f.lab, plan.FlashedFile), job.Board.Name, job.Board.Role)

	if f.to != "" {
		fmt.Fprintf(out, "\n%s is the raw image: write it with your flashing tool, then:\n", f.to)
	} else {
		fmt.Fprintln(out, "\nnext:")
	}

	for i, s := range flash.FirstBoot(job.Board) {
		fmt.Fprintf(out, "  %d. %s\n", i+1, s)
	}
}

// checkImageFile refuses a --to that would overwrite the plan, something
// not a regular file, or an existing file without --yes.
func checkImageFile(to, planPath string, yes bool) error {
	if same(to, planPath) {
		return usageError{fmt.Errorf("--to %s is the plan: liftoff never writes over it — choose another file", to)}
	}

	fi, err := os.Stat(to)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}

	if err != nil {
		return err
	}

	if !fi.Mode().IsRegular() {
		return usageError{fmt.Errorf("--to %s is not a regular file: for a device, use --device", to)}
	}

	if !yes {
		return usageError{fmt.Errorf("--to %s exists: remove it, choose another name, or pass --yes to overwrite it", to)}
	}

	return nil
}

func printFacts(out io.Writer, job *flash.Job) {
	fmt.Fprintln(out, "image for the boot medium:")

	for _, f := range flash.Facts(job.Board, job.Image, job.Version()) {
		fmt.Fprintln(out, "  "+f)
	}

	fmt.Fprintln(out, "  from: "+job.Origin())
}

func listDevices(out io.Writer, host flash.Host, job *flash.Job) error {
	devs, err := host.Devices()
	if err != nil {
		return err
	}

	printFacts(out, job)
	fmt.Fprintln(out, "\ndevices:")

	offered := 0

	for _, d := range devs {
		if d.Offered() {
			offered++
			fmt.Fprintf(out, "  ✓ %s\n", d.Describe())
		} else {
			fmt.Fprintf(out, "  ✗ %s\n      %s\n", d.Describe(), d.Refusal)
		}
	}

	if offered == 0 {
		fmt.Fprintln(out, "\nno device can be written: put the SD card in a reader (USB or built in) and run this again")

		return nil
	}

	fmt.Fprintf(out, "\nto write one: liftoff flash %s --device /dev/NAME (it asks you to type the name)\n", job.Board.Name)

	return nil
}

// confirmDevice asks for the device's name, typed: a y would come too
// easily for a command that erases a disk.
func confirmDevice(in io.Reader, out io.Writer, d flash.Device) error {
	fmt.Fprintf(out, "type %s to write it: ", d.Name)

	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("not confirmed (no answer) — nothing was written; --yes skips the question")
	}

	if got := strings.TrimSpace(line); got != d.Name && got != d.Path {
		return fmt.Errorf("not confirmed: typed %q, not %s — nothing was written", got, d.Name)
	}

	return nil
}

// unsupportedOS says what works here and prints the manual steps.
func unsupportedOS(out io.Writer, job *flash.Job) error {
	printFacts(out, job)
	fmt.Fprintf(out, `
writing a device is Linux only for now (liftoff reads devices from sysfs); on %s:
  1. liftoff flash %s --to %s.raw        # the verified raw image, as a file
  2. diskutil list                              # find the card, e.g. /dev/disk4 (external, physical)
  3. diskutil unmountDisk /dev/disk4
  4. sudo dd if=%s.raw of=/dev/rdisk4 bs=4m     # rdisk: the raw device, much faster
  5. sync; diskutil eject /dev/disk4
or write the file with Raspberry Pi Imager (Use custom) or balenaEtcher.
`, runtime.GOOS, job.Board.Name, job.Board.Name, job.Board.Name)

	return errors.New("--device is not supported on " + runtime.GOOS + ": use --to FILE and the steps above")
}

// lines prints progress as plain lines: each phase's start, every 10%,
// and its end — a log, not a redrawn bar (the wizard draws the bar).
func lines(out io.Writer) func(flash.Progress) {
	var (
		phase string
		next  int64
	)

	return func(p flash.Progress) {
		if p.Phase != phase {
			phase, next = p.Phase, 0
		}

		pct := int64(-1)
		if p.Total > 0 {
			pct = p.Done * 100 / p.Total
		}

		if pct < next || (pct < 0 && p.Done > 0) {
			return
		}

		next = pct/10*10 + 10
		fmt.Fprintln(out, progressLine(p))
	}
}

// progressLine is one progress report: bytes, rate, ETA.
func progressLine(p flash.Progress) string {
	s := fmt.Sprintf("%-8s %s", p.Phase, flash.Bytes(p.Done))
	if p.Total > 0 {
		s += fmt.Sprintf(" / %s  %3d%%", flash.Bytes(p.Total), p.Done*100/p.Total)
	}

	if p.Rate > 0 {
		s += fmt.Sprintf("  %s/s", flash.Bytes(int64(p.Rate)))
	}

	if p.ETA > 0 {
		s += "  ETA " + p.ETA.Round(time.Second).String()
	}

	return s
}
