package ui_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
	"github.com/liftoff-lab/liftoff/ui/uitest"
)

// fake is a Backend that answers every call with scripted events, at once
// and in order, so every run folds the same picture.
type fake struct {
	events chan probe.Event
	tsAll  bool // tailscale-everywhere
	stall  bool // Apply keeps the apply in flight, sending nothing, until cancelled
	refuse bool // Register: the factory does not answer (under mu)

	applyCtx context.Context
	// resume lets a repair go on from its reboot to Ready.
	resume chan struct{}

	mu    sync.Mutex
	plans []*plan.Plan
	merge []bool
	// saves has a value for every SavePlan (saves run in commands).
	saves chan struct{}
}

func newFake(tailscaleEverywhere bool) *fake {
	return &fake{events: make(chan probe.Event, 4096), tsAll: tailscaleEverywhere, resume: make(chan struct{}),
		saves: make(chan struct{}, 256)}
}

func (f *fake) Discover(_ context.Context, target string, report func(ui.Progress)) error {
	total := 254
	if !strings.Contains(target, "/") {
		total = 1
	}

	report(ui.Progress{Op: ui.OpScan, Total: total})

	for _, e := range discovered() {
		if total == 254 || e.Node == target {
			f.events <- e
		}
	}

	report(ui.Progress{Op: ui.OpScan, Done: total, Total: total})

	return nil
}

func (f *fake) Apply(ctx context.Context, p *plan.Plan) error {
	f.mu.Lock()
	f.applyCtx = ctx
	f.mu.Unlock()

	if f.stall {
		<-ctx.Done()

		return ctx.Err()
	}

	for i, b := range p.Boards {
		for _, l := range lab {
			if l.addr == b.Address {
				for _, e := range applied(i, board{b.Name, b.Address, b.Model, b.Machine, b.Role}, f.tsAll) {
					f.events <- e
				}
			}
		}
	}

	return nil
}

func (f *fake) Bootstrap(context.Context, *plan.Plan) error {
	for _, e := range joined(f.tsAll) {
		f.events <- e
	}

	return nil
}

func (f *fake) SavePlan(p *plan.Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()

	f.plans = append(f.plans, p)

	select {
	case f.saves <- struct{}{}:
	default:
	}

	return nil
}

// waitSaved waits for the next SavePlan, failing the test after a while.
func (f *fake) waitSaved(t *testing.T) {
	t.Helper()

	select {
	case <-f.saves:
	case <-time.After(10 * time.Second):
		t.Fatal("no plan was saved")
	}
}

// Preview is a scripted diff: liftoff's hostname and role label on top
// of Talos's defaults, the gateway's key redacted.
func (f *fake) Preview(_ context.Context, p *plan.Plan) ([]config.Preview, error) {
	var out []config.Preview

	for _, b := range p.Boards {
		diff := "@@ -30,2 +30,4 @@\n     nodeLabels:\n+        liftoff.dev/role: " + b.Role + "\n+hostname: " + b.Name
		if b.Role == plan.Gateway {
			diff += "\n+    - TS_AUTHKEY=<redacted>"
		}

		out = append(out, config.Preview{Board: b.Name, Against: "Talos's defaults (talosctl gen config): " + b.Name + " runs no config yet",
			Diff: diff, Plus: strings.Count(diff, "\n+"), Minus: 0})
	}

	return out, nil
}

// Preflight: the scripted lab's first Pi 5 has an NVMe beside its SD card.
func (f *fake) Preflight(_ context.Context, p *plan.Plan) plan.Problems {
	return plan.Problems{{Severity: plan.Warning, Board: p.Boards[0].Name, Field: "boards[0].installDisk",
		Message: "Talos runs from /dev/mmcblk0 (an SD card), and /dev/nvme0n1 (256 GB nvme) is free: etcd and logs write all the time, and an SD card wears out under them",
		Fix:     "keep Talos on /dev/mmcblk0 — a rpi5 boots only from its SD card or eMMC — and use /dev/nvme0n1 once Talos runs"}}
}

