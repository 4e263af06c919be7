package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/bringup"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/flash"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
)

type upFlags struct {
	plan, out, target   string
	factory             string
	keyFile, apiKeyFile string
	theme, record       string
	headless            bool
	timeout             time.Duration
}

func newUpCmd() *cobra.Command {
	var f upFlags

	c := &cobra.Command{
		Use:   "up",
		Short: "Bring your boards up: the wizard and dashboard on a real lab",
		Long: `Opens the wizard on your own boards, booted into Talos maintenance mode:
scan the network for them, choose each board's machine type and role (one
gateway), review each board's image and config diff, apply, bootstrap,
save the kubeconfig — then the live dashboard: stages, extensions, Talos
and Kubernetes readiness, the Tailscale route and the Spin hello-world.

Configs, secrets (0600, created once, never replaced), the talosconfig and
the kubeconfig go to --out. The wizard saves its plan there as it is made
(wizard-plan.yaml): run liftoff up again with the same --out to resume.
Without a saved plan it starts from --plan when that file exists.

The gateway's Tailscale auth key comes from --tailscale-authkey-file,
$LIFTOFF_TS_AUTHKEY, $TS_AUTHKEY or the plan's tailscale.authKeyFile —
never a flag value. The route panel asks this machine's tailscaled; with
--tailscale-api-key-file it also knows advertised from approved routes.

Before anything is applied, each role's schematic is registered with the
plan's Image Factory (images.factory, or --factory for a self-hosted one):
the factory serves an installer only for a schematic it knows, and a board
whose installer pull is a 404 fails its install. A schematic the factory
confirmed is remembered in --out, so a rerun without a network goes on.

--headless applies, bootstraps and saves the kubeconfig from the plan
without the dashboard, printing each event, then waits until the lab is
healthy: every board Ready in Talos and Kubernetes, the gateway's
tailscale up. A board that comes back in maintenance mode (power lost, a
reset) gets its config again (up to 3 times). The last line says
"healthy: …" or "NOT healthy: …" with each board's reason; the exit code
is 1 unless healthy within --timeout. For scripts and CI.`,
		Example: `  liftoff up --plan lab.yaml --out homelab --tailscale-authkey-file ~/.config/liftoff/tskey
  liftoff up --out homelab                        # resume the wizard's saved plan
  liftoff up --plan lab.yaml --headless --out homelab`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runUp(c, f) },
	}

	addPlanFlag(c, &f.plan)
	c.Flags().StringVar(&f.out, "out", "homelab", "where configs, secrets, talosconfig and kubeconfig go")
	c.Flags().StringVar(&f.target, "target", "", "what to scan: a CIDR (192.168.1.0/24) or addresses (default: the plan's board addresses)")
	c.Flags().StringVar(&f.keyFile, "tailscale-authkey-file", "", "a file holding the gateway's Tailscale auth key")
	c.Flags().StringVar(&f.apiKeyFile, "tailscale-api-key-file", "", "a file holding a Tailscale API key (tskey-api-…), for route approval")
	c.Flags().StringVar(&f.theme, "theme", "default", "dashboard theme: "+strings.Join(ui.Themes, ", "))
	c.Flags().StringVar(&f.record, "record", "", "record the event stream to this file (JSON lines) for liftoff replay")
	c.Flags().BoolVar(&f.headless, "headless", false, "no dashboard: apply, bootstrap and save the kubeconfig from the plan, printing events, until the lab is healthy")
	c.Flags().DurationVar(&f.timeout, "timeout", 30*time.Minute, "with --headless: how long the bring-up may take to a healthy lab (every board Ready, the gateway's tailscale up)")
	addFactoryFlag(c, &f.factory)

	return c
}

