package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/probe"
)

// bootstrapScreen is the fifth step: the apply's board grid while etcd
// bootstraps on the first control plane; r retries a bootstrap that
// failed. Its state is the Model's bringup.
type bootstrapScreen struct{}

func (bootstrapScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{k.Retry, k.Troubleshoot, k.Help, k.Quit}, append([]key.Binding{with(k.Back, "cancel apply")}, m.gridKeys()...)
}

func (bootstrapScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Retry):
		if !m.bringup.bootstrapping {
			return m.startBootstrap()
		}

		return nil
	case key.Matches(k, m.keys.Enter): // the apply step's: the bootstrap has begun
		return nil
	}

	return m.gridKey(k)
}

func (bootstrapScreen) view(m *Model, w, h int) string { return m.applyView(w, h) }

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

	return cp != nil && !cp.AppliedAt.IsZero() && (cp.Stage == probe.StageBooting || cp.Stage == probe.StageRunning) && cp.Reachable
}

func (m *Model) startBootstrap() tea.Cmd {
	if m.bootstrapped() {
		m.screen = ScreenKubeconfig

		return nil
	}

	m.screen, m.bringup.bootstrapping, m.bringup.bootErr = ScreenBootstrap, true, ""
	m.say(busy, "bootstrapping etcd on "+m.firstCP().Name)

	if m.tools.Op != "" && !m.tools.Finished {
		// The backend holds the bootstrap until the build is done.
		m.say(busy, "the control plane is still "+toolsBuilding(m.tools)+": etcd on "+m.firstCP().Name+" is bootstrapped as soon as it is built")
	}

	b, ctx, p := m.o.Backend, m.ctx, clonePlan(m.plan)
	boot := newEnding()
	m.bringup.boot = boot

	return await(OpBootstrap, "", func() error {
		err := b.Bootstrap(ctx, p)
		boot.end(err)

		return err
	})
}
