package lab

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/apply"
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
	// never come back (a Final diagnosis, stable for Settle) ends it, as
	// waiting would only run into the timeout.
	upCtx, stopUp := context.WithCancel(bctx)
	defer stopUp()

	bringUp := make(chan error, 1)
	go func() {
		if err := run.Apply(upCtx); err != nil {
			bringUp <- fmt.Errorf("apply: %w", err)

			return
		}

		bringUp <- run.Bootstrap(upCtx)
	}()

	var (
		upErr  error
		gaveUp *probe.Diagnosis
	)

	first, _ := apply.BootstrapTarget(run.Plan)
	hopeless := stableFinal(first.Name, opts.Settle)

	tick := time.NewTicker(opts.Settle / 4)
	defer tick.Stop()

	// Fold events while the bring-up runs; then until every node settles.
	for waiting := true; waiting; {
		select {
		case upErr = <-bringUp:
			waiting = false
		case e := <-events:
			picture.Apply(e)
		case <-tick.C:
			if d, ok := hopeless(picture, time.Now()); ok {
				stopUp()

				upErr, gaveUp, waiting = fmt.Errorf("%s, the first control plane, will not come up: %s", first.Name, d.Title), &d, false
			}
		case <-bctx.Done():
			return nil, fmt.Errorf("the bring-up did not finish within %s", opts.Timeout)
		}
	}

	Settle(bctx, events, picture, opts.Settle)

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

// stableFinal reports a node's Final diagnosis once it has held, the same,
// for stable.
func stableFinal(node string, stable time.Duration) func(*probe.Lab, time.Time) (probe.Diagnosis, bool) {
	var (
		title string
		since time.Time
	)

	return func(l *probe.Lab, now time.Time) (probe.Diagnosis, bool) {
		for _, d := range probe.Diagnose(l.Node(node), now) {
			if !d.Final {
				continue
			}

			if d.Title != title {
				title, since = d.Title, now
			}

			return d, now.Sub(since) >= stable
		}

		title = ""

		return probe.Diagnosis{}, false
	}
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
