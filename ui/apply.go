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

	return tea.Batch(m.savePlan(), func() tea.Msg { b.Apply(ctx, p); return nil })
}

// firstCP is the board bootstrap goes to: the plan's first control plane.
func (m *Model) firstCP() *probe.Node {
	cps := m.plan.ControlPlanes()
	if len(cps) == 0 {
		return nil
	}

	for _, n := range m.allBoards() {
		if n.Name == cps[0].Name {
			return n
		}
	}

	return nil
}

func (m *Model) bootstrapped() bool {
	for _, n := range m.allBoards() {
		if n.Bootstrapped {
			return true
		}
	}

	return false
}

// canBootstrap: etcd needs only the first control plane up with its
// config; the other boards join whenever they are ready. A new cluster's
// control plane stays booting until then: its boot sequence waits for
// etcd, which waits for the bootstrap.
func (m *Model) canBootstrap() bool {
	cp := m.firstCP()

	return cp != nil && !cp.AppliedAt.IsZero() && (cp.Stage == "booting" || cp.Stage == "running") && cp.Reachable
}

func (m *Model) startBootstrap() tea.Cmd {
	if m.bootstrapped() {
		m.screen = ScreenKubeconfig

		return nil
	}

	m.screen, m.bootstrapping, m.bootErr = ScreenBootstrap, true, ""
	m.say(busy, "bootstrapping etcd on "+m.firstCP().Name)

	b, ctx, p := m.o.Backend, m.ctx, clonePlan(m.plan)

	return func() tea.Msg { b.Bootstrap(ctx, p); return nil }
}

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

		if !n.AppliedAt.IsZero() && n.Stage == "running" {
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

func (m *Model) kubeconfigKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Up, m.keys.Down):
		m.sel = 1 - m.sel
	case key.Matches(k, m.keys.Merge):
		return m.saveKubeconfig(true)
	case key.Matches(k, m.keys.Separate):
		return m.saveKubeconfig(false)
	case key.Matches(k, m.keys.Enter):
		return m.saveKubeconfig(m.sel == 0)
	case key.Matches(k, m.keys.Dashboard):
		m.screen = ScreenDashboard
	}

	return nil
}

func (m *Model) saveKubeconfig(merge bool) tea.Cmd {
	m.say(busy, "fetching the admin kubeconfig")
	b := m.o.Backend

	return func() tea.Msg {
		path, err := b.SaveKubeconfig(merge)

		return kubeconfigMsg{path: path, err: err}
	}
}

func (m *Model) onKubeconfig(msg kubeconfigMsg) {
	if msg.err != nil {
		m.say(bad, "kubeconfig not saved: "+msg.err.Error())

		return
	}

	m.kubeconfig = msg.path
	m.screen, m.focus = ScreenDashboard, 0
	m.say(good, "kubeconfig saved to "+msg.path+" — try: kubectl get nodes")
}

func (m *Model) kubeconfigView(w, h int) string {
	t := m.theme
	opts := []string{
		t.Key.Render("m") + "  merge into ~/.kube/config — adds this cluster's context (current only if none is set)",
		t.Key.Render("s") + "  a separate file — use it with kubectl --kubeconfig or $KUBECONFIG",
	}

	lines := []string{
		t.Good.Render("✓ etcd is bootstrapped; Kubernetes is starting on the control plane."),
		"",
		t.Title.Render("Where should the admin kubeconfig go?"),
		"",
	}

	for i, o := range opts {
		if i == m.sel {
			lines = append(lines, "▸ "+o)
		} else {
			lines = append(lines, "  "+o)
		}
	}

	lines = append(lines, "", t.Dim.Render("It holds cluster-admin credentials: it is written 0600."))

	return strings.Join(lines, "\n")
}
