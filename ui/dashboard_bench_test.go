package ui

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// The dashboard at conference scale: a frame must cost well under the
// 16ms of a 60Hz refresh, and folding what the probes say must keep up
// with a bring-up of every board at once.

var benchT0 = time.Date(2026, 5, 14, 9, 30, 0, 0, time.UTC)

// benchPlan is n boards: one control plane, one gateway, the rest compute.
func benchPlan(n int) *plan.Plan {
	p := &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}}

	for i := range n {
		b := plan.Board{Name: fmt.Sprintf("pi-%03d", i), Address: fmt.Sprintf("10.0.%d.%d", i/250, 10+i%250),
			Model: plan.RPi4, Machine: plan.Worker, Role: plan.Compute}

		switch i {
		case 0:
			b.Machine, b.Model = plan.ControlPlane, plan.RPi5
		case 1:
			b.Role = plan.Gateway
		}

		p.Boards = append(p.Boards, b)
	}

	p.Default()

	return p
}

// benchStream is a bring-up as the probes report it: each board applied,
// installing, rebooting, booting, running, extensions, services, a few
// kernel lines, Talos ready, then Kubernetes Ready and the route and
// hello-worlds. Boards start a second apart; the stream is in time order.
func benchStream(p *plan.Plan) []probe.Event {
	var out []probe.Event

	for i, b := range p.Boards {
		s := float64(i)
		ev := func(dt float64, e probe.Event) {
			e.Time, e.Node = benchT0.Add(time.Duration((s+dt)*float64(time.Second))), b.Name
			out = append(out, e)
		}

		exts := []string{"drbd", "spin", "zfs"}
		if b.Role == plan.Gateway {
			exts = append(exts, "tailscale")
		}

		ev(0, probe.Event{Kind: probe.Applied, Detail: "factory.talos.dev/metal-installer/abc:v1.13.3"})
		ev(2, probe.Event{Kind: probe.Stage, State: "installing"})
		ev(3, probe.Event{Kind: probe.Log, Name: "dmesg", Detail: "installer: installing to /dev/mmcblk0"})
		ev(40, probe.Event{Kind: probe.Stage, State: "rebooting"})
		ev(41, probe.Event{Kind: probe.Reachable, Detail: "not reachable yet: nothing answers on the Talos port (booting or rebooting)"})
		ev(55, probe.Event{Kind: probe.Stage, State: "booting"})
		ev(56, probe.Event{Kind: probe.Reachable, Ready: true, Detail: "mutual TLS"})
		ev(57, probe.Event{Kind: probe.Log, Name: "dmesg", Detail: "talos: booting v1.13.3, extensions: " + strings.Join(exts, " ")})

		for j, x := range exts {
			ev(58+float64(j)/10, probe.Event{Kind: probe.Extension, Name: x, State: "present", Detail: "v1.13.3"})
		}

		for j, svc := range []string{"apid", "machined", "containerd", "trustd", "udevd"} {
			ev(58+float64(j)/10, probe.Event{Kind: probe.Service, Name: svc, State: "Running", Ready: true, Detail: "Health check successful"})
		}

		ev(59, probe.Event{Kind: probe.Service, Name: "kubelet", State: "Waiting", Detail: "Waiting for service \"cri\" to be \"up\""})
		ev(59, probe.Event{Kind: probe.MachineReady, Detail: "services: kubelet not running"})
		ev(64, probe.Event{Kind: probe.Service, Name: "kubelet", State: "Running", Ready: true, Detail: "Health check successful"})

		if b.Machine == plan.ControlPlane {
			ev(64, probe.Event{Kind: probe.Service, Name: "etcd", State: "Running", Ready: true})
			ev(65, probe.Event{Kind: probe.Bootstrapped})
		}

		if b.Role == plan.Gateway {
			ev(66, probe.Event{Kind: probe.Service, Name: "ext-tailscale", State: "Running", Ready: true})
		}

		ev(70, probe.Event{Kind: probe.Stage, State: "running"})
		ev(72, probe.Event{Kind: probe.NodeReady, Ready: true, Detail: "KubeletReady"})
		ev(73, probe.Event{Kind: probe.MachineReady, Ready: true})
	}

	end := benchT0.Add(time.Duration(len(p.Boards)+80) * time.Second)
	out = append(out,
		probe.Event{Time: end, Kind: probe.Route, State: "primary", Name: "homelab-gateway", Ready: true, Count: 1,
			Detail: "10.244.0.0/16,10.96.0.0/12: routed by homelab-gateway"},
		probe.Event{Time: end.Add(time.Second), Kind: probe.Hello, Name: "wasm", Ready: true, Latency: 3 * time.Millisecond, Detail: "Hello from Spin!"},
		probe.Event{Time: end.Add(time.Second), Kind: probe.Hello, Name: "container", Ready: true, Latency: 41 * time.Millisecond, Detail: "Hello from nginx!"},
		probe.Event{Time: end.Add(2 * time.Second), Kind: probe.Traffic, Name: "10.96.14.2:80", State: "ok", Ready: true, Latency: 4 * time.Millisecond, Detail: "Hello from Spin!"},
	)

	slices.SortStableFunc(out, func(a, b probe.Event) int { return a.Time.Compare(b.Time) })

	return out
}

