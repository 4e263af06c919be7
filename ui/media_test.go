package ui_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/ui"
)

// mediaFake is the fake backend that also writes boot media: one card
// reader offered, the system disk refused; its write reports half the
// image, then finishes, or waits for the cancel when stall is set.
type mediaFake struct {
	*fake
	stall bool
	board chan string // the board and device each Flash was asked for
}

func (f *mediaFake) Media(p *plan.Plan) (ui.Media, error) {
	m := ui.Media{Boards: map[string]ui.BoardMedium{}, Devices: []ui.MediaDevice{
		{Path: "/dev/nvme0n1", Name: "nvme0n1", Line: "/dev/nvme0n1  Samsung SSD  476.9 GiB", Refusal: "the system disk: nvme0n1p2 holds /"},
		{Path: "/dev/sdb", Name: "sdb", Line: "/dev/sdb  SD/MMC Reader  29.7 GiB  usb  partitions: sdb1 256.0 MiB"},
	}}

	for _, b := range p.Boards {
		m.Boards[b.Name] = ui.BoardMedium{
			Facts:     []string{"role: " + b.Role, "talos: v1.13.3", "overlay: rpi_5 (siderolabs/sbc-raspberrypi)"},
			FirstBoot: []string{"Put it in " + b.Name + " and power on."},
		}
	}

	return m, nil
}

func (f *mediaFake) Flash(ctx context.Context, _ *plan.Plan, board, device string, report func(ui.Progress)) (string, error) {
	f.board <- board + " " + device

	const total = 1 << 30

	report(ui.Progress{Op: ui.OpFlash, Node: board, Step: "write", Done: total / 2, Total: total, Rate: 40 << 20, ETA: 13 * time.Second})

	if f.stall {
		<-ctx.Done()

		return "", fmt.Errorf("cancelled after 512.0 MiB of 1.0 GiB: %w — the medium's first MiB is zeroed, so it is not bootable", ctx.Err())
	}

	report(ui.Progress{Op: ui.OpFlash, Node: board, Step: "verify", Done: total, Total: total})

	return "gateway image, verified", nil
}

func mediaWizard(f *mediaFake) *ui.Model {
	p := &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}, Boards: []plan.Board{
		{Name: "pi-cp-1", Address: "192.168.1.11", Model: plan.RPi5, Machine: plan.ControlPlane, Role: plan.Compute},
		{Name: "pi-gw", Address: "192.168.1.14", Model: plan.RPi5, Machine: plan.Worker, Role: plan.Gateway},
	}}

	return ui.New(ui.Options{Backend: f, Events: f.events, Plan: p, Target: "192.168.1.0/24", Clock: now, Context: context.Background()})
}

// The discover step offers boot media for the plan's boards; the write
// needs the device's name typed, shows its progress, then the first-boot
// steps.
func TestPrepareBootMedia(t *testing.T) {
	f := &mediaFake{fake: newFake(false), board: make(chan string, 4)}
	hs := start(t, mediaWizard(f), 100, 30)

	hs.WaitFor("scan (CIDR or addresses)")
	hs.Keys("esc")
	hs.WaitFor("b: prepare boot media")
	hs.Keys("b")
	hs.WaitFor("Prepare boot media", "▸boot media", "/dev/sdb  SD/MMC Reader", "✗ /dev/nvme0n1", "the system disk: nvme0n1p2 holds /")

	// The gateway, written to the reader; a wrong name writes nothing.
	hs.Keys("down", "enter")
	hs.WaitFor("type sdb to write pi-gw's gateway image")
	hs.Keys("sdx", "enter")
	hs.WaitFor("not confirmed: nothing was written")

	select {
	case got := <-f.board:
		t.Fatalf("a wrong name started a write: %s", got)
	default:
	}

	hs.Keys("enter", "sdb", "enter")

	if got := <-f.board; got != "pi-gw /dev/sdb" {
		t.Errorf("Flash asked for %q", got)
	}

	fr := hs.WaitFor("written and verified", "✓ gateway image, verified", "First boot", "Put it in pi-gw and power on.")
	hs.Golden("media-written", fr)
}

// esc during a write cancels it, and the step says so and why the card
// will not boot.
func TestPrepareBootMediaCancel(t *testing.T) {
	f := &mediaFake{fake: newFake(false), board: make(chan string, 4), stall: true}
	hs := start(t, mediaWizard(f), 100, 30)

	hs.WaitFor("scan (CIDR or addresses)")
	hs.Keys("esc", "b")
	hs.WaitFor("/dev/sdb  SD/MMC Reader")
	hs.Keys("enter", "sdb", "enter")
	<-f.board

	hs.WaitFor("write", "512.0 MiB / 1.0 GiB · 40.0 MiB/s · 13s left")
	hs.Keys("esc")

	fr := hs.WaitFor("cancelled after 512.0 MiB of 1.0 GiB", "✗ stopped")

	hs.Golden("media-cancelled", fr)
}

// A board whose card liftoff wrote is recognised when the scan finds it
// at its address: the name, model and role its card was written for.
func TestWrittenCardsNameAndRoleTheBoards(t *testing.T) {
	f := newFake(false)
	m := ui.New(ui.Options{Backend: f, Events: f.events, Cluster: "homelab", Target: "192.168.1.0/24", Clock: now,
		Context: context.Background(), Written: []ui.Written{{Board: "garage-gw", Address: "192.168.1.14", Model: plan.RPi4, Machine: plan.Worker, Role: plan.Gateway}}})
	hs := start(t, m, 100, 30)

	hs.WaitFor("scan (CIDR or addresses)")
	hs.Keys("enter")
	hs.WaitFor("Boards (4)", "scan done")
	hs.Keys("enter")
	hs.WaitFor("What does each board become?", "garage-gw  192.168.1.14", "◆ gateway")
	f.waitSaved(t) // the plan is saved in a command

	p := f.lastPlan()
	if p == nil {
		t.Fatal("no plan saved")
	}

	b, ok := p.Board("garage-gw")
	if !ok || b.Address != "192.168.1.14" || b.Role != plan.Gateway || b.Model != plan.RPi4 {
		t.Errorf("the recorded board became %+v (found %v)", b, ok)
	}
}
