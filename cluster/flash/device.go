// Package flash writes a board's Talos disk image to its boot medium: it
// picks the devices that are safe to write (whole removable or USB disks,
// nothing mounted, nothing in use, never the system disk), keeps a
// verified download cache of the factory's images, and streams an
// xz-compressed image to a device or a file with progress, a sync and a
// read-back check.
//
// Linux only for devices: what a device is comes from sysfs (the kernel's
// Documentation/ABI/stable/sysfs-block: removable, ro, size in 512-byte
// sectors, dev as major:minor, holders/ and slaves/) and what is mounted
// from /proc/self/mountinfo (proc(5)). Both roots are fields of Host, so
// tests hand it a fake tree.
package flash

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Host is where devices are looked up: a sysfs root, a /dev root and the
// mount and swap tables.
type Host struct {
	Sys       string // /sys
	Dev       string // /dev
	MountInfo string // /proc/self/mountinfo
	Swaps     string // /proc/swaps
	// RequireBlock refuses a /dev entry that is not a block device node
	// (true on a real host; a test's fake /dev holds regular files).
	RequireBlock bool
}

// Linux is the running machine.
func Linux() Host {
	return Host{Sys: "/sys", Dev: "/dev", MountInfo: "/proc/self/mountinfo", Swaps: "/proc/swaps", RequireBlock: true}
}

// Device is one whole block device and whether liftoff would write it.
type Device struct {
	Name       string // sdb, mmcblk0
	Path       string // /dev/sdb
	Model      string // vendor and model as the device says
	Size       int64  // bytes
	Removable  bool
	USB        bool
	Partitions []Partition
	// Refusal says why liftoff will not write it; "" means it may.
	Refusal string
	// dev is sysfs's major:minor, checked against the /dev node.
	dev string
	// node is the /dev entry as Lookup found it: Open writes only to
	// that same node.
	node fs.FileInfo
}

// Partition is a partition of a device, with where it is mounted.
type Partition struct {
	Name  string
	Size  int64
	Mount string // "" when not mounted
}

// Offered tells whether the device may be written.
func (d Device) Offered() bool { return d.Refusal == "" }

// Describe is the one line a person confirms: device, model, size,
// partitions.
func (d Device) Describe() string {
	s := fmt.Sprintf("%s  %s  %s", d.Path, orUnknown(d.Model), Bytes(d.Size))

	switch {
	case d.USB:
		s += "  usb"
	case d.Removable:
		s += "  removable"
	}

	if len(d.Partitions) == 0 {
		return s + "  (no partitions)"
	}

	var parts []string

	for _, p := range d.Partitions {
		e := p.Name + " " + Bytes(p.Size)
		if p.Mount != "" {
			e += " on " + p.Mount
		}

		parts = append(parts, e)
	}

	return s + "  partitions: " + strings.Join(parts, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(model unknown)"
	}

	return s
}

// Virtual devices are never media: listing them is noise.
var virtual = []string{"loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd"}

// Devices lists the host's whole block devices, offered or refused with
// the reason. Loop, RAM, device-mapper and optical devices are left out.
func (h Host) Devices() ([]Device, error) {
	entries, err := os.ReadDir(filepath.Join(h.Sys, "block"))
	if err != nil {
		return nil, fmt.Errorf("listing block devices: %w (liftoff reads them from sysfs, Linux only)", err)
	}

	st, err := h.state()
	if err != nil {
		return nil, err
	}

	var out []Device

	for _, e := range entries {
		if slices.ContainsFunc(virtual, func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
			continue
		}

		out = append(out, h.device(e.Name(), st))
	}

	return out, nil
}

// Lookup resolves what the operator named (/dev/sdb, or a symlink such as
// /dev/disk/by-id/usb-…) once, to a whole device of this host, and says
// whether it may be written. The error is for a name that is no device at
// all; a device liftoff will not write comes back with its Refusal.
func (h Host) Lookup(name string) (Device, error) {
	real, err := filepath.EvalSymlinks(name)
	if err != nil {
		return Device{}, fmt.Errorf("%s: %w — name a whole device such as /dev/sdb (liftoff devices lists them)", name, unwrap(err))
	}

	real, err = filepath.Abs(real)
	if err != nil {
		return Device{}, err
	}

	if filepath.Dir(real) != filepath.Clean(h.Dev) {
		return Device{}, fmt.Errorf("%s is %s, not a device in %s: name a whole device such as /dev/sdb", name, real, h.Dev)
	}

	base := filepath.Base(real)

	st, err := h.state()
	if err != nil {
		return Device{}, err
	}

	if disk, ok := st.partOf[base]; ok {
		d := h.device(disk, st)
		d.Refusal = fmt.Sprintf("%s is a partition of %s: liftoff writes whole devices — name %s", real, d.Path, d.Path)

		return d, nil
	}

	if _, err := os.Stat(filepath.Join(h.Sys, "block", base)); err != nil {
		return Device{}, fmt.Errorf("%s is not a block device this machine knows (no %s): name a whole device such as /dev/sdb", real, filepath.Join(h.Sys, "block", base))
	}

	d := h.device(base, st)
	if d.Refusal == "" {
		d.Refusal = h.checkNode(d)
	}

	d.node, _ = os.Lstat(d.Path)

	return d, nil
}

