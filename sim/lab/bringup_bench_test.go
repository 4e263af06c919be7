package lab

import (
	"context"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
)

// benchSpeed divides the boards' Raspberry Pi timings: install 90s, reboot
// 40s, boot 30s become 3.2s of scripted time; the Kubernetes control plane
// and etcd are real processes and run at their own pace.
const benchSpeed = 50

// BenchmarkBringUp is a whole five-board lab from power-on to every board
// Ready in Talos and Kubernetes, driven by liftoff's own apply, bootstrap
// and probes. It takes tens of seconds, so one run is the measurement;
// -short skips it.
func BenchmarkBringUp(b *testing.B) {
	if testing.Short() {
		b.Skip("the bring-up takes tens of seconds: run without -short")
	}

	toolpathtest.Need(b, "kube", "etcd")

	spec := DefaultSpec()
	spec.First = "127.0.73.11"
	spec.Boards = append(spec.Boards, BoardSpec{Name: "pi-w-3", Model: plan.RPi4, Machine: plan.Worker, Role: plan.Compute})

	var start, firstReady, allReady, route, closed time.Duration

	for b.Loop() {
		start, firstReady, allReady, route, closed = bringUp(b, spec)
	}

	b.ReportMetric(start.Seconds(), "s-start")
	b.ReportMetric(firstReady.Seconds(), "s-first-ready")
	b.ReportMetric(allReady.Seconds(), "s-all-ready")
	b.ReportMetric(route.Seconds(), "s-route-primary")
	b.ReportMetric(closed.Seconds(), "s-close")
	b.ReportMetric(float64(len(spec.Boards)), "boards")
}

// bringUp returns how long Start and Prepare took, then the times from the
// first apply to the first board Ready, every board Ready and the
// Tailscale route primary; and how long Close took.
func bringUp(b *testing.B, spec Spec) (start, first, all, route, closed time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t0 := time.Now()

	l, err := Start(ctx, Options{Spec: spec, Speed: benchSpeed})
	if err != nil {
		b.Fatal(err)
	}

	defer func() {
		t := time.Now()
		_ = l.Close()
		closed = time.Since(t)
	}()

	run, err := l.Prepare(ctx, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}

	start = time.Since(t0)
	t1 := time.Now()

	upErr := make(chan error, 1)

	go func() {
		if err := run.Apply(ctx); err != nil {
			upErr <- err

			return
		}

		upErr <- run.Bootstrap(ctx)
	}()

	picture := probe.NewLab()
	events := run.Stream.Events()

	for all == 0 || route == 0 {
		select {
		case err := <-upErr:
			if err != nil {
				b.Fatalf("bring-up: %v", err)
			}
		case e := <-events:
			picture.Apply(e)
		case <-ctx.Done():
			b.Fatalf("not all Ready within 3 minutes (first Ready after %s)", first)
		}

		ready := 0

		for _, n := range picture.Nodes {
			if n.Role != "" && n.MachineReady && n.NodeReady {
				ready++
			}
		}

		if ready > 0 && first == 0 {
			first = time.Since(t1)
		}

		if ready == len(spec.Boards) && all == 0 {
			all = time.Since(t1)
		}

		if picture.Route.State == probe.RoutePrimary && route == 0 {
			route = time.Since(t1)
		}
	}

	// What check and the headless sim wait on must agree.
	if !Settle(ctx, events, picture, 2*time.Second) {
		b.Fatal("Settle did not see every board Ready")
	}

	return start, first, all, route, 0
}
