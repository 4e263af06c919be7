package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/bringup"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/factory"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/preflight"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
)

// wizardPlan is where the wizard saves its plan as it is made.
const wizardPlan = plan.WizardPlanFile

// backend does the wizard's I/O with liftoff's own code (discover, gen,
// apply, bootstrap, probes); its side says what differs between the
// simulated lab and a real one.
type backend struct {
	ctx      context.Context
	side     side
	dir      string
	events   chan probe.Event
	progress chan ui.Progress
	rec      *probe.Recorder

	mu       sync.Mutex
	found    map[string]discover.Board // what each address said in the last scan
	run      *bringup.Run
	bootDone chan struct{} // closed when the last bootstrap attempt ended
	bootErr  error
}

func newBackend(ctx context.Context, sd side, dir string) *backend {
	return &backend{ctx: ctx, side: sd, dir: dir, events: make(chan probe.Event, 1024), progress: make(chan ui.Progress, 64)}
}

// side is what differs between the simulated lab and a real one.
type side interface {
	// Start generates the configs into dir and starts watching.
	Start(ctx context.Context, dir string, p *plan.Plan) (*bringup.Run, error)
	// Fetcher reaches Services in the cluster.
	Fetcher(ctx context.Context, run *bringup.Run) (probe.Fetcher, error)
	// Through dials cluster addresses from the operator's side of the
	// Tailscale route (nil, nil: not available).
	Through(ctx context.Context) (probe.Dial, error)
	// BeforeBootstrap waits for what a bootstrap needs on this side (the
	// simulated control plane's first build), saying so with say.
	BeforeBootstrap(ctx context.Context, say func(string)) error
	// AuthKey is the gateway's key for previews ("" when unknown yet).
	AuthKey() string
	// Route is where the route probe looks for the plan's lab, with the
	// Tailscale API when there is a key for it (repairs approve with it).
	Route(p *plan.Plan) func(ctx context.Context) (probe.RouteOptions, error)
}

// recordTo records the event stream to path (liftoff replay's format);
// the returned func closes the file.
func (s *backend) recordTo(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}

	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}

	s.rec = probe.NewRecorder(out)

	return out.Close, nil
}

func (s *backend) emit(e probe.Event) {
	if s.rec != nil {
		s.rec.Record(e)
	}

	select {
	case s.events <- e:
	case <-s.ctx.Done():
	}
}

func (s *backend) report(p ui.Progress) {
	select {
	case s.progress <- p:
	case <-s.ctx.Done():
	}
}

func (s *backend) Discover(ctx context.Context, target string) {
	go func() {
		targets, err := discover.Targets(target)
		if err != nil {
			s.report(ui.Progress{Op: ui.OpScan, Finished: true, Err: err})

			return
		}

		_, err = discover.Scan(ctx, targets, discover.Options{Timeout: time.Second, Progress: func(done, total int, b *discover.Board) {
			if b != nil {
				s.mu.Lock()
				if s.found == nil {
					s.found = map[string]discover.Board{}
				}
				s.found[b.Address] = *b
				s.mu.Unlock()

				s.emit(probe.Event{Time: time.Now(), Node: b.Address, Kind: probe.Discovered, Detail: b.Summary()})
			}

			s.report(ui.Progress{Op: ui.OpScan, Done: done, Total: total})
		}})
		s.report(ui.Progress{Op: ui.OpScan, Finished: true, Err: err, Done: len(targets), Total: len(targets)})
	}()
}

func (s *backend) Apply(ctx context.Context, p *plan.Plan) {
	go func() {
		err := s.apply(ctx, p)
		s.report(ui.Progress{Op: ui.OpApply, Finished: true, Err: err, Done: len(p.Boards), Total: len(p.Boards)})
	}()
}

func (s *backend) apply(ctx context.Context, p *plan.Plan) error {
	run, err := s.side.Start(s.ctx, s.dir, p)
	if err != nil {
		return err
	}

	s.mu.Lock()
	s.run = run
	s.mu.Unlock()

	go func() {
		for {
			select {
			case <-s.ctx.Done():
				return
			case e := <-run.Stream.Events():
				s.emit(e)
			}
		}
	}()

	return run.Apply(ctx)
}