// benchModel is a watch-only dashboard over the plan, with events folded
// through the same channel and batching the program uses.
func benchModel(p *plan.Plan, events []probe.Event, clock time.Time, w, h int) *Model {
	ch := make(chan probe.Event, len(events)+1)
	m := New(Options{Plan: p, Events: ch, Start: ScreenDashboard, Clock: func() time.Time { return clock }})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	feed(m, ch, events)

	return m
}

// feed sends events down the model's channel and folds them batch by batch.
func feed(m *Model, ch chan probe.Event, events []probe.Event) int {
	for _, e := range events {
		ch <- e
	}

	batches := 0

	for len(ch) > 0 {
		m.Update(waitEvents(ch)())
		batches++
	}

	return batches
}

var benchSizes = [][2]int{{200, 60}, {120, 36}}

// BenchmarkDashboardView is one frame of the dashboard: half-way through
// the bring-up (boards in every stage) and with every board Ready.
func BenchmarkDashboardView(b *testing.B) {
	for _, n := range []int{5, 50, 200, 1000} {
		p := benchPlan(n)
		stream := benchStream(p)
		end := stream[len(stream)-1].Time.Add(10 * time.Second)

		for _, phase := range []string{"bringup", "ready"} {
			events, clock := stream, end
			if phase == "bringup" {
				events = stream[:len(stream)/2]
				clock = events[len(events)-1].Time
			}

			for _, sz := range benchSizes {
				if phase == "bringup" && sz != benchSizes[0] {
					continue // one size shows the phase's cost; keeps make bench short
				}

				b.Run(fmt.Sprintf("boards=%d/%s/%dx%d", n, phase, sz[0], sz[1]), func(b *testing.B) {
					benchFrames(b, benchModel(p, events, clock, sz[0], sz[1]), sz[1])
				})
			}
		}
	}
}

// benchFrames draws frames of m on a rows-line terminal and reports their
// cost and size.
func benchFrames(b *testing.B, m *Model, rows int) {
	b.Helper()

	frame := m.View().Content

	if lines := strings.Count(frame, "\n") + 1; lines > rows {
		b.Fatalf("frame is %d lines for a %d-line terminal", lines, rows)
	}

	cpu0 := cpuTime()

	for b.Loop() {
		frame = m.View().Content
	}

	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/frame")
	// CPU time (the process's, GC included) reads the cost when other work
	// shares the cores and wall time waits for them.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/frame")
	b.ReportMetric(float64(len(frame)), "bytes/frame")
}

// BenchmarkFold is the cost of folding what the probes say. stream: the
// whole bring-up of n boards into a fresh model, in the program's batches.
// batch: one batch on a Ready dashboard — every board's kubelet flips and
// logs a kernel line, as after a power blip — then the frame that follows.
func BenchmarkFold(b *testing.B) {
	const w, h = 200, 60

	for _, n := range []int{5, 50, 200} {
		p := benchPlan(n)
		stream := benchStream(p)
		end := stream[len(stream)-1].Time.Add(10 * time.Second)

		b.Run(fmt.Sprintf("stream/boards=%d", n), func(b *testing.B) {
			ch := make(chan probe.Event, len(stream))
			batches := 0

			for b.Loop() {
				m := New(Options{Plan: p, Events: ch, Start: ScreenDashboard, Clock: func() time.Time { return end }})
				m.Update(tea.WindowSizeMsg{Width: w, Height: h})
				batches = feed(m, ch, stream)
			}

			perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(len(stream))
			b.ReportMetric(perEvent/1000, "µs/event")
			b.ReportMetric(float64(len(stream)), "events")
			b.ReportMetric(float64(batches), "batches")
		})

		flip := func(up bool, at time.Time) []probe.Event {
			var out []probe.Event

			st := "Running"
			if !up {
				st = "Waiting"
			}

			for _, bd := range p.Boards {
				out = append(out,
					probe.Event{Time: at, Node: bd.Name, Kind: probe.Service, Name: "kubelet", State: st, Ready: up},
					probe.Event{Time: at, Node: bd.Name, Kind: probe.Log, Name: "dmesg", Detail: "kubelet: " + st})
			}

			return out
		}

		for _, draw := range []bool{false, true} {
			name := fmt.Sprintf("batch/boards=%d", n)
			if draw {
				if n != 200 {
					continue // the frame dominates; BenchmarkDashboardView has the rest
				}

				name += "/with-frame"
			}

			b.Run(name, func(b *testing.B) {
				ch := make(chan probe.Event, 2*len(p.Boards)+len(stream))
				m := New(Options{Plan: p, Events: ch, Start: ScreenDashboard, Clock: func() time.Time { return end }})
				m.Update(tea.WindowSizeMsg{Width: w, Height: h})
				feed(m, ch, stream)

				batches := [2][]probe.Event{flip(false, end), flip(true, end)}
				i := 0

				for b.Loop() {
					m.Update(Events(batches[i%2]))
					i++

					if draw {
						_ = m.View()
					}
				}

				b.ReportMetric(float64(len(batches[0])), "events/batch")
			})
		}
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}

	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
