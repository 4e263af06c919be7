package main

import (
	"context"
	"errors"
	"os"
	"reflect"
	"runtime"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/lab"
	"github.com/liftoff-lab/liftoff/ui"
)

// driver runs a ui.Model without a terminal or a tea.Program, on one
// goroutine: every command runs to completion before the next message, so
// a scene reaches the same state every time.
//
// The model's stream waits block on their channels, so the driver parks
// them and runs them only when their channel holds something; it drops
// the clock tick (the clock is fixed). It tells them apart by the
// function's name — a stop-gap until ui can fold events without a channel.
type driver struct {
	m        *ui.Model
	now      time.Time // what Options.Clock returns
	events   chan probe.Event
	progress chan ui.Progress
	queue    []tea.Cmd
	parked   []parked
}

type parked struct {
	cmd      tea.Cmd
	progress bool // waits on the progress channel, not the events one
}

var cmdType = reflect.TypeFor[tea.Cmd]()

// newDriver starts a model on a cols × rows terminal; o.Events and
// o.Progress are the driver's, sized for capacity events.
func newDriver(o ui.Options, cols, rows, capacity int, now time.Time) *driver {
	d := &driver{now: now, events: make(chan probe.Event, capacity), progress: make(chan ui.Progress, capacity)}
	o.Events, o.Clock = d.events, func() time.Time { return d.now }

	if o.Backend != nil {
		o.Progress = d.progress
	}

	d.m = ui.New(o)
	d.queue = append(d.queue, d.m.Init())
	d.send(tea.WindowSizeMsg{Width: cols, Height: rows})

	return d
}

// feed sends events as a live stream would and lets the model fold them.
func (d *driver) feed(events ...probe.Event) {
	for _, e := range events {
		d.events <- e
	}

	d.settle()
}

// keys types key names ("enter", "esc", "down", "ctrl+u") or runes.
func (d *driver) keys(names ...string) {
	special := map[string]tea.Key{
		"enter": {Code: tea.KeyEnter}, "esc": {Code: tea.KeyEscape}, "tab": {Code: tea.KeyTab},
		"up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown}, "ctrl+u": {Code: 'u', Mod: tea.ModCtrl},
	}

	for _, n := range names {
		if k, ok := special[n]; ok {
			d.send(tea.KeyPressMsg(k))

			continue
		}

		for _, r := range n {
			d.send(tea.KeyPressMsg{Code: r, Text: string(r)})
		}
	}
}

func (d *driver) send(msg tea.Msg) {
	_, cmd := d.m.Update(msg)
	d.queue = append(d.queue, cmd)
	d.settle()
}

// settle runs commands, and the parked waits whose channel has something,
// until nothing is left to do.
func (d *driver) settle() {
	for {
		if len(d.queue) > 0 {
			cmd := d.queue[0]
			d.queue = d.queue[1:]
			d.run(cmd)

			continue
		}

		ready := -1

		for i, p := range d.parked {
			if (p.progress && len(d.progress) > 0) || (!p.progress && len(d.events) > 0) {
				ready = i

				break
			}
		}

		if ready < 0 {
			return
		}

		p := d.parked[ready]
		d.parked = append(d.parked[:ready], d.parked[ready+1:]...)
		d.deliver(p.cmd())
	}
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}

	name := runtime.FuncForPC(reflect.ValueOf(cmd).Pointer()).Name()

	switch {
	case strings.Contains(name, "waitEvents."):
		d.parked = append(d.parked, parked{cmd: cmd})
	case strings.Contains(name, "waitProgress."):
		d.parked = append(d.parked, parked{cmd: cmd, progress: true})
	case strings.Contains(name, "bubbletea/v2.Tick."), strings.Contains(name, "ui.tick."):
		// the clock is fixed: a tick would change nothing
	default:
		d.deliver(runOrFail(cmd, name))
	}
}

// runOrFail runs a command, failing loudly rather than hanging when one
// blocks (a stream wait the driver no longer recognises by name).
func runOrFail(cmd tea.Cmd, name string) tea.Msg {
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()

	select {
	case msg := <-done:
		return msg
	case <-time.After(10 * time.Second):
		panic("screenshots: command " + name + " blocks; teach the driver about it")
	}
}

