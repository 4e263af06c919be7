package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
)

type moveFlags struct {
	plan, out, talosconfig, kubeconfig string
	keyFile, apiKeyFile                string
	yes                                bool
	timeout                            time.Duration
}

func newMoveGatewayCmd() *cobra.Command {
	var f moveFlags

	c := &cobra.Command{
		Use:   "move-gateway BOARD",
		Short: "Make another board the gateway (the Tailscale subnet router), keeping the route served as long as it can",
		Long: `Moves the gateway role to BOARD: the seed test plan's "gateway failover".

liftoff edits the plan (BOARD becomes the gateway, the old gateway a compute
board), makes both boards' configs again from the secrets bundle in --out
(never a new one) and the auth key, shows what it will do, and asks. Then,
in the order that keeps the route served as long as possible:

  1. BOARD gets its gateway config (talosctl apply-config --mode auto) and
     the gateway image (talosctl upgrade --image …): it reboots, and its
     tailscale joins the tailnet as a second router of the cluster's routes
  2. liftoff waits until that router is approved (with
     --tailscale-api-key-file it approves it, unless an autoApprovers rule
     did); the old gateway stays the primary meanwhile
  3. the old gateway gets the compute image, then its compute config: when
     its tailscale stops, the tailnet hands the routes to BOARD
  4. liftoff follows the route until it answers through BOARD, and prints
     how long the tailnet could not reach the cluster, measured from what
     it saw (with --kubeconfig: a hello-world's ClusterIP asked through
     the route every 100ms; without, the route's own state)

No other board is touched. Ctrl-C before the first reboot changes nothing;
after it, only the following stops, and liftoff prints the commands that
finish the move. The configs are written 0600; the auth key is never
printed.`,
		Example: `  liftoff move-gateway pi-w-1 --plan lab.yaml --out homelab
  liftoff move-gateway pi-w-1 --out homelab --kubeconfig homelab/kubeconfig --tailscale-api-key-file ~/.config/liftoff/tsapi`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runMoveGateway(c, args[0], f) },
	}

	addPlanFlag(c, &f.plan)
	c.Flags().StringVar(&f.out, "out", "homelab", "the directory liftoff gen wrote: the secrets bundle, the configs, the talosconfig")
	c.Flags().StringVar(&f.talosconfig, "talosconfig", "", "talosconfig for the boards (default: OUT/talosconfig)")
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "the cluster's kubeconfig: a hello-world is asked through the route to measure the outage")
	c.Flags().StringVar(&f.keyFile, "tailscale-authkey-file", "", "the Tailscale auth key for the new gateway's config (default: the plan's tailscale.authKeyFile, or TS_AUTHKEY)")
	c.Flags().StringVar(&f.apiKeyFile, "tailscale-api-key-file", "", "a file holding a Tailscale API key (tskey-api-…): approves the new router's routes and tells routers apart")
	c.Flags().BoolVarP(&f.yes, "yes", "y", false, "move without asking")
	c.Flags().DurationVar(&f.timeout, "timeout", 30*time.Minute, "how long the whole move may take")

	return c
}

func runMoveGateway(c *cobra.Command, to string, f moveFlags) error {
	if err := checkKeyAndTimeout(f.apiKeyFile, f.timeout); err != nil {
		return err
	}

	p, err := loadValid(c.ErrOrStderr(), f.plan)
	if err != nil {
		return err
	}

	if _, ok := p.Board(to); !ok {
		return usageError{fmt.Errorf("%s is not a board of %s: its boards are %s", to, f.plan, strings.Join(boardNames(p), ", "))}
	}

	ctx, cancel := context.WithTimeout(c.Context(), f.timeout)
	defer cancel()

	env, err := moveEnv(ctx, p, f.plan, f.out, f.talosconfig, f.keyFile, f.apiKeyFile)
	if err != nil {
		return err
	}

	mv, err := gateway.Prepare(env, to)
	if err != nil {
		return err
	}

	out := c.OutOrStdout()
	printMove(out, mv)

	if !f.yes && !ask(out, bufio.NewReader(c.InOrStdin()), "move the gateway? [y/N] ", "y", "yes") {
		fmt.Fprintln(out, "nothing was changed")

		return errors.New("not confirmed")
	}

	if f.kubeconfig != "" {
		reach, cleanup, err := helloReach(ctx, f.kubeconfig, func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer

			return d.DialContext(ctx, network, addr)
		})
		if err != nil {
			return err
		}
		defer cleanup()

		env.Reach = reach
	}

	res, err := mv.Run(ctx, env, func(e probe.Event) { fmt.Fprintln(out, e) })
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\n✓ %s is the gateway; %s\n", to, res.Words)

	return nil
}

