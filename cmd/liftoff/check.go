package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/bringup"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/internal/scratch"
	"github.com/liftoff-lab/liftoff/internal/toolpath"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
	"github.com/liftoff-lab/liftoff/sim/lab"
	"golang.org/x/term"
)

// errChecksFailed makes the exit code 1 without printing more than the report.
var errChecksFailed = errors.New("some checks failed")

type checkFlags struct {
	sim         string
	speed       float64
	plan        string
	talosconfig string
	kubeconfig  string
	junit       string
	json        bool
	html        string
	events      string  // a recording, for the HTML report's timeline
	labSpeed    float64 // the recorded lab's --speed, for its expectations
	spec        string  // with --sim: the lab's boards
	only        []string
	tsAPIKey    string
	readyBudget string
	include     []string
	helloWait   time.Duration
	requests    int
}

func newCheckCmd() *cobra.Command {
	var f checkFlags

	c := &cobra.Command{
		Use:   "check",
		Short: "Run the lab's acceptance tests (for people and CI)",
		Long: `Runs the founding test plan against a lab:

  cluster-formation     compute-only-cluster, mixed-role-cluster,
                        node-ready-timing, extension-isolation
  wasm-integration      spin-runtime-deploy, multi-arch-confidence,
                        performance-baseline
  network-architecture  subnet-router-config, traffic-flow,
                        single-gateway-only

Against your own lab it reads each board through the Talos API (talosconfig)
and the cluster through the Kubernetes API (kubeconfig); the wasm checks
deploy a hello-world into the liftoff-hello namespace and remove it after.
The network checks ask this machine's tailscaled for the route and reach
the hello-world's ClusterIP through it; with --tailscale-api-key-file they
also tell advertised from approved routes and count every router.
node-ready-timing needs a bring-up watched by liftoff and skips otherwise.
The budgets are the founding plan's: every node Ready within 5 minutes of
its apply, the Spin pod answering within 2 (--ready-budget nodes=5m,spin=2m).
Opt-in checks run only with --include NAME (or --only NAME): cluster-dns,
and gateway-failover, which changes the lab: it moves the gateway to the
first other Ready worker as liftoff move-gateway does (editing --plan and
the configs next to the talosconfig; the auth key from the plan's
tailscale.authKeyFile or TS_AUTHKEY), runs before the other checks, and
they judge the lab it leaves.

A lab whose plan leaves the pod network to a platform installed after Talos
(cluster.profile: cozystack) reports the checks that need Ready Nodes as
"waiting for CozyStack", skipped with the command that installs it.

With --sim SCENARIO, liftoff starts a simulated lab (needs make tools),
brings it up with its own gen/apply/bootstrap while watching, and runs the
suite against it. Scenarios: ` + strings.Join(lab.Names(), ", ") + `.

A failing check explains why, with evidence and the fix. Exit code 1 when
any check fails. --json, --junit and --html can be combined: --html writes
one self-contained page (no network) with the table, each failure's why,
evidence and fix, and the bring-up timeline as a picture — from the
bring-up --sim watched, or from a recording (--events).`,
		Example: `  liftoff check --sim happy --junit out.xml --html report.html
  liftoff check --sim tailscale-everywhere
  liftoff check --plan lab.yaml --talosconfig homelab/talosconfig --kubeconfig homelab/kubeconfig
  liftoff check --plan lab.yaml ... --only cluster-formation --junit report.xml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return f.run(c) },
	}

	addPlanFlag(c, &f.plan)
	c.Flags().StringVar(&f.sim, "sim", "", "run against a simulated lab in this scenario (e.g. happy)")
	c.Flags().StringVar(&f.spec, "spec", "", "with --sim: a sim spec (YAML, as liftoff sim --spec) instead of the default four boards")
	c.Flags().StringVar(&f.events, "events", "", "a recorded bring-up (liftoff up/sim --record) for the HTML report's timeline")
	c.Flags().Float64Var(&f.labSpeed, "lab-speed", 1, "with --events: the recorded lab's --speed (a simulated lab's recording), so the timeline's usual stage times match it")
	c.Flags().Float64Var(&f.speed, "speed", 50, "with --sim: how much faster than a real Raspberry Pi the boards are")
	c.Flags().StringVar(&f.talosconfig, "talosconfig", "", "talosconfig for the boards (from liftoff gen)")
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for the cluster")
	c.Flags().StringVar(&f.tsAPIKey, "tailscale-api-key-file", "", "a file holding a Tailscale API key (tskey-api-…): tells advertised from approved routes and counts every router")
	addReportFlags(c, &f)

	return c
}

// run checks the flags, then the simulated lab (--sim) or your own.
func (f *checkFlags) run(c *cobra.Command) error {
	if err := f.validate(); err != nil {
		return err
	}

	if f.sim != "" {
		return checkSim(c, *f)
	}

	return f.checkOwn(c)
}

// validate refuses bad flags before any work: a report that cannot be
// written is known now, not after the suite ran.
func (f *checkFlags) validate() error {
	for _, name := range f.only {
		if !knownCheck(name) {
			return usageError{fmt.Errorf("--only %s: no such check or suite (see liftoff check --help)", name)}
		}
	}

	for _, name := range f.include {
		if !check.IsOptional(name) {
			return usageError{fmt.Errorf("--include %s: not an opt-in check; opt-in checks: %s", name, optionalNames())}
		}
	}

	if _, _, err := check.ParseBudgets(f.readyBudget); err != nil {
		return usageError{err}
	}

	if f.tsAPIKey != "" {
		if _, err := readAPIKey(f.tsAPIKey); err != nil {
			return usageError{err}
		}
	}

	for flag, path := range map[string]string{"--junit": f.junit, "--html": f.html} {
		if err := checkOutputFile(flag, path, f.plan, ""); err != nil {
			return err
		}
	}

	if f.spec != "" && f.sim == "" {
		return usageError{errors.New("--spec describes a simulated lab: use it with --sim SCENARIO")}
	}

	return nil
}

// checkOwn runs the suite against your own lab, read through its
// talosconfig and kubeconfig; its timeline comes from --events when given.
func (f *checkFlags) checkOwn(c *cobra.Command) error {
	if f.talosconfig == "" || f.kubeconfig == "" {
		return usageError{errors.New("--talosconfig and --kubeconfig are required (liftoff gen wrote the talosconfig; the kubeconfig comes from the bootstrap step), or use --sim SCENARIO")}
	}

	p, err := loadValid(c.ErrOrStderr(), f.plan)
	if err != nil {
		return err
	}

	env, err := observe(c.Context(), p, *f)
	if err != nil {
		return err
	}

	pic := picture{lab: env.Lab, speed: f.labSpeed,
		note: "No bring-up was watched: this check read the lab as it is. Give it a recording of the bring-up (--events FILE from liftoff up/sim --record) for its timeline."}

	if f.events != "" {
		if pic, err = recorded(f.events, f.labSpeed); err != nil {
			return usageError{err}
		}
	}

	results := check.Run(c.Context(), env, f.only)
	pic.now = env.Now

	return report(c.OutOrStdout(), results, *f, pic)
}

func addReportFlags(c *cobra.Command, f *checkFlags) {
	c.Flags().StringVar(&f.junit, "junit", "", "also write a JUnit XML report to this file")
	c.Flags().BoolVar(&f.json, "json", false, "print the report as JSON instead of a table")
	c.Flags().StringVar(&f.html, "html", "", "also write a self-contained HTML report (checks, failures, bring-up timeline) to this file")
	c.Flags().StringSliceVar(&f.only, "only", nil, "run only these checks or suites (comma-separated)")
	c.Flags().StringSliceVar(&f.include, "include", nil, "also run these opt-in checks (comma-separated): "+optionalNames())
	c.Flags().StringVar(&f.readyBudget, "ready-budget", check.DefaultBudgetFlag, "budgets: nodes= apply → Node Ready, spin= the Spin pod answering (the founding plan's by default; a bare duration is the nodes')")
	c.Flags().DurationVar(&f.helloWait, "hello-timeout", 3*time.Minute, "how long a hello-world may take to deploy and answer")
	c.Flags().IntVar(&f.requests, "requests", 20, "requests per hello-world for the latency percentiles")
}

// checkSim runs the suite against a simulated lab.
func checkSim(c *cobra.Command, f checkFlags) error {
	if _, err := lab.Lookup(f.sim); err != nil {
		return usageError{err}
	}

	for _, tool := range []string{"kube", "etcd"} {
		if _, err := toolpath.Find(tool); err != nil {
			return err
		}
	}

	scratch.Sweep("", "liftoff-check-") // what a killed check left
	dir, err := scratch.Dir("", "liftoff-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) //nolint:errcheck

	spec := lab.DefaultSpec()
	if f.spec != "" {
		if spec, err = lab.LoadSpec(f.spec); err != nil {
			return usageError{err}
		}
	}

	// A block of its own, never the demo's: a `liftoff sim` may be running.
	if spec, err = spec.InBlock(100); err != nil {
		return usageError{err}
	}

	fmt.Fprintf(c.ErrOrStderr(), "starting a simulated lab (scenario %s, speed ×%g) on %s or the next free block, and bringing it up…\n", f.sim, f.speed, spec.Block())

	// The bring-up as it was watched, for the HTML report's timeline.
	var watched bytes.Buffer

	results, err := lab.Check(c.Context(), lab.CheckOptions{
		Lab:    lab.Options{Spec: spec, Scenario: f.sim, Speed: f.speed},
		Notes:  c.ErrOrStderr(),
		Dir:    dir,
		Only:   f.only,
		Record: &watched,
		Env:    budgets(f),
	})
	if err != nil {
		return err
	}

	pic := picture{now: time.Now(), speed: f.speed}

	events, err := probe.ReadEvents(&watched)
	if err != nil {
		return fmt.Errorf("reading back the watched bring-up: %w", err)
	}

	pic.lab = probe.Fold(events)

	return report(c.OutOrStdout(), results, f, pic)
}

func knownCheck(name string) bool { return check.Known(name) }

func optionalNames() string {
	var names []string
	for _, c := range check.Optional {
		names = append(names, c.Name)
	}

	return strings.Join(names, ", ")
}

// budgets is the Env's budgets, hello options and opt-in checks from the
// flags (already validated).
func budgets(f checkFlags) check.Env {
	nodes, spin, _ := check.ParseBudgets(f.readyBudget)

	return check.Env{ReadyBudget: nodes, SpinBudget: spin, Include: f.include,
		Hello: probe.HelloOptions{Requests: f.requests, Timeout: f.helloWait}}
}

// observe builds the picture of an existing lab from one snapshot of each
// board and of the Nodes.
func observe(ctx context.Context, p *plan.Plan, f checkFlags) (*check.Env, error) {
	tc, err := config.OpenTalosconfig(f.talosconfig)
	if err != nil {
		return nil, fmt.Errorf("reading talosconfig: %w", err)
	}

	kc, err := fileio.ReadFile(f.kubeconfig, fileio.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}

	cs, err := probe.KubeClient(kc)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s is not a usable kubeconfig (%v): pass the one liftoff up saved (OUT/kubeconfig), or talosctl kubeconfig's", f.kubeconfig, err)
	}

	lab := bringup.Observe(ctx, p, tc, 15*time.Second)

	env := new(check.Env)
	*env = budgets(f)
	env.Plan, env.Lab = p, lab

	if slices.Contains(f.include, "gateway-failover") {
		env.MoveGateway = func(ctx context.Context, to string, reach func(context.Context) probe.Event) (check.Moved, error) {
			return moveAndObserve(ctx, p, f, to, reach)
		}
	}

	if _, ok := p.Gateway(); ok {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		ts, err := observeTailscale(tctx, p, f.tsAPIKey)

		cancel()

		if err != nil {
			env.NoTailscale = err.Error()
		}

		env.Tailscale = ts
	}

	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	nodes, err := probe.NodeSnapshot(nctx, cs)

	cancel()

	if err != nil {
		fmt.Fprintln(os.Stderr, "warning: the Kubernetes API did not answer; checks that need it will skip:", err)

		return env, nil
	}

	for _, e := range nodes {
		lab.Apply(e)
	}

	env.Kube, env.Fetch = cs, probe.ProxyFetcher(cs)

	return env, nil
}

// moveAndObserve moves the gateway of a real lab (the directory liftoff
// gen wrote is the talosconfig's), printing its progress, then reads the
// lab again.
func moveAndObserve(ctx context.Context, p *plan.Plan, f checkFlags, to string, reach func(context.Context) probe.Event) (check.Moved, error) {
	env, err := moveEnv(ctx, p, f.plan, filepath.Dir(f.talosconfig), f.talosconfig, "", f.tsAPIKey)
	if err != nil {
		return check.Moved{}, err
	}

	env.Reach = reach

	mv, err := gateway.Prepare(env, to)
	if err != nil {
		return check.Moved{}, err
	}

	res, err := mv.Run(ctx, env, func(e probe.Event) { fmt.Fprintln(os.Stderr, e) })
	if err != nil {
		return check.Moved{}, err
	}

	after, err := observe(ctx, mv.Plan, f)
	if err != nil {
		return check.Moved{}, err
	}

	return check.Moved{Plan: mv.Plan, Lab: after.Lab, Tailscale: after.Tailscale, NoTailscale: after.NoTailscale, Outage: res.Outage, Words: res.Words}, nil
}

// report prints the results first — whatever happens to the report
// files, a run's results are never lost — then writes each report whole.
func report(w io.Writer, results []check.Result, f checkFlags, pic picture) error {
	var err error
	if f.json {
		err = check.WriteJSON(w, results)
	} else {
		err = check.WriteTableWidth(w, results, columns(w))
	}

	if err != nil {
		return err
	}

	if f.junit != "" {
		var buf bytes.Buffer
		if err := check.WriteJUnit(&buf, results); err != nil {
			return err
		}

		if err := fileio.WriteFile(f.junit, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--junit: the results above could not be saved: %w", err)
		}
	}

	if f.html != "" {
		if err := writeHTML(f.html, results, checkTitle(f), pic); err != nil {
			return fmt.Errorf("--html: the results above could not be saved: %w", err)
		}
	}

	if check.Failed(results) {
		var failed []string

		for _, r := range results {
			if r.Status == check.Fail {
				failed = append(failed, r.Name)
			}
		}

		return fmt.Errorf("%w: %s", errChecksFailed, strings.Join(failed, ", "))
	}

	return nil
}

// columns is the width of the terminal w writes to: its size when it is
// one, else $COLUMNS when set, else 0 (a file or a pipe: no wrapping).
func columns(w io.Writer) int {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
			return width
		}
	}

	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}

	return 0
}
