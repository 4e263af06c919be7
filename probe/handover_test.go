package probe_test

import (
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
)

// The outage runs from the first sign the old router stopped serving to
// the first right answer after it; what came before the move is not part
// of it, and an answer that came before the loss does not end it.
func TestOutageMeterMeasuresFromTheLossToTheFirstAnswer(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	m := probe.OutageMeter{From: "edge", Armed: at(100)}

	for _, e := range []probe.Event{
		{Time: at(50), Kind: probe.Traffic, State: probe.FlowNoRoute},                                  // before the move
		{Time: at(150), Kind: probe.Traffic, State: probe.FlowOK, Ready: true},                         // still the old router
		{Time: at(200), Node: "pi-w-2", Kind: probe.Service, Name: "ext-tailscale", State: "Finished"}, // another board
		{Time: at(300), Node: "edge", Kind: probe.Service, Name: "ext-tailscale", State: "Finished"},
		{Time: at(400), Kind: probe.Traffic, State: probe.FlowNoRoute},
		{Time: at(450), Kind: probe.Route, State: probe.RoutePrimary, Ready: true},
		{Time: at(1250), Kind: probe.Traffic, State: probe.FlowOK, Ready: true},
		{Time: at(1300), Kind: probe.Traffic, State: probe.FlowNoRoute},
	} {
		if m.Done() && e.Time.Before(at(1250)) {
			t.Fatalf("done before the first answer after the loss, at %v", e.Time)
		}

		m.Apply(e)
	}

	if !m.Done() || m.Outage() != 950*time.Millisecond || m.Lost != at(300) {
		t.Fatalf("outage %v (lost at %v by %q, back at %v), want 950ms from edge's tailscaled", m.Outage(), m.Lost, m.LostBy, m.Back)
	}

	lab := probe.NewLab()
	lab.Apply(probe.Event{Time: at(0), Kind: probe.Handover, Name: "edge pi-w-2", State: "started"})
	lab.Apply(probe.Event{Time: at(1300), Kind: probe.Handover, Name: "edge pi-w-2", State: "done", Ready: true, Latency: m.Outage()})

	if h := lab.Handover; h.From != "edge" || h.To != "pi-w-2" || h.State != "done" || h.Outage != m.Outage() || !h.Started.Equal(at(0)) {
		t.Fatalf("lab handover: %+v", h)
	}
}

func TestOutageMeterUnmeasuredWithoutAnAnswer(t *testing.T) {
	m := probe.OutageMeter{From: "edge", Armed: time.Now()}
	m.Apply(probe.Event{Time: time.Now().Add(time.Second), Node: "edge", Kind: probe.Reachable})

	if m.Done() || m.Outage() != 0 || m.Lost.IsZero() {
		t.Fatalf("meter: %+v", m)
	}
}
