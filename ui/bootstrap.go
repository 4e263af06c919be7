package ui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/probe"
)

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

	m.screen, m.bootstrapping, m.bootErr = ScreenBootstrap, true, ""
	m.say(busy, "bootstrapping etcd on "+m.firstCP().Name)

	b, ctx, p := m.o.Backend, m.ctx, clonePlan(m.plan)
	boot := newEnding()
	m.boot = boot

	return await(OpBootstrap, "", func() error {
		err := b.Bootstrap(ctx, p)
		boot.end(err)

		return err
	})
}
