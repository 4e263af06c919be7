package ui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/ui"
)

func wizard(f *fake) *ui.Model {
	return ui.New(ui.Options{
		Backend: f,
		Events:  f.events,
		Cluster: "homelab",
		Target:  "192.168.1.0/24",
		Clock:   now,
		Context: context.Background(),
	})
}

// The whole bring-up with the keyboard alone, at 80×24: every frame must
// fit (frame() checks each one).
func TestWizardWalk(t *testing.T) {
	f := newFake(false)
	hs := start(t, wizard(f), 80, 24)

	hs.Golden("1-target", hs.WaitFor("scan (CIDR or addresses): 192.168.1.0/24"))

	hs.Keys("enter")
	fr := hs.WaitFor("Boards (4)", "scan done", "192.168.1.14")
	hs.Golden("2-discovered", fr)

	for _, want := range []string{"rpi5 arm64 · Talos v1.13.3", "/dev/nvme0n1 256 GB", "d8:3a:dd:10:00:11"} {
		if !strings.Contains(fr, want) {
			t.Errorf("discovery should show model, arch, disks and MAC; lacks %q", want)
		}
	}

	hs.Keys("enter")
	hs.WaitFor("What does each board become?", "no board has the gateway role")

	// pi-4 becomes the gateway; pi-3 may not become a second one.
	hs.Keys("down", "down", "down", "g")
	hs.WaitFor("pi-4 is the gateway", "✓ the plan is valid")
	hs.Keys("up", "g")

	fr = hs.WaitFor("refused: pi-4 is already the gateway — one subnet router per cluster")
	hs.Golden("3-roles-refused", fr)

	if p := f.lastPlan(); p == nil || countRole(p, plan.Gateway) != 1 {
		t.Fatalf("the saved plan should have exactly one gateway: %+v", p)
	}

	hs.Keys("enter")
	// The review registers each role's schematic with the Image Factory
	// first, as a step of its own.
	fr = hs.WaitFor("Review: what each board gets", "schematic", "lines against", "Image Factory  factory.talos.dev",
		"the factory knows every schematic (compute-rpi_5, compute-rpi_generic")
	hs.Golden("4-review", fr)

	hs.Keys("enter")
	fr = hs.WaitFor("config 4/4 · running 4/4", "enter: bootstrap etcd", "every board has its config")
	hs.Golden("5-applied", fr)

	hs.Keys("enter")
	fr = hs.WaitFor("Where should the admin kubeconfig go?")
	hs.Golden("6-kubeconfig", fr)

	hs.Keys("m")
	fr = hs.WaitFor("4/4 Ready", "kubeconfig saved to /home/demo/.kube/config", "✓ primary")
	hs.Golden("7-dashboard", fr)

	if len(f.merge) != 1 || !f.merge[0] {
		t.Errorf("SaveKubeconfig calls: %v, want one merge", f.merge)
	}
}

func countRole(p *plan.Plan, role string) int {
	n := 0

	for _, b := range p.Boards {
		if b.Role == role {
			n++
		}
	}

	return n
}

// Adding a board by hand asks the backend about that one address.
func TestWizardAddByHand(t *testing.T) {
	f := newFake(false)
	hs := start(t, wizard(f), 80, 24)
	hs.WaitFor("scan (CIDR or addresses)")

	hs.Keys("esc", "a", "192.168.1.13", "enter")
	hs.WaitFor("192.168.1.13", "rpi4 arm64")

	hs.Keys("a", "10.0.0.300", "enter")
	hs.WaitFor("is not an IP address")
}

// Quitting or cancelling while configs are going out asks first.
func TestWizardCancelApply(t *testing.T) {
	f := newFake(false)
	f.stall = true // Apply sends nothing: the apply stays in flight
	hs := start(t, wizard(f), 80, 24)
	hs.WaitFor("scan (CIDR or addresses)")

	hs.Keys("enter")
	hs.WaitFor("Boards (4)")
	hs.Keys("enter", "g", "enter")
	hs.WaitFor("Review", "enter applies")
	hs.Keys("enter")
	hs.WaitFor("… applying")

	hs.Keys("q")
	hs.WaitFor("Quit while applying configs?")
	hs.Keys("n")

	hs.Keys("esc")
	hs.WaitFor("Cancel the apply?")
	hs.Keys("y")
	hs.WaitFor("apply cancelled", "Review")

	if f.applyCtx == nil || f.applyCtx.Err() == nil {
		t.Error("cancelling should cancel the backend's apply context")
	}
}

