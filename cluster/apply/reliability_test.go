package apply

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// A board whose API drops in the middle of ApplyConfiguration (twice) and
// comes back: apply retries with backoff, says why on every retry, and the
// board takes the config exactly once.
func TestApplySurvivesABoardThatDropsMidApply(t *testing.T) {
	l := newLab(t, 1)
	bd := l.start(t, "w", func(o *board.Options) {
		// 100ms at ×2000: long enough that a retry finds the port closed.
		o.Faults = board.Faults{DropDuringApply: 2, DropFor: 200 * time.Second}
	})

	rec := newRecorder()
	if err := Board(context.Background(), l.board("w"), l.path("w"), fast, rec.emit); err != nil {
		t.Fatalf("%v\n%s", err, rec.text())
	}

	retries := rec.notes("retrying")
	if len(retries) < 2 {
		t.Fatalf("retries: %s", rec.text())
	}

	first := retries[0]
	if first.Node != "w" || first.Count != 2 || !strings.Contains(first.Detail, "apply: retrying (attempt 2 of 20)") ||
		!strings.Contains(first.Detail, "the board dropped the connection") {
		t.Errorf("first retry: %+v", first)
	}

	if !strings.Contains(details(retries), "nothing answers on the port yet") {
		t.Errorf("no retry saw the API gone:\n%s", details(retries))
	}

	for i, e := range retries {
		if e.Count != i+2 {
			t.Errorf("retry %d counts attempt %d", i, e.Count)
		}
	}

	if n := bd.taken.Load(); n != 1 || rec.kinds(probe.Applied) != 1 {
		t.Errorf("configs taken %d, applied events %d", n, rec.kinds(probe.Applied))
	}

	waitStage(t, bd, "running")
}

// The board takes the config and the connection dies before its answer:
// apply must not send it again, and still reports it applied.
func TestApplyWithALostAnswerDoesNotApplyTwice(t *testing.T) {
	for _, withTC := range []bool{true, false} {
		name := map[bool]string{true: "with talosconfig", false: "without talosconfig"}[withTC]

		t.Run(name, func(t *testing.T) {
			n := 2
			if !withTC {
				n = 3
			}

			l := newLab(t, n)
			bd := l.start(t, "w", func(o *board.Options) { o.Faults.DropAfterApply = true })

			opts := fast
			if withTC {
				opts.Talosconfig = l.tc
			}

			rec := newRecorder()
			if err := Board(context.Background(), l.board("w"), l.path("w"), opts, rec.emit); err != nil {
				t.Fatalf("%v\n%s", err, rec.text())
			}

			if n := bd.taken.Load(); n != 1 {
				t.Errorf("the board took %d configs", n)
			}

			done := rec.notes("done")
			if rec.kinds(probe.Applied) != 1 || len(done) != 1 || !strings.Contains(done[0].Detail, "took the config before the connection dropped") {
				t.Errorf("events:\n%s", rec.text())
			}

			if r := rec.notes("retrying"); len(r) == 0 || !strings.Contains(r[0].Detail, "dropped the connection") {
				t.Errorf("retries:\n%s", details(r))
			}

			waitStage(t, bd, "running")
		})
	}
}

// Re-running apply after a bring-up continues: configured boards are
// recognised (with the talosconfig) and skipped, never sent a config again;
// without the talosconfig the refusal says what to do.
func TestApplyResumesWithoutRedoingBoards(t *testing.T) {
	l := newLab(t, 4)
	boards := map[string]*simBoard{}

	for _, name := range []string{"cp", "w", "gw"} {
		boards[name] = l.start(t, name, nil)
	}

	// The first run: w fails (its file is missing), the others apply.
	if err := os.Rename(l.path("w"), l.path("w")+".away"); err != nil {
		t.Fatal(err)
	}

	err := All(context.Background(), l.plan, l.dir, fast, func(probe.Event) {})
	if err == nil || !strings.Contains(err.Error(), "w: reading its config") {
		t.Fatalf("first run: %v", err)
	}

	// Both up with their configs: the worker runs, the control plane boots
	// until its bootstrap (its boot sequence waits for etcd).
	waitStage(t, boards["gw"], "running")
	waitStage(t, boards["cp"], "booting")

	// The re-run, with every file there and the talosconfig.
	if err := os.Rename(l.path("w")+".away", l.path("w")); err != nil {
		t.Fatal(err)
	}

	opts := fast
	opts.Talosconfig = l.tc

	rec := newRecorder()
	if err := All(context.Background(), l.plan, l.dir, opts, rec.emit); err != nil {
		t.Fatalf("%v\n%s", err, rec.text())
	}

	for name, bd := range boards {
		if n := bd.taken.Load(); n != 1 {
			t.Errorf("%s took %d configs", name, n)
		}
	}

	skipped := rec.notes("done")
	if len(skipped) != 2 || !strings.Contains(details(skipped), "already runs this cluster's config") {
		t.Errorf("skips:\n%s", rec.text())
	}

	if rec.kinds(probe.Applied) != 1 {
		t.Errorf("applied events (only w is new):\n%s", rec.text())
	}

	// Without the talosconfig: a clear refusal, nothing sent.
	err = Board(context.Background(), l.board("cp"), l.path("cp"), fast, func(probe.Event) {})
	if err == nil || !strings.Contains(err.Error(), "already runs a config") || !strings.Contains(err.Error(), "talosconfig") {
		t.Errorf("re-run without talosconfig: %v", err)
	}

	if n := boards["cp"].taken.Load(); n != 1 {
		t.Errorf("cp took %d configs", n)
	}
}