// reapply sends one board its config again (see bringup.Run.ApplyBoard).
func (s *backend) reapply(ctx context.Context, board string) error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	if run == nil {
		return errors.New("nothing has been applied in this session")
	}

	return run.ApplyBoard(ctx, board)
}

func (s *backend) Bootstrap(ctx context.Context, p *plan.Plan) {
	done := make(chan struct{})

	s.mu.Lock()
	s.bootDone, s.bootErr = done, nil
	s.mu.Unlock()

	go func() {
		err := s.bootstrap(ctx, p)

		s.mu.Lock()
		s.bootErr = err
		s.mu.Unlock()
		close(done)

		if err != nil {
			s.report(ui.Progress{Op: ui.OpBootstrap, Finished: true, Err: err})
		}
	}()
}

func (s *backend) bootstrap(ctx context.Context, _ *plan.Plan) error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	if run == nil {
		return errors.New("apply first: nothing has been applied in this session")
	}

	if err := s.side.BeforeBootstrap(ctx, func(step string) { s.report(ui.Progress{Op: ui.OpBootstrap, Step: step}) }); err != nil {
		return err
	}

	if err := run.Bootstrap(ctx); err != nil {
		return err
	}

	run.WatchHello(s.side.Fetcher, s.side.Through)

	return nil
}

// Preview diffs each board's config for the review: liftoff's patch on
// Talos's defaults for boards in maintenance mode. It reads the secrets in
// dir and writes nothing.
func (s *backend) Preview(ctx context.Context, p *plan.Plan) ([]config.Preview, error) {
	return config.Previews(s.dir, p, s.side.AuthKey(), s.running(ctx, p))
}

// running reads the config each board runs now, for boards set up with the
// talosconfig in dir (a re-apply); boards in maintenance mode run none.
func (s *backend) running(ctx context.Context, p *plan.Plan) map[string][]byte {
	tc, err := config.OpenTalosconfig(filepath.Join(s.dir, config.TalosconfigFile))
	if err != nil {
		return nil // nothing generated here yet: every board is new
	}

	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = map[string][]byte{}
	)

	// In parallel: a board that does not answer costs its timeout once.
	for _, b := range p.Boards {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()

			cfg, err := probe.RunningConfig(cctx, probe.Target{Node: b.Name, Endpoint: apply.Endpoint(b, 0), Talosconfig: tc})
			if err == nil {
				mu.Lock()
				out[b.Name] = cfg
				mu.Unlock()
			}
		})
	}

	wg.Wait()

	return out
}

// Register registers each role's schematic with the plan's Image Factory
// for the review, remembering confirmed ones in the lab's directory; apply
// registers again (bringup.Start), so nothing is applied unregistered.
func (s *backend) Register(ctx context.Context, p *plan.Plan) {
	go func() {
		var last factory.Step

		_, err := bringup.Register(ctx, s.dir, p, func(st factory.Step) {
			last = st
			s.report(ui.Progress{Op: ui.OpRegister, Step: fmt.Sprintf("%s %s %s", st.Image, shortID(st.ID), st.Outcome), Done: st.Done, Total: st.Total})
		})
		s.report(ui.Progress{Op: ui.OpRegister, Finished: true, Err: err, Done: last.Done, Total: last.Total})
	}()
}

// Preflight checks the plan against what the scan found at each board's
// address (boards the scan did not reach are reported as such).
func (s *backend) Preflight(_ context.Context, p *plan.Plan) plan.Problems {
	byName := map[string]discover.Board{}

	s.mu.Lock()
	for _, b := range p.Boards {
		if f, ok := s.found[b.Address]; ok {
			byName[b.Name] = f
		}
	}
	s.mu.Unlock()

	return preflight.Check(p, byName, nil, preflight.MachineryVersion())
}

func (s *backend) SavePlan(p *plan.Plan) error {
	data, err := p.Marshal()
	if err != nil {
		return err
	}

	return fileio.WriteFile(filepath.Join(s.dir, wizardPlan), data, 0o644)
}

