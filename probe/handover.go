package probe

import (
	"fmt"
	"time"
)

// OutageMeter measures, from the probes' events, how long the tailnet could
// not reach the cluster while the gateway moved: from the first sign that
// the old router stopped serving — its ext-tailscale no longer up, its API
// gone for the reboot, the route no longer usable, a request through the
// route failing — to the first right answer through the route after it.
// Until the first sign, answers came through the old router; the meter
// never guesses a gap it did not see.
type OutageMeter struct {
	// From is the old gateway board.
	From string
	// Armed is when the old router was told to go; earlier events are
	// the time before the move.
	Armed time.Time
	// Lost is the first sign the route was gone, and what it was.
	Lost   time.Time
	LostBy string
	// Back is the first right answer through the route after Lost.
	Back time.Time
	// RouteOnly ends the outage when the route is usable again, for a
	// move that cannot ask the cluster through it (no hello-world).
	RouteOnly bool
}

// Apply folds one event in.
func (m *OutageMeter) Apply(e Event) {
	if m.Armed.IsZero() || e.Time.Before(m.Armed) || !m.Back.IsZero() {
		return
	}

	if m.Lost.IsZero() {
		if why, lost := m.lost(e); lost {
			m.Lost, m.LostBy = e.Time, why
		}

		return
	}

	back := e.Kind == Traffic || m.RouteOnly && e.Kind == Route
	if back && e.Node == "" && e.Ready && !e.Time.Before(m.Lost) {
		m.Back = e.Time
	}
}

func (m *OutageMeter) lost(e Event) (string, bool) {
	switch {
	case e.Node == m.From && e.Kind == Service && e.Name == "ext-tailscale" && !e.Ready:
		return m.From + "'s tailscaled stopped (" + e.State + ")", true
	case e.Node == m.From && e.Kind == Reachable && !e.Ready:
		return m.From + "'s API went away for its reboot", true
	case e.Node == "" && e.Kind == Route && !e.Ready:
		return "the route was no longer usable (" + e.State + ")", true
	case e.Node == "" && e.Kind == Traffic && !e.Ready:
		return "a request through the route failed (" + e.State + ")", true
	}

	return "", false
}

// Done tells whether the outage has been measured.
func (m *OutageMeter) Done() bool { return !m.Back.IsZero() }

// Outage is the measured time the tailnet could not reach the cluster.
func (m *OutageMeter) Outage() time.Duration {
	if !m.Done() {
		return 0
	}

	return m.Back.Sub(m.Lost)
}

// Words say what was measured, for a person.
func (m *OutageMeter) Words() string {
	if !m.Done() {
		return "not measured: no right answer through the route after the old router left"
	}

	return fmt.Sprintf("the tailnet could not reach the cluster for %s: from %s to the first right answer through the new router",
		m.Outage().Round(time.Millisecond), m.LostBy)
}