// Register: every role's schematic of the scripted lab's models is known,
// or (refuse) the factory does not answer.
func (f *fake) Register(_ context.Context, p *plan.Plan, report func(ui.Progress)) error {
	f.mu.Lock()
	refuse := f.refuse
	f.mu.Unlock()

	if refuse {
		return errors.New("the image factory factory.talos.dev did not answer: dial tcp: lookup factory.talos.dev: no such host")
	}

	ims, _ := image.Matrix(p)
	for i, im := range ims {
		report(ui.Progress{Op: ui.OpRegister, Step: im.Key() + " " + im.SchematicID[:12] + " registered", Done: i + 1, Total: len(ims)})
	}

	return nil
}

func (f *fake) SaveKubeconfig(merge bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	f.merge = append(f.merge, merge)

	if merge {
		return "/home/demo/.kube/config", nil
	}

	return "homelab/kubeconfig", nil
}

// PrepareRepair fills the repair in for the scripted lab's addresses.
func (f *fake) PrepareRepair(_ context.Context, r probe.Repair) (*repair.Job, error) {
	var b plan.Board

	for _, l := range lab {
		if l.name == r.Node {
			b = plan.Board{Name: l.name, Address: l.addr, Model: l.model, Machine: l.machine, Role: l.role}
		}
	}

	installer := "factory.talos.dev/metal-installer/" + strings.Repeat("c0", 32) + ":v1.13.3"
	cmd := strings.NewReplacer("ADDRESS", b.Address, "<installer>", installer).Replace(r.Command)

	return &repair.Job{Repair: r, Board: b, Command: cmd, Installer: installer}, nil
}

// Repair: the upgrade is sent, the board reboots; on resume it comes back
// with the compute image and is Ready.
func (f *fake) Repair(_ context.Context, job *repair.Job) error {
	n := job.Board.Name
	ev := func(s float64, e probe.Event) { e.Time, e.Node = at(s), n; f.events <- e }
	step := func(s float64, state, detail string) {
		ev(s, probe.Event{Kind: probe.RepairStep, Name: string(job.Repair.Kind), State: state, Detail: detail, Ready: state == "done"})
	}

	step(301, "started", job.Repair.Title)
	step(301, "step", "asking "+n+" to upgrade to "+job.Installer)
	ev(302, probe.Event{Kind: probe.Applied, Detail: job.Installer})
	ev(303, probe.Event{Kind: probe.Stage, State: "upgrading"})
	ev(340, probe.Event{Kind: probe.Stage, State: "rebooting"})
	step(340, "rebooting", n+" is rebooting (rebooting); cancelling now only stops the watching")
	ev(341, probe.Event{Kind: probe.Reachable, Detail: "connection refused"})

	<-f.resume

	ev(360, probe.Event{Kind: probe.Stage, State: "booting"})
	ev(361, probe.Event{Kind: probe.Reachable, Ready: true, Detail: "mutual TLS"})
	ev(370, probe.Event{Kind: probe.Stage, State: "running"})

	for _, x := range expect(plan.Compute) {
		ev(371, probe.Event{Kind: probe.Extension, Name: x, State: "present", Detail: "v1.13.3"})
	}

	ev(380, probe.Event{Kind: probe.NodeReady, Ready: true, Detail: "KubeletReady"})
	ev(381, probe.Event{Kind: probe.MachineReady, Ready: true})
	step(381, "done", n+" is Ready")

	return nil
}

func (f *fake) lastPlan() *plan.Plan {
	f.mu.Lock()
	defer f.mu.Unlock()

	if len(f.plans) == 0 {
		return nil
	}

	return f.plans[len(f.plans)-1]
}

// replay is a closed channel holding a whole recording.
func replay(events []probe.Event) <-chan probe.Event {
	ch := make(chan probe.Event, len(events))
	for _, e := range events {
		ch <- e
	}

	close(ch)

	return ch
}

