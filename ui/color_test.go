package ui_test

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/liftoff-lab/liftoff/ui"
)

var sgr = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// colours reports whether terminal output sets any foreground or
// background colour (SGR 30–49, 90–107, and the 38/48 extended forms).
func colours(out string) bool {
	for _, m := range sgr.FindAllStringSubmatch(out, -1) {
		for p := range strings.SplitSeq(strings.ReplaceAll(m[1], ":", ";"), ";") {
			switch {
			case len(p) == 2 && (p[0] == '3' || p[0] == '4' || p[0] == '9'),
				len(p) == 3 && strings.HasPrefix(p, "10"):
				return true
			}
		}
	}

	return false
}

// terminalOutput runs the dashboard in a terminal with the given
// environment (TTY_FORCE makes colorprofile treat the test's buffer as a
// terminal) and returns everything written to it.
func terminalOutput(t *testing.T, env ...string) string {
	t.Helper()

	tm := teatest.NewTestModel(t, watch(true, ui.HighContrastTheme()), teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithEnvironment(append([]string{"TERM=xterm-256color", "TTY_FORCE=1"}, env...))))

	var seen string // WaitFor consumes what it reads

	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { seen = string(b); return strings.Contains(seen, "ended") },
		teatest.WithDuration(5*time.Second))

	_ = tm.Quit()

	b, err := io.ReadAll(tm.FinalOutput(t, teatest.WithFinalTimeout(3*time.Second)))
	if err != nil {
		t.Fatal(err)
	}

	return seen + string(b)
}

func TestNoColor(t *testing.T) {
	if out := terminalOutput(t, "COLORTERM=truecolor"); !colours(out) {
		t.Fatal("a colour terminal got no colour: the check below would prove nothing")
	}

	out := terminalOutput(t, "NO_COLOR=1")
	if colours(out) {
		t.Errorf("NO_COLOR output sets colours: %q", firstColour(out))
	}

	// Without colour, state is still written: icons and words.
	for _, want := range []string{"booting", "ready", "unexpected"} {
		if !strings.Contains(out, want) {
			t.Errorf("NO_COLOR output lacks %q", want)
		}
	}
}

func firstColour(out string) string {
	for _, m := range sgr.FindAllString(out, -1) {
		if colours(m) {
			return m
		}
	}

	return ""
}

// The help screen lists the keys of the screen it was opened on.
func TestHelp(t *testing.T) {
	hs := start(t, watch(false, ui.DefaultTheme()), 80, 24)
	hs.WaitFor("■ ended")

	hs.Keys("?")
	f := hs.WaitFor("Keys on this screen", "troubleshoot", "filter boards", "✓ done / healthy")
	hs.Golden("dashboard", f)

	hs.Keys("?")
	hs.WaitFor("Tailscale route")
}
