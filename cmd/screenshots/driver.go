package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
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
// a scene reaches the same state every time. The model has no channels
// and no clock tick (Options.Still): events and progress reach it as
// messages (ui.Events, ui.Progress), queued by the scene and the backend
// and delivered in order. A backend call the scene keeps under way parks
// (see park); a scene that catches an operation before its end stops
// early (see until).
type driver struct {
	m      *ui.Model
	now    time.Time // what Options.Clock returns
	queue  []tea.Cmd
	inbox  []tea.Msg     // events and progress, in the order they were sent
	parked chan struct{} // a backend call stays under way: see park
	stop   func(frame string) bool
}

var cmdType = reflect.TypeFor[tea.Cmd]()

// newDriver starts a model on a cols × rows terminal.
func newDriver(o ui.Options, cols, rows int, now time.Time) *driver {
	d := &driver{now: now, parked: make(chan struct{})}
	o.Events, o.Still, o.Clock = nil, true, func() time.Time { return d.now }

	d.m = ui.New(o)
	d.queue = append(d.queue, d.m.Init())
	d.send(tea.WindowSizeMsg{Width: cols, Height: rows})

	return d
}

// feed sends events as a live stream would and lets the model fold them.
func (d *driver) feed(events ...probe.Event) {
	d.post(ui.Events(events))
	d.settle()
}

// post queues a message for the model, as the program's stream waits
// would deliver it.
func (d *driver) post(msg tea.Msg) { d.inbox = append(d.inbox, msg) }

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

// until types keys as keys does, but runs the model only until stop
// holds for its frame, then drops what is left to do: a scene catches an
// operation under way, before the message of its end.
func (d *driver) until(stop func(frame string) bool, names ...string) {
	d.stop = stop
	defer func() { d.stop = nil }()

	d.keys(names...)
}

// park keeps the backend call that makes it under way for the rest of
// the scene, as a real one is while its boards work (an apply): the
// command that made it never ends, and the driver goes on without its
// message. It does not return.
func (d *driver) park() {
	d.parked <- struct{}{}

	select {}
}

// settle runs commands, then delivers what the scene and the backend
// posted, until nothing is left to do.
func (d *driver) settle() {
	for len(d.queue) > 0 || len(d.inbox) > 0 {
		if d.stop != nil && d.stop(d.m.View().Content) {
			d.queue, d.inbox = nil, nil

			return
		}

		if len(d.queue) > 0 {
			cmd := d.queue[0]
			d.queue = d.queue[1:]
			d.run(cmd)

			continue
		}

		msg := d.inbox[0]
		d.inbox = d.inbox[1:]
		d.deliver(msg)
	}
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd != nil {
		d.deliver(d.runOrFail(cmd))
	}
}

// runOrFail runs a command, failing loudly rather than hanging when one
// blocks: with no channels and no tick, none should but a parked call.
func (d *driver) runOrFail(cmd tea.Cmd) tea.Msg {
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()

	select {
	case msg := <-done:
		return msg
	case <-d.parked:
		return nil
	case <-time.After(2 * time.Minute): // slow on a loaded machine is not blocked
		panic(fmt.Sprintf("screenshots: a command of the model blocks (%T); a still has no stream and no clock", cmd))
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

func (b *labBackend) Discover(_ context.Context, target string, report func(ui.Progress)) error {
	n := len(strings.Split(target, ","))
	report(ui.Progress{Op: ui.OpScan, Total: n})

	b.d.post(ui.Events(b.discovered))

	report(ui.Progress{Op: ui.OpScan, Done: n, Total: n})

	return nil
}

// Apply plays the bring-up up to the scene's moment, and stays under way.
func (b *labBackend) Apply(context.Context, *plan.Plan) error {
	b.d.post(ui.Events(b.applied))
	b.d.park()

	return nil
}

func (b *labBackend) Bootstrap(context.Context, *plan.Plan) error { return nil }

func (b *labBackend) SavePlan(*plan.Plan) error { return nil }

func (b *labBackend) SaveKubeconfig(bool) (string, error) { return "homelab/kubeconfig", nil }

// Register answers as a factory that knows every schematic: the
// recordings hold no factory, and the lab's one registered them all.
func (b *labBackend) Register(_ context.Context, p *plan.Plan, report func(ui.Progress)) error {
	ims, _ := image.Matrix(p)
	for i, im := range ims {
		report(ui.Progress{Op: ui.OpRegister, Step: im.Key() + " " + im.SchematicID[:12] + " registered", Done: i + 1, Total: len(ims)})
	}

	return nil
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
func (b *labBackend) MoveGateway(context.Context, *gateway.Move) error {
	return errors.New("the screenshots' recordings hold no gateway move")
}

// Repair plays the recorded repair's events, as the lab sent them.
func (b *labBackend) Repair(context.Context, *repair.Job) error {
	b.d.post(ui.Events(b.repaired))

	return nil
}
