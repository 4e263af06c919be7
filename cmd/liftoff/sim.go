package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/bringup"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/toolbuild"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/lab"
	"github.com/liftoff-lab/liftoff/ui"
)

type simFlags struct {
	spec     string
	scenario string
	profile  string
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
127.0.0.11-14, each serving the real Talos API on port 50000, and an Image
Factory stand-in on 127.0.0.11:8080 — and opens the dashboard on it (when
another lab holds those addresses, it takes the next free loopback block,
127.0.1.11-14 and on, and says which): discover the boards, choose roles,
register their schematics, apply, bootstrap, and watch the cluster come up
to the Spin hello-world. The Kubernetes control plane is real (built by
make tools).

Scenarios inject the failures people hit: ` + strings.Join(lab.Names(), ", ") + `.

--headless runs the lab alone and prints each board's address, for
scripts and the official talosctl (talosctl version -n 127.0.0.11 -e 127.0.0.11
--insecure); --up also brings it up with liftoff's own gen/apply/bootstrap.
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
	c.Flags().StringVar(&f.profile, "profile", "", "the plan's cluster.profile: "+strings.Join(plan.Profiles, ", ")+" (default plain Talos)")
	c.Flags().Float64Var(&f.speed, "speed", 10, "how much faster than real Raspberry Pis the boards are")
	c.Flags().BoolVar(&f.headless, "headless", false, "no dashboard: run the lab and print its boards")
	c.Flags().BoolVar(&f.up, "up", false, "with --headless: gen, apply and bootstrap, then keep running")
	c.Flags().StringVar(&f.dir, "dir", "", "where configs, secrets and the kubeconfig go (default: a new temp dir)")
	c.Flags().StringVar(&f.record, "record", "", "record the event stream to this file (JSON lines) for liftoff replay")
	c.Flags().StringVar(&f.theme, "theme", "default", "dashboard theme: "+strings.Join(ui.Themes, ", "))

	return c
}

func runSim(c *cobra.Command, f simFlags) error {
	theme, err := f.validate()
	if err != nil {
		return err
	}

	// Without the control plane's binaries a checkout builds them behind
	// the wizard (the bootstrap waits); anywhere else that is an error.
	missing, root, err := missingTools()
	if err != nil {
		return err
	}

	if f.dir, err = simDir(f.dir); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(c.Context())
	defer cancel()

	logFile, err := openLog(f.dir, "sim.log")
	if err != nil {
		return err
	}
	defer logFile.Close() //nolint:errcheck

	// Before any gRPC: its logger is set once, unguarded.
	libraryLog(logFile)

	l, moved, err := f.startLab(ctx, logFile)
	if err != nil {
		return err
	}
	// The dashboard's watches end before the lab they watch: a board's
	// and a tailnet node's close wait for the calls still open on them.
	defer func() {
		cancel()
		_ = l.Close()
	}()

	if moved != "" {
		fmt.Fprintln(c.ErrOrStderr(), moved)
		fmt.Fprintln(logFile, moved)
	}

	be := newSimBackend(ctx, l, f.dir, f.headless)

	tools, report := toolsReporter(ctx, f.headless, c.ErrOrStderr())
	be.side = simSide{lab: l, build: buildTools(ctx, missing, root, logFile, report)}

	closeRecord, err := be.recordTo(f.record)
	if err != nil {
		return err
	}
	defer closeRecord() //nolint:errcheck

	if f.headless {
		return headless(ctx, c.OutOrStdout(), l, be, f)
	}

	err = ui.Run(ctx, f.wizard(ctx, l, be, theme, tools))

	if moved != "" {
		fmt.Fprintln(c.ErrOrStderr(), moved)
	}

	fmt.Fprintf(c.ErrOrStderr(), "simulated lab stopped; its files are in %s\n", f.dir)

	return err
}

// validate checks the flags before any work, where files go included,
// and returns the theme they name.
func (f simFlags) validate() (ui.Theme, error) {
	if _, err := lab.Lookup(f.scenario); err != nil {
		return ui.Theme{}, usageError{err}
	}

	if f.profile != "" && !slices.Contains(plan.Profiles, f.profile) {
		return ui.Theme{}, usageError{fmt.Errorf("--profile %s: profiles: %s (leave it out for plain Talos)", f.profile, strings.Join(plan.Profiles, ", "))}
	}

	theme, err := ui.ThemeByName(f.theme)
	if err != nil {
		return ui.Theme{}, usageError{err}
	}

	if f.dir != "" {
		if err := config.CheckDir(f.dir); err != nil {
			return ui.Theme{}, usageError{fmt.Errorf("--dir: %w", err)}
		}
	}

	return theme, checkOutputFile("--record", f.record, "", f.dir)
}

// simDir is --dir, made, or a new temporary directory.
func simDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "liftoff-sim-")
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("--dir %s: %w", dir, err)
	}

	return dir, nil
}

