package ui_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
)

// fake is a Backend that answers every call with scripted events, at once
// and in order, so every run folds the same picture.
type fake struct {
	events   chan probe.Event
	progress chan ui.Progress
	tsAll    bool // tailscale-everywhere
	stall    bool // Apply keeps the apply in flight and sends nothing

	applyCtx context.Context

	mu    sync.Mutex
	plans []*plan.Plan
	merge []bool
}

func newFake(tailscaleEverywhere bool) *fake {
	return &fake{events: make(chan probe.Event, 4096), progress: make(chan ui.Progress, 64), tsAll: tailscaleEverywhere}
}

func (f *fake) Discover(_ context.Context, target string) {
	total := 254
	if !strings.Contains(target, "/") {
		total = 1
	}

	f.progress <- ui.Progress{Op: ui.OpScan, Total: total}

	for _, e := range discovered() {
		if total == 254 || e.Node == target {
			f.events <- e
		}
	}

	f.progress <- ui.Progress{Op: ui.OpScan, Done: total, Total: total, Finished: true}
}

func (f *fake) Apply(ctx context.Context, p *plan.Plan) {
	f.mu.Lock()
	f.applyCtx = ctx
	f.mu.Unlock()

	if f.stall {
		return
	}

	for i, b := range p.Boards {
		for _, l := range lab {
			if l.addr == b.Address {
				for _, e := range applied(i, board{b.Name, b.Address, b.Model, b.Machine, b.Role}, f.tsAll) {
					f.events <- e
				}
			}
		}

		f.progress <- ui.Progress{Op: ui.OpApply, Node: b.Name, Step: "config sent", Done: i + 1, Total: len(p.Boards)}
	}

	f.progress <- ui.Progress{Op: ui.OpApply, Done: len(p.Boards), Total: len(p.Boards), Finished: true}
}

func (f *fake) Bootstrap(context.Context, *plan.Plan) {
	for _, e := range joined(f.tsAll) {
		f.events <- e
	}
}

func (f *fake) SavePlan(p *plan.Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()

	f.plans = append(f.plans, p)

	return nil
}

func (f *fake) SaveKubeconfig(merge bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	f.merge = append(f.merge, merge)

	if merge {
		return "/home/demo/.kube/config", nil
	}

	return "homelab/kubeconfig", nil
}

func (f *fake) lastPlan() *plan.Plan {
	f.mu.Lock()
	defer f.mu.Unlock()

	if len(f.plans) == 0 {
		return nil
	}

	return f.plans[len(f.plans)-1]
}

// replay is a closed channel holding a whole recording.
func replay(events []probe.Event) <-chan probe.Event {
	ch := make(chan probe.Event, len(events))
	for _, e := range events {
		ch <- e
	}

	close(ch)

	return ch
}

type snapMsg struct{ reply chan string }

// harness runs a Model in teatest and reads frames from the model itself
// (through a program filter, on the program's own goroutine): the terminal
// stream is diff-rendered and cannot be compared as text.
type harness struct {
	t    *testing.T
	tm   *teatest.TestModel
	w, h int
}

func start(t *testing.T, m *ui.Model, w, h int, opts ...tea.ProgramOption) *harness {
	t.Helper()

	snap := tea.WithFilter(func(m tea.Model, msg tea.Msg) tea.Msg {
		if s, ok := msg.(snapMsg); ok {
			s.reply <- m.View().Content

			return nil
		}

		return msg
	})

	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h), teatest.WithProgramOptions(append(opts, snap)...))
	hs := &harness{t: t, tm: tm, w: w, h: h}

	t.Cleanup(func() {
		_ = tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(3*time.Second))
	})

	return hs
}

// raw is the current frame with its styling.
func (hs *harness) raw() string {
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

// frame is the current frame as plain text, checked to fit the terminal.
func (hs *harness) frame() string {
	hs.t.Helper()

	raw := hs.raw()
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

// waitFor polls frames until one holds every want.
func (hs *harness) waitFor(want ...string) string {
	hs.t.Helper()

	deadline := time.Now().Add(5 * time.Second)

	for {
		f := hs.frame()
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

// keys types key names: "enter", "esc", "tab", "up", "down", or runes.
func (hs *harness) keys(names ...string) {
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

// golden compares a frame with testdata/<test>/<name>.golden (-update rewrites).
func (hs *harness) golden(name, frame string) {
	hs.t.Helper()
	hs.t.Run(name, func(t *testing.T) { golden.RequireEqual(t, frame) })
}
