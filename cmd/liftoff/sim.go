package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/toolpath"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/lab"
	"github.com/liftoff-lab/liftoff/ui"
)

type simFlags struct {
	spec     string
	scenario string
	speed    float64
	headless bool
	up       bool
	dir      string
	record   string
	theme    string
}

func newSimCmd() *cobra.Command {
	var f simFlags

	c := &cobra.Command{
		Use:   "sim",
		Short: "The dashboard on a simulated lab (no hardware, no network)",
		Long: `Starts a simulated home lab — three Raspberry Pis and a small amd64 box on
127.0.0.11-14, each serving the real Talos API on port 50000 — and opens
the dashboard on it: discover the boards, choose roles, apply, bootstrap,
and watch the cluster come up to the Spin hello-world. The Kubernetes
control plane is real (built by make tools).

Scenarios inject the failures people hit: ` + strings.Join(lab.Names(), ", ") + `.

--headless runs the lab alone and prints each board's address, for
scripts and the official talosctl (talosctl -n 127.0.0.11 --insecure
version); --up also brings it up with liftoff's own gen/apply/bootstrap.
--speed makes the boards faster than real Raspberry Pis (rehearse at 20,
present at 5). --record writes the event stream for liftoff replay.`,
		Example: `  liftoff sim
  liftoff sim --scenario tailscale-everywhere
  liftoff sim --headless --up --dir ./simlab`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runSim(c, f) },
	}

	c.Flags().StringVar(&f.spec, "spec", "", "a sim spec (YAML: cluster, first address, boards with name/model/machine/role) instead of the default four boards")
	c.Flags().StringVar(&f.scenario, "scenario", "happy", "what goes right or wrong: "+strings.Join(lab.Names(), ", "))
	c.Flags().Float64Var(&f.speed, "speed", 10, "how much faster than real Raspberry Pis the boards are")
	c.Flags().BoolVar(&f.headless, "headless", false, "no dashboard: run the lab and print its boards")
	c.Flags().BoolVar(&f.up, "up", false, "with --headless: gen, apply and bootstrap, then keep running")
	c.Flags().StringVar(&f.dir, "dir", "", "where configs, secrets and the kubeconfig go (default: a new temp dir)")
	c.Flags().StringVar(&f.record, "record", "", "record the event stream to this file (JSON lines) for liftoff replay")
	c.Flags().StringVar(&f.theme, "theme", "default", "dashboard theme: "+strings.Join(ui.Themes, ", "))

	return c
}

