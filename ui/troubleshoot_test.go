package ui_test

import (
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/ui"
)

// Tailscale on every board: the troubleshoot view must say why the compute
// boards never get ready and what to do, with the evidence.
func TestTroubleshootTailscaleEverywhere(t *testing.T) {
	hs := start(t, watch(true, ui.DefaultTheme()), 140, 44)
	hs.WaitFor("■ ended")

	hs.Keys("enter") // the focused board, pi-1
	f := hs.WaitFor("Why pi-1?")

	for _, want := range []string{
		"✗ ext-tailscale waits for its config on a compute node",
		"pi-1 has the gateway image but no tailscale config",
		"stays in stage booting",
		"wants to be a subnet router",
		"give pi-1 the compute image",
		"or make it the gateway",
		"ext-tailscale: Waiting — Waiting for extension",
		"task startAllServices (1/1): service",
		"Kubernetes Node: Ready",
		"dmesg (last lines)",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("troubleshoot lacks %q", want)
		}
	}

	hs.Golden("pi-1", f)

	// The gateway is fine: the view says so instead of inventing a problem.
	hs.Keys("down", "down", "down")
	f = hs.WaitFor("Why pi-4?")

	if !strings.Contains(f, "✓ nothing wrong: Ready") {
		t.Errorf("pi-4 should be fine:\n%s", f)
	}
}

func TestTroubleshootAt80x24(t *testing.T) {
	hs := start(t, watch(true, ui.DefaultTheme()), 80, 24)
	hs.WaitFor("■ ended")
	hs.Keys("t", "down")

	f := hs.WaitFor("Why pi-2?", "ext-tailscale waits for its config")
	hs.Golden("pi-2", f)

	// tab moves into the details, which then scroll.
	hs.Keys("tab", "down", "down", "down", "down", "down", "down")
	f = hs.WaitFor("Fix")
	hs.Golden("pi-2-scrolled", f)

	hs.Keys("esc")
	hs.WaitFor("1/4 Ready", "Tailscale route")
}
