package ui

import (
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
)

// Talos re-sends MachineStatus whenever any field moves: the activity panel
// tells each fact once, and again only after it changed.
func TestActivityTellsAFactOnce(t *testing.T) {
	m := New(Options{})
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	for _, e := range []probe.Event{
		{Time: at, Node: "pi-1", Kind: probe.Stage, State: "running"},
		{Time: at, Node: "pi-1", Kind: probe.Stage, State: "running"},
		{Time: at, Node: "pi-2", Kind: probe.Stage, State: "running"},
		{Time: at, Node: "pi-1", Kind: probe.Stage, State: "rebooting"},
		{Time: at, Node: "pi-1", Kind: probe.Stage, State: "running"},
		{Time: at, Node: "pi-1", Kind: probe.Service, Name: "etcd", State: "Preparing"},
		{Time: at, Node: "pi-1", Kind: probe.Service, Name: "etcd", State: "Preparing"},
		{Time: at, Node: "pi-1", Kind: probe.Service, Name: "kubelet", State: "Preparing"},
	} {
		m.record(e)
	}

	if len(m.feed.lines) != 6 {
		for _, l := range m.feed.lines {
			t.Log(l.node, l.text)
		}

		t.Errorf("%d lines told, want 6 (no repeats, but every change)", len(m.feed.lines))
	}
}

// apply's own notes (retries, waits) are told; boards' log lines are not.
func TestActivityTellsApplyRetries(t *testing.T) {
	m := New(Options{})
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	m.record(probe.Event{Time: at, Node: "pi-1", Kind: probe.Log, Name: "liftoff", State: "retrying", Detail: "apply: retrying (attempt 2 of 5) in 1s: the board dropped the connection"})
	m.record(probe.Event{Time: at, Node: "pi-1", Kind: probe.Log, Name: "kubelet", Detail: "I1122 starting kubelet"})

	if len(m.feed.lines) != 1 || m.feed.lines[0].tone != warn || m.feed.lines[0].text != "apply: retrying (attempt 2 of 5) in 1s: the board dropped the connection" {
		t.Errorf("feed: %+v", m.feed.lines)
	}
}