// Open opens a device Lookup offered, for writing, after checking it
// again: still offered (nothing mounted it since), the same /dev node
// (not replaced, not a symlink now: O_NOFOLLOW), the same size and
// major:minor. O_EXCL makes the kernel refuse a block device that is
// mounted or held open exclusively (open(2)).
func (h Host) Open(d Device) (*os.File, error) {
	if !d.Offered() {
		return nil, fmt.Errorf("%s: %s", d.Path, d.Refusal)
	}

	again, err := h.Lookup(d.Path)
	if err != nil {
		return nil, fmt.Errorf("%s changed since it was shown: %w — nothing was written", d.Path, err)
	}

	if !again.Offered() {
		return nil, fmt.Errorf("%s changed since it was shown: %s — nothing was written", d.Path, again.Refusal)
	}

	f, err := os.OpenFile(d.Path, os.O_RDWR|syscall.O_EXCL|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return nil, fmt.Errorf("%s is busy (mounted or opened by another program since it was shown) — nothing was written", d.Path)
		}

		return nil, fmt.Errorf("opening %s: %w — nothing was written (writing a device needs root: sudo)", d.Path, unwrap(err))
	}

	fi, err := f.Stat()
	if err != nil || d.node == nil || !os.SameFile(fi, d.node) || again.Size != d.Size || again.dev != d.dev {
		f.Close() //nolint:errcheck

		return nil, fmt.Errorf("%s is no longer the device that was shown (%s) — nothing was written; run it again", d.Path, d.Describe())
	}

	return f, nil
}

// checkNode makes sure the /dev entry is the device sysfs describes: a
// block device node with its major:minor.
func (h Host) checkNode(d Device) string {
	fi, err := os.Stat(d.Path)
	if err != nil {
		return fmt.Sprintf("%s: %v", d.Path, unwrap(err))
	}

	if !h.RequireBlock {
		return ""
	}

	if fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
		return d.Path + " is not a block device node"
	}

	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		rdev := uint64(sys.Rdev) //nolint:unconvert // an int32 on some platforms
		if got := fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev)); got != d.dev {
			return fmt.Sprintf("%s is device %s, but sysfs says %s is %s: the /dev entry is not the disk it names", d.Path, got, d.Name, d.dev)
		}
	}

	return ""
}

// state is what spans devices: which partition belongs to which disk,
// which block device (by major:minor) is mounted where, and swap.
type state struct {
	partOf  map[string]string   // partition → disk
	byDev   map[string]string   // major:minor → block name
	mounts  map[string][]string // block name → mount points
	swap    map[string]bool     // block name → used as swap
	slaves  map[string][]string // dm/md device → the devices under it
	holders map[string][]string // device or partition → what holds it
}

func (h Host) state() (state, error) {
	st := state{partOf: map[string]string{}, byDev: map[string]string{}, mounts: map[string][]string{},
		swap: map[string]bool{}, slaves: map[string][]string{}, holders: map[string][]string{}}

	disks, err := os.ReadDir(filepath.Join(h.Sys, "block"))
	if err != nil {
		return st, fmt.Errorf("listing block devices: %w (liftoff reads them from sysfs, Linux only)", err)
	}

	for _, d := range disks {
		dir := filepath.Join(h.Sys, "block", d.Name())
		st.byDev[readLine(filepath.Join(dir, "dev"))] = d.Name()
		st.slaves[d.Name()] = names(filepath.Join(dir, "slaves"))
		st.holders[d.Name()] = names(filepath.Join(dir, "holders"))

		for _, p := range h.partitions(d.Name()) {
			st.partOf[p] = d.Name()
			st.byDev[readLine(filepath.Join(dir, p, "dev"))] = p
			st.holders[p] = names(filepath.Join(dir, p, "holders"))
		}
	}

	if err := h.readMounts(st); err != nil {
		return st, err
	}

	h.readSwaps(st)

	return st, nil
}

// readMounts maps mountinfo's major:minor (field 3) to mount points
// (field 5), per proc(5).
func (h Host) readMounts(st state) error {
	f, err := fileio.Open(h.MountInfo, fileio.System)
	if err != nil {
		return fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close() //nolint:errcheck

	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)

	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}

		if name, ok := st.byDev[fields[2]]; ok {
			st.mounts[name] = append(st.mounts[name], unescape(fields[4]))
		}
	}

	return sc.Err()
}

