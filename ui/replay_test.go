package ui_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
)

// A recorded session replays to the same screens: record the stream as
// liftoff sim --record does, read it back as liftoff replay does, replay it
// at full speed, and compare every screen with the live one.
func TestRecordReplaySameScreens(t *testing.T) {
	for _, everywhere := range []bool{false, true} {
		live := bringUp(everywhere)

		var file bytes.Buffer

		rec := probe.NewRecorder(&file)
		for _, e := range live {
			rec.Record(e)
		}

		if err := rec.Err(); err != nil {
			t.Fatal(err)
		}

		back, err := probe.ReadEvents(&file)
		if err != nil {
			t.Fatal(err)
		}

		replayed := make(chan probe.Event, len(back))
		if err := probe.Replay(context.Background(), back, 0, func(e probe.Event) { replayed <- e }); err != nil {
			t.Fatal(err)
		}

		close(replayed)

		// A replay re-times the session to start now, so it looks live; the
		// replay's clock is the fixed clock moved by the same amount.
		first := <-replayed
		shift := first.Time.Sub(live[0].Time)
		rest := make(chan probe.Event, len(back))
		rest <- first

		for e := range replayed {
			rest <- e
		}

		close(rest)

		model := func(events <-chan probe.Event, clock func() time.Time) *ui.Model {
			return ui.New(ui.Options{Events: events, Plan: testPlan(), Start: ui.ScreenDashboard, Clock: clock})
		}

		a := start(t, model(replay(live), now), 120, 36)
		b := start(t, model(rest, func() time.Time { return now().Add(shift) }), 120, 36)
		want := "4/4 Ready"

		if everywhere {
			want = "1/4 Ready"
		}

		for _, keys := range [][]string{nil, {"tab"}, {"t"}, {"down"}, {"esc"}, {"?"}} {
			a.Keys(keys...)
			b.Keys(keys...)

			// Same screens, but for the time of day.
			fa := clockTime.ReplaceAllString(a.WaitFor(want, "■ ended"), "hh:mm:ss")
			fb := clockTime.ReplaceAllString(b.WaitFor(want, "■ ended"), "hh:mm:ss")

			if fa != fb {
				t.Errorf("tailscale everywhere=%v, after %v: the replay shows\n%s\nthe live session showed\n%s", everywhere, keys, fb, fa)
			}
		}
	}
}

var clockTime = regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`)
