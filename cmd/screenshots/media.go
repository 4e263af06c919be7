package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/flash"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/examples"
	"github.com/liftoff-lab/liftoff/ui"
)

// media is the wizard's "prepare boot media" step on the example plan,
// while the gateway's card is being written. The boards' images are
// liftoff's own (image facts, schematic IDs); the laptop's devices and
// the write's figures are a scene's, not a recording: no fixture holds
// a card reader.
func (r *recordings) media() []frame {
	p, err := plan.Parse(examples.Lab)
	if err != nil {
		panic("the example plan: " + err.Error())
	}

	be := &mediaScene{labBackend: &labBackend{discovered: r.discovered}}
	d := newDriver(ui.Options{Backend: be, Target: "192.168.1.0/24", Cluster: p.Cluster.Name, Plan: p}, cols, rows, last(r.discovered))
	be.d = d

	gw := 0

	for i, b := range p.Boards {
		if b.Role == plan.Gateway {
			gw = i
		}
	}

	d.keys("esc", "b")

	for range gw {
		d.keys("down")
	}

	// The still is the write under way: before the scene's Flash ends.
	d.keys("enter", "sda")
	d.until(func(frame string) bool { return strings.Contains(frame, "MiB/s") }, "enter")

	return []frame{{name: "wizard-media", cols: cols, rows: rows, view: d.frame()}}
}

// mediaScene is the lab backend with a laptop's devices: its system disk,
// a USB card reader with a card from an earlier attempt, a mounted stick.
type mediaScene struct {
	*labBackend
}

func (b *mediaScene) Media(p *plan.Plan) (ui.Media, error) {
	m := ui.Media{Boards: map[string]ui.BoardMedium{}, Devices: []ui.MediaDevice{
		{Path: "/dev/nvme0n1", Name: "nvme0n1", Line: "/dev/nvme0n1  Samsung SSD 980 PRO 1TB  931.5 GiB  partitions: nvme0n1p1 512.0 MiB on /boot/efi, nvme0n1p2 931.0 GiB on /",
			Refusal: "the system disk: nvme0n1p2 holds / — liftoff never writes the disk this machine runs from"},
		{Path: "/dev/sda", Name: "sda", Line: "/dev/sda  Generic STORAGE DEVICE  29.7 GiB  usb  partitions: sda1 100.0 MiB, sda2 1.0 GiB"},
		{Path: "/dev/sdb", Name: "sdb", Line: "/dev/sdb  SanDisk Ultra Fit  57.3 GiB  usb  partitions: sdb1 57.3 GiB on /media/me/STICK",
			Refusal: "mounted: sdb1 on /media/me/STICK — unmount it first (udisksctl unmount -b /dev/sdb1), then run this again"},
	}}

	for _, bd := range p.Boards {
		im, err := image.For(p, bd)
		if err != nil {
			return ui.Media{}, err
		}

		m.Boards[bd.Name] = ui.BoardMedium{Facts: flash.Facts(bd, im, p.Cluster.TalosVersion), FirstBoot: flash.FirstBoot(bd)}
	}

	return m, nil
}

// Flash reports the write under way: two fifths of the raw image.
func (b *mediaScene) Flash(_ context.Context, _ *plan.Plan, board, _ string, report func(ui.Progress)) (string, error) {
	const total = 1288 << 20

	report(ui.Progress{Op: ui.OpFlash, Node: board, Step: flash.PhaseWrite, Done: total * 2 / 5, Total: total, Rate: 38 << 20, ETA: 20 * time.Second})

	return "", errors.New("the scene's write never ends: its still is taken before")
}
