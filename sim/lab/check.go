package lab

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// CheckOptions tune a check run against a simulated lab.
type CheckOptions struct {
	Lab     Options
	Dir     string        // where gen writes; a temp dir is fine
	Settle  time.Duration // how long a stuck node must stay stuck; default 3s
	Timeout time.Duration // the whole bring-up; default 5m
	Only    []string
	Env     check.Env // budgets and hello options; Plan/Lab/Kube/Fetch are filled in
	Record  io.Writer // events as JSON lines, if set
	// Notes hears where the lab went when its block was taken.
	Notes io.Writer
	// NoBootstrap leaves the bootstrap step out of the bring-up, as an
	// operator who never ran it would.
	NoBootstrap bool
	// Repair, when set, picks a repair from the settled picture; Check
	// runs it with cluster/repair, as the troubleshoot view does, lets
	// the lab settle again and asks for the next, one repair at a time,
	// until it returns none (a zero Kind). NextRepair picks them as an
	// operator going down the troubleshoot view would.
	Repair func(picture *probe.Lab) (probe.Repair, error)
	// Ran hears each repair Check ran, in order.
	Ran func(probe.Repair)
}

// Check brings a simulated lab up with liftoff's own code and runs the
// acceptance suite against it.
func Check(ctx context.Context, opts CheckOptions) ([]check.Result, error) {
	if opts.Settle == 0 {
		opts.Settle = 3 * time.Second
	}

	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Its own block: a demo lab may hold the spec's addresses.
	l, moved, err := StartFree(ctx, opts.Lab)
	if err != nil {
		return nil, err
	}
	defer l.Close() //nolint:errcheck

	if moved != "" && opts.Notes != nil {
		fmt.Fprintln(opts.Notes, moved)
	}

	run, err := l.Prepare(ctx, opts.Dir, nil)
	if err != nil {
		return nil, err
	}

	// The recording ends with the checks: the lab's teardown after them
	// (every board going away) is no part of what was checked.
	recording, cancelRecording := context.WithCancel(ctx)
	recorded := make(chan struct{})
	stopRecording := func() { cancelRecording(); <-recorded } // no write to Record after Check returns

	defer stopRecording()

	events := run.Stream.Events()
	if opts.Record != nil {
		events = tee(recording, events, probe.NewRecorder(opts.Record), recorded)
	} else {
		close(recorded)
	}

	picture := probe.NewLab()
	bctx, stop := context.WithTimeout(ctx, opts.Timeout)
	defer stop()

	// The bring-up has its own context: a first control plane that will
	// never come up (a Final diagnosis, stable for Settle) ends it, as
	// waiting would only run into the timeout.
	upCtx, stopUp := context.WithCancel(bctx)
	defer stopUp()

	bringUp := make(chan error, 1)
	go func() {
		if err := run.Apply(upCtx); err != nil {
			bringUp <- fmt.Errorf("apply: %w", err)

			return
		}

		if opts.NoBootstrap {
			bringUp <- nil

			return
		}

		bringUp <- run.Bootstrap(upCtx)
	}()

	var (
		upErr  error
		gaveUp *probe.Diagnosis
	)

	first, _ := apply.BootstrapTarget(run.Plan)
	tick := time.NewTicker(opts.Settle / 4)

	defer tick.Stop()

	var blocked blockWatch

	// Fold events while the bring-up runs; then until every node settles.
	// A bootstrap waiting on a control plane that cannot come up (its
	// diagnosis says waiting will not help) stops once that has held for
	// Settle, with the reason, instead of waiting out the timeout.
	for waiting := true; waiting; {
		select {
		case upErr = <-bringUp:
			waiting = false
		case e := <-events:
			picture.Apply(e)
		case <-tick.C:
		case <-bctx.Done():
			return nil, fmt.Errorf("the bring-up did not finish within %s", opts.Timeout)
		}

		if d, ok := blocked.held(picture.Node(first.Name), opts.Settle); waiting && ok {
			stopUp()
			<-bringUp

			upErr, gaveUp, waiting = fmt.Errorf("the bring-up cannot finish: %s, the first control plane, will not come up: %s: %s", first.Name, d.Title, d.Why), &d, false
		}
	}

	Settle(bctx, events, picture, opts.Settle)

	if opts.Repair != nil {
		bootstrapped, err := repairThenSettle(bctx, opts, run, events, picture)
		if err != nil {
			return nil, err
		}

		// The bootstrap the bring-up could not do, a repair did.
		if bootstrapped {
			upErr, gaveUp = nil, nil
		}
	}

	env := opts.Env
	env.Plan, env.Lab, env.Now = run.Plan, picture, time.Now()

	if upErr == nil && run.Kube != nil {
		fetch, err := run.Fetcher(ctx)
		if err == nil {
			env.Kube, env.Fetch = run.Kube, fetch
		}
	}

	if _, ok := run.Plan.Gateway(); ok {
		ts, err := run.Tailscale(ctx)
		if err != nil {
			return nil, fmt.Errorf("the simulated tailnet: %w", err)
		}

		env.Tailscale = ts
	}

	env.MoveGateway = func(ctx context.Context, to string, reach func(context.Context) probe.Event) (check.Moved, error) {
		return moveThenSettle(ctx, opts, run, events, picture, to, reach)
	}

	results := check.Run(ctx, &env, opts.Only)
	stopRecording()

	if upErr != nil {
		r := check.Result{Suite: "bring-up", Name: "bootstrap", Status: check.Fail, Summary: upErr.Error()}
		if gaveUp != nil {
			r.Why, r.Fix, r.Evidence = gaveUp.Why, gaveUp.Fix, gaveUp.Evidence
		}

		results = append(results, r)
	}

	return results, nil
}

