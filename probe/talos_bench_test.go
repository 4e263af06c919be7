package probe_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// Benchmark boards live on 127.0.71.0/24 so they never meet a test's lab.
func benchBoard(b *testing.B, i int, timing board.Timing, speed float64) *board.Board {
	b.Helper()

	addr := fmt.Sprintf("127.0.71.%d", 11+i)
	bd, err := board.Start(context.Background(), board.Options{
		Spec: board.Spec{Name: fmt.Sprintf("talos-bench-%d", i), Address: addr, Model: "rpi4", Arch: "arm64",
			Product: "Raspberry Pi 4 Model B Rev 1.4", UUID: "uuid-bench", MAC: fmt.Sprintf("dc:a6:32:00:71:%02x", 11+i),
			Disks: []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Transport: "mmc"}}},
		Timing:  timing,
		Speed:   speed,
		Resolve: func(string) (board.Image, error) { return board.Image{Arch: "arm64", Version: "v1.13.3"}, nil },
	})
	if err != nil {
		b.Fatal(err)
	}

	b.Cleanup(func() { _ = bd.Close() })

	return bd
}

// setService flips a Service resource on the board's own COSI state, the
// way machined publishes a service going up or down.
func setService(b *testing.B, bd *board.Board, id string, up bool) {
	ctx := context.Background()
	svc := v1alpha1.NewService(id)

	cur, err := bd.State().Get(ctx, svc.Metadata())
	if err != nil {
		svc.TypedSpec().Running, svc.TypedSpec().Healthy = true, up
		if err := bd.State().Create(ctx, svc); err != nil {
			b.Fatal(err)
		}

		return
	}

	next := cur.DeepCopy()
	next.(*v1alpha1.Service).TypedSpec().Running = true //nolint:forcetypeassert
	next.(*v1alpha1.Service).TypedSpec().Healthy = up   //nolint:forcetypeassert

	if err := bd.State().Update(ctx, next); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWatchLatency is the time from a change in a board's state to
// its probe.Event reaching the consumer: COSI watch, gRPC stream over TLS,
// translate, the dedup and the Stream's channel — what the dashboard waits
// for. One op is one change on every board at once.
func BenchmarkWatchLatency(b *testing.B) {
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprintf("service/boards=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			stream := probe.NewStream(ctx, 1024)
			boards := make([]*board.Board, n)

			for i := range n {
				boards[i] = benchBoard(b, i, board.PiTiming, 1)
				t := probe.Target{Node: fmt.Sprint(i), Endpoint: boards[i].Endpoint()}
				stream.Go(func(ctx context.Context, emit func(probe.Event)) error { return probe.WatchTalos(ctx, t, emit) })
			}

			defer stream.Wait()
			defer cancel()

			// Wait until every watch runs: the first toggle shows up everywhere.
			up := false
			for i := range n {
				setService(b, boards[i], "bench", up)
			}

			waitService(b, stream.Events(), n, up)

			var lat []time.Duration

			for b.Loop() {
				up = !up
				start := time.Now()

				for i := range n {
					setService(b, boards[i], "bench", up)
				}

				for _, at := range waitService(b, stream.Events(), n, up) {
					lat = append(lat, at.Sub(start))
				}
			}

			b.StopTimer()
			reportLatency(b, lat)
		})
	}

	// A power cycle: the API goes away for the reboot, comes back in
	// maintenance mode, and the watch reconnects on its own. What counts
	// is the lag between the board answering again and the dashboard
	// knowing (reconnect backoff, dial, TLS, the first COSI list).
	// A power cycle: the API goes away for the reboot and comes back in
	// maintenance mode; the watch reconnects on its own. The metric is the
	// lag between the board answering again and the consumer knowing:
	// mostly WatchTalos's reconnect backoff (250ms doubling to 4s).
	for _, reboot := range []time.Duration{200 * time.Millisecond, 3 * time.Second} {
		b.Run(fmt.Sprintf("powercycle/reboot=%s", reboot), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			bd := benchBoard(b, 9, board.Timing{Install: time.Second, Reboot: reboot, Boot: time.Second, Service: time.Second, Restart: time.Second}, 1)
			stream := probe.NewStream(ctx, 1024)
			t := probe.Target{Node: "pc", Endpoint: bd.Endpoint()}
			stream.Go(func(ctx context.Context, emit func(probe.Event)) error { return probe.WatchTalos(ctx, t, emit) })

			defer stream.Wait()
			defer cancel()

			waitReachable(b, stream.Events())

			var lag []time.Duration

			for b.Loop() {
				start := time.Now()

				bd.PowerCycle()
				waitReachable(b, stream.Events())

				lag = append(lag, time.Since(start)-reboot)
			}

			b.StopTimer()
			reportLatency(b, lag)
		})
	}
}

// waitService returns when each of n boards reported the bench service
// as up (or not), with the time each event arrived.
func waitService(b *testing.B, events <-chan probe.Event, n int, up bool) []time.Time {
	b.Helper()

	var at []time.Time

	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)

	for len(seen) < n {
		select {
		case e := <-events:
			if e.Kind == probe.Service && e.Name == "bench" && e.Ready == up && !seen[e.Node] {
				seen[e.Node] = true
				at = append(at, time.Now())
			}
		case <-timeout:
			b.Fatalf("only %d of %d boards reported the change", len(seen), n)
		}
	}

	return at
}

func waitReachable(b *testing.B, events <-chan probe.Event) {
	b.Helper()

	timeout := time.After(20 * time.Second)

	for {
		select {
		case e := <-events:
			if e.Kind == probe.Reachable && e.Ready {
				return
			}
		case <-timeout:
			b.Fatal("the board never became reachable")
		}
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}

	slices.Sort(lat)

	pct := func(p float64) float64 {
		i := min(int(p*float64(len(lat))), len(lat)-1)
		return float64(lat[i]) / float64(time.Millisecond)
	}

	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(float64(len(lat)), "samples")
}
