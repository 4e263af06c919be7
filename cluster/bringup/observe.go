package bringup

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// Observe reads a lab as it is, without watching a bring-up: what the
// plan wants of each board, then one snapshot of every board (all at
// once, each within timeout; a board that does not answer is an Error
// event), folded in the plan's order. liftoff check and liftoff fix
// read a lab so; some diagnoses (a shared hostname) need every board.
func Observe(ctx context.Context, p *plan.Plan, tc *clientconfig.Config, timeout time.Duration) *probe.Lab {
	l := probe.NewLab()
	apply.Planned(p, func(b plan.Board) []string { return image.Extensions(p, b.Role) }, l.Apply)

	snaps := eachBoard(ctx, p, timeout, func(ctx context.Context, b plan.Board) []probe.Event {
		evs, err := probe.Snapshot(ctx, probe.Target{Node: b.Name, Endpoint: apply.Endpoint(b, 0), Talosconfig: tc})
		if err != nil {
			evs = append(evs, probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Error, Detail: err.Error()})
		}

		return evs
	})

	for _, evs := range snaps {
		for _, e := range evs {
			l.Apply(e)
		}
	}

	return l
}

// Running reads the config each board runs now, for boards set up with
// the talosconfig in dir (a re-apply's review); a board in maintenance
// mode, or one that does not answer within timeout, runs none.
func Running(ctx context.Context, dir string, p *plan.Plan, timeout time.Duration) map[string][]byte {
	tc, err := config.OpenTalosconfig(filepath.Join(dir, config.TalosconfigFile))
	if err != nil {
		return nil // nothing generated here yet: every board is new
	}

	cfgs := eachBoard(ctx, p, timeout, func(ctx context.Context, b plan.Board) []byte {
		cfg, err := probe.RunningConfig(ctx, probe.Target{Node: b.Name, Endpoint: apply.Endpoint(b, 0), Talosconfig: tc})
		if err != nil {
			return nil
		}

		return cfg
	})

	out := map[string][]byte{}

	for i, b := range p.Boards {
		if cfgs[i] != nil {
			out[b.Name] = cfgs[i]
		}
	}

	return out
}

// eachBoard asks every board of the plan at once, each within timeout:
// a board that does not answer costs its timeout once. The answers are
// in the plan's order.
func eachBoard[T any](ctx context.Context, p *plan.Plan, timeout time.Duration, ask func(context.Context, plan.Board) T) []T {
	out := make([]T, len(p.Boards))

	var wg sync.WaitGroup

	for i, b := range p.Boards {
		wg.Go(func() {
			bctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()

			out[i] = ask(bctx, b)
		})
	}

	wg.Wait()

	return out
}
