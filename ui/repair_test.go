package ui_test

import (
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/ui"
)

// Issue 14 item 2: the troubleshoot view shows the repair under the
// diagnosis; f previews it and asks; only y runs it, on that board alone;
// the activity streams it and the board goes through its reboot to Ready.
func TestRepairFromTroubleshoot(t *testing.T) {
	f := newFake(true)
	for _, e := range bringUp(true) {
		f.events <- e
	}

	m := ui.New(ui.Options{Backend: f, Events: f.events, Plan: testPlan(), Start: ui.ScreenDashboard, Clock: now})
	hs := start(t, m, 140, 44)
	hs.WaitFor("1/4 Ready")

	hs.Keys("t")
	fr := hs.WaitFor("Why pi-1?", "Repair upgrade pi-1 to its role's installer", "f repair")

	if !strings.Contains(fr, "$ talosctl upgrade -n ADDRESS -e ADDRESS --image <installer>") {
		t.Errorf("the repair's command is not under the diagnosis:\n%s", fr)
	}

	// f previews; n leaves it; nothing ran.
	hs.Keys("f")
	fr = hs.WaitFor("Repair pi-1?", "? Run it: upgrade pi-1 to its role's installer?")

	for _, want := range []string{
		"talosctl upgrade -n 192.168.1.11 -e 192.168.1.11 --image factory.talos.dev/metal-",
		"Reboots  yes", "about 2m40s", "y runs it on pi-1 only",
	} {
		if !strings.Contains(fr, want) {
			t.Errorf("preview lacks %q", want)
		}
	}

	hs.Golden("preview", fr)

	hs.Keys("n")
	hs.WaitFor("Why pi-1?")

	// Asked again, y runs it: pi-1 reboots.
	hs.Keys("f")
	hs.WaitFor("? Run it:")
	hs.Keys("y")
	fr = hs.WaitFor("⚒ repair: rebooting", "repair (upgrade): pi-1 is rebooting", "x cancel repair")
	hs.Golden("recovering", fr)

	close(f.resume)
	fr = hs.WaitFor("repair done: pi-1 is Ready", "2/4 Ready")

	if strings.Contains(fr, "Repair upgrade pi-1") {
		t.Errorf("pi-1 is Ready but still offers its repair:\n%s", fr)
	}
}

// A replay has no backend: f says where repairs run and runs nothing.
func TestRepairNeedsALiveLab(t *testing.T) {
	hs := start(t, watch(true, ui.DefaultTheme()), 140, 44)
	hs.WaitFor("■ ended")
	hs.Keys("t", "f")
	hs.WaitFor("repairs run on a live lab")
}
