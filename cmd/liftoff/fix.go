package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/bringup"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
)

type fixFlags struct {
	plan, out, talosconfig string
	keyFile, apiKeyFile    string
	yes, reset             bool
	timeout                time.Duration
}

func newFixCmd() *cobra.Command {
	var f fixFlags

	c := &cobra.Command{
		Use:   "fix NODE",
		Short: "Diagnose one board and run the repair for it, then wait until it is Ready",
		Long: `Reads one board through the Talos API (and, for the gateway, the Tailscale
route), says what is wrong with it — the same diagnoses as the dashboard's
troubleshoot view — and the repair liftoff can run for it:

  upgrade     the wrong image (tailscale on a compute board, the plain
              installer, missing or unexpected extensions): install the
              role's installer, as talosctl upgrade --image does; reboots
  re-apply    a config liftoff can regenerate (the gateway's tailscale
              ExtensionServiceConfig, a duplicate hostname, a missing kernel
              module, a board back in maintenance mode after a power loss,
              a reset or an unregistered schematic): the board's config made again from the
              plan and the secrets bundle in --out, exactly as liftoff gen
              makes it, shown as a diff first; Talos applies it live where it
              can (apply mode auto), else reboots
  approve     routes advertised but not approved: through the Tailscale API
              with --tailscale-api-key-file, else the admin console's steps
  bootstrap   etcd waiting for bootstrap, on the plan's first control plane
  reset       with --reset only: graceful, wipes only the STATE and EPHEMERAL
              partitions, reboots into maintenance mode; asks twice. Then
              liftoff fix NODE again offers the re-apply that installs it

It prints the repair's equivalent talosctl (or Tailscale API) command, asks
before it changes anything (unless --yes), then follows the board through
its reboot, printing each step. Ctrl-C stops it; once the board has been told
to reboot, only the watching stops. It touches no other board.

Exit code 0 only when the board is Ready (a reset: back in maintenance
mode); 1 when nothing could be repaired or the repair failed.`,
		Example: `  liftoff fix pi-w-2 --plan lab.yaml --out homelab
  liftoff fix pi-gw --out homelab --tailscale-authkey-file ~/.config/liftoff/tskey --tailscale-api-key-file ~/.config/liftoff/tsapi
  liftoff fix pi-w-1 --out homelab --reset`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runFix(c, args[0], f) },
	}

	addPlanFlag(c, &f.plan)
	c.Flags().StringVar(&f.out, "out", "homelab", "the directory liftoff gen wrote: the secrets bundle, the configs, the talosconfig")
	c.Flags().StringVar(&f.talosconfig, "talosconfig", "", "talosconfig for the boards (default: OUT/talosconfig)")
	c.Flags().StringVar(&f.keyFile, "tailscale-authkey-file", "", "the gateway's Tailscale auth key, for regenerating its config")
	c.Flags().StringVar(&f.apiKeyFile, "tailscale-api-key-file", "", "a file holding a Tailscale API key (tskey-api-…): approves routes and tells advertised from approved")
	c.Flags().BoolVarP(&f.yes, "yes", "y", false, "run the repair without asking (a reset too)")
	c.Flags().BoolVar(&f.reset, "reset", false, "reset the board to maintenance mode instead (wipes its STATE and EPHEMERAL partitions)")
	c.Flags().DurationVar(&f.timeout, "timeout", 20*time.Minute, "how long the repair may take until the board is Ready")

	return c
}

func runFix(c *cobra.Command, node string, f fixFlags) error {
	if err := checkKeyAndTimeout(f.apiKeyFile, f.timeout); err != nil {
		return err
	}

	p, err := loadValid(c.ErrOrStderr(), f.plan)
	if err != nil {
		return err
	}

	b, ok := p.Board(node)
	if !ok {
		return usageError{fmt.Errorf("%s is not a board of %s: its boards are %s", node, f.plan, strings.Join(boardNames(p), ", "))}
	}

	if f.talosconfig == "" {
		f.talosconfig = filepath.Join(f.out, config.TalosconfigFile)
	}

	tc, err := config.OpenTalosconfig(f.talosconfig)
	if err != nil {
		return fmt.Errorf("reading the talosconfig: %w (pass --out, the directory liftoff gen wrote, or --talosconfig)", err)
	}

	env := repair.Env{Plan: p, Dir: f.out, Talosconfig: tc}

	if _, ok := p.Gateway(); ok {
		src, err := config.ResolveAuthKey(f.keyFile, p.Tailscale.AuthKeyFile)
		if err != nil {
			return usageError{err}
		}

		env.AuthKey = src.Key
	}

	return f.repair(c, p, b, tc, env)
}

// confirmed asks before a repair runs, and once more, by the board's
// name, before one that wipes it.
func confirmed(out io.Writer, in *bufio.Reader, node string, job *repair.Job) bool {
	if !ask(out, in, "run it? [y/N] ", "y", "yes") {
		return false
	}

	return job.Confirm == "" || ask(out, in, "this wipes "+node+"'s config and data. Type the board's name to "+job.Confirm+": ", node)
}

