package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/ui"
)

func wizard(f *fake) *ui.Model {
	return ui.New(ui.Options{
		Backend:  f,
		Events:   f.events,
		Progress: f.progress,
		Cluster:  "homelab",
		Target:   "192.168.1.0/24",
		Clock:    now,
		Context:  context.Background(),
	})
}

// The whole bring-up with the keyboard alone, at 80×24: every frame must
// fit (frame() checks each one).
func TestWizardWalk(t *testing.T) {
	f := newFake(false)
	hs := start(t, wizard(f), 80, 24)

	hs.golden("1-target", hs.waitFor("scan (CIDR or addresses): 192.168.1.0/24"))

	hs.keys("enter")
	fr := hs.waitFor("Boards (4)", "scan done", "192.168.1.14")
	hs.golden("2-discovered", fr)

	for _, want := range []string{"rpi5 arm64 · Talos v1.13.3", "/dev/nvme0n1 256 GB", "d8:3a:dd:10:00:11"} {
		if !strings.Contains(fr, want) {
			t.Errorf("discovery should show model, arch, disks and MAC; lacks %q", want)
		}
	}

	hs.keys("enter")
	hs.waitFor("What does each board become?", "no board has the gateway role")

	// pi-4 becomes the gateway; pi-3 may not become a second one.
	hs.keys("down", "down", "down", "g")
	hs.waitFor("pi-4 is the gateway", "✓ the plan is valid")
	hs.keys("up", "g")

	fr = hs.waitFor("refused: pi-4 is already the gateway — one subnet router per cluster")
	hs.golden("3-roles-refused", fr)

	if p := f.lastPlan(); p == nil || countRole(p, plan.Gateway) != 1 {
		t.Fatalf("the saved plan should have exactly one gateway: %+v", p)
	}

	hs.keys("enter")
	fr = hs.waitFor("Review: what each board gets", "schematic")
	hs.golden("4-review", fr)

	hs.keys("enter")
	fr = hs.waitFor("config 4/4 · running 4/4", "enter: bootstrap etcd", "every board has its config")
	hs.golden("5-applied", fr)

	hs.keys("enter")
	fr = hs.waitFor("Where should the admin kubeconfig go?")
	hs.golden("6-kubeconfig", fr)

	hs.keys("m")
	fr = hs.waitFor("4/4 Ready", "kubeconfig saved to /home/demo/.kube/config", "✓ primary")
	hs.golden("7-dashboard", fr)

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
	hs.waitFor("scan (CIDR or addresses)")

	hs.keys("esc", "a", "192.168.1.13", "enter")
	hs.waitFor("192.168.1.13", "rpi4 arm64")

	hs.keys("a", "10.0.0.300", "enter")
	hs.waitFor("is not an IP address")
}

// Quitting or cancelling while configs are going out asks first.
func TestWizardCancelApply(t *testing.T) {
	f := newFake(false)
	f.stall = true // Apply sends nothing: the apply stays in flight
	hs := start(t, wizard(f), 80, 24)
	hs.waitFor("scan (CIDR or addresses)")

	hs.keys("enter")
	hs.waitFor("Boards (4)")
	hs.keys("enter", "g", "enter")
	hs.waitFor("Review")
	hs.keys("enter")
	hs.waitFor("… applying")

	hs.keys("q")
	hs.waitFor("Quit while applying configs?")
	hs.keys("n")

	hs.keys("esc")
	hs.waitFor("Cancel the apply?")
	hs.keys("y")
	hs.waitFor("apply cancelled", "Review")

	if f.applyCtx == nil || f.applyCtx.Err() == nil {
		t.Error("cancelling should cancel the backend's apply context")
	}
}
