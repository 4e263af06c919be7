package probe_test

import (
	"context"
	"testing"

	"github.com/liftoff-lab/liftoff/probe"
)

// A joined stream's events reach the one consumer, each seen by the tap
// first; a sink has no channel, only its tap, which Tap(nil) ends.
func TestStreamJoinTapSink(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s, bringup := probe.NewStream(ctx, 8), probe.NewStream(ctx, 8)

	tapped := make(chan string, 8)
	s.Tap(func(e probe.Event) { tapped <- e.Node })
	s.Join(bringup)

	s.Emit(probe.Event{Node: "own"})
	bringup.Emit(probe.Event{Node: "joined"})

	got := map[string]bool{}
	for range 2 {
		got[(<-s.Events()).Node] = true
	}

	if !got["own"] || !got["joined"] {
		t.Fatalf("the consumer read %v, not both streams' events", got)
	}

	if a, b := <-tapped, <-tapped; a+b != "ownjoined" && a+b != "joinedown" {
		t.Errorf("the tap saw %q and %q", a, b)
	}

	sink := probe.NewSink(ctx)
	if sink.Events() != nil {
		t.Fatal("a sink has a channel")
	}

	var seen []string

	sink.Tap(func(e probe.Event) { seen = append(seen, e.Node) })
	sink.Emit(probe.Event{Node: "a"}) // returns: no channel to block on
	sink.Tap(nil)
	sink.Emit(probe.Event{Node: "b"})

	if len(seen) != 1 || seen[0] != "a" {
		t.Errorf("the sink's tap saw %v, want [a]", seen)
	}
}