// repair diagnoses the board (or takes --reset), shows the repair,
// asks unless --yes, and runs it to Ready within --timeout.
func (f fixFlags) repair(c *cobra.Command, p *plan.Plan, b plan.Board, tc *clientconfig.Config, env repair.Env) error {
	node := b.Name

	ctx, cancel := context.WithTimeout(c.Context(), f.timeout)
	defer cancel()

	out := c.OutOrStdout()
	l := fixPicture(ctx, p, b, tc, f.apiKeyFile, &env)
	n := l.Node(node)

	var r probe.Repair

	switch d, ok := probe.FirstRepair(l, n, time.Now()); {
	case f.reset:
		r = probe.ResetRepair(node)
	case ok:
		printDiagnosis(out, d)
		r = *d.Repair
	default:
		return noRepair(out, l, n)
	}

	job, err := repair.Prepare(ctx, env, r)
	if err != nil {
		return err
	}

	printJob(out, job)

	if !f.yes && !confirmed(out, bufio.NewReader(c.InOrStdin()), node, job) {
		fmt.Fprintln(out, "nothing was changed")

		return errors.New("not confirmed")
	}

	err = job.Run(ctx, env, func(e probe.Event) { fmt.Fprintln(out, e) })
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s was not Ready within --timeout %s", node, f.timeout)
	}

	return err
}

// fixPicture reads the lab (and, for the gateway, the route) the way
// liftoff check does (bringup.Observe).
func fixPicture(ctx context.Context, p *plan.Plan, b plan.Board, tc *clientconfig.Config, apiKeyFile string, env *repair.Env) *probe.Lab {
	l := bringup.Observe(ctx, p, tc, 15*time.Second)

	if b.Role != plan.Gateway {
		return l
	}

	ro, err := routeOptions(p, apiKeyFile)
	if err != nil {
		return l
	}

	env.Tailnet = ro.API

	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()

	if _, err := ro.Local.Status(rctx); err != nil {
		return l // no tailscaled here: approve goes by the API alone
	}

	env.Route = func(context.Context) (probe.RouteOptions, error) { return ro, nil }

	if v, err := probe.RouteSnapshot(rctx, ro); err == nil {
		l.Apply(v.Event(time.Now()))
	}

	return l
}

func printDiagnosis(w io.Writer, d probe.Diagnosis) {
	fmt.Fprintf(w, "✗ %s\n  why  %s\n  fix  %s\n", d.Title, d.Why, d.Fix)

	for _, e := range d.Evidence {
		fmt.Fprintf(w, "   │ %s\n", e)
	}

	fmt.Fprintln(w)
}

func printJob(w io.Writer, j *repair.Job) {
	r := j.Repair
	fmt.Fprintf(w, "repair: %s\n  what      %s\n  command   %s\n", r.Title, r.Does, j.Command)

	reboots := "no"
	if r.Reboots {
		reboots = "yes"
	}

	fmt.Fprintf(w, "  reboots   %s\n", reboots)

	if d := r.Takes(); d > 0 {
		fmt.Fprintf(w, "  takes     about %s\n", d)
	}

	for i, s := range j.Manual {
		fmt.Fprintf(w, "  step %d    %s\n", i+1, s)
	}

	if j.Against != "" {
		fmt.Fprintf(w, "  against   %s (+%d −%d)\n", j.Against, j.Plus, j.Minus)
	}

	if j.Diff != "" {
		fmt.Fprintln(w, j.Diff)
	}

	fmt.Fprintln(w)
}

// noRepair says why nothing runs: nothing wrong, or nothing liftoff can
// repair safely (then the diagnoses' fixes are the way on).
func noRepair(w io.Writer, l *probe.Lab, n *probe.Node) error {
	ds := probe.DiagnoseIn(l, n, time.Now())
	if len(ds) == 0 && n.MachineReady && n.Stage == probe.StageRunning {
		fmt.Fprintf(w, "✓ %s is Ready: nothing to repair\n", n.Name)

		return nil
	}

	for _, d := range ds {
		printDiagnosis(w, d)
	}

	if len(ds) == 0 {
		return fmt.Errorf("%s is not Ready (%s) and liftoff sees nothing it can repair: watch it with liftoff up, or talosctl dmesg", n.Name, probe.OrDash(n.Stage.String()))
	}

	return fmt.Errorf("%s: none of these has a repair liftoff can run safely: follow the fix above", n.Name)
}

// checkKeyAndTimeout checks the flags a board-changing command shares,
// before it reads or changes anything: a readable API key file, a timeout.
func checkKeyAndTimeout(apiKeyFile string, timeout time.Duration) error {
	if apiKeyFile != "" {
		if _, err := readAPIKey(apiKeyFile); err != nil {
			return usageError{err}
		}
	}

	if timeout <= 0 {
		return usageError{errors.New("--timeout must be more than 0")}
	}

	return nil
}

func ask(w io.Writer, in *bufio.Reader, prompt string, yes ...string) bool {
	fmt.Fprint(w, prompt)

	line, _ := in.ReadString('\n')
	line = strings.TrimSpace(strings.ToLower(line))

	for _, y := range yes {
		if line == strings.ToLower(y) {
			return true
		}
	}

	return false
}

func boardNames(p *plan.Plan) []string {
	names := make([]string, 0, len(p.Boards))
	for _, b := range p.Boards {
		names = append(names, b.Name)
	}

	return names
}