func start(t *testing.T, m *ui.Model, w, h int, opts ...tea.ProgramOption) *uitest.Harness {
	t.Helper()

	return uitest.Start(t, m, w, h, opts...)
}

// PrepareMove makes the scripted lab's pi-4 → to move as liftoff would
// show it: both boards, both installers, the steps, the plan's diff.
func (f *fake) PrepareMove(_ context.Context, to string) (*gateway.Move, error) {
	p := testPlan()
	from, _ := p.Gateway()

	dst, ok := p.Board(to)
	if !ok {
		return nil, errors.New(to + " is not a board of the plan")
	}

	next := testPlan()
	for i := range next.Boards {
		switch next.Boards[i].Name {
		case from.Name:
			next.Boards[i].Role = plan.Compute
		case to:
			next.Boards[i].Role = plan.Gateway
		}
	}

	inst := func(c string) string {
		return "factory.talos.dev/metal-installer/" + strings.Repeat(c, 32) + ":v1.13.3"
	}

	return &gateway.Move{From: from, To: dst, Plan: next, FromInstaller: inst("c0"), ToInstaller: inst("9a"),
		PlanDiff:    "@@ -1 +1 @@\n-    role: compute\n+    role: gateway",
		ConfigDiffs: map[string]string{to: "+    TS_AUTHKEY=<redacted>", from.Name: "-    TS_AUTHKEY=<redacted>"},
		Steps: []string{
			"talosctl apply-config -n " + dst.Address + " -e " + dst.Address + " --file homelab/" + to + ".yaml --mode auto",
			"talosctl upgrade -n " + dst.Address + " -e " + dst.Address + " --image " + inst("9a"),
			"wait until the standby router on " + to + " is approved",
			"talosctl upgrade -n " + from.Address + " -e " + from.Address + " --image " + inst("c0"),
			"talosctl apply-config -n " + from.Address + " -e " + from.Address + " --file homelab/" + from.Name + ".yaml --mode auto",
		}}, nil
}

// MoveGateway: the new router stands by, the old one leaves, a request
// fails, then the route answers through the new one; on resume it ends.
func (f *fake) MoveGateway(_ context.Context, mv *gateway.Move) error {
	pair := mv.From.Name + " " + mv.To.Name
	ev := func(s float64, e probe.Event) { e.Time = at(s); f.events <- e }
	hand := func(s float64, state string, outage time.Duration) {
		ev(s, probe.Event{Kind: probe.Handover, Name: pair, State: state, Ready: state == "done", Latency: outage, Detail: state})
	}

	hand(400, "started", 0)
	ev(401, probe.Event{Node: mv.To.Name, Kind: probe.RepairStep, Name: "move-gateway", State: "rebooting", Detail: "upgrading to the gateway image"})
	hand(430, "standby", 0)
	ev(430, probe.Event{Kind: probe.Route, State: probe.RoutePrimary, Name: "homelab-gateway", Ready: true, Count: 2, Detail: "10.244.0.0/16,10.96.0.0/12: routed by homelab-gateway"})
	hand(431, "failover", 0)
	ev(432, probe.Event{Kind: probe.Traffic, Name: "10.96.0.10:80", State: probe.FlowNoRoute, Detail: "no route to 10.96.0.10:80"})

	<-f.resume

	ev(433, probe.Event{Kind: probe.Route, State: probe.RoutePrimary, Name: "homelab-gateway", Ready: true, Count: 1, Detail: "10.244.0.0/16,10.96.0.0/12: routed by homelab-gateway"})
	ev(433.25, probe.Event{Kind: probe.Traffic, Name: "10.96.0.10:80", State: probe.FlowOK, Ready: true, Latency: 3 * time.Millisecond, Detail: probe.SpinHelloText})
	hand(460, "done", 1250*time.Millisecond)

	return nil
}