// A board that takes the TCP connection but never answers: each attempt
// ends at CallTimeout, is reported, and the next one gets through.
func TestApplySurvivesAStalledAPI(t *testing.T) {
	l := newLab(t, 5)
	bd := l.start(t, "w", func(o *board.Options) { o.Faults.StallAPI = 2 })

	opts := fast
	opts.CallTimeout = 300 * time.Millisecond

	rec := newRecorder()
	start := time.Now()

	if err := Board(context.Background(), l.board("w"), l.path("w"), opts, rec.emit); err != nil {
		t.Fatalf("%v\n%s", err, rec.text())
	}

	retries := rec.notes("retrying")
	if len(retries) != 2 || !strings.Contains(retries[0].Detail, "no answer in time") || retries[1].Count != 3 {
		t.Errorf("retries:\n%s", details(retries))
	}

	if took := time.Since(start); took < 2*opts.CallTimeout {
		t.Errorf("two stalls passed in %s: the timeout did not bound them", took)
	}

	if bd.taken.Load() != 1 {
		t.Errorf("took %d", bd.taken.Load())
	}
}

// Out of attempts: one error, one "failed" event, no config taken.
func TestApplyGivesUpAfterItsAttempts(t *testing.T) {
	l := newLab(t, 6)
	bd := l.start(t, "w", func(o *board.Options) { o.Faults.StallAPI = 100 })

	opts := fast
	opts.Attempts, opts.CallTimeout = 3, 100*time.Millisecond

	rec := newRecorder()

	err := Board(context.Background(), l.board("w"), l.path("w"), opts, rec.emit)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v", err)
	}

	if f := rec.notes("failed"); len(f) != 1 || !strings.Contains(f[0].Detail, "apply: gave up after 3 attempts: no answer in time") {
		t.Errorf("failed:\n%s", rec.text())
	}

	if len(rec.notes("retrying")) != 2 || bd.taken.Load() != 0 {
		t.Errorf("retries %d taken %d", len(rec.notes("retrying")), bd.taken.Load())
	}
}

// A stalled call ends with ctx, however long CallTimeout is.
func TestApplyIsCancellable(t *testing.T) {
	l := newLab(t, 7)
	l.start(t, "w", func(o *board.Options) { o.Faults.StallAPI = 100 })

	opts := fast
	opts.CallTimeout = time.Hour

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()

	start := time.Now()
	err := Board(ctx, l.board("w"), l.path("w"), opts, func(probe.Event) {})

	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "apply stopped") {
		t.Errorf("err = %v", err)
	}

	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("returned %s after ctx ended", took)
	}
}

// A reboot far slower than expected: bootstrap keeps waiting with bounded
// backoff, says it is slow once, and bootstraps when the board is back.
func TestBootstrapWaitsThroughASlowReboot(t *testing.T) {
	l := newLab(t, 8)
	bd := l.start(t, "cp", func(o *board.Options) { o.Faults.SlowReboot = 25 }) // 40s × 25 at ×2000: 0.5s

	if err := Board(context.Background(), l.board("cp"), l.path("cp"), fast, func(probe.Event) {}); err != nil {
		t.Fatal(err)
	}

	opts := fast
	opts.SlowAfter = 100 * time.Millisecond

	rec := newRecorder()
	if err := Bootstrap(context.Background(), l.plan, l.tc, opts, rec.emit); err != nil {
		t.Fatalf("%v\n%s", err, rec.text())
	}

	waits := rec.notes("waiting")
	if len(waits) < 3 || !strings.Contains(details(waits), "bootstrap: waiting for cp (attempt") ||
		!strings.Contains(details(waits), "nothing answers on the port yet") {
		t.Errorf("waits:\n%s", details(waits))
	}

	for _, w := range waits {
		if !strings.Contains(w.Detail, "next try in") || strings.Contains(w.Detail, "next try in 80ms") {
			t.Errorf("backoff beyond MaxBackoff: %s", w.Detail)
		}
	}

	if slow := rec.notes("slow"); len(slow) != 1 || !strings.Contains(slow[0].Detail, "taking longer than expected") {
		t.Errorf("slow:\n%s", rec.text())
	}

	if rec.kinds(probe.Bootstrapped) != 1 {
		t.Errorf("bootstrapped events:\n%s", rec.text())
	}

	waitStage(t, bd, "running")
}

// Bootstrap of a board that never gets its config waits until ctx ends,
// and says what it waited for.
func TestBootstrapIsCancellable(t *testing.T) {
	l := newLab(t, 9)
	l.start(t, "cp", nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rec := newRecorder()
	done := make(chan error, 1)

	go func() { done <- Bootstrap(ctx, l.plan, l.tc, fast, rec.emit) }()

	rec.waitNote(t, "waiting")
	cancel()

	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "still in maintenance mode") {
			t.Errorf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Bootstrap ignored its ctx")
	}
}