func runSim(c *cobra.Command, f simFlags) error {
	if _, err := lab.Lookup(f.scenario); err != nil {
		return usageError{err}
	}

	theme, err := ui.ThemeByName(f.theme)
	if err != nil {
		return usageError{err}
	}

	for _, tool := range []string{"kube", "etcd"} {
		if _, err := toolpath.Find(tool); err != nil {
			return err
		}
	}

	if f.dir == "" {
		if f.dir, err = os.MkdirTemp("", "liftoff-sim-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("--dir %s: %w", f.dir, err)
	}

	ctx, cancel := context.WithCancel(c.Context())
	defer cancel()

	logFile, err := os.OpenFile(filepath.Join(f.dir, "sim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() //nolint:errcheck

	spec := lab.DefaultSpec()
	if f.spec != "" {
		if spec, err = lab.LoadSpec(f.spec); err != nil {
			return err
		}
	}

	l, err := lab.Start(ctx, lab.Options{Spec: spec, Scenario: f.scenario, Speed: f.speed, Log: logFile})
	if err != nil {
		return err
	}
	defer l.Close() //nolint:errcheck

	be := newSimBackend(ctx, l, f.dir)

	if f.record != "" {
		out, err := os.OpenFile(f.record, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer out.Close() //nolint:errcheck

		be.rec = probe.NewRecorder(out)
	}

	if f.headless {
		return headless(ctx, c.OutOrStdout(), l, be, f)
	}

	var targets []string
	for _, b := range l.Boards() {
		targets = append(targets, b.Spec().Address)
	}

	opts := ui.Options{Backend: be, Events: be.events, Progress: be.progress, Cluster: l.Plan().Cluster.Name,
		Target: strings.Join(targets, ","), Theme: theme, Context: ctx}

	// The wizard saves its plan as it is made: the same --dir resumes it.
	if saved, err := plan.Load(filepath.Join(f.dir, wizardPlan)); err == nil && len(saved.Boards) > 0 {
		opts.Plan, opts.Start = saved, ui.ScreenRoles
	}

	m := ui.New(opts)

	_, err = tea.NewProgram(m, tea.WithContext(ctx)).Run()
	if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, context.Canceled) {
		err = nil
	}

	fmt.Fprintf(c.ErrOrStderr(), "simulated lab stopped; its files are in %s\n", f.dir)

	return err
}

func headless(ctx context.Context, w io.Writer, l *lab.Lab, be *simBackend, f simFlags) error {
	fmt.Fprintf(w, "simulated lab, scenario %s (%s), speed ×%g\n", f.scenario, l.Scenario().Description, f.speed)

	for i, b := range l.Boards() {
		pb := l.Plan().Boards[i]
		fmt.Fprintf(w, "  %-8s %s:50000  %-5s %-6s planned: %s, %s\n", pb.Name, b.Spec().Address, b.Spec().Model, b.Spec().Arch, pb.Machine, pb.Role)
	}

	fmt.Fprintf(w, "try: talosctl -n %s -e %s --insecure version\n", l.Boards()[0].Spec().Address, l.Boards()[0].Spec().Address)

	if f.up {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-be.events:
					fmt.Fprintln(w, describe(e))
				}
			}
		}()

		p := l.Plan()
		if err := be.apply(ctx, p); err != nil {
			return err
		}

		if err := be.bootstrap(ctx, p); err != nil {
			return err
		}

		path, err := be.SaveKubeconfig(false)
		if err != nil {
			return err
		}

		fmt.Fprintf(w, "kubeconfig: %s\ntalosconfig: %s\n", path, filepath.Join(f.dir, "talosconfig"))
	}

	fmt.Fprintln(w, "running; ctrl+c stops the lab")
	<-ctx.Done()

	return nil
}

// describe is one event as a log line for headless runs.
func describe(e probe.Event) string {
	s := fmt.Sprintf("%s %-8s %-13s", e.Time.Format("15:04:05.000"), e.Node, e.Kind)

	for _, part := range []string{e.Name, e.State, e.Detail} {
		if part != "" {
			s += " " + part
		}
	}

	if e.Kind == probe.MachineReady || e.Kind == probe.NodeReady || e.Kind == probe.Reachable {
		s += fmt.Sprintf(" ready=%v", e.Ready)
	}

	return s
}

// wizardPlan is where the wizard saves its plan as it is made.
const wizardPlan = "wizard-plan.yaml"

// simBackend does the wizard's I/O against the simulated lab with the same
// code a real lab uses (discover, gen, apply, bootstrap, probes).
type simBackend struct {
	ctx      context.Context
	lab      *lab.Lab
	dir      string
	events   chan probe.Event
	progress chan ui.Progress
	rec      *probe.Recorder

	mu       sync.Mutex
	run      *lab.Run
	bootDone chan struct{} // closed when the last bootstrap attempt ended
	bootErr  error
}

func newSimBackend(ctx context.Context, l *lab.Lab, dir string) *simBackend {
	return &simBackend{ctx: ctx, lab: l, dir: dir, events: make(chan probe.Event, 1024), progress: make(chan ui.Progress, 64)}
}

func (s *simBackend) emit(e probe.Event) {
	if s.rec != nil {
		s.rec.Record(e)
	}

	select {
	case s.events <- e:
	case <-s.ctx.Done():
	}
}

func (s *simBackend) report(p ui.Progress) {
	select {
	case s.progress <- p:
	case <-s.ctx.Done():
	}
}

func (s *simBackend) Discover(ctx context.Context, target string) {
	go func() {
		targets, err := discover.Targets(target)
		if err != nil {
			s.report(ui.Progress{Op: ui.OpScan, Finished: true, Err: err})

			return
		}

		_, err = discover.Scan(ctx, targets, discover.Options{Timeout: time.Second, Progress: func(done, total int, b *discover.Board) {
			if b != nil {
				s.emit(probe.Event{Time: time.Now(), Node: b.Address, Kind: probe.Discovered, Detail: b.Summary()})
			}

			s.report(ui.Progress{Op: ui.OpScan, Done: done, Total: total})
		}})
		s.report(ui.Progress{Op: ui.OpScan, Finished: true, Err: err, Done: len(targets), Total: len(targets)})
	}()
}

