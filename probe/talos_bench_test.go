package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"

	"github.com/liftoff-lab/liftoff/internal/netlab"
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

}

// BenchmarkReconnect is how soon the watch sees a board back after a
// reboot: the lag from the board's API listening again (its listener is
// made) to the Reachable event at the consumer. The watch knows the board
// went away (its stream broke) and polls it every returnPoll. Reboots of
// 0.2 s, 3 s and a real Pi's 40 s (simulated at ×10: 4 s of wall time;
// the watch's schedule is wall time, so the lag reads as it would).
// unreachable is what a board that never answered costs to watch (CPU
// per second of watching, backoff to 4 s), gone what one that answered
// and then went for good costs (polled for returnWindow).
func BenchmarkReconnect(b *testing.B) {
	for _, c := range []struct {
		reboot time.Duration
		speed  float64
		cycles int
	}{{200 * time.Millisecond, 1, 20}, {3 * time.Second, 1, 5}, {40 * time.Second, 10, 4}} {
		b.Run(fmt.Sprintf("refused/reboot=%s", c.reboot), func(b *testing.B) {
			for b.Loop() {
				reportLatency(b, powerCycles(b, "127.0.71.20", c.reboot, c.speed, c.cycles, false))
			}
		})
	}

	for _, gone := range []bool{false, true} {
		name := "unreachable"
		if gone {
			name = "gone"
		}

		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			var bd *board.Board

			endpoint := "127.0.71.21:50000" // nothing listens there
			if gone {
				bd = benchBoard(b, 19, board.PiTiming, 1)
				endpoint = bd.Endpoint()
			}

			stream := probe.NewStream(ctx, 1024)
			t := probe.Target{Node: "u", Endpoint: endpoint}
			stream.Go(func(ctx context.Context, emit func(probe.Event)) error { return probe.WatchTalos(ctx, t, emit) })

			defer stream.Wait()
			defer cancel()

			if gone {
				waitReachable(b, stream.Events())
				_ = bd.Close()
			}

			const watch = 5 * time.Second

			for b.Loop() {
				cpu0 := cpuTime()
				time.Sleep(watch) // the cost of time passing is what is measured
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/watch.Seconds(), "cpu-ms/s")
			}
		})
	}
}

// BenchmarkReconnectSilent is BenchmarkReconnect's 3 s reboot where the
// rebooting board's address drops packets, as a powered-off board on a LAN
// does, instead of refusing: in a network namespace of its own (netlab),
// skipped without root.
func BenchmarkReconnectSilent(b *testing.B) {
	if !netlab.Child() {
		for k, v := range netlab.Run(b, "BenchmarkReconnectSilent") {
			b.ReportMetric(v, k)
		}

		return
	}

	netlab.Setup(b)

	for b.Loop() {
		reportLatency(b, powerCycles(b, "10.77.0.11", 3*time.Second, 1, 5, true))
	}

	res := map[string]float64{}
	for _, k := range []string{"p50-ms", "p99-ms", "max-ms", "samples"} {
		res[k] = latest[k]
	}

	netlab.Report(res)
}

// latest are the metrics reportLatency reported last (the netlab child
// hands them to its parent).
var latest = map[string]float64{}

// powerCycles power-cycles a watched board cycles times and returns the
// lag of each return. silent: the address drops packets from the moment
// the watch saw the board go until its API listens again.
func powerCycles(b *testing.B, addr string, reboot time.Duration, speed float64, cycles int, silent bool) []time.Duration {
	b.Helper()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var listened atomic.Int64

	timing := board.Timing{Install: time.Second, Reboot: reboot, Boot: time.Second, Service: time.Second, Restart: time.Second}
	bd, err := board.Start(ctx, board.Options{
		Spec: board.Spec{Name: "talos-reboot", Address: addr, Model: "rpi4", Arch: "arm64",
			Product: "Raspberry Pi 4 Model B Rev 1.4", UUID: "uuid-reboot", MAC: "dc:a6:32:00:71:99",
			Disks: []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Transport: "mmc"}}},
		Timing: timing,
		Speed:  speed,
		Listener: func(network, address string) (net.Listener, error) {
			if silent {
				if err := netlab.Up(addr); err != nil {
					return nil, err
				}
			}

			// The sim's old apid may still be closing (it grants calls
			// 200 ms): a real reboot has no old socket, so wait for it
			// here rather than take the board's 1 s retry of a failed start.
			l, err := net.Listen(network, address)
			for end := time.Now().Add(time.Second); errors.Is(err, syscall.EADDRINUSE) && time.Now().Before(end); {
				time.Sleep(5 * time.Millisecond)
				l, err = net.Listen(network, address)
			}

			if err == nil {
				listened.Store(time.Now().UnixNano())
			}

			return l, err
		},
		Resolve: func(string) (board.Image, error) { return board.Image{Arch: "arm64", Version: "v1.13.3"}, nil },
	})
	if err != nil {
		b.Fatal(err)
	}

	defer bd.Close() //nolint:errcheck

	stream := probe.NewStream(ctx, 1024)
	t := probe.Target{Node: "pc", Endpoint: bd.Endpoint()}
	stream.Go(func(ctx context.Context, emit func(probe.Event)) error { return probe.WatchTalos(ctx, t, emit) })

	defer stream.Wait()
	defer cancel()

	waitReachable(b, stream.Events())
	waitWatching(b, stream.Events())

	var lag []time.Duration

	for range cycles {
		start := time.Now().UnixNano()

		bd.PowerCycle()

		if silent {
			waitClosed(b, bd.Endpoint())

			if err := netlab.Down(addr); err != nil {
				b.Fatal(err)
			}

			// Back before its address went silent (the reboot outran the
			// watch): answer again, and this cycle does not count.
			if listened.Load() > start {
				if err := netlab.Up(addr); err != nil {
					b.Fatal(err)
				}

				waitReachable(b, stream.Events())

				continue
			}
		}

		at := waitReachable(b, stream.Events())
		lag = append(lag, at.Sub(time.Unix(0, listened.Load())))

		waitWatching(b, stream.Events())
	}

	return lag
}

// waitWatching returns once the watch that connected runs whole: the
// kernel log it follows last speaks. A reboot before that would break
// the watch while it starts, which no board does.
func waitWatching(b *testing.B, events <-chan probe.Event) {
	b.Helper()

	timeout := time.After(20 * time.Second)

	for {
		select {
		case e := <-events:
			if e.Kind == probe.Log && e.Name == "dmesg" {
				return
			}
		case <-timeout:
			b.Fatal("the watch never followed the kernel log")
		}
	}
}

// waitClosed returns once nothing listens at endpoint any more: the old
// apid stopped, its connections closed first.
func waitClosed(b *testing.B, endpoint string) {
	b.Helper()

	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", endpoint, time.Second)
		if err != nil {
			return
		}

		c.Close() //nolint:errcheck
	}

	b.Fatal("the board never went away")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}

	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// waitReachable returns when the board is reachable, with the time the
// event arrived.
func waitReachable(b *testing.B, events <-chan probe.Event) time.Time {
	b.Helper()

	timeout := time.After(20 * time.Second)

	for {
		select {
		case e := <-events:
			if e.Kind == probe.Reachable && e.Ready {
				return time.Now()
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

	latest = map[string]float64{"p50-ms": pct(0.50), "p99-ms": pct(0.99),
		"max-ms": float64(lat[len(lat)-1]) / float64(time.Millisecond), "samples": float64(len(lat))}

	for k, v := range latest {
		b.ReportMetric(v, k)
	}
}
