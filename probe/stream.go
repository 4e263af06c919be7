package probe

import (
	"context"
	"sync"
)

// Stream joins many probes into one consumer (the UI, check, or a headless
// run's output). Emit never blocks a probe for long: the buffer absorbs
// bursts, and a full buffer waits only until the consumer reads or ctx
// ends.
type Stream struct {
	ch  chan Event // nil for a sink: only the tap sees its events
	ctx context.Context
	wg  sync.WaitGroup

	mu  sync.Mutex
	tap func(Event)
}

// NewStream makes a stream that lives as long as ctx.
func NewStream(ctx context.Context, buffer int) *Stream {
	return &Stream{ch: make(chan Event, buffer), ctx: ctx}
}

// NewSink makes a stream without a channel: its events go to the tap only
// (see Tap), for a consumer that needs no loop of its own, such as a
// headless run printing each event.
func NewSink(ctx context.Context) *Stream {
	return &Stream{ctx: ctx}
}

// Emit sends one event: to the tap first, then to the channel.
func (s *Stream) Emit(e Event) {
	s.mu.Lock()
	if s.tap != nil {
		s.tap(e)
	}
	s.mu.Unlock()

	if s.ch == nil {
		return
	}

	select {
	case s.ch <- e:
	case <-s.ctx.Done():
	}
}

// Tap hands every event to f before the channel, one event at a time, in
// the emitting probe's goroutine: a recorder, a printer. f must not Emit.
// Tap replaces the previous f, and once it returns that one runs no more;
// Tap(nil) ends tapping.
func (s *Stream) Tap(f func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.tap = f
}

// Go runs a probe on the stream.
func (s *Stream) Go(run func(ctx context.Context, emit func(Event)) error) {
	s.wg.Go(func() {
		if err := run(s.ctx, s.Emit); err != nil && s.ctx.Err() == nil {
			s.Emit(Event{Kind: Error, Detail: err.Error()})
		}
	})
}

// Join feeds another stream's events into this one for as long as this
// one lives, so one consumer reads both (a session's own events and its
// bring-up's probes). o must have a channel (not a sink).
func (s *Stream) Join(o *Stream) {
	s.Go(func(ctx context.Context, emit func(Event)) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case e := <-o.Events():
				emit(e)
			}
		}
	})
}

// Events is the receiving side (nil for a sink).
func (s *Stream) Events() <-chan Event { return s.ch }

// Wait blocks until every probe returned (after ctx ends).
func (s *Stream) Wait() { s.wg.Wait() }
