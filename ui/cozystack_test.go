package ui_test

import (
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
)

// cozyBringUp is a bring-up under cluster.profile: cozystack: Talos comes
// up on every board, and every Node reports what a kubelet without a CNI
// reports, so Talos's nodeReady condition is the only one unmet.
func cozyBringUp() []probe.Event {
	var out []probe.Event

	for i, b := range lab {
		for _, e := range applied(i, b, false) {
			if e.Kind == probe.MachineReady {
				e.Detail = "nodeReady: node \"" + b.name + "\" is not ready"
				e.Ready = false
			}

			out = append(out, e)
		}

		out = append(out, probe.Event{Time: at(140 + float64(i)), Node: b.name, Kind: probe.NodeReady,
			Detail: "KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"})
	}

	return out
}

// The expected next step, not a failure: the dashboard says what the lab
// waits for and the command that installs it, and troubleshoot explains.
func TestDashboardWaitsForCozyStack(t *testing.T) {
	p := testPlan()
	p.Cluster.Profile = plan.ProfileCozyStack
	p.Default()

	hs := start(t, ui.New(ui.Options{Events: replay(cozyBringUp()), Plan: p, Start: ui.ScreenDashboard, Theme: ui.DefaultTheme(), Clock: now}), 140, 40)
	f := hs.WaitFor("■ ended", "waiting for CozyStack")

	for _, want := range []string{"… waiting for CozyStack", "Talos ✓ up; only its Node waits", "NotReady until CozyStack's CNI",
		"waiting for CozyStack's CNI (expected; t explains)", "next: helm upgrade --install cozystack", "oci://ghcr.io/cozystack/cozystack/cozy-installer"} {
		if !strings.Contains(f, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}

	for _, never := range []string{"✗ NotReady", "✗ not ready", "no pod network"} {
		if strings.Contains(f, never) {
			t.Errorf("dashboard calls the planned wait a failure: %q", never)
		}
	}

	hs.Keys("enter")
	f = hs.WaitFor("Why pi-1?")

	for _, want := range []string{"pi-1 is waiting for CozyStack", "install CozyStack: helm upgrade --install cozystack"} {
		if !strings.Contains(f, want) {
			t.Errorf("troubleshoot lacks %q", want)
		}
	}
}
