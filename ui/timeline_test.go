package ui_test

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
)

// The bring-up as a picture, at a laptop's size and the smallest useful
// one: every board a row, every phase a letter and a fill, the legend.
func TestTimeline(t *testing.T) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"80x24", 80, 24}, {"120x36", 120, 36}} {
		t.Run(size.name, func(t *testing.T) {
			hs := start(t, watch(false, ui.DefaultTheme()), size.w, size.h)
			hs.WaitFor("4/4 Ready", "■ ended")

			hs.Keys("p")
			f := hs.WaitFor("Bring-up timeline", "4 boards, 4 ready")

			for _, want := range []string{
				"▸ pi-1 ", "  pi-4 ", "slowest phase",
				"I████", "↻░░", "B▓▓", "N▄▄",
				"until Node Ready", // the scripted boards wait longest for Kubernetes
				"I██ install", "↻░░ reboot (API down)", "┈┈┆ expected",
			} {
				if !strings.Contains(f, want) {
					t.Errorf("timeline lacks %q", want)
				}
			}

			hs.Golden("frame", f)

			hs.Keys("p")
			hs.WaitFor("Tailscale route")
		})
	}
}

// Half-way: boards installing, rebooting and booting, each with the
// usual time of its stage faint ahead of it, in the high-contrast theme.
func TestTimelineWhileGoing(t *testing.T) {
	events := bringUp(false)
	cut := 0

	for i, e := range events {
		if e.Time.After(at(72)) {
			cut = i

			break
		}
	}

	m := ui.New(ui.Options{Events: replay(events[:cut]), Plan: testPlan(), Start: ui.ScreenDashboard,
		Theme: ui.HighContrastTheme(), Clock: func() time.Time { return at(72) }})
	hs := start(t, m, 120, 36)
	hs.WaitFor("0/4 Ready", "■ ended")

	hs.Keys("p")
	f := hs.WaitFor("Bring-up timeline")

	for _, want := range []string{"B▓", "↻░", "I███", "┈┆", "… install 38s"} {
		if !strings.Contains(f, want) {
			t.Errorf("timeline lacks %q:\n%s", want, f)
		}
	}

	hs.Golden("frame", f)

	// The theme's own colours: high contrast's saturated blue for install.
	if raw := hs.Raw(); !strings.Contains(raw, "38;2;0;175;255") || strings.Contains(raw, "38;2;88;166;255") {
		t.Error("the install segments do not use the high-contrast theme's colour")
	}
}

// Tailscale everywhere, as scripted: the compute boards' Nodes never get
// Ready, the gateway is ready; enter explains the selected board, esc
// comes back.
func TestTimelineTailscaleEverywhere(t *testing.T) {
	hs := start(t, watch(true, ui.DefaultTheme()), 120, 36)
	hs.WaitFor("1/4 Ready", "■ ended")

	hs.Keys("p", "down")
	f := hs.WaitFor("▸ pi-2", "4 boards, 1 ready")

	// The compute boards with the gateway image boot on: their boot
	// sequence waits for ext-tailscale (their Nodes are Ready meanwhile).
	for _, want := range []string{"✗ boot 3m49s ×7.6", "✓ Node Ready 1m05s"} {
		if !strings.Contains(f, want) {
			t.Errorf("timeline lacks %q:\n%s", want, f)
		}
	}

	hs.Keys("enter")
	f = hs.WaitFor("Why pi-2?", "Timeline — p shows every board")

	if !strings.Contains(f, "… booting: its boot sequence waits for ext-tailscale") {
		t.Errorf("troubleshoot's timeline does not say what pi-2 waits for:\n%s", f)
	}

	hs.Keys("esc")
	hs.WaitFor("Bring-up timeline", "▸ pi-2")
	hs.Keys("esc")
	hs.WaitFor("Tailscale route")
}

