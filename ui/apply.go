package ui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/probe"
)

func (m *Model) startApply() tea.Cmd {
	m.foldPlanned()

	ctx, cancel := context.WithCancel(m.ctx)
	m.cancelApply, m.applying = cancel, true
	m.screen, m.focus = ScreenApply, 0
	m.say(busy, "sending each board its config")

	b, p := m.o.Backend, clonePlan(m.plan)

	return tea.Batch(m.savePlan(), await(OpApply, "", func() error { return b.Apply(ctx, p) }))
}

// firstCP is the board bootstrap goes to: the plan's first control plane.

func (m *Model) applyKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Enter):
		if m.screen != ScreenApply {
			return nil
		}

		if !m.canBootstrap() {
			m.say(warn, "not yet: bootstrap needs the first control plane booted with its config")

			return nil
		}

		return m.startBootstrap()
	case key.Matches(k, m.keys.Retry):
		if m.screen == ScreenBootstrap && !m.bootstrapping {
			return m.startBootstrap()
		}
	case key.Matches(k, m.keys.Back):
		if m.applying {
			m.ask("Cancel the apply? Boards that already got their config keep it; the rest stay in maintenance.", func() tea.Cmd {
				m.cancelApply()
				m.applying, m.screen = false, ScreenReview
				m.say(warn, "apply cancelled")

				return nil
			})
		}
	case key.Matches(k, m.keys.Dashboard):
		m.back, m.screen = m.screen, ScreenDashboard
	default:
		return m.dashboardKey(k)
	}

	return nil
}

func (m *Model) applyView(w, h int) string {
	nodes := m.boards()
	head := m.applyHead(nodes, w)

	out := head + "\n" + m.boardGrid(nodes, w, h-1, true)

	if rest := h - lineCount(out); rest >= 5 {
		out += "\n" + m.activity(w, rest)
	}

	return out
}

// applyHead counts boards through the milestones: config, running, ready.
func (m *Model) applyHead(nodes []*probe.Node, w int) string {
	t := m.theme

	var applied, running, ready int

	for _, n := range nodes {
		if !n.AppliedAt.IsZero() {
			applied++
		}

		if !n.AppliedAt.IsZero() && n.Stage == probe.StageRunning {
			running++
		}

		if n.MachineReady {
			ready++
		}
	}

	all := len(nodes)
	counts := fmt.Sprintf("config %d/%d · running %d/%d · Talos ready %d/%d", applied, all, running, all, ready, all)

	var next string

	switch {
	case m.screen == ScreenBootstrap && m.bootErr != "":
		next = t.Bad.Render("✗ bootstrap failed — r retries")
	case m.screen == ScreenBootstrap:
		next = t.Busy.Render("… waiting for etcd on " + m.firstCP().Name)
	case m.canBootstrap():
		next = t.Accent.Render("enter: bootstrap etcd")
	case m.applying:
		next = t.Busy.Render("… applying")
	}

	line := counts
	if next != "" {
		line += "  " + next
	}

	if lipWidth(line) > w {
		line = strings.Replace(line, "Talos ready", "ready", 1)
	}

	return line
}