// readSwaps marks /proc/swaps' devices (first column, a /dev path).
func (h Host) readSwaps(st state) {
	data, err := fileio.ReadFile(h.Swaps, fileio.System)
	if err != nil {
		return
	}

	for _, line := range strings.Split(string(data), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			st.swap[filepath.Base(f[0])] = true
		}
	}
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}

	var b strings.Builder

	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3

				continue
			}
		}

		b.WriteByte(s[i])
	}

	return b.String()
}

func (h Host) partitions(disk string) []string {
	var out []string

	for _, e := range names(filepath.Join(h.Sys, "block", disk)) {
		if _, err := os.Stat(filepath.Join(h.Sys, "block", disk, e, "partition")); err == nil {
			out = append(out, e)
		}
	}

	return out
}

// systemMounts hold the running system: a disk under any of them is the
// system disk.
var systemMounts = []string{"/", "/boot", "/boot/efi", "/boot/firmware", "/usr", "/var", "/home"}

// device reads one whole device and decides.
func (h Host) device(name string, st state) Device {
	dir := filepath.Join(h.Sys, "block", name)
	d := Device{
		Name:      name,
		Path:      filepath.Join(h.Dev, name),
		Model:     strings.TrimSpace(readLine(filepath.Join(dir, "device", "vendor")) + " " + readLine(filepath.Join(dir, "device", "model"))),
		Size:      sectors(filepath.Join(dir, "size")),
		Removable: readLine(filepath.Join(dir, "removable")) == "1",
		dev:       readLine(filepath.Join(dir, "dev")),
	}

	// A USB disk's sysfs path runs through its USB port (…/usb2/2-1/…).
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		d.USB = slices.ContainsFunc(strings.Split(filepath.ToSlash(real), "/"), func(s string) bool { return strings.HasPrefix(s, "usb") })
	}

	mounted := map[string][]string{} // this disk's partitions (or itself) → mounts, through dm/md

	for _, p := range h.partitions(name) {
		part := Partition{Name: p, Size: sectors(filepath.Join(dir, p, "size"))}
		part.Mount = strings.Join(st.mounts[p], " ")
		d.Partitions = append(d.Partitions, part)
	}

	for dev, points := range st.mounts {
		for _, under := range st.under(dev) {
			if under == name || st.partOf[under] == name {
				mounted[dev] = points
			}
		}
	}

	d.Refusal = d.refusal(st, mounted, readLine(filepath.Join(dir, "ro")) == "1")

	return d
}

// under is the physical devices or partitions a block device sits on:
// itself, or what a dm/md device is made of, recursively.
func (st state) under(name string) []string {
	sl := st.slaves[name]
	if len(sl) == 0 {
		return []string{name}
	}

	var out []string
	for _, s := range sl {
		out = append(out, st.under(s)...)
	}

	return out
}

func (d Device) refusal(st state, mounted map[string][]string, ro bool) string {
	keys := make([]string, 0, len(mounted))
	for k := range mounted {
		keys = append(keys, k)
	}

	slices.Sort(keys)

	// The most telling system mount: / before /boot before /home.
	for _, sm := range systemMounts {
		for _, dev := range keys {
			if slices.Contains(mounted[dev], sm) {
				return fmt.Sprintf("the system disk: %s holds %s — liftoff never writes the disk this machine runs from", dev, sm)
			}
		}
	}

	if len(keys) > 0 {
		return fmt.Sprintf("mounted: %s on %s — unmount it first (udisksctl unmount -b /dev/%s), then run this again",
			keys[0], strings.Join(mounted[keys[0]], " "), keys[0])
	}

	for _, n := range append([]string{d.Name}, partNames(d.Partitions)...) {
		if st.swap[n] {
			return fmt.Sprintf("in use as swap: %s — swapoff /dev/%s first", n, n)
		}

		if hs := st.holders[n]; len(hs) > 0 {
			return fmt.Sprintf("in use: %s is held by %s (LVM, LUKS or RAID) — stop that first", n, strings.Join(hs, ", "))
		}
	}

	switch {
	case !d.Removable && !d.USB:
		return "not removable and not on USB: an internal disk, which liftoff never writes"
	case d.Size == 0:
		return "no medium: put the SD card in the reader"
	case ro:
		return "read-only: the card's lock switch is on, or the reader is read-only"
	}

	return ""
}

func partNames(ps []Partition) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}

	return out
}

func names(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}

	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}

	return out
}

func readLine(path string) string {
	data, err := fileio.ReadFile(path, fileio.System)
	if err != nil {
		return ""
	}

	return strings.TrimSpace(string(data))
}

// sectors reads a sysfs size: always in 512-byte sectors, whatever the
// device's own sector size.
func sectors(path string) int64 {
	n, _ := strconv.ParseInt(readLine(path), 10, 64)

	return n * 512
}

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}

	return err
}

// Bytes is a size in binary units, as people read card sizes.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}

	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}

	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