// Without colour the picture still reads: letters, fills and the legend
// carry every phase; no colour escape is sent.
func TestTimelineNoColor(t *testing.T) {
	tm := teatest.NewTestModel(t, watch(true, ui.DefaultTheme()), teatest.WithInitialTermSize(120, 36),
		teatest.WithProgramOptions(tea.WithEnvironment([]string{"TERM=xterm-256color", "TTY_FORCE=1", "NO_COLOR=1"})))

	tm.Send(tea.KeyPressMsg{Code: 'p', Text: "p"})

	var seen string

	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		seen += string(b)

		return strings.Contains(seen, "reboot (API down)")
	}, teatest.WithDuration(5*time.Second))

	_ = tm.Quit()

	rest, err := io.ReadAll(tm.FinalOutput(t, teatest.WithFinalTimeout(3*time.Second)))
	if err != nil {
		t.Fatal(err)
	}

	out := seen + string(rest)
	if colours(out) {
		t.Errorf("NO_COLOR output sets colours: %q", firstColour(out))
	}

	// The terminal gets a diff-rendered stream (runs of one character may
	// be sent as a repeat), so look for the words and the marks.
	for _, want := range []string{"install", "↻", "reboot (API down)", "until Talos ready", "×", "outage (API down, unannounced)", "┈", "┆"} {
		if !strings.Contains(out, want) {
			t.Errorf("NO_COLOR timeline lacks %q", want)
		}
	}
}

// A board that loses its API while running shows the outage (×), and a
// slow install shows where it should have ended (┆) and by how much.
func TestTimelineMarksSlowStagesAndOutages(t *testing.T) {
	ev := func(s float64, node string, e probe.Event) probe.Event { e.Time, e.Node = at(s), node; return e }

	var events []probe.Event

	for _, b := range []struct {
		name    string
		install float64
	}{{"pi-1", 60}, {"pi-2", 400}} {
		events = append(events,
			ev(0, b.name, probe.Event{Kind: probe.Applied}),
			ev(1, b.name, probe.Event{Kind: probe.Stage, State: "installing"}),
			ev(1+b.install, b.name, probe.Event{Kind: probe.Stage, State: "rebooting"}),
			ev(20+b.install, b.name, probe.Event{Kind: probe.Stage, State: "booting"}),
			ev(40+b.install, b.name, probe.Event{Kind: probe.Stage, State: "running"}),
		)
	}

	events = append(events,
		ev(300, "pi-1", probe.Event{Kind: probe.Reachable, Ready: true}),
		ev(310, "pi-1", probe.Event{Kind: probe.Reachable, Detail: "no route to host"}),
		ev(350, "pi-1", probe.Event{Kind: probe.Reachable, Ready: true}))

	slices.SortStableFunc(events, func(a, b probe.Event) int { return a.Time.Compare(b.Time) })

	m := ui.New(ui.Options{Events: replay(events), Start: ui.ScreenDashboard, Clock: func() time.Time { return at(500) }})
	hs := start(t, m, 120, 30)
	hs.WaitFor("■ ended")
	hs.Keys("p")

	f := hs.WaitFor("Bring-up timeline")
	rows := map[string]string{}

	for _, l := range strings.Split(f, "\n") {
		for _, name := range []string{"pi-1", "pi-2"} {
			if strings.HasPrefix(strings.TrimLeft(l, "▸ "), name+" ") {
				rows[name] = l
			}
		}
	}

	if !strings.Contains(rows["pi-1"], "××") || strings.Contains(rows["pi-2"], "××") {
		t.Errorf("only pi-1 lost its API while running:\n%s\n%s", rows["pi-1"], rows["pi-2"])
	}

	if !strings.Contains(rows["pi-2"], "┆") || !strings.Contains(rows["pi-2"], "install 6m40s ×4.4") {
		t.Errorf("pi-2's install took 4.4 times the usual 1m30s, and should say so:\n%s", rows["pi-2"])
	}

	if strings.Contains(rows["pi-1"], "┆") {
		t.Errorf("pi-1's install was not slow:\n%s", rows["pi-1"])
	}
}