// repairThenSettle prepares and runs the picked repairs one at a time,
// folding the stream (the repairs' own events among it) and letting the
// lab settle after each, until the picker has none left. bootstrapped
// tells whether one of them was the bootstrap.
func repairThenSettle(ctx context.Context, opts CheckOptions, run *Run, events <-chan probe.Event, picture *probe.Lab) (bootstrapped bool, err error) {
	env, err := run.RepairEnv(ctx)
	if err != nil {
		return false, err
	}

	// Each board's repair should take the first time; twice the boards
	// is room for a second repair on each (a reset, then its re-apply).
	most := 2*len(run.Plan.Boards) + 1
	tried := map[string]int{}

	for range most {
		r, err := opts.Repair(picture)
		if err != nil || r.Kind == "" {
			return bootstrapped, err
		}

		if tried[r.Node+" "+string(r.Kind)]++; tried[r.Node+" "+string(r.Kind)] > 1 {
			return bootstrapped, fmt.Errorf("%s on %s again: it did not take the first time; %s's diagnoses: %+v", r.Kind, r.Node, r.Node,
				probe.DiagnoseIn(picture, picture.Node(r.Node), time.Now()))
		}

		if err := runRepair(ctx, opts, env, r, run, events, picture); err != nil {
			return bootstrapped, err
		}

		if opts.Ran != nil {
			opts.Ran(r)
		}

		bootstrapped = bootstrapped || r.Kind == probe.RepairBootstrap
	}

	return bootstrapped, fmt.Errorf("still a repair to run after %d", most)
}

func runRepair(ctx context.Context, opts CheckOptions, env repair.Env, r probe.Repair, run *Run, events <-chan probe.Event, picture *probe.Lab) error {
	job, err := repair.Prepare(ctx, env, r)
	if err != nil {
		return fmt.Errorf("preparing %s on %s: %w", r.Kind, r.Node, err)
	}

	done := make(chan error, 1)

	go func() { done <- job.Run(ctx, env, run.Stream.Emit) }()

	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%s on %s: %w", r.Kind, r.Node, err)
			}

			Settle(ctx, events, picture, opts.Settle)

			return nil
		case e := <-events:
			picture.Apply(e)
		case <-ctx.Done():
			return fmt.Errorf("%s on %s did not finish within %s", r.Kind, r.Node, opts.Timeout)
		}
	}
}

// NextRepair is the first repair a board carries, in the order the
// picture met them (the plan's), as an operator going down the troubleshoot view finds
// them; none (a zero Kind) when no board has one.
func NextRepair(picture *probe.Lab) (probe.Repair, error) {
	now := time.Now()

	for _, n := range picture.Nodes {
		if d, ok := probe.FirstRepair(picture, n, now); ok {
			return *d.Repair, nil
		}
	}

	return probe.Repair{}, nil
}

// moveThenSettle moves the gateway with cluster/gateway, as the dashboard
// does, folding the stream (the move's own events among it), lets the lab
// settle, and reads the route again.
func moveThenSettle(ctx context.Context, opts CheckOptions, run *Run, events <-chan probe.Event, picture *probe.Lab, to string, reach func(context.Context) probe.Event) (check.Moved, error) {
	env, err := run.MoveEnv(ctx, reach)
	if err != nil {
		return check.Moved{}, err
	}

	mv, err := gateway.Prepare(env, to)
	if err != nil {
		return check.Moved{}, err
	}

	type outcome struct {
		res gateway.Result
		err error
	}

	done := make(chan outcome, 1)

	go func() {
		res, err := mv.Run(ctx, env, run.Stream.Emit)
		done <- outcome{res, err}
	}()

	for {
		select {
		case o := <-done:
			if o.err != nil {
				return check.Moved{}, o.err
			}

			run.Plan = mv.Plan

			Settle(ctx, events, picture, opts.Settle)

			moved := check.Moved{Plan: mv.Plan, Lab: picture, Outage: o.res.Outage, Words: o.res.Words}
			if moved.Tailscale, err = run.Tailscale(ctx); err != nil {
				moved.NoTailscale = err.Error()
			}

			return moved, nil
		case e := <-events:
			picture.Apply(e)
		case <-ctx.Done():
			return check.Moved{}, ctx.Err()
		}
	}
}

// blockWatch tells when a node's blocking diagnosis has held long enough.
type blockWatch struct {
	title string
	since time.Time
}

func (b *blockWatch) held(n *probe.Node, stable time.Duration) (probe.Diagnosis, bool) {
	now := time.Now()

	d, ok := probe.Blocking(n, now)
	if !ok {
		b.title = ""

		return d, false
	}

	if d.Title != b.title {
		b.title, b.since = d.Title, now
	}

	return d, now.Sub(b.since) >= stable
}

// tee records what passes; done closes when it stopped recording.
func tee(ctx context.Context, in <-chan probe.Event, rec *probe.Recorder, done chan<- struct{}) <-chan probe.Event {
	out := make(chan probe.Event, cap(in))

	go func() {
		defer close(done)

		for {
			select {
			case <-ctx.Done():
				return
			case e := <-in:
				rec.Record(e)

				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	return out
}
