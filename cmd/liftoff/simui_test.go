package main

import (
	"context"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/sim/lab"
	"github.com/liftoff-lab/liftoff/ui"
	"github.com/liftoff-lab/liftoff/ui/uitest"
)

// The wizard and dashboard on the simulated lab, in teatest: the real sim
// backend (discover, gen, apply, bootstrap, probes, the tailnet) behind
// the real model. The wizard's frames are golden; after apply, timings
// vary, so the dashboard is checked by what it must say.
func TestDashboardOnTheSimulatedLab(t *testing.T) {
	if testing.Short() {
		t.Skip("brings a whole simulated lab up")
	}

	toolpathtest.Need(t, "kube", "etcd")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	l := startLab(ctx, t, lab.Spec{Cluster: "teatest", First: "127.0.54.11", Boards: []lab.BoardSpec{
		{Name: "pi-cp-1", Model: "rpi5", Machine: "controlplane", Role: "compute"},
		{Name: "pi-w-1", Model: "rpi4", Machine: "worker", Role: "compute"},
		{Name: "edge", Model: "amd64", Machine: "worker", Role: "gateway"},
	}})

	dir := t.TempDir()
	be := newSimBackend(ctx, l, dir, false)

	// A fixed clock until apply makes the wizard's header (it shows the
	// time) the same on every run; then real time, so stage ages are real.
	var wizard atomic.Bool

	wizard.Store(true)

	clock := func() time.Time {
		if wizard.Load() {
			return time.Date(2099, 1, 1, 9, 0, 0, 0, time.UTC)
		}

		return time.Now()
	}

	// As liftoff sim does: the wizard's plan names the lab's factory and
	// starts on the lab's (loopback) LAN.
	m := ui.New(ui.Options{Backend: be, Events: be.stream.Events(), Cluster: "teatest",
		Target: "127.0.54.11,127.0.54.12,127.0.54.13", Clock: clock, Context: ctx, Factory: l.Factory().URL(),
		Plan: &plan.Plan{Cluster: plan.Cluster{Name: "teatest"}, Network: l.Plan().Network}})

	hs := uitest.Start(t, m, 120, 36)
	hs.Wait = 3 * time.Minute

	hs.WaitFor("scan (CIDR or addresses): 127.0.54.11,127.0.54.12,127.0.54.13")
	hs.Keys("enter")
	hs.Golden("1-discovered", hs.WaitFor("Boards (3)", "✓ done: 3 addresses tried", "dc:a6:32:00:01:03"))

	hs.Keys("enter")
	hs.WaitFor("What does each board become?")
	hs.Keys("down", "down", "g")
	hs.Keys("up", "g")
	// The plan is saved in a command; the golden frame shows it saved.
	hs.Golden("2-roles", hs.WaitFor("refused: node-1 is already the gateway", "one gateway per cluster: several routers", "✓ plan saved"))

	hs.Keys("enter")
	// The review registers each role's schematic with the lab's factory.
	hs.Golden("3-review", hs.WaitFor("Review: what each board gets", "gateway-amd64", "lines against",
		"Image Factory  http://127.0.54.11:8080", "the factory knows every schematic", "enter applies the configs"))

	matrix, err := image.Matrix(l.Plan())
	if err != nil {
		t.Fatal(err)
	}

	for _, im := range matrix {
		if !l.Factory().Known(im.SchematicID) {
			t.Errorf("the review did not register %s (%s)", im.Key(), im.SchematicID)
		}
	}

	// The plan is saved as it is made (in a command, so wait for it).
	hs.WaitFor("Review")

	for deadline := time.Now().Add(10 * time.Second); ; {
		saved, err := os.ReadFile(filepath.Join(dir, "wizard-plan.yaml"))
		if err == nil && strings.Count(string(saved), "role: gateway") == 1 {
			break
		}

		if time.Now().After(deadline) {
			t.Fatalf("the saved plan should have exactly one gateway: %v\n%s", err, saved)
		}

		time.Sleep(50 * time.Millisecond)
	}

	wizard.Store(false)
	hs.Keys("enter")
	// The control plane boots until etcd runs, and etcd waits for the bootstrap.
	hs.WaitFor("config 3/3", "running 2/3", "enter: bootstrap etcd")

	hs.Keys("enter")
	hs.WaitFor("Where should the admin kubeconfig go?")
	hs.Keys("s")

	fr := hs.WaitFor("3/3 Ready", "✓ wasm answers", "✓ primary: tailnet reaches pods", `"Hello world from Spin!"`, "kubeconfig saved to")
	for _, want := range []string{"via teatest-gateway", "✓drbd", "✓tailscale"} {
		if !strings.Contains(fr, want) {
			t.Errorf("the dashboard lacks %q:\n%s", want, fr)
		}
	}

	if _, err := os.Stat(filepath.Join(dir, "kubeconfig")); err != nil {
		t.Errorf("the separate kubeconfig: %v", err)
	}
}