func (s *simBackend) Apply(ctx context.Context, p *plan.Plan) {
	go func() {
		err := s.apply(ctx, p)
		s.report(ui.Progress{Op: ui.OpApply, Finished: true, Err: err, Done: len(p.Boards), Total: len(p.Boards)})
	}()
}

func (s *simBackend) apply(ctx context.Context, p *plan.Plan) error {
	run, err := s.lab.Prepare(s.ctx, s.dir, p)
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

func (s *simBackend) Bootstrap(ctx context.Context, p *plan.Plan) {
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

func (s *simBackend) bootstrap(ctx context.Context, _ *plan.Plan) error {
	s.mu.Lock()
	run := s.run
	s.mu.Unlock()

	if run == nil {
		return errors.New("apply first: nothing has been applied in this session")
	}

	if err := run.Bootstrap(ctx); err != nil {
		return err
	}

	go s.hello(run)

	return nil
}

// hello keeps both hello-worlds deployed and asks them every few seconds,
// so the dashboard's Spin panel is live.
func (s *simBackend) hello(run *lab.Run) {
	fetch, err := run.Fetcher(s.ctx)
	if err != nil {
		return
	}

	for _, f := range probe.Flavours {
		res := probe.RunHello(s.ctx, run.Kube, fetch, f, probe.HelloOptions{Requests: 5, Keep: true}, s.emit)
		if res.Err != nil {
			s.emit(probe.Event{Time: time.Now(), Kind: probe.Hello, Name: f.Name, Detail: res.Err.Error()})
		}
	}

	// The operator's laptop on the simulated tailnet asks the Spin
	// hello-world's ClusterIP through the gateway's route.
	var through func()

	if _, ok := run.Plan.Gateway(); ok {
		op, err := s.lab.Operator(s.ctx)
		addr, aerr := probe.HelloAddr(s.ctx, run.Kube, probe.Flavours[0])

		switch {
		case err != nil:
			s.emit(probe.Event{Time: time.Now(), Kind: probe.Error, Detail: err.Error()})
		case aerr != nil:
			s.emit(probe.Event{Time: time.Now(), Kind: probe.Error, Detail: aerr.Error()})
		default:
			through = func() {
				f := probe.TrafficFlow(s.ctx, op.Dial, addr, "/hello", probe.Flavours[0].Text)
				s.emit(f.Event(addr, time.Now()))
			}
		}
	}

	t := time.NewTicker(2 * time.Second)
	defer t.Stop()

	for {
		if through != nil {
			through()
		}

		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}

		for _, f := range probe.Flavours {
			start := time.Now()
			body, err := fetch(s.ctx, "liftoff-hello", "hello-"+f.Name, "/hello")
			body = strings.TrimSpace(body)

			e := probe.Event{Time: time.Now(), Kind: probe.Hello, Name: f.Name, Latency: time.Since(start), Ready: err == nil && body == f.Text, Detail: body}
			if err != nil {
				e.Detail = err.Error()
			}

			s.emit(e)
		}
	}
}

// Preview diffs each board's config for the review. The simulated boards
// start in maintenance mode and run no config, so the diff is liftoff's
// patch on Talos's defaults; it reads the secrets in dir and writes nothing.
func (s *simBackend) Preview(_ context.Context, p *plan.Plan) ([]config.Preview, error) {
	return config.Previews(s.dir, p, lab.SimAuthKey, nil)
}

func (s *simBackend) SavePlan(p *plan.Plan) error {
	data, err := p.Marshal()
	if err != nil {
		return err
	}

	return os.WriteFile(filepath.Join(s.dir, wizardPlan), data, 0o644)
}

// SaveKubeconfig waits for the bootstrap to finish: etcd is bootstrapped
// (and the UI moves on) seconds before the API server hands out a
// kubeconfig. It runs in a UI command, so waiting freezes nothing.
func (s *simBackend) SaveKubeconfig(merge bool) (string, error) {
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

	path := filepath.Join(s.dir, "kubeconfig")

	return path, os.WriteFile(path, run.Kubeconfig, 0o600)
}