// startLab starts the spec's lab; another lab may hold its addresses, so
// it takes the next free block and says so (moved).
func (f simFlags) startLab(ctx context.Context, log io.Writer) (l *lab.Lab, moved string, err error) {
	spec := lab.DefaultSpec()
	if f.spec != "" {
		if spec, err = lab.LoadSpec(f.spec); err != nil {
			return nil, "", err
		}
	}

	if f.profile != "" {
		spec.Profile = f.profile
	}

	return lab.StartFree(ctx, lab.Options{Spec: spec, Scenario: f.scenario, Speed: f.speed, Log: log})
}

// wizard is the dashboard's options for the lab: a new plan on the lab's
// network (loopback, which plan validation allows only on a loopback LAN),
// or the plan the wizard saved in --dir, resumed.
func (f simFlags) wizard(ctx context.Context, l *lab.Lab, be *backend, theme ui.Theme, tools <-chan ui.Progress) ui.Options {
	var targets []string
	for _, b := range l.Boards() {
		targets = append(targets, b.Spec().Address)
	}

	opts := ui.Options{Backend: be, Events: be.stream.Events(), Background: tools, Cluster: l.Plan().Cluster.Name,
		Target: strings.Join(targets, ","), Theme: theme, Context: ctx, Speed: f.speed, Factory: l.Factory().URL()}
	opts.Plan = &plan.Plan{Cluster: plan.Cluster{Name: opts.Cluster}, Network: l.Plan().Network}

	if saved, err := plan.Load(filepath.Join(f.dir, wizardPlan)); err == nil && len(saved.Boards) > 0 {
		opts.Plan, opts.Start = saved, ui.ScreenRoles
	}

	return opts
}

func headless(ctx context.Context, w io.Writer, l *lab.Lab, be *backend, f simFlags) error {
	fmt.Fprintf(w, "simulated lab, scenario %s (%s), speed ×%g\n", f.scenario, l.Scenario().Description, f.speed)

	for i, b := range l.Boards() {
		pb := l.Plan().Boards[i]
		fmt.Fprintf(w, "  %-8s %s:50000  %-5s %-6s planned: %s, %s\n", pb.Name, b.Spec().Address, b.Spec().Model, b.Spec().Arch, pb.Machine, pb.Role)
	}

	fmt.Fprintf(w, "  factory  %s (the lab's Image Factory)\n", l.Factory().URL())
	fmt.Fprintf(w, "try: talosctl version -n %s -e %s --insecure\n", l.Boards()[0].Spec().Address, l.Boards()[0].Spec().Address)

	if f.up {
		// Events print for as long as the lab runs (the hello-worlds keep
		// answering), not just during the bring-up.
		lw := &lockedWriter{w: w}
		defer printEvents(be, lw, nil)()

		if err := bringUp(ctx, lw, be, l.Plan()); err != nil {
			return err
		}

		w = lw
	}

	fmt.Fprintln(w, "running; ctrl+c stops the lab")
	<-ctx.Done()

	return nil
}

// simSide is the simulated lab behind the wizard: its scenario's mistake
// made at gen, its network reached in process, its tailnet's operator node.
type simSide struct {
	lab   *lab.Lab
	build *toolbuild.Build // the control plane's first build, nil when built
}

// BeforeBootstrap waits for the control plane's build: on a real board etcd
// waits for `talosctl bootstrap` as long as it takes, so holding the
// request until bin/kube and bin/etcd exist is what a slow board looks like.
func (s simSide) BeforeBootstrap(ctx context.Context) error {
	if s.build == nil {
		return nil
	}

	if err := s.build.Wait(ctx); err != nil {
		return fmt.Errorf("the control plane could not be built, so nothing can bootstrap: %w (make tools says more)", err)
	}

	return nil
}

func (s simSide) Start(ctx context.Context, dir string, p *plan.Plan) (*bringup.Run, error) {
	run, err := s.lab.Prepare(ctx, dir, p)
	if err != nil {
		return nil, err
	}

	return run.Run, nil
}

func (s simSide) Route(*plan.Plan) func(context.Context) (probe.RouteOptions, error) {
	return s.lab.RouteOptions
}

func (s simSide) Fetcher(ctx context.Context, _ *bringup.Run) (probe.Fetcher, error) {
	cp, err := s.lab.ControlPlane(ctx)
	if err != nil {
		return nil, err
	}

	return cp.Network().Get, nil
}

func (s simSide) Through(ctx context.Context) (probe.Dial, error) {
	op, err := s.lab.Operator(ctx)
	if err != nil {
		return nil, err
	}

	return op.Dial, nil
}

func (simSide) AuthKey() string { return lab.SimAuthKey }

func newSimBackend(ctx context.Context, l *lab.Lab, dir string, headless bool) *backend {
	return newBackend(ctx, simSide{lab: l}, dir, headless)
}
