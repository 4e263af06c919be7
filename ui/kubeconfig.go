package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// kubeconfigScreen is the last step: where the admin kubeconfig goes,
// merged into ~/.kube/config (the first choice) or a file of its own.
type kubeconfigScreen struct {
	sel int
}

func (s *kubeconfigScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{k.Merge, k.Separate, k.Help, k.Quit},
		[]key.Binding{with(k.Up, "choose"), k.Down, with(k.Enter, "save as chosen"), k.Dashboard}
}

func (s *kubeconfigScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Up, m.keys.Down):
		s.sel = 1 - s.sel
	case key.Matches(k, m.keys.Merge):
		return m.saveKubeconfig(true)
	case key.Matches(k, m.keys.Separate):
		return m.saveKubeconfig(false)
	case key.Matches(k, m.keys.Enter):
		return m.saveKubeconfig(s.sel == 0)
	case key.Matches(k, m.keys.Dashboard):
		m.screen = ScreenDashboard
	}

	return nil
}

func (m *Model) saveKubeconfig(merge bool) tea.Cmd {
	m.say(busy, "fetching the admin kubeconfig")
	b, boot, ctx := m.o.Backend, m.bringup.boot, m.ctx

	return func() tea.Msg {
		// The wizard moves on when etcd is bootstrapped, seconds before
		// the API server hands out a kubeconfig: the bootstrap's call
		// returns once it has.
		if boot != nil {
			if err := boot.wait(ctx); err != nil {
				if ctx.Err() == nil {
					err = fmt.Errorf("the bootstrap failed: %w", err)
				}

				return kubeconfigMsg{err: err}
			}
		}

		path, err := b.SaveKubeconfig(merge)

		return kubeconfigMsg{path: path, err: err}
	}
}

func (m *Model) onKubeconfig(msg kubeconfigMsg) {
	if msg.err != nil {
		m.say(bad, "kubeconfig not saved: "+msg.err.Error())

		return
	}

	m.screen, m.focus = ScreenDashboard, 0
	m.say(good, "kubeconfig saved to "+msg.path+" — try: kubectl get nodes")
}

func (s *kubeconfigScreen) view(m *Model, w, h int) string {
	t := m.theme
	opts := []string{
		t.Key.Render(keyName(m.keys.Merge)) + "  merge into ~/.kube/config — adds this cluster's context (current only if none is set)",
		t.Key.Render(keyName(m.keys.Separate)) + "  a separate file — use it with kubectl --kubeconfig or $KUBECONFIG",
	}

	lines := []string{
		t.Good.Render("✓ etcd is bootstrapped; Kubernetes is starting on the control plane."),
		"",
		t.Title.Render("Where should the admin kubeconfig go?"),
		"",
	}

	for i, o := range opts {
		if i == s.sel {
			lines = append(lines, "▸ "+o)
		} else {
			lines = append(lines, "  "+o)
		}
	}

	lines = append(lines, "", t.Dim.Render("It holds cluster-admin credentials: it is written 0600."))

	return strings.Join(lines, "\n")
}
