package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

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
// simulated lab and a real one. Its methods return when their work is
// done; what they and the bring-up's probes see goes to one stream.
type backend struct {
	ctx    context.Context
	side   side
	dir    string
	stream *probe.Stream // the UI's events; a sink for a headless run
	rec    *probe.Recorder

	mu    sync.Mutex
	found map[string]discover.Board // what each address said in the last scan
	run   *bringup.Run
}

// newBackend makes a session's backend; headless, its events go only to
// what watch hands them to (no UI reads a channel).
func newBackend(ctx context.Context, sd side, dir string, headless bool) *backend {
	stream := probe.NewStream(ctx, 1024)
	if headless {
		stream = probe.NewSink(ctx)
	}

	return &backend{ctx: ctx, side: sd, dir: dir, stream: stream}
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
	// simulated control plane's first build, whose progress the UI shows).
	BeforeBootstrap(ctx context.Context) error
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
	s.watch(nil)

	return out.Close, nil
}

// watch hands every event, once recorded, to also (nil: only the
// recording), one at a time, in the goroutine that emits it; when it
// returns, the previous also is no longer called.
func (s *backend) watch(also func(probe.Event)) {
	rec := s.rec

	s.stream.Tap(func(e probe.Event) {
		if rec != nil {
			rec.Record(e)
		}

		if also != nil {
			also(e)
		}
	})
}

func (s *backend) emit(e probe.Event) { s.stream.Emit(e) }

func (s *backend) Discover(ctx context.Context, target string, report func(ui.Progress)) error {
	targets, err := discover.Targets(target)
	if err != nil {
		return err
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

		report(ui.Progress{Op: ui.OpScan, Done: done, Total: total})
	}})
	if err != nil {
		return err
	}

	report(ui.Progress{Op: ui.OpScan, Done: len(targets), Total: len(targets)})

	return nil
}

// Apply starts the bring-up (gen, the probes, joined to the session's
// stream) and sends every board its config.
func (s *backend) Apply(ctx context.Context, p *plan.Plan) error {
	run, err := s.side.Start(s.ctx, s.dir, p)
	if err != nil {
		return err
	}

	s.mu.Lock()
	s.run = run
	s.mu.Unlock()

	s.stream.Join(run.Stream)

	return run.Apply(ctx)
}

// reapply sends one board its config again (see bringup.Run.ApplyBoard).
// It runs beside the probes (bringup.Run.Reapply); done gets the result.
func (s *backend) reapply(ctx context.Context, board, note string, done func(error)) {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	if run == nil {
		done(errors.New("nothing has been applied in this session"))

		return
	}

	run.Reapply(ctx, board, note, done)
}

// Bootstrap bootstraps etcd, waits for the API server and its
// kubeconfig (bringup.Run.Bootstrap), then starts the hello-world watch.
func (s *backend) Bootstrap(ctx context.Context, _ *plan.Plan) error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	if run == nil {
		return errors.New("apply first: nothing has been applied in this session")
	}

	if err := s.side.BeforeBootstrap(ctx); err != nil {
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
	return config.Previews(s.dir, p, s.side.AuthKey(), bringup.Running(ctx, s.dir, p, 5*time.Second))
}

// Register registers each role's schematic with the plan's Image Factory
// for the review, remembering confirmed ones in the lab's directory; apply
// registers again (bringup.Start), so nothing is applied unregistered.
func (s *backend) Register(ctx context.Context, p *plan.Plan, report func(ui.Progress)) error {
	_, err := bringup.Register(ctx, s.dir, p, func(st factory.Step) {
		report(ui.Progress{Op: ui.OpRegister, Step: fmt.Sprintf("%s %s %s", st.Image, shortID(st.ID), st.Outcome), Done: st.Done, Total: st.Total})
	})

	return err
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

// SaveKubeconfig saves the kubeconfig the bootstrap fetched: callers
// (the UI, bringUp) call it once Bootstrap returned.
func (s *backend) SaveKubeconfig(merge bool) (string, error) {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	if run == nil || run.Kubeconfig == nil {
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
		Bootstrap: func(ctx context.Context) error { return s.Bootstrap(ctx, run.Plan) }}

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

func (s *backend) Repair(ctx context.Context, job *repair.Job) error {
	env, err := s.repairEnv(ctx)
	if err != nil {
		return err
	}

	return job.Run(ctx, env, s.emit)
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

func (s *backend) MoveGateway(ctx context.Context, mv *gateway.Move) error {
	env, err := s.moveEnv(ctx)
	if err != nil {
		return err
	}

	if _, err := mv.Run(ctx, env, s.emit); err != nil {
		return err
	}

	s.mu.Lock()
	if s.run != nil {
		s.run.Plan = mv.Plan
	}
	s.mu.Unlock()

	return nil
}