// The wizard saves its plan as it is made; started again with it, it
// resumes at the roles with the boards, machine types and roles chosen.
func TestWizardResumesASavedPlan(t *testing.T) {
	f := newFake(false)
	saved := &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}, Boards: []plan.Board{
		{Name: "pi-1", Address: "192.168.1.11", Model: "rpi5", Machine: plan.ControlPlane, Role: plan.Compute},
		{Name: "edge", Address: "192.168.1.14", Model: "amd64", Machine: plan.Worker, Role: plan.Gateway},
	}}

	m := ui.New(ui.Options{Backend: f, Events: f.events, Plan: saved, Start: ui.ScreenRoles, Clock: now, Context: context.Background()})
	hs := start(t, m, 100, 30)

	hs.WaitFor("resumed the saved plan (2 boards)", "edge", "◆ gateway (subnet router)", "pi-1")
	hs.Keys("enter")
	hs.WaitFor("Review: what each board gets")
}

// The review shows each board's config diff (d), secrets redacted.
func TestReviewShowsConfigDiffs(t *testing.T) {
	f := newFake(false)
	hs := start(t, wizard(f), 100, 76)
	hs.WaitFor("scan (CIDR or addresses)")

	hs.Keys("enter")
	hs.WaitFor("Boards (4)")
	hs.Keys("enter", "g", "enter")
	hs.WaitFor("Review: what each board gets", "diff       +2 -0 lines against Talos's defaults", "diff       +3 -0 lines",
		"What the boards say", "! board pi-1: Talos runs from /dev/mmcblk0 (an SD card)", "modules    drbd usermode_helper=disabled")

	hs.Keys("d")
	fr := hs.WaitFor("+hostname: pi-1", "+        liftoff.dev/role: gateway", "+    - TS_AUTHKEY=<redacted>", "d hides the diffs")

	if strings.Contains(fr, "tskey-") {
		t.Error("a key in the review")
	}

	hs.Keys("d")
	hs.WaitFor("d shows the diffs")
}

// The roles step corrects what discovery guessed: the install disk among
// the disks the board reported (i), and the board model (o).
func TestRolesEditDiskAndModel(t *testing.T) {
	f := newFake(false)
	hs := start(t, wizard(f), 120, 30)
	hs.WaitFor("scan (CIDR or addresses)")

	hs.Keys("enter")
	hs.WaitFor("Boards (4)")
	hs.Keys("enter")
	hs.WaitFor("What does each board become?", "/dev/mmcblk0")

	// A Pi 5 boots only from its SD card: its NVMe is not offered.
	hs.Keys("i")
	hs.WaitFor("pi-1 stays on /dev/mmcblk0: a rpi5 boots Talos only from its SD card or eMMC")

	// rpi5 → the compute modules → generic arm64 → amd64.
	hs.Keys("o")
	hs.WaitFor("pi-1 is now model cm4: arm64 image with the rpi_generic overlay, installs to /dev/mmcblk0")

	// A CM4's U-Boot reads NVMe: i cycles through every disk.
	hs.Keys("i")
	hs.WaitFor("pi-1 installs to /dev/nvme0n1")
	hs.Keys("i")
	hs.WaitFor("pi-1 installs to /dev/mmcblk0")

	hs.Keys("o")
	hs.WaitFor("pi-1 is now model cm5: arm64 image with the rpi_5 overlay")
	hs.Keys("o")
	hs.WaitFor("pi-1 is now model arm64: arm64 image")
	hs.Keys("o")
	hs.WaitFor("pi-1 is now model amd64: amd64 image, installs to")

	// The save runs in a command: wait for it, within reason.
	for deadline := time.Now().Add(5 * time.Second); ; hs.Frame() {
		if p := f.lastPlan(); p != nil && p.Boards[0].Model == plan.AMD64 {
			break
		}

		if time.Now().After(deadline) {
			t.Fatal("the changed model was not saved")
		}
	}
}

// Enter waits for the registration, and a refused one stops the apply: the
// error stays on the review and enter tries again.
func TestReviewRegistersBeforeApply(t *testing.T) {
	f := newFake(false)
	f.refuse = true
	hs := start(t, wizard(f), 120, 40)
	hs.WaitFor("scan (CIDR or addresses)")

	hs.Keys("enter")
	hs.WaitFor("Boards (4)")
	hs.Keys("enter", "g", "enter")
	hs.WaitFor("✗ the image factory factory.talos.dev did not answer", "enter tries")

	f.mu.Lock()
	f.refuse = false
	f.mu.Unlock()

	hs.Keys("enter")
	hs.WaitFor("the factory knows every schematic")

	if f.applyCtx != nil {
		t.Error("the first enter after a failed registration applied")
	}

	hs.Keys("enter")
	hs.WaitFor("every board has its config")
}
