package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
)

// waitBuffer is command output a test can wait on.
type waitBuffer struct {
	mu   sync.Mutex
	b    strings.Builder
	more chan struct{}
}

func newWaitBuffer() *waitBuffer { return &waitBuffer{more: make(chan struct{}, 1)} }

func (w *waitBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	select {
	case w.more <- struct{}{}:
	default:
	}

	return w.b.Write(p)
}

func (w *waitBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.b.String()
}

// waitFor blocks until the output holds want or ctx ends.
func (w *waitBuffer) waitFor(ctx context.Context, t *testing.T, want string) {
	t.Helper()

	for !strings.Contains(w.String(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("output never said %q:\n%s", want, w.String())
		case <-w.more:
		}
	}
}

// Two labs at once, and a check beside them: the second `liftoff sim` on
// the same addresses takes the next free loopback block and says which,
// and `liftoff check --sim` takes a block of its own even when that one is
// taken too — every lab answering on its own addresses.
func TestTwoLabsSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three simulated labs")
	}

	t.Parallel()
	toolpathtest.Need(t, "kube", "etcd")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Both sims ask for the block check --sim starts from.
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte(`cluster: side
first: 127.0.100.11
boards:
  - {name: cp, model: rpi5, machine: controlplane, role: compute}
  - {name: gw, model: rpi4, machine: worker, role: gateway}
`), 0o644); err != nil {
		t.Fatal(err)
	}

	sim := func(out *waitBuffer) chan error {
		done := make(chan error, 1)

		go func() {
			root := newRoot()
			root.SetArgs([]string{"sim", "--headless", "--spec", spec, "--dir", t.TempDir()})
			root.SetOut(out)
			root.SetErr(out)
			done <- root.ExecuteContext(ctx)
		}()

		return done
	}

	first, second := newWaitBuffer(), newWaitBuffer()

	firstDone := sim(first)
	first.waitFor(ctx, t, "running; ctrl+c stops the lab")

	secondDone := sim(second)
	second.waitFor(ctx, t, "running; ctrl+c stops the lab")

	if strings.Contains(first.String(), "in use") || !strings.Contains(first.String(), "127.0.100.11:50000") {
		t.Errorf("the first lab should keep its block:\n%s", first)
	}

	if !strings.Contains(second.String(), "127.0.100.11–12 is in use (another simulated lab?): this lab runs on 127.0.101.11–12") ||
		!strings.Contains(second.String(), "127.0.101.11:50000") {
		t.Errorf("the second lab should say where it went:\n%s", second)
	}

	for _, addr := range []string{"127.0.100.11:50000", "127.0.100.12:50000", "127.0.101.11:50000", "127.0.101.12:50000"} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Errorf("%s does not answer: %v", addr, err)

			continue
		}

		c.Close()
	}

	text, err := runCtx(ctx, t, "check", "--sim", "happy", "--only", "compute-only-cluster", "--speed", "100")
	if err != nil {
		t.Fatalf("check --sim beside two labs: %v\n%s", err, text)
	}

	if !strings.Contains(text, "this lab runs on 127.0.102.11–14") || !strings.Contains(text, "compute-only-cluster") {
		t.Errorf("check --sim should take a block of its own and pass:\n%s", text)
	}

	cancel()

	for _, done := range []chan error{firstDone, secondDone} {
		if err := <-done; err != nil {
			t.Errorf("a sim ended with %v", err)
		}
	}
}
