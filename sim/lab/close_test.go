package lab

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
)

// Close leaves nothing behind, even with every board installed, served
// over mTLS and watched: every address is free again and the goroutines
// the lab started are gone.
func TestCloseLeavesNothingBehind(t *testing.T) {
	spec := DefaultSpec()
	spec.First = "127.0.40.11"

	before := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)

	l, err := Start(ctx, Options{Spec: spec, Speed: 1000})
	if err != nil {
		t.Fatal(err)
	}

	run, err := l.Prepare(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}

	if err := run.Apply(ctx); err != nil {
		t.Fatal(err)
	}

	// Every board boots its install; a control plane not bootstrapped
	// stays booting (its boot sequence waits for etcd).
	for up := map[string]bool{}; len(up) < 4; {
		select {
		case e := <-run.Stream.Events():
			if e.Kind == probe.Stage && (e.State == "booting" || e.State == "running") {
				up[e.Node] = true
			}
		case <-ctx.Done():
			t.Fatal("the boards did not boot their install")
		}
	}

	cancel()

	var addrs []string
	for _, b := range l.Boards() {
		addrs = append(addrs, b.Endpoint())
	}

	if len(addrs) != 4 || addrs[0] != "127.0.40.11:50000" || addrs[3] != "127.0.40.14:50000" {
		t.Errorf("endpoints %v", addrs)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	for _, a := range addrs {
		lis, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still taken after Close: %v", a, err)

			continue
		}

		lis.Close() //nolint:errcheck
	}

	// gRPC's connection goroutines end just after Stop returns: allow
	// them a moment, not a leak.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before Start, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestScenariosAreData(t *testing.T) {
	for _, name := range []string{"happy", "tailscale-everywhere", "no-authkey", "power-loss-during-install", "slow-sd-card", "wrong-arch-image", "duplicate-hostname"} {
		sc, err := Lookup(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)

			continue
		}

		if sc.Description == "" || strings.Contains(strings.Join(Names(), " "), name) == false {
			t.Errorf("%s: %+v", name, sc)
		}
	}
}
