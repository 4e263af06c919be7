// Package uitest drives a liftoff UI model in teatest and reads its frames
// as plain text: for ui's own tests and for tests that run the dashboard on
// the simulated lab.
package uitest

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

type snapMsg struct{ reply chan string }

// Harness runs a Model in teatest and reads frames from the model itself
// (through a program filter, on the program's own goroutine): the terminal
// stream is diff-rendered and cannot be compared as text.
type Harness struct {
	// Wait is how long WaitFor waits for a frame (default 5s).
	Wait time.Duration

	t    *testing.T
	tm   *teatest.TestModel
	w, h int
}

func Start(t *testing.T, m tea.Model, w, h int, opts ...tea.ProgramOption) *Harness {
	t.Helper()

	snap := tea.WithFilter(func(m tea.Model, msg tea.Msg) tea.Msg {
		if s, ok := msg.(snapMsg); ok {
			s.reply <- m.View().Content

			return nil
		}

		return msg
	})

	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h), teatest.WithProgramOptions(append(opts, snap)...))
	hs := &Harness{t: t, tm: tm, w: w, h: h, Wait: 5 * time.Second}

	t.Cleanup(func() {
		_ = tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(3*time.Second))
	})

	return hs
}

// Raw is the current frame with its styling.
func (hs *Harness) Raw() string {
	reply := make(chan string, 1)
	hs.tm.Send(snapMsg{reply})

	select {
	case s := <-reply:
		return s
	case <-time.After(3 * time.Second):
		hs.t.Fatal("the program did not answer: is it frozen?")

		return ""
	}
}

// Frame is the current frame as plain text, checked to fit the terminal.
func (hs *Harness) Frame() string {
	hs.t.Helper()

	raw := hs.Raw()
	lines := strings.Split(raw, "\n")

	if len(lines) > hs.h {
		hs.t.Errorf("frame has %d lines, terminal %d", len(lines), hs.h)
	}

	for i, l := range lines {
		if w := ansi.StringWidth(l); w > hs.w {
			hs.t.Errorf("line %d is %d cells wide, terminal %d: %q", i+1, w, hs.w, ansi.Strip(l))
		}
	}

	return ansi.Strip(raw)
}

// WaitFor polls frames until one holds every want.
func (hs *Harness) WaitFor(want ...string) string {
	hs.t.Helper()

	deadline := time.Now().Add(hs.Wait)

	for {
		f := hs.Frame()
		missing := ""

		for _, w := range want {
			if !strings.Contains(f, w) {
				missing = w

				break
			}
		}

		if missing == "" {
			return f
		}

		if time.Now().After(deadline) {
			hs.t.Fatalf("no frame with %q; last frame:\n%s", missing, f)
		}

		time.Sleep(20 * time.Millisecond)
	}
}

// Keys types key names: "enter", "esc", "tab", "up", "down", or runes.
func (hs *Harness) Keys(names ...string) {
	special := map[string]rune{"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight}

	for _, n := range names {
		if code, ok := special[n]; ok {
			hs.tm.Send(tea.KeyPressMsg{Code: code})

			continue
		}

		for _, r := range n {
			hs.tm.Send(tea.KeyPressMsg{Code: r, Text: string(r)})
		}
	}
}

// Golden compares a frame with testdata/<test>/<name>.golden (-update rewrites).
func (hs *Harness) Golden(name, frame string) {
	hs.t.Helper()
	hs.t.Run(name, func(t *testing.T) { golden.RequireEqual(t, frame) })
}
