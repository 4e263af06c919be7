package ui

import (
	"context"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
)

// Backend does the I/O the wizard asks for. The UI calls every method
// from a command, never from its update loop, so a slow call cannot freeze
// it. The long operations (Discover, Apply, Bootstrap, Register, Repair,
// MoveGateway) return when their work is done, with its error: the UI
// turns the return into Progress{Finished, Err}. What they see of the
// boards is probe events on the Events stream (Options.Events); report,
// where a method takes one, is its progress while it runs, and is not
// called after it returned. Cancelling ctx stops any of them.
type Backend interface {
	// Discover scans a CIDR or address list. Each board that answers is a
	// probe.Discovered event with Node set to its address and Detail its
	// one-line summary (discover.Board.Summary: model arch · talos · disks · MAC);
	// progress is reported as Progress{Op: OpScan, Done, Total}.
	Discover(ctx context.Context, target string, report func(Progress)) error
	// Apply sends every board its config; boards report as probe events
	// (Applied, Stage …, by board name). Cancelling ctx stops sending
	// configs to boards not yet done.
	Apply(ctx context.Context, p *plan.Plan) error
	// Bootstrap starts etcd on the first control plane (a probe.Bootstrapped
	// event, on which the wizard moves on), then waits for the API server
	// and its kubeconfig: it returns once SaveKubeconfig can save one.
	Bootstrap(ctx context.Context, p *plan.Plan) error
	// SavePlan writes the plan as it is made, so a restart resumes.
	SavePlan(p *plan.Plan) error
	// Preview is each board's config diff for the review: against the
	// config it runs, or Talos's defaults in maintenance mode; secrets
	// redacted. It writes nothing.
	Preview(ctx context.Context, p *plan.Plan) ([]config.Preview, error)
	// Preflight checks the plan against what each board said of itself
	// (wrong CPU, install disk, EEPROM, version skew).
	Preflight(ctx context.Context, p *plan.Plan) plan.Problems
	// Register registers each role's schematic with the plan's Image
	// Factory, the review's step before any apply: one Progress{Op:
	// OpRegister, Step, Done, Total} per schematic; an error if the
	// factory refused one or did not answer for one it never confirmed.
	Register(ctx context.Context, p *plan.Plan, report func(Progress)) error
	// SaveKubeconfig merges the admin kubeconfig the bootstrap fetched
	// into ~/.kube/config or writes a file of its own; it returns where it
	// went. The UI calls it only after Bootstrap returned.
	SaveKubeconfig(merge bool) (string, error)
	// PrepareRepair resolves a diagnosis's repair for its preview: the
	// exact command, the regenerated config's diff. It changes nothing.
	PrepareRepair(ctx context.Context, r probe.Repair) (*repair.Job, error)
	// Repair runs a prepared repair on its one board: its steps are
	// probe.RepairStep events. Cancelling ctx stops it (until the board
	// reboots).
	Repair(ctx context.Context, job *repair.Job) error
	// PrepareMove resolves moving the gateway to the named board for its
	// preview: the edited plan, both configs' diffs, the installers and
	// the talosctl steps. It changes nothing.
	PrepareMove(ctx context.Context, to string) (*gateway.Move, error)
	// MoveGateway runs a prepared move: probe.Handover events for the
	// route, probe.RepairStep events for each board. Cancelling ctx stops
	// it before the first reboot; after, only the following.
	MoveGateway(ctx context.Context, mv *gateway.Move) error
}

// Op names a long backend operation.
type Op string

// Operations that report progress.
const (
	OpScan      Op = "scan"
	OpApply     Op = "apply"
	OpBootstrap Op = "bootstrap"
	OpRegister  Op = "register"
	OpRepair    Op = "repair"
	OpMove      Op = "move-gateway"
	// OpTools is the simulated lab's control plane being built (liftoff
	// sim's first run in a fresh checkout): Step names the tool, Done and
	// Total count its packages. The header shows it until Finished; the
	// bootstrap waits for it, saying so as OpBootstrap steps.
	OpTools Op = "tools"
)

// Progress reports on a long backend operation: what a Backend method
// reports while it runs, and the UI's own Finished when it returned (a
// driver without a terminal may send it to Update itself).
type Progress struct {
	Op       Op
	Node     string // the board a step is about, if any
	Step     string // what is happening, in words ("sending config")
	Done     int    // scan: addresses tried; apply: boards done
	Total    int
	Finished bool  // the operation is over; Err says whether it failed
	Err      error // why it failed
	// Rate (bytes per second) and ETA: a flash's write.
	Rate float64
	ETA  time.Duration
}

