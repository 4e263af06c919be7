package ui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/probe"
)

// bringup is the apply and then the bootstrap in flight. Both run on when
// their screen is left (d shows the dashboard), so the Model keeps them.
type bringup struct {
	applying      bool
	cancel        context.CancelFunc // stops the apply
	bootstrapping bool
	bootErr       string
	boot          *ending // the last Bootstrap call: a kubeconfig save waits for it
}

// applyScreen is the fourth step: the board grid as each board takes its
// config, installs and boots, until the first control plane can take the
// bootstrap. Its state is the Model's: the bringup and the board focused.
type applyScreen struct{}

func (applyScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{with(k.Enter, "bootstrap"), with(k.Back, "cancel apply"), k.Troubleshoot, k.Help, k.Quit}, m.gridKeys()
}

func (applyScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Enter):
		if !m.canBootstrap() {
			m.say(warn, "not yet: bootstrap needs the first control plane booted with its config")

			return nil
		}

		return m.startBootstrap()
	case key.Matches(k, m.keys.Retry): // the bootstrap step's
		return nil
	}

	return m.gridKey(k)
}

func (applyScreen) view(m *Model, w, h int) string { return m.applyView(w, h) }

func (m *Model) startApply() tea.Cmd {
	m.foldPlanned()

	ctx, cancel := context.WithCancel(m.ctx)
	m.bringup.cancel, m.bringup.applying = cancel, true
	m.screen, m.focus = ScreenApply, 0
	m.say(busy, "sending each board its config")

	b, p := m.o.Backend, clonePlan(m.plan)

	return tea.Batch(m.savePlan(), await(OpApply, "", func() error { return b.Apply(ctx, p) }))
}

// gridKeys are the keys apply and bootstrap share with the dashboard,
// whose board grid they show.
func (m *Model) gridKeys() []key.Binding {
	k := m.keys

	return []key.Binding{k.Up, k.Down, k.Tab, k.Left, k.Right, k.ShiftTab, k.MoveGateway, k.Timeline, k.Filter, k.Dashboard}
}

// gridKey answers the keys apply and bootstrap share: esc cancels the
// apply, d leaves for the dashboard, the rest are the dashboard's.
func (m *Model) gridKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Back):
		if m.bringup.applying {
			m.ask("Cancel the apply? Boards that already got their config keep it; the rest stay in maintenance.", func() tea.Cmd {
				m.bringup.cancel()
				m.bringup.applying, m.screen = false, ScreenReview
				m.say(warn, "apply cancelled")

				return nil
			})
		}
	case key.Matches(k, m.keys.Dashboard):
		m.screen = ScreenDashboard
	default:
		return dashboardScreen{}.update(m, k)
	}

	return nil
}

// applyView is the apply and bootstrap steps' picture: the milestones,
// the board grid, and the activity below when there is room.
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
	case m.screen == ScreenBootstrap && m.bringup.bootErr != "":
		next = t.Bad.Render("✗ bootstrap failed — " + keyName(m.keys.Retry) + " retries")
	case m.screen == ScreenBootstrap:
		next = t.Busy.Render("… waiting for etcd on " + m.firstCP().Name)
	case m.canBootstrap():
		next = t.Accent.Render(keyName(m.keys.Enter) + ": bootstrap etcd")
	case m.bringup.applying:
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