func runUp(c *cobra.Command, f upFlags) error {
	theme, err := f.validate()
	if err != nil {
		return err
	}

	p, resumed, err := f.loadPlan(c)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(f.out, 0o700); err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}

	// Before any gRPC: its logger is set once, unguarded.
	logFile, err := openLog(f.out, "liftoff.log")
	if err != nil {
		return err
	}
	defer logFile.Close() //nolint:errcheck

	libraryLog(logFile)

	ctx, cancel := context.WithCancel(c.Context())
	defer cancel()

	be := newBackend(ctx, &realSide{keyFile: f.keyFile, apiKeyFile: f.apiKeyFile}, f.out, f.headless)

	closeRecord, err := be.recordTo(f.record)
	if err != nil {
		return err
	}
	defer closeRecord() //nolint:errcheck

	if f.headless {
		return upHeadless(ctx, c.OutOrStdout(), be, p, f.timeout)
	}

	opts, err := f.wizard(ctx, be, theme, p, resumed)
	if err != nil {
		return err
	}

	err = ui.Run(ctx, opts)

	fmt.Fprintf(c.ErrOrStderr(), "configs, secrets and the wizard's plan are in %s\n", f.out)

	return err
}

// validate checks the flags before any work, where files go included,
// and returns the theme they name.
func (f upFlags) validate() (ui.Theme, error) {
	theme, err := ui.ThemeByName(f.theme)
	if err != nil {
		return ui.Theme{}, usageError{err}
	}

	if f.apiKeyFile != "" {
		if _, err := readAPIKey(f.apiKeyFile); err != nil {
			return ui.Theme{}, usageError{err}
		}
	}

	if f.factory != "" {
		if _, err := plan.FactoryURL(f.factory); err != nil {
			return ui.Theme{}, usageError{fmt.Errorf("--factory: %w", err)}
		}
	}

	if err := config.CheckDir(f.out); err != nil {
		return ui.Theme{}, usageError{fmt.Errorf("--out: %w", err)}
	}

	if err := checkOutputFile("--record", f.record, f.plan, f.out); err != nil {
		return ui.Theme{}, err
	}

	if f.headless && f.timeout <= 0 {
		return ui.Theme{}, usageError{errors.New("--timeout must be more than 0: a headless bring-up always has a deadline")}
	}

	return theme, nil
}

// loadPlan is the plan to start from (see upPlan), on --factory if given;
// headless needs one with boards.
func (f upFlags) loadPlan(c *cobra.Command) (p *plan.Plan, resumed bool, err error) {
	p, resumed, err = upPlan(c.ErrOrStderr(), f, c.Flags().Changed("plan"))
	if err != nil {
		return nil, false, err
	}

	if p != nil {
		if err := useFactory(p, f.factory); err != nil {
			return nil, false, err
		}
	}

	if f.headless && (p == nil || len(p.Boards) == 0) {
		return nil, false, usageError{fmt.Errorf("--headless needs a plan with boards: %s has none (write one with liftoff plan init, or use the wizard)", f.plan)}
	}

	return p, resumed, nil
}

// wizard is the dashboard's options on real boards: it also prepares their
// boot media (liftoff flash's code), and scans the plan's addresses unless
// --target says otherwise.
func (f upFlags) wizard(ctx context.Context, be *backend, theme ui.Theme, p *plan.Plan, resumed bool) (ui.Options, error) {
	opts := ui.Options{Backend: &mediaBackend{backend: be, host: flash.Linux()}, Events: be.stream.Events(), Theme: theme, Context: ctx, Target: f.target, Factory: f.factory}

	var err error
	if opts.Written, err = written(f.out); err != nil {
		return opts, err
	}

	if p == nil {
		return opts, nil
	}

	opts.Plan, opts.Cluster = p, p.Cluster.Name

	if opts.Target == "" {
		var addrs []string
		for _, b := range p.Boards {
			addrs = append(addrs, b.Address)
		}

		opts.Target = strings.Join(addrs, ",")
	}

	if resumed && len(p.Boards) > 0 {
		opts.Start = ui.ScreenRoles
	}

	return opts, nil
}