// SaveKubeconfig waits for the bootstrap to finish: etcd is bootstrapped
// (and the UI moves on) seconds before the API server hands out a
// kubeconfig. It runs in a UI command, so waiting freezes nothing.
func (s *backend) SaveKubeconfig(merge bool) (string, error) {
	s.mu.Lock()
	done := s.bootDone
	s.mu.Unlock()

	if done != nil {
		select {
		case <-done:
		case <-s.ctx.Done():
			return "", s.ctx.Err()
		}
	}

	s.mu.Lock()
	run, bootErr := s.run, s.bootErr
	s.mu.Unlock()

	switch {
	case bootErr != nil:
		return "", fmt.Errorf("the bootstrap failed: %w", bootErr)
	case run == nil || run.Kubeconfig == nil:
		return "", errors.New("no kubeconfig yet: bootstrap first")
	}

	if merge {
		return mergeKubeconfig(run.Kubeconfig)
	}

	path := filepath.Join(s.dir, plan.KubeconfigFile)

	return path, fileio.WriteFile(path, run.Kubeconfig, 0o600)
}

// repairEnv is what a repair needs from this session's bring-up: its plan,
// files and talosconfig, the gateway's key, the tailnet's API, and the
// session's own bootstrap step (which also starts the Node watch).
func (s *backend) repairEnv(ctx context.Context) (repair.Env, error) {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	if run == nil {
		return repair.Env{}, errors.New("nothing has been applied in this session: the dashboard repairs the boards it brought up — for a lab brought up before, use liftoff fix NODE")
	}

	env := repair.Env{Plan: run.Plan, Dir: s.dir, Talosconfig: run.Talosconfig, AuthKey: s.side.AuthKey(),
		Bootstrap: func(ctx context.Context) error { return s.bootstrap(ctx, run.Plan) }}

	if _, ok := run.Plan.Gateway(); ok {
		env.Route = s.side.Route(run.Plan)

		if ro, err := env.Route(ctx); err == nil {
			env.Tailnet = ro.API
		}
	}

	return env, nil
}

func (s *backend) PrepareRepair(ctx context.Context, r probe.Repair) (*repair.Job, error) {
	env, err := s.repairEnv(ctx)
	if err != nil {
		return nil, err
	}

	return repair.Prepare(ctx, env, r)
}

func (s *backend) Repair(ctx context.Context, job *repair.Job) {
	go func() {
		env, err := s.repairEnv(ctx)
		if err == nil {
			err = job.Run(ctx, env, s.emit)
		}

		s.report(ui.Progress{Op: ui.OpRepair, Node: job.Board.Name, Finished: true, Err: err})
	}()
}

// moveEnv is what moving the gateway from the dashboard uses: the
// bring-up's plan, files and talosconfig, the gateway's key, the route
// view, and — when the dashboard's hello-world runs and the route can be
// dialled — its ClusterIP asked through the route.
func (s *backend) moveEnv(ctx context.Context) (gateway.Env, error) {
	renv, err := s.repairEnv(ctx)
	if err != nil {
		return gateway.Env{}, err
	}

	env := gateway.Env{Env: renv, PlanFile: filepath.Join(s.dir, wizardPlan)}

	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	dial, err := s.side.Through(ctx)
	if err != nil || dial == nil || run.Kube == nil {
		return env, nil //nolint:nilerr // no way through: the route's own word ends the outage
	}

	hello := probe.Spin

	addr, err := probe.HelloAddr(ctx, run.Kube, hello)
	if err != nil {
		return env, nil //nolint:nilerr // no hello-world running: as above
	}

	env.Reach = func(ctx context.Context) probe.Event {
		return probe.TrafficFlow(ctx, dial, addr, "/hello", hello.Text).Event(addr, time.Now())
	}

	return env, nil
}

func (s *backend) PrepareMove(ctx context.Context, to string) (*gateway.Move, error) {
	env, err := s.moveEnv(ctx)
	if err != nil {
		return nil, err
	}

	return gateway.Prepare(env, to)
}

func (s *backend) MoveGateway(ctx context.Context, mv *gateway.Move) {
	go func() {
		env, err := s.moveEnv(ctx)
		if err == nil {
			_, err = mv.Run(ctx, env, s.emit)
		}

		if err == nil {
			s.mu.Lock()
			if s.run != nil {
				s.run.Plan = mv.Plan
			}
			s.mu.Unlock()
		}

		s.report(ui.Progress{Op: ui.OpMove, Node: mv.To.Name, Finished: true, Err: err})
	}()
}
