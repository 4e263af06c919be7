package ui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
)

// Backend does the I/O the wizard asks for. Every method must return
// quickly: long work runs in the backend and reports on the event stream
// (probe events) and the progress stream (Progress). The UI calls it from
// commands, never from its update loop, so a slow call cannot freeze it.
type Backend interface {
	// Discover scans a CIDR or address list. Each board that answers is a
	// probe.Discovered event with Node set to its address and Detail its
	// one-line summary (discover.Board.Summary: model arch · talos · disks · MAC);
	// progress comes as Progress{Op: OpScan}.
	Discover(ctx context.Context, target string)
	// Apply sends every board its config; boards report as probe events
	// (Applied, Stage …, by board name), the whole run as Progress{Op: OpApply}.
	// Cancelling ctx stops sending configs to boards not yet done.
	Apply(ctx context.Context, p *plan.Plan)
	// Bootstrap starts etcd on the first control plane; done is a
	// probe.Bootstrapped event, a failure Progress{Op: OpBootstrap, Err}.
	Bootstrap(ctx context.Context, p *plan.Plan)
	// SavePlan writes the plan as it is made, so a restart resumes.
	SavePlan(p *plan.Plan) error
	// Preview is each board's config diff for the review: against the
	// config it runs, or Talos's defaults in maintenance mode; secrets
	// redacted. It runs in a command and writes nothing.
	Preview(ctx context.Context, p *plan.Plan) ([]config.Preview, error)
	// Preflight checks the plan against what each board said of itself
	// (wrong CPU, install disk, EEPROM, version skew). It runs in a command.
	Preflight(ctx context.Context, p *plan.Plan) plan.Problems
	// Register registers each role's schematic with the plan's Image
	// Factory, the review's step before any apply: one Progress{Op:
	// OpRegister, Step} per schematic, then Finished (Err if the factory
	// refused one or did not answer for one it never confirmed).
	Register(ctx context.Context, p *plan.Plan)
	// SaveKubeconfig fetches the admin kubeconfig and merges it into
	// ~/.kube/config or writes a file of its own; it returns where it went.
	// It runs in a command and may wait for the API server to come up.
	SaveKubeconfig(merge bool) (string, error)
	// PrepareRepair resolves a diagnosis's repair for its preview: the
	// exact command, the regenerated config's diff. It runs in a command
	// and changes nothing.
	PrepareRepair(ctx context.Context, r probe.Repair) (*repair.Job, error)
	// Repair runs a prepared repair on its one board: its steps are
	// probe.RepairStep events, its end Progress{Op: OpRepair, Node,
	// Finished, Err}. Cancelling ctx stops it (until the board reboots).
	Repair(ctx context.Context, job *repair.Job)
	// PrepareMove resolves moving the gateway to the named board for its
	// preview: the edited plan, both configs' diffs, the installers and
	// the talosctl steps. It runs in a command and changes nothing.
	PrepareMove(ctx context.Context, to string) (*gateway.Move, error)
	// MoveGateway runs a prepared move: probe.Handover events for the
	// route, probe.RepairStep events for each board, its end Progress{Op:
	// OpMove, Node: the new gateway, Finished, Err}. Cancelling ctx stops
	// it before the first reboot; after, only the following.
	MoveGateway(ctx context.Context, mv *gateway.Move)
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

// Progress reports on a long backend operation. Send it on the Progress
// channel (or with tea.Program.Send).
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
	eventsEndedMsg  struct{}
	progressMsg     Progress // from the channel: re-arms the wait
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
	if ch == nil {
		return nil
	}

	return func() tea.Msg {
		p, ok := <-ch
		if !ok {
			return progressDoneMsg{}
		}

		return progressMsg(p)
	}
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
