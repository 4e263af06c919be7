package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/probe"
)

// The model's side of the timeline: opening it, its keys, what it is
// given to draw, and the troubleshoot view's one-board version.

// timelineScreen is the bring-up as a timeline, one row per board. It
// draws with timeline (timeline.go); the board focused is the Model's.
type timelineScreen struct {
	timeline
	back Screen // where esc goes: the troubleshoot view it was opened from, or the dashboard
}

func (s *timelineScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{with(k.Up, "board"), with(k.Enter, "why?"), k.Filter, with(k.Back, "back"), k.Help},
		[]key.Binding{k.Down, k.PageUp, k.PageDown, k.Home, k.End, with(k.Troubleshoot, "why?"),
			with(k.Timeline, "dashboard"), k.Dashboard, k.Quit}
}

func (m *Model) openTimeline() tea.Cmd {
	if m.screen != ScreenTimeline {
		m.timeline.back = m.screen
	}

	if m.screen == ScreenTroubleshoot && m.troubleshoot.back == ScreenTimeline {
		m.timeline.back = ScreenDashboard // no loop between the two
	}

	m.screen = ScreenTimeline

	if n := len(m.boards()); m.focus >= n {
		m.focus = 0
	}

	return nil
}

func (m *Model) timelineInput() timelineInput {
	return timelineInput{
		nodes: m.boards(), focus: m.focus, now: m.now, speed: m.o.Speed, theme: m.theme, keys: m.keys,
		state: func(n *probe.Node) state { return nodeState(n, m.now) },
	}
}

func (s *timelineScreen) view(m *Model, w, h int) string { return s.draw(m.timelineInput(), w, h) }

func (s *timelineScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	n := len(m.boards())
	last := max(0, n-1)

	switch {
	case key.Matches(k, m.keys.Up):
		m.focus = max(0, min(m.focus, last)-1)
	case key.Matches(k, m.keys.Down):
		m.focus = min(last, m.focus+1)
	case key.Matches(k, m.keys.PageUp):
		m.focus = max(0, min(m.focus, last)-10)
	case key.Matches(k, m.keys.PageDown):
		m.focus = min(last, m.focus+10)
	case key.Matches(k, m.keys.Home):
		m.focus = 0
	case key.Matches(k, m.keys.End):
		m.focus = last
	case key.Matches(k, m.keys.Enter, m.keys.Troubleshoot):
		m.openTroubleshoot()
	case key.Matches(k, m.keys.Filter):
		m.filterInput()
	case key.Matches(k, m.keys.Back):
		if m.clearFilter() {
			return nil
		}

		m.screen = ScreenDashboard
		if s.back == ScreenTroubleshoot {
			m.screen = ScreenTroubleshoot
		}
	case key.Matches(k, m.keys.Timeline, m.keys.Dashboard):
		m.screen = ScreenDashboard
	}

	return nil
}

// tick is the clock: once a second, four times a second while a timeline
// on screen animates a phase in progress. Only the clock moves: no I/O.
func (m *Model) tick() tea.Cmd {
	if m.o.Still {
		return nil
	}

	if (m.screen == ScreenTimeline || m.screen == ScreenTroubleshoot) && !m.showHelp && m.anyGoing() {
		return tickEvery(250 * time.Millisecond)
	}

	return tickEvery(time.Second)
}

func (m *Model) anyGoing() bool {
	for _, n := range m.lab.Nodes {
		if !n.AppliedAt.IsZero() && !ready(n) {
			return true
		}
	}

	return false
}

// timelineSection is the troubleshoot view's timeline of one board: its
// bar on its own axis, and where its time went in words.
func (m *Model) timelineSection(n *probe.Node, w int) []string {
	bar, tn, ok := m.timeline.rowFor(n, m.now, m.o.Speed, m.theme, w-2)
	if !ok {
		return nil
	}

	t := m.theme
	out := []string{t.Title.Render("Timeline") + t.Dim.Render(" — "+keyName(m.keys.Timeline)+" shows every board"), "  " + bar}

	return append(append(out, indent("  ", timelineWords(tn, n), w)...), "")
}

// timelineWords says where a board's time went: each phase with its
// expectation, reboots, outages, and where it is now.
func timelineWords(tn probe.Timeline, n *probe.Node) string {
	var parts []string

	seen := map[probe.Phase]bool{}

	for _, s := range tn.Spans {
		if s.Phase == probe.PhaseReady || seen[s.Phase] {
			continue
		}

		seen[s.Phase] = true
		spent, want := tn.Total(s.Phase)

		if spent < time.Second && !s.Open {
			continue // an apply that returned at once is noise here
		}

		name := s.Phase.Label()
		if s.Phase == probe.PhaseReboot {
			name = "reboot" // "API down" is said once, below, when it was not expected
		}

		part := name + " " + dur(spent)

		switch {
		case probe.Slow(spent, want):
			part += fmt.Sprintf(" (%.1f× the usual %s)", float64(spent)/float64(want), dur(want))
		case want > 0:
			part += " (usual " + dur(want) + ")"
		}

		parts = append(parts, part)
	}

	words := strings.Join(parts, " → ")

	if r := len(tn.Reboots); r > 0 {
		words += " · " + plural(r, "reboot", "reboots")
	}

	var down time.Duration

	unannounced := 0

	for _, o := range tn.Outages {
		if !o.Expected {
			unannounced++
			down += o.Duration()
		}
	}

	if unannounced > 0 {
		words += fmt.Sprintf(" · ✗ %s, %s with the API down", plural(unannounced, "outage", "outages"), dur(down))
	}

	if tn.Ready {
		return words + " · ✓ ready " + dur(tn.End.Sub(tn.Start)) + " after apply"
	}

	now := doing(tn.Current())
	if tn.Current() == probe.PhaseBoot && len(n.BootWaitFor) > 0 {
		// Talos's boot sequence names what it waits for (probe/console.go).
		now += ": its boot sequence waits for " + strings.Join(n.BootWaitFor, ", ")
	}

	return words + " · … " + now + ", " + dur(tn.End.Sub(tn.Start)) + " since apply"
}

// doing is a phase in progress, in words.
func doing(p probe.Phase) string {
	switch p {
	case probe.PhaseApply:
		return "applying"
	case probe.PhaseInstall:
		return "installing"
	case probe.PhaseReboot:
		return "rebooting"
	case probe.PhaseBoot:
		return "booting"
	case probe.PhaseExtensions:
		return "waiting for its extensions"
	case probe.PhaseTalos:
		return "waiting for Talos to report it ready"
	case probe.PhaseNode:
		return "waiting for its Node to be Ready"
	}

	return look(p).name
}
