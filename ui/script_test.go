package ui_test

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// Scripted labs: deterministic event sequences with fixed timestamps, the
// way a recording replays them.

var t0 = time.Date(2026, 5, 14, 9, 30, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// now is the fixed clock: five minutes into the bring-up.
func now() time.Time { return at(300) }

type board struct {
	name, addr, model, machine, role string
}

var lab = []board{
	{"pi-1", "192.168.1.11", "rpi5", plan.ControlPlane, plan.Compute},
	{"pi-2", "192.168.1.12", "rpi5", plan.Worker, plan.Compute},
	{"pi-3", "192.168.1.13", "rpi4", plan.Worker, plan.Compute},
	{"pi-4", "192.168.1.14", "rpi5", plan.Worker, plan.Gateway},
}

func testPlan() *plan.Plan {
	p := &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}}
	for _, b := range lab {
		p.Boards = append(p.Boards, plan.Board{Name: b.name, Address: b.addr, Model: b.model, Machine: b.machine, Role: b.role})
	}

	p.Default()

	return p
}

func discovered() []probe.Event {
	var out []probe.Event

	for i, b := range lab {
		out = append(out, probe.Event{Time: at(float64(i)), Node: b.addr, Kind: probe.Discovered,
			Detail: fmt.Sprintf("%s arm64 · v1.13.3 · /dev/mmcblk0 64 GB, /dev/nvme0n1 256 GB · d8:3a:dd:10:00:%d", b.model, 11+i)})
	}

	return out
}

func expect(role string) []string {
	if role == plan.Gateway {
		return []string{"drbd", "spin", "tailscale", "zfs"}
	}

	return []string{"drbd", "spin", "zfs"}
}

// applied is one board from config to Talos running: maintenance →
// installing → rebooting → booting → running, extensions coming up.
// tailscaleEverywhere gives every board the gateway image.
func applied(i int, b board, tailscaleEverywhere bool) []probe.Event {
	s := float64(i) * 6
	ev := func(dt float64, e probe.Event) probe.Event {
		e.Time, e.Node = at(10+s+dt), b.name
		return e
	}

	exts := expect(b.role)
	if tailscaleEverywhere {
		exts = expect(plan.Gateway)
	}

	stuck := tailscaleEverywhere && b.role == plan.Compute

	out := []probe.Event{
		ev(0, probe.Event{Kind: probe.Planned, State: b.machine, Name: b.role, Detail: strings.Join(expect(b.role), " ")}),
		ev(0, probe.Event{Kind: probe.Applied, Detail: "factory.talos.dev/metal-installer/abc:v1.13.3"}),
		ev(2, probe.Event{Kind: probe.Stage, State: "installing"}),
		ev(40, probe.Event{Kind: probe.Stage, State: "rebooting"}),
		ev(41, probe.Event{Kind: probe.Reachable, Detail: "connection refused"}),
		ev(55, probe.Event{Kind: probe.Stage, State: "booting"}),
		ev(56, probe.Event{Kind: probe.Reachable, Ready: true, Detail: "mutual TLS"}),
	}

	// A compute board with the gateway image never finishes booting: its
	// boot sequence waits for ext-tailscale, which waits for a config.
	if !stuck {
		out = append(out, ev(70, probe.Event{Kind: probe.Stage, State: "running"}))
	}

	for j, x := range exts {
		out = append(out, ev(71+float64(j), probe.Event{Kind: probe.Extension, Name: x, State: "present", Detail: "v1.13.3"}))
	}

	if slices.Contains(exts, "tailscale") {
		if stuck {
			out = append(out,
				ev(76, probe.Event{Kind: probe.Log, Name: "dmesg", Detail: `[   84.120] [talos] task startAllServices (1/1): service "ext-tailscale" to be "up"`}),
				ev(77, probe.Event{Kind: probe.Service, Name: "ext-tailscale", State: "Waiting", Detail: "Waiting for extension service config"}),
			)
		} else {
			out = append(out, ev(76, probe.Event{Kind: probe.Service, Name: "ext-tailscale", State: "Running", Ready: true}))
		}
	}

	out = append(out, ev(80, probe.Event{Kind: probe.Service, Name: "kubelet", State: "Running", Ready: true}))

	// Talos's readiness checks see running services only: a waiting one
	// is no unmet condition. The stage keeps the machine from ready.
	return append(out, ev(90, probe.Event{Kind: probe.MachineReady, Ready: !stuck}))
}

// joined is what follows the bootstrap: etcd, Kubernetes Ready, the
// route and the hello-world answers.
func joined(tailscaleEverywhere bool) []probe.Event {
	out := []probe.Event{{Time: at(110), Node: "pi-1", Kind: probe.Bootstrapped}}

	// kubelet runs on every board, the stuck ones too: every Node is Ready.
	for i, b := range lab {
		out = append(out, probe.Event{Time: at(140 + float64(i)*9), Node: b.name, Kind: probe.NodeReady, Ready: true, Detail: "KubeletReady"})
	}

	if tailscaleEverywhere {
		return append(out, probe.Event{Time: at(200), Kind: probe.Route, State: "advertised",
			Detail: "10.244.0.0/16,10.96.0.0/12: advertised by homelab-gateway but not approved (admin console: Machines → homelab-gateway → Edit route settings)"})
	}

	return append(out,
		probe.Event{Time: at(190), Kind: probe.Route, State: "primary", Name: "homelab-gateway", Ready: true, Count: 1,
			Detail: "10.244.0.0/16,10.96.0.0/12: routed by homelab-gateway"},
		probe.Event{Time: at(220), Kind: probe.Hello, Name: "wasm", Ready: true, Latency: 3100 * time.Microsecond, Detail: "Hello from Spin!"},
		probe.Event{Time: at(221), Kind: probe.Hello, Name: "container", Ready: true, Latency: 41 * time.Millisecond, Detail: "Hello from nginx!"},
		probe.Event{Time: at(223), Kind: probe.Traffic, Name: "10.96.14.2:80", State: "ok", Ready: true, Latency: 4200 * time.Microsecond, Detail: "Hello from Spin!"},
	)
}

func bringUp(tailscaleEverywhere bool) []probe.Event {
	var out []probe.Event
	for i, b := range lab {
		out = append(out, applied(i, b, tailscaleEverywhere)...)
	}

	out = append(out, joined(tailscaleEverywhere)...)

	// A live stream is in time order; so is a recording.
	slices.SortStableFunc(out, func(a, b probe.Event) int { return a.Time.Compare(b.Time) })

	return out
}
