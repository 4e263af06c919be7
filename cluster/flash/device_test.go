package flash

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeHost builds a sysfs, /dev and mount table of the shapes the kernel
// gives them: /sys/block/<disk> a symlink into /sys/devices (through
// usbN/ for a USB disk), partitions as subdirectories with a partition
// file, holders/ and slaves/ directories, mountinfo's major:minor.
type fakeHost struct {
	t      *testing.T
	h      Host
	mounts []string
	minor  int
}

func newFakeHost(t *testing.T) *fakeHost {
	root := t.TempDir()
	f := &fakeHost{t: t, h: Host{
		Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev"),
		MountInfo: filepath.Join(root, "mountinfo"), Swaps: filepath.Join(root, "swaps"),
	}}

	for _, d := range []string{filepath.Join(f.h.Sys, "block"), f.h.Dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	f.write(f.h.Swaps, "Filename\tType\tSize\tUsed\tPriority\n")

	return f
}

func (f *fakeHost) write(path, data string) {
	f.t.Helper()

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}

	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

type disk struct {
	name, bus, model string
	removable, ro    bool
	sectors          int
	parts            []string // partition names
	holders          map[string]string
	slaves           []string
}

// add makes a disk; it returns its dev number per partition name.
func (f *fakeHost) add(d disk) map[string]string {
	devs := map[string]string{}
	real := filepath.Join(f.h.Sys, "devices", d.bus, "block", d.name)

	f.minor += 16
	devs[d.name] = "8:" + itoa(f.minor)
	f.write(filepath.Join(real, "dev"), devs[d.name]+"\n")
	f.write(filepath.Join(real, "size"), itoa(d.sectors)+"\n")
	f.write(filepath.Join(real, "removable"), map[bool]string{true: "1\n", false: "0\n"}[d.removable])
	f.write(filepath.Join(real, "ro"), map[bool]string{true: "1\n", false: "0\n"}[d.ro])
	f.write(filepath.Join(real, "device", "model"), d.model+"\n")

	for _, s := range d.slaves {
		f.write(filepath.Join(real, "slaves", s), "")
	}

	for i, p := range d.parts {
		devs[p] = "8:" + itoa(f.minor+i+1)
		f.write(filepath.Join(real, p, "dev"), devs[p]+"\n")
		f.write(filepath.Join(real, p, "partition"), itoa(i+1)+"\n")
		f.write(filepath.Join(real, p, "size"), itoa(d.sectors/4)+"\n")
		f.write(filepath.Join(f.h.Dev, p), "")
	}

	for name, holder := range d.holders {
		dir := real
		if name != d.name {
			dir = filepath.Join(real, name)
		}

		f.write(filepath.Join(dir, "holders", holder), "")
	}

	if err := os.Symlink(real, filepath.Join(f.h.Sys, "block", d.name)); err != nil {
		f.t.Fatal(err)
	}

	f.write(filepath.Join(f.h.Dev, d.name), "")

	return devs
}

func (f *fakeHost) mount(dev, at string) {
	f.mounts = append(f.mounts, "30 1 "+dev+" / "+at+" rw,relatime - ext4 /dev/x rw")
	f.write(f.h.MountInfo, strings.Join(f.mounts, "\n")+"\n")
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestDevicesOfferedAndRefused(t *testing.T) {
	f := newFakeHost(t)
	gib := 2 * 1024 * 1024 // sectors

	sys := f.add(disk{name: "nvme0n1", bus: "pci0000:00/0000:00:1d.0/nvme/nvme0", model: "Samsung SSD", sectors: 500 * gib, parts: []string{"nvme0n1p1", "nvme0n1p2"}})
	f.mount(sys["nvme0n1p2"], "/")
	f.mount(sys["nvme0n1p1"], "/boot/efi")

	f.add(disk{name: "sda", bus: "pci0000:00/0000:00:17.0/ata1/host0", model: "WDC WD40", sectors: 4000 * gib, parts: []string{"sda1"}})
	f.add(disk{name: "sdb", bus: "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host3", model: "SD/MMC Reader", removable: true, sectors: 32 * gib, parts: []string{"sdb1", "sdb2"}})
	media := f.add(disk{name: "sdc", bus: "pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host4", model: "Ultra Fit", sectors: 64 * gib, parts: []string{"sdc1"}})
	f.mount(media["sdc1"], "/media/me/BOOT")
	f.add(disk{name: "sdd", bus: "pci0000:00/0000:00:14.0/usb2/2-3/2-3:1.0/host5", model: "Card Reader", removable: true, sectors: 0})
	f.add(disk{name: "mmcblk0", bus: "platform/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa", model: "SC64G", removable: true, sectors: 64 * gib, ro: true})
	f.add(disk{name: "sde", bus: "pci0000:00/0000:00:14.0/usb2/2-4/2-4:1.0/host6", model: "USB SSD", sectors: 256 * gib, parts: []string{"sde1"}, holders: map[string]string{"sde1": "dm-0"}})
	f.add(disk{name: "loop0", bus: "virtual", sectors: 100})
	f.add(disk{name: "sdf", bus: "pci0000:00/0000:00:14.0/usb2/2-5/2-5:1.0/host7", model: "Swap Stick", sectors: 8 * gib, parts: []string{"sdf1"}})
	f.write(f.h.Swaps, "Filename\tType\tSize\tUsed\tPriority\n/dev/sdf1 partition 8388604 0 -2\n")

	// Root on LVM over an internal disk: the system disk through dm-0.
	lvm := f.add(disk{name: "dm-1", bus: "virtual", sectors: 100 * gib, slaves: []string{"sda1"}})
	f.mount(lvm["dm-1"], "/home")

	devs, err := f.h.Devices()
	if err != nil {
		t.Fatal(err)
	}

	got := map[string]string{}
	for _, d := range devs {
		got[d.Name] = d.Refusal
	}

	for name, want := range map[string]string{
		"nvme0n1": "the system disk: nvme0n1p2 holds /",
		"sda":     "the system disk: dm-1 holds /home",
		"sdb":     "",
		"sdc":     "mounted: sdc1 on /media/me/BOOT",
		"sdd":     "no medium",
		"mmcblk0": "read-only",
		"sde":     "in use: sde1 is held by dm-0",
		"sdf":     "in use as swap: sdf1",
	} {
		r, ok := got[name]

		switch {
		case !ok:
			t.Errorf("%s not listed", name)
		case want == "" && r != "":
			t.Errorf("%s refused: %s", name, r)
		case want != "" && !strings.Contains(r, want):
			t.Errorf("%s: refusal %q, want it to say %q", name, r, want)
		}
	}

	if _, ok := got["loop0"]; ok {
		t.Error("a loop device was listed")
	}

	var sdb Device
	for _, d := range devs {
		if d.Name == "sdb" {
			sdb = d
		}
	}

	if !sdb.USB || !sdb.Removable || sdb.Size != 32<<30 || len(sdb.Partitions) != 2 {
		t.Errorf("sdb read as %+v", sdb)
	}

	if line := sdb.Describe(); !strings.Contains(line, "SD/MMC Reader") || !strings.Contains(line, "32.0 GiB") || !strings.Contains(line, "sdb1") {
		t.Errorf("description %q lacks model, size or partitions", line)
	}
}

func TestLookupResolvesOnceAndRefusesPartitions(t *testing.T) {
	f := newFakeHost(t)
	f.write(f.h.MountInfo, "")
	f.add(disk{name: "sdb", bus: "usb1/1-1/host2", model: "Reader", removable: true, sectors: 1 << 20, parts: []string{"sdb1"}})

	d, err := f.h.Lookup(filepath.Join(f.h.Dev, "sdb"))
	if err != nil || !d.Offered() {
		t.Fatalf("sdb: %+v, %v", d, err)
	}

	// A by-id symlink names the device it points at, not itself.
	byID := filepath.Join(f.h.Dev, "disk", "by-id", "usb-Reader-0:0")
	if err := os.MkdirAll(filepath.Dir(byID), 0o755); err != nil {
		t.Fatal(err)
	}

	if err := os.Symlink("../../sdb", byID); err != nil {
		t.Fatal(err)
	}

	d, err = f.h.Lookup(byID)
	if err != nil || d.Path != filepath.Join(f.h.Dev, "sdb") {
		t.Errorf("by-id link resolved to %q, %v", d.Path, err)
	}

	d, err = f.h.Lookup(filepath.Join(f.h.Dev, "sdb1"))
	if err != nil || d.Offered() || !strings.Contains(d.Refusal, "partition of") || !strings.Contains(d.Refusal, "sdb") {
		t.Errorf("a partition: %+v, %v", d.Refusal, err)
	}

	if _, err := f.h.Lookup(filepath.Join(f.h.Dev, "nosuch")); err == nil {
		t.Error("a missing device resolved")
	}

	other := filepath.Join(t.TempDir(), "sdb")
	f.write(other, "")

	if _, err := f.h.Lookup(other); err == nil || !strings.Contains(err.Error(), "not a device in") {
		t.Errorf("a file outside /dev: %v", err)
	}

	// A real host wants a block device node: the fake's file is not one.
	strict := f.h
	strict.RequireBlock = true

	if d, _ := strict.Lookup(filepath.Join(f.h.Dev, "sdb")); !strings.Contains(d.Refusal, "not a block device") {
		t.Errorf("a regular file as /dev/sdb: refusal %q", d.Refusal)
	}
}

func TestOpenChecksTheDeviceAgain(t *testing.T) {
	f := newFakeHost(t)
	f.write(f.h.MountInfo, "")
	devs := f.add(disk{name: "sdb", bus: "usb1/1-1/host2", model: "Reader", removable: true, sectors: 1 << 20, parts: []string{"sdb1"}})
	path := filepath.Join(f.h.Dev, "sdb")

	d, err := f.h.Lookup(path)
	if err != nil || !d.Offered() {
		t.Fatalf("%+v, %v", d, err)
	}

	file, err := f.h.Open(d)
	if err != nil {
		t.Fatalf("an offered device did not open: %v", err)
	}

	file.Close() //nolint:errcheck

	// Another node put in its place after it was shown: a symlink to
	// another disk.
	other := filepath.Join(f.h.Dev, "sdz")
	f.write(other, "")

	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}

	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}

	if _, err := f.h.Open(d); err == nil || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("a switched node opened: %v", err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	if err := os.Rename(path+".old", path); err != nil {
		t.Fatal(err)
	}

	// Mounted since it was shown.
	f.mount(devs["sdb1"], "/media/me/boot")

	if _, err := f.h.Open(d); err == nil || !strings.Contains(err.Error(), "mounted: sdb1") {
		t.Errorf("a device mounted since opened: %v", err)
	}
}
