package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// maxReapply is how many times a board that came back in maintenance mode
// is given its config again before the bring-up stops with the reason.
const maxReapply = 3

// converge watches a headless bring-up's events until the lab is healthy:
// every board Ready in Talos and Kubernetes, and the gateway's tailscale up.
// A board that comes back in maintenance mode after its config was applied
// (power lost, a reset) is given its config again — cluster/apply's rules
// never send one to a board that took one — up to maxReapply times.
type converge struct {
	plan *plan.Plan
	be   *backend

	mu       sync.Mutex
	lab      *probe.Lab
	reapply  map[string]int       // re-applies per board
	handled  map[string]time.Time // the apply each re-apply answered
	stop     error                // why waiting longer is pointless
	changed  chan struct{}
	reapplyW sync.WaitGroup // the re-applies under way
}

func newConverge(be *backend, p *plan.Plan) *converge {
	return &converge{plan: p, be: be, lab: probe.NewLab(), reapply: map[string]int{}, handled: map[string]time.Time{}, changed: make(chan struct{}, 1)}
}

// fold takes one event in, and re-applies a board that needs it, beside
// the probes: fold runs in the stream's tap, and a re-apply's events come
// back through it.
func (cv *converge) fold(ctx context.Context, e probe.Event) {
	type again struct {
		name string
		try  int
	}

	var redo []again

	cv.mu.Lock()
	cv.lab.Apply(e)

	for _, n := range cv.lab.Nodes {
		back := !n.AppliedAt.IsZero() && n.Stage == probe.StageMaintenance && n.StageSince.After(n.AppliedAt)
		if !back || cv.handled[n.Name].Equal(n.AppliedAt) || cv.stop != nil {
			continue
		}

		cv.handled[n.Name] = n.AppliedAt

		if cv.reapply[n.Name] >= maxReapply {
			cv.stop = fmt.Errorf("%s came back in maintenance mode %d times after its config was applied: check its power supply (a Raspberry Pi 4 needs 5V/3A, a Pi 5 5V/5A) and its console", n.Name, maxReapply+1)

			continue
		}

		cv.reapply[n.Name]++
		redo = append(redo, again{n.Name, cv.reapply[n.Name]})
	}
	cv.mu.Unlock()

	for _, r := range redo {
		cv.reapplyW.Add(1)
		note := fmt.Sprintf("%s is back in maintenance mode: applying its config again (%d of %d)", r.name, r.try, maxReapply)

		cv.be.reapply(ctx, r.name, note, func(err error) {
			defer cv.reapplyW.Done()

			if err != nil && ctx.Err() == nil {
				cv.mu.Lock()
				cv.stop = fmt.Errorf("%s came back in maintenance mode and applying its config again failed: %w", r.name, err)
				cv.mu.Unlock()
				cv.signal()
			}
		})
	}

	cv.signal()
}

func (cv *converge) signal() {
	select {
	case cv.changed <- struct{}{}:
	default:
	}
}

// wait returns nil once the lab is healthy, or why it will not be.
func (cv *converge) wait(ctx context.Context) error {
	for {
		cv.mu.Lock()
		healthy, stop := cv.healthyLocked(), cv.stop
		cv.mu.Unlock()

		switch {
		case healthy:
			return nil
		case stop != nil:
			return stop
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cv.changed:
		}
	}
}

func (cv *converge) healthyLocked() bool {
	for _, b := range cv.plan.Boards {
		n := cv.lab.Node(b.Name)
		if !n.MachineReady || !n.NodeReady {
			return false
		}

		if b.Role == plan.Gateway && !tailscaleUp(n) {
			return false
		}
	}

	return true
}

// tailscaleUp is whether a gateway's tailscale can be taken for working.
// ext-tailscale has no health check, so Talos counts it up while it runs,
// also between the exits of a login that keeps failing (containerboot
// exits, restart: always): one that has restarted is not taken for up.
func tailscaleUp(n *probe.Node) bool {
	s, ok := n.Services["ext-tailscale"]

	return ok && s.Up && s.Restarts == 0
}

// summary is the closing line: healthy, or what is not and why.
func (cv *converge) summary(took time.Duration, cause error) string {
	cv.mu.Lock()
	defer cv.mu.Unlock()

	ready := 0

	var wrong []string

	for _, b := range cv.plan.Boards {
		n := cv.lab.Node(b.Name)

		switch {
		case n.MachineReady && n.NodeReady:
			ready++
		default:
			wrong = append(wrong, b.Name+": "+why(n, time.Now()))

			continue
		}

		if b.Role == plan.Gateway && !tailscaleUp(n) {
			wrong = append(wrong, b.Name+": its tailscale is not up — "+why(n, time.Now()))
		}
	}

	head := fmt.Sprintf("%d/%d boards Ready", ready, len(cv.plan.Boards))
	if gw, ok := cv.plan.Gateway(); ok {
		state := "not up"
		if tailscaleUp(cv.lab.Node(gw.Name)) {
			state = "up"
		}

		head += fmt.Sprintf(", gateway %s's tailscale %s", gw.Name, state)
	}

	if cause == nil && len(wrong) == 0 {
		return fmt.Sprintf("healthy: %s, %s, in %s", cv.plan.Cluster.Name, head, took.Round(time.Second))
	}

	var reason string

	switch {
	case errors.Is(cause, context.DeadlineExceeded):
		reason = "not healthy within --timeout"
	case cause != nil:
		reason = cause.Error()
	}

	parts := append([]string{reason}, wrong...)

	return fmt.Sprintf("NOT healthy: %s after %s, %s — %s", cv.plan.Cluster.Name, took.Round(time.Second), head, strings.Join(nonBlank(parts), "; "))
}

// why is a board's first diagnosis, or its stage when there is none.
func why(n *probe.Node, now time.Time) string {
	if ds := probe.Diagnose(n, now); len(ds) > 0 {
		return ds[0].Title + " (" + ds[0].Why + ")"
	}

	if n.Stage == "" {
		return "never read"
	}

	return "stage " + n.Stage.String() + ", not Ready yet"
}

func nonBlank(ss []string) []string {
	var out []string

	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}

	return out
}

// upHeadless brings a lab up from its plan without the screen, printing
// each event, until it is healthy or timeout ends it; the last line says
// which, and an unhealthy lab is an error (exit code 1).
func upHeadless(ctx context.Context, out io.Writer, be *backend, p *plan.Plan, timeout time.Duration) error {
	start := time.Now()
	w := &lockedWriter{w: out} // events print from the probes' goroutines, progress from this one

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cv := newConverge(be, p)

	lctx, stopFold := context.WithCancel(ctx)
	stop := printEvents(be, w, func(e probe.Event) { cv.fold(lctx, e) })

	err := bringUp(ctx, w, be, p)
	if err == nil {
		err = cv.wait(ctx)
	}

	if ctx.Err() != nil && err != nil && !errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}

	stop()
	stopFold()
	cv.reapplyW.Wait()

	fmt.Fprintln(w, cv.summary(time.Since(start), err))

	if err != nil {
		return fmt.Errorf("the lab is not healthy: %w", err)
	}

	return nil
}