func (d *driver) deliver(msg tea.Msg) {
	if msg == nil {
		return
	}

	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == cmdType {
		for i := range v.Len() { // tea.Batch and tea.Sequence, in order
			d.queue = append(d.queue, v.Index(i).Interface().(tea.Cmd))
		}

		return
	}

	if _, quit := msg.(tea.QuitMsg); quit {
		return
	}

	_, cmd := d.m.Update(msg)
	d.queue = append(d.queue, cmd)
}

// frame is the screen as the terminal would get it, and the colours the
// view asks of the terminal (the high-contrast theme paints black).
func (d *driver) frame() tea.View { return d.m.View() }

// labBackend answers the wizard from the recordings: the scan finds the
// boards the simulated lab's scan found; Apply replays the bring-up up to
// a moment chosen by the scene.
type labBackend struct {
	d          *driver
	discovered []probe.Event
	applied    []probe.Event
	plan       *plan.Plan    // the recorded lab's, for a repair's preview
	repaired   []probe.Event // what the lab sent while a repair ran
}

func (b *labBackend) Discover(_ context.Context, target string) {
	n := len(strings.Split(target, ","))
	b.d.progress <- ui.Progress{Op: ui.OpScan, Total: n}

	for _, e := range b.discovered {
		b.d.events <- e
	}

	b.d.progress <- ui.Progress{Op: ui.OpScan, Done: n, Total: n, Finished: true}
}

func (b *labBackend) Apply(context.Context, *plan.Plan) {
	for _, e := range b.applied {
		b.d.events <- e
	}
}

func (b *labBackend) Bootstrap(context.Context, *plan.Plan) {}

func (b *labBackend) SavePlan(*plan.Plan) error { return nil }

func (b *labBackend) SaveKubeconfig(bool) (string, error) { return "homelab/kubeconfig", nil }

// Register answers as a factory that knows every schematic: the
// recordings hold no factory, and the lab's one registered them all.
func (b *labBackend) Register(_ context.Context, p *plan.Plan) {
	ims, _ := image.Matrix(p)
	for i, im := range ims {
		b.d.progress <- ui.Progress{Op: ui.OpRegister, Step: im.Key() + " " + im.SchematicID[:12] + " registered", Done: i + 1, Total: len(ims)}
	}

	b.d.progress <- ui.Progress{Op: ui.OpRegister, Done: len(ims), Total: len(ims), Finished: true}
}

// Preflight has nothing to compare: the recordings hold no hardware.
func (b *labBackend) Preflight(context.Context, *plan.Plan) plan.Problems { return nil }

// Preview is liftoff's real preview against Talos's defaults, with
// throwaway secrets (nothing is written): the counts on screen are what a
// real review shows.
func (b *labBackend) Preview(_ context.Context, p *plan.Plan) ([]config.Preview, error) {
	return config.Previews(os.TempDir()+"/liftoff-screenshots-no-secrets-here", p, lab.SimAuthKey, nil)
}

// PrepareRepair resolves a repair against the recorded lab's plan with
// liftoff's own code; nothing reads a board (an upgrade needs none).
func (b *labBackend) PrepareRepair(ctx context.Context, r probe.Repair) (*repair.Job, error) {
	if b.plan == nil {
		return nil, errors.New("the wizard's screenshots run no repairs")
	}

	return repair.Prepare(ctx, repair.Env{Plan: b.plan}, r)
}

// PrepareMove: the recordings hold no move.
func (b *labBackend) PrepareMove(context.Context, string) (*gateway.Move, error) {
	return nil, errors.New("the screenshots' recordings hold no gateway move")
}

// MoveGateway: see PrepareMove.
func (b *labBackend) MoveGateway(context.Context, *gateway.Move) {}

// Repair plays the recorded repair's events, as the lab sent them.
func (b *labBackend) Repair(context.Context, *repair.Job) {
	for _, e := range b.repaired {
		b.d.events <- e
	}
}