// upPlan is the wizard's saved plan in --out, else --plan if it exists,
// else nil (the wizard starts from a scan). It says which one it uses: a
// saved plan wins over --plan, which must not happen unnoticed. A saved
// plan that cannot be read stops it, with the fix, rather than being
// passed over for --plan.
func upPlan(w io.Writer, f upFlags, planGiven bool) (p *plan.Plan, resumed bool, err error) {
	saved := filepath.Join(f.out, wizardPlan)

	if _, serr := os.Lstat(saved); serr == nil {
		p, err := plan.Load(saved)
		if err != nil {
			return nil, false, fmt.Errorf("the wizard's saved plan cannot be read: %w — fix it, or move it away to start from --plan %s", err, f.plan)
		}

		if f.headless {
			if err := validate(w, saved, p); err != nil {
				return nil, false, err
			}
		}

		note := ""
		if planGiven && !same(saved, f.plan) {
			note = fmt.Sprintf(" (not --plan %s: move %s away to start from it)", f.plan, saved)
		}

		fmt.Fprintf(w, "plan: %s, the wizard's saved plan%s\n", saved, note)

		return p, true, nil
	}

	if _, err := os.Stat(f.plan); err != nil {
		if f.headless {
			return nil, false, usageError{fmt.Errorf("--plan %s: %w", f.plan, err)}
		}

		fmt.Fprintf(w, "plan: none (%s does not exist): the wizard starts from a scan\n", f.plan)

		return nil, false, nil
	}

	p, err = loadValid(w, f.plan)
	if err != nil {
		return nil, false, err
	}

	fmt.Fprintf(w, "plan: %s\n", f.plan)

	return p, false, nil
}

// printEvents prints each of a headless backend's events as a line, and
// hands it to also when not nil, from the goroutine that emits it, until
// the returned stop, after which none prints.
func printEvents(be *backend, w io.Writer, also func(probe.Event)) (stop func()) {
	be.watch(func(e probe.Event) {
		fmt.Fprintln(w, e)

		if also != nil {
			also(e)
		}
	})

	return func() { be.watch(nil) }
}

// bringUp applies, bootstraps and saves the kubeconfig, saying where the
// files went: the headless bring-up of liftoff up and liftoff sim.
func bringUp(ctx context.Context, w io.Writer, be *backend, p *plan.Plan) error {
	fmt.Fprintf(w, "bringing up %s: %d boards\n", p.Cluster.Name, len(p.Boards))

	if err := be.Apply(ctx, p); err != nil {
		return err
	}

	if err := be.Bootstrap(ctx, p); err != nil {
		return err
	}

	path, err := be.SaveKubeconfig(false)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "kubeconfig: %s\ntalosconfig: %s\n", path, filepath.Join(be.dir, config.TalosconfigFile))

	return nil
}

// realSide is your own lab behind the wizard: gen with your auth key, the
// Kubernetes API's proxy for the hello-world, and this machine's
// tailscaled for the route.
type realSide struct {
	keyFile, apiKeyFile string

	mu  sync.Mutex
	key string
}

func (r *realSide) Start(ctx context.Context, dir string, p *plan.Plan) (*bringup.Run, error) {
	key, err := gatewayKey(p, r.keyFile, nil)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	r.key = key
	r.mu.Unlock()

	return bringup.Start(ctx, dir, p, bringup.Options{
		AuthKey: key,
		Route:   r.Route(p),
	})
}

func (r *realSide) Route(p *plan.Plan) func(context.Context) (probe.RouteOptions, error) {
	return func(context.Context) (probe.RouteOptions, error) { return routeOptions(p, r.apiKeyFile) }
}

func (r *realSide) Fetcher(_ context.Context, run *bringup.Run) (probe.Fetcher, error) {
	return probe.ProxyFetcher(run.Kube), nil
}

// Through is the system dialer: with tailscaled accepting routes, the OS
// sends cluster addresses through the tailnet.
func (r *realSide) Through(context.Context) (probe.Dial, error) {
	var d net.Dialer

	return d.DialContext, nil
}

// BeforeBootstrap: a real control plane needs nothing built here.
func (*realSide) BeforeBootstrap(context.Context) error { return nil }

func (r *realSide) AuthKey() string {
	r.mu.Lock()
	defer r.mu.Unlock()

	return r.key
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.w.Write(b)
}