// moveEnv is what moving the gateway of a real lab needs, from the flags.
func moveEnv(ctx context.Context, p *plan.Plan, planFile, out, talosconfig, keyFile, apiKeyFile string) (gateway.Env, error) {
	if talosconfig == "" {
		talosconfig = filepath.Join(out, config.TalosconfigFile)
	}

	tc, err := config.OpenTalosconfig(talosconfig)
	if err != nil {
		return gateway.Env{}, fmt.Errorf("reading the talosconfig: %w (pass --out, the directory liftoff gen wrote, or --talosconfig)", err)
	}

	key, err := gatewayKey(p, keyFile, nil)
	if err != nil {
		return gateway.Env{}, usageError{err}
	}

	env := gateway.Env{Env: repair.Env{Plan: p, Dir: out, Talosconfig: tc, AuthKey: key}, PlanFile: planFile}

	ro, err := routeOptions(p, apiKeyFile)
	if err != nil {
		return gateway.Env{}, err
	}

	env.Tailnet = ro.API

	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()

	if _, err := ro.Local.Status(rctx); err == nil {
		env.Route = func(context.Context) (probe.RouteOptions, error) { return ro, nil }
	}

	return env, nil
}

// helloReach deploys the Spin hello-world (the container one when Spin
// cannot run) and asks its ClusterIP through dial; cleanup removes it.
func helloReach(ctx context.Context, kubeconfig string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (func(context.Context) probe.Event, func(), error) {
	kc, err := fileio.ReadFile(kubeconfig, fileio.Kubeconfig)
	if err != nil {
		return nil, nil, fmt.Errorf("reading kubeconfig: %w", err)
	}

	cs, err := probe.KubeClient(kc)
	if err != nil {
		return nil, nil, fmt.Errorf("--kubeconfig %s is not a usable kubeconfig: %w", kubeconfig, err)
	}

	var res probe.HelloResult

	for _, hello := range probe.Flavours {
		if res = probe.RunHello(ctx, cs, probe.ProxyFetcher(cs), hello, probe.HelloOptions{Requests: 1, Keep: true}, func(probe.Event) {}); res.Err != nil {
			continue
		}

		addr, err := probe.HelloAddr(ctx, cs, hello)
		if err != nil {
			return nil, nil, err
		}

		reach := func(ctx context.Context) probe.Event {
			return probe.TrafficFlow(ctx, dial, addr, "/hello", hello.Text).Event(addr, time.Now())
		}

		return reach, func() { _ = probe.CleanupHello(context.WithoutCancel(ctx), cs) }, nil
	}

	return nil, nil, fmt.Errorf("no hello-world came up to measure the outage with: %w (leave out --kubeconfig to measure by the route alone)", res.Err)
}

// printMove is the preview: what changes, on which boards, in which order.
func printMove(w io.Writer, m *gateway.Move) {
	fmt.Fprintf(w, "%s\n\n", m.Summary())
	fmt.Fprintf(w, "  %s  %s → gateway image %s\n", m.To.Name, m.To.Role, m.ToInstaller)
	fmt.Fprintf(w, "  %s  gateway → compute image %s\n\n", m.From.Name, m.FromInstaller)
	fmt.Fprintln(w, "in this order (the talosctl equivalent):")

	for i, s := range m.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}

	fmt.Fprintln(w, "\nthe plan:")
	fmt.Fprintln(w, m.PlanDiff)

	for _, b := range []plan.Board{m.To, m.From} {
		fmt.Fprintf(w, "\n%s's config (secrets redacted):\n%s\n", b.Name, m.ConfigDiffs[b.Name])
	}

	fmt.Fprintln(w)
}
