package ui

import (
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
)

func TestNodeState(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	since := now.Add(-30 * time.Second)

	for _, c := range []struct {
		name string
		n    probe.Node
		want string
	}{
		{"ready in both", probe.Node{Stage: "running", Reachable: true, MachineReady: true, NodeReady: true}, "✓ ready"},
		// The founding failure: tailscale without config. Kubernetes reads
		// Ready, Talos never does — the board is not ready.
		{"Ready in Kubernetes only", probe.Node{Stage: "running", Reachable: true, NodeReady: true, Unmet: []string{"services: ext-tailscale not running"}}, "✗ not ready in Talos"},
		{"restarting wins over Kubernetes Ready", probe.Node{Stage: "running", Reachable: true, NodeReady: true,
			Services: map[string]*probe.ServiceInfo{"ext-tailscale": {Restarts: 3}}}, "✗ restarting"},
		{"API down while rebooting after install", probe.Node{Stage: "rebooting", StageSince: since, Unreachable: "connection refused"}, "… rebooting"},
		{"API down while running", probe.Node{Stage: "running", StageSince: since, Unreachable: "connection refused"}, "✗ unreachable"},
		// A plain installer's image has no extensions at all: that is a wrong
		// image once the board runs what it installed, not "nothing yet".
		{"no extensions after install", probe.Node{Stage: "running", Reachable: true, AppliedAt: since, Boots: 1,
			Expect: []string{"drbd", "spin", "zfs"}}, "✗ wrong image"},
		{"no extensions yet in maintenance", probe.Node{Stage: "maintenance", Reachable: true, Expect: []string{"drbd"}}, "· maintenance"},
		{"down for too long in a reboot", probe.Node{Stage: "rebooting", StageSince: now.Add(-time.Hour), Unreachable: "timeout"}, "✗ unreachable"},
	} {
		if got := nodeState(&c.n, now).String(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDurHidesMilliseconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3 * time.Millisecond: "<1s", 0: "<1s", 1500 * time.Millisecond: "1s", 125 * time.Second: "2m05s",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%s) = %q, want %q", d, got, want)
		}
	}
}
