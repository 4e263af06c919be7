package ui_test

import (
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/ui"
)

// Issue 14 item 4 in the dashboard: g on a board previews making it the
// gateway (both boards, installers, the talosctl steps in order, the diffs)
// and asks; n leaves it, y runs it; the route panel shows the handover —
// the new router standing by, the old one leaving, the ClusterIP
// answering again — and the measured outage.
func TestMoveGatewayFromTheDashboard(t *testing.T) {
	f := newFake(false)
	for _, e := range bringUp(false) {
		f.events <- e
	}

	m := ui.New(ui.Options{Backend: f, Events: f.events, Plan: testPlan(), Start: ui.ScreenDashboard, Clock: now})
	hs := start(t, m, 140, 44)
	hs.WaitFor("4/4 Ready")

	hs.Keys("tab", "tab", "g") // pi-3 on the dashboard
	fr := hs.WaitFor("Make pi-3 the gateway?", "? Move the gateway from pi-4 to pi-3?")

	for _, want := range []string{
		"move the gateway from pi-4", "→ gateway image", "9a9a9a9a", "→ compute image", "c0c0c0c0",
		"1.      talosctl apply-config -n 192.168.1.13", "4.      talosctl upgrade -n 192.168.1.14",
		"+    role: gateway", "TS_AUTHKEY=<redacted>", "touching pi-3 and pi-4 only",
	} {
		if !strings.Contains(fr, want) {
			t.Errorf("the preview lacks %q:\n%s", want, fr)
		}
	}

	hs.Golden("preview", fr)

	hs.Keys("n")
	hs.WaitFor("Why pi-3?")

	// The gateway itself cannot take it again.
	hs.Keys("j", "g")
	hs.WaitFor("pi-4 is the gateway already")

	hs.Keys("k", "g")
	hs.WaitFor("? Move the gateway")
	hs.Keys("y")
	hs.WaitFor("moving the gateway to pi-3", "x cancel the move")

	hs.Keys("d")
	fr = hs.WaitFor("handover pi-4 → pi-3: pi-4 leaves", "✗ 10.96.0.10:80 no-route")

	close(f.resume)

	fr = hs.WaitFor("✓ handover: pi-3 primary, pi-4 gone · outage 1.2s", "✓ 10.96.0.10:80", "the gateway moved: pi-3")
	hs.Golden("handover", fr)

	if strings.Contains(fr, "2 routers advertise") {
		t.Errorf("one router after the move, the panel says two:\n%s", fr)
	}
}