// Events is a batch of events for the model to fold, as its stream wait
// delivers them. A driver without a terminal (the screenshot renderer)
// sends it to Update itself: the same fold, in its own order.
type Events []probe.Event

type (
	eventsEndedMsg struct{}
	progressMsg    struct { // from an operation's channel: re-arms the wait
		Progress
		from <-chan Progress
	}
	progressDoneMsg struct{}
	tickMsg         struct{}
	planSavedMsg    struct{ err error }
	previewMsg      struct {
		previews []config.Preview
		err      error
		checks   plan.Problems
	}
	kubeconfigMsg struct {
		path string
		err  error
	}
	repairPreparedMsg struct {
		job *repair.Job
		err error
	}
	movePreparedMsg struct {
		mv  *gateway.Move
		err error
	}
)

// maxBatch bounds how many queued events one update folds, so a burst (a
// replay at full speed) costs one frame yet input stays responsive.
const maxBatch = 512

// waitEvents blocks (in its own goroutine) for the next events and takes
// whatever else is already queued. Update re-arms it after each batch.
func waitEvents(ch <-chan probe.Event) tea.Cmd {
	if ch == nil {
		return nil
	}

	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return eventsEndedMsg{}
		}

		batch := Events{e}

		for len(batch) < maxBatch {
			select {
			case e, ok := <-ch:
				if !ok {
					return batch // the next wait reports the end
				}

				batch = append(batch, e)
			default:
				return batch
			}
		}

		return batch
	}
}

func waitProgress(ch <-chan Progress) tea.Cmd {
	return func() tea.Msg {
		p, ok := <-ch
		if !ok {
			return progressDoneMsg{}
		}

		return progressMsg{p, ch}
	}
}

// operation runs a long backend operation in a command and turns what it
// reports, then its end, into Progress messages, in that order: both go
// through a channel of the operation's own, which the update loop reads
// until it is closed (a command's own message could overtake the last
// reports). The end is the last report, Finished, with run's error, its
// step when not "", and no rate or time left. ctx bounds the sending: the UI's, which outlives
// a cancelled operation so its end still arrives.
func operation(ctx context.Context, op Op, node string, run func(report func(Progress)) (string, error)) tea.Cmd {
	ch := make(chan Progress, 64)

	var (
		mu   sync.Mutex
		last = Progress{Op: op, Node: node}
	)

	send := func(p Progress) {
		select {
		case ch <- p:
		case <-ctx.Done():
		}
	}

	work := func() tea.Msg {
		step, err := run(func(p Progress) {
			mu.Lock()
			last = p
			mu.Unlock()
			send(p)
		})

		mu.Lock()
		end := last
		mu.Unlock()

		end.Finished, end.Err, end.Rate, end.ETA = true, err, 0, 0 // nothing under way
		if step != "" {
			end.Step = step
		}

		send(end)
		close(ch)

		return nil
	}

	return tea.Batch(work, waitProgress(ch))
}

// tickEvery refreshes the clock so "for 4m" and stuck-stage rules move
// on even when no event arrives.
func tickEvery(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return tickMsg{} })
}

// clonePlan hands the backend its own copy: it may marshal the plan in
// another goroutine while the wizard keeps editing.
func clonePlan(p *plan.Plan) *plan.Plan {
	c := *p
	c.Boards = append([]plan.Board(nil), p.Boards...)

	return &c
}

// await runs a long backend call that reports nothing while it runs in a
// command, whose message is its end: nothing can overtake it.
func await(op Op, node string, call func() error) tea.Cmd {
	return func() tea.Msg { return Progress{Op: op, Node: node, Finished: true, Err: call()} }
}

// ending is a backend call's end, for a command that must come after it:
// saving the kubeconfig waits for the bootstrap that fetches it.
type ending struct {
	done chan struct{}
	err  error
}

func newEnding() *ending { return &ending{done: make(chan struct{})} }

func (e *ending) end(err error) {
	e.err = err
	close(e.done)
}

// wait returns the call's error once it returned, or ctx's.
func (e *ending) wait(ctx context.Context) error {
	select {
	case <-e.done:
		return e.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
