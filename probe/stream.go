package probe

import (
	"context"
	"sync"
)

// Stream joins many probes into one channel for a single consumer (the UI
// or check). Emit never blocks a probe for long: the buffer absorbs bursts,
// and a full buffer waits only until the consumer reads or ctx ends.
type Stream struct {
	ch  chan Event
	ctx context.Context
	wg  sync.WaitGroup
}

// NewStream makes a stream that lives as long as ctx.
func NewStream(ctx context.Context, buffer int) *Stream {
	return &Stream{ch: make(chan Event, buffer), ctx: ctx}
}

// Emit sends one event.
func (s *Stream) Emit(e Event) {
	select {
	case s.ch <- e:
	case <-s.ctx.Done():
	}
}

// Go runs a probe on the stream.
func (s *Stream) Go(run func(ctx context.Context, emit func(Event)) error) {
	s.wg.Go(func() {
		if err := run(s.ctx, s.Emit); err != nil && s.ctx.Err() == nil {
			s.Emit(Event{Kind: Error, Detail: err.Error()})
		}
	})
}

// Events is the receiving side.
func (s *Stream) Events() <-chan Event { return s.ch }

// Wait blocks until every probe returned (after ctx ends).
func (s *Stream) Wait() { s.wg.Wait() }
