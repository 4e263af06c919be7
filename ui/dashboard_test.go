package ui_test

import (
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/ui"
)

// watch is the dashboard over a finished recording: what --rehearsal does.
func watch(tailscaleEverywhere bool, theme ui.Theme) *ui.Model {
	return ui.New(ui.Options{
		Events: replay(bringUp(tailscaleEverywhere)),
		Plan:   testPlan(),
		Start:  ui.ScreenDashboard,
		Theme:  theme,
		Clock:  now,
	})
}

func TestDashboard(t *testing.T) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"80x24", 80, 24}, {"120x32", 120, 32}, {"200x50", 200, 50}} {
		t.Run(size.name, func(t *testing.T) {
			hs := start(t, watch(false, ui.DefaultTheme()), size.w, size.h)
			f := hs.WaitFor("4/4 Ready", "■ ended", "✓ primary")

			for _, want := range []string{"✓ ready", "Talos ✓ ready", "k8s   ✓ Ready", "◆ gateway", "✓ 3.1ms", "WASM 13× faster"} {
				if !strings.Contains(f, want) {
					t.Errorf("dashboard lacks %q", want)
				}
			}

			hs.Golden("frame", f)
		})
	}
}

func TestDashboardFlagsTailscaleEverywhere(t *testing.T) {
	hs := start(t, watch(true, ui.HighContrastTheme()), 120, 32)
	f := hs.WaitFor("1/4 Ready", "■ ended")

	for _, want := range []string{"✗ booting: ext-tailscale waits", "! unexpected tailscale for the compute role", "✗ ext-tailscale waits for extension service config", "! advertised"} {
		if !strings.Contains(f, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}

	hs.Golden("frame", f)
}

func TestDashboardFilterAndFocus(t *testing.T) {
	hs := start(t, watch(true, ui.DefaultTheme()), 80, 24)
	hs.WaitFor("■ ended")

	hs.Keys("/", "gateway", "enter")
	f := hs.WaitFor("filter: gateway")

	if strings.Contains(f, "─ pi-1") || strings.Contains(f, "━ pi-1") || !strings.Contains(f, "━ pi-4") {
		t.Errorf("filter gateway should show only pi-4:\n%s", f)
	}

	hs.Keys("esc")
	hs.WaitFor("pi-1 controlplane", "pi-4 worker")

	// tab walks the boards, then the two cluster panels.
	hs.Keys("tab", "tab", "tab", "tab")
	f = hs.WaitFor("┏━ Tailscale route")
	hs.Golden("route-focused", f)
}
