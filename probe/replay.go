package probe

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Recorder writes every event it sees as a JSON line, so a session can be
// replayed (a demo without a venue network, a bug report with the exact
// session). Safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// NewRecorder records to w.
func NewRecorder(w io.Writer) *Recorder { return &Recorder{w: w} }

// Record writes one event; the first write error sticks and is reported by Err.
func (r *Recorder) Record(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()

	if r.err != nil {
		return
	}

	line, err := e.MarshalLine()
	if err == nil {
		_, err = r.w.Write(line)
	}

	r.err = err
}

// Err is the first write error, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()

	return r.err
}

// ReadEvents reads a recording whole.
func ReadEvents(r io.Reader) ([]Event, error) {
	var out []Event

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)

	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}

		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("recording line %d is not an event: %w", line, err)
		}

		out = append(out, e)
	}

	return out, sc.Err()
}

// Replay emits recorded events with their original spacing divided by
// speed (speed <= 0 emits them all at once). Times are shifted to now so a
// replay looks live, and relative timings — Ready after apply — are kept.
func Replay(ctx context.Context, events []Event, speed float64, emit func(Event)) error {
	if len(events) == 0 {
		return nil
	}

	first := events[0].Time
	start := time.Now()

	for _, e := range events {
		offset := e.Time.Sub(first)

		if speed > 0 {
			wait := time.Until(start.Add(time.Duration(float64(offset) / speed)))
			if wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		}

		if ctx.Err() != nil {
			return ctx.Err()
		}

		e.Time = start.Add(offset)
		emit(e)
	}

	return nil
}

// Played is Replay as a channel, closed once the last event is out (or
// ctx ends), so a dashboard can say the recording is over.
func Played(ctx context.Context, events []Event, speed float64) <-chan Event {
	ch := make(chan Event, 256)

	go func() {
		defer close(ch)

		_ = Replay(ctx, events, speed, func(e Event) { //nolint:errcheck // ends with ctx
			select {
			case ch <- e:
			case <-ctx.Done():
			}
		})
	}()

	return ch
}
