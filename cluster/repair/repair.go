// Package repair runs a diagnosis's repair (probe.Repair) on the one board
// it names: prepare it (what it will do, the exact command, the diff), then
// run it and follow the board to Ready, reporting as probe events. The
// troubleshoot view, liftoff fix and the lab's tests share it.
package repair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	tsapi "tailscale.com/client/tailscale/v2"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
)

// Env is where a repair gets what it needs: the plan, the directory gen
// wrote (secrets bundle, configs), the talosconfig, the gateway's auth key
// and, for approvals, the Tailscale API.
type Env struct {
	Plan        *plan.Plan
	Dir         string
	Talosconfig *clientconfig.Config
	// AuthKey is the gateway's Tailscale auth key, for regenerating its
	// config (liftoff gen's --tailscale-authkey-file).
	AuthKey string
	// Apply tunes connections (the simulated lab's port, timeouts).
	Apply apply.Options
	// Tailnet is the Tailscale API (an API key); nil: approve shows the
	// admin console's steps and changes nothing.
	Tailnet *tsapi.Client
	// Route, when set, is where approve watches the route become primary.
	Route func(ctx context.Context) (probe.RouteOptions, error)
	// Bootstrap, when set, is the bring-up's own bootstrap step
	// (bringup.Run.Bootstrap: etcd, then the kubeconfig and the Node
	// watch); nil sends apply.Bootstrap alone.
	Bootstrap func(ctx context.Context) error
}

// Job is a prepared repair: everything its preview shows. Preparing
// changes nothing anywhere.
type Job struct {
	Repair probe.Repair
	Board  plan.Board
	// Command is the exact equivalent command, addresses and image filled in.
	Command string
	// Re-apply: the diff from the config the board runs (secrets redacted).
	Against     string
	Diff        string
	Plus, Minus int
	// Installer is the role's installer an upgrade installs.
	Installer string
	// Confirm is the second confirmation a reset needs: it names the board
	// and its disk.
	Confirm string
	// Manual are the steps for the operator when liftoff cannot do it
	// (approve without an API key); Run then changes nothing.
	Manual []string

	config []byte // re-apply: the regenerated config
	device string // approve: the gateway's device ID
	routes []string
}

// Prepare resolves a repair against the plan: the exact command, the
// regenerated config and its diff, the installer. It reads the board (its
// running config) and the tailnet, and changes nothing.
func Prepare(ctx context.Context, env Env, r probe.Repair) (*Job, error) {
	b, ok := env.Plan.Board(r.Node)
	if !ok {
		return nil, fmt.Errorf("%s is not a board of the plan: liftoff repairs only the boards lab.yaml names", r.Node)
	}

	j := &Job{Repair: r, Board: b, Command: strings.ReplaceAll(r.Command, "ADDRESS", b.Address)}

	switch r.Kind {
	case probe.RepairUpgrade:
		im, err := image.For(env.Plan, b)
		if err != nil {
			return nil, err
		}

		j.Installer = im.Installer
		j.Command = strings.ReplaceAll(j.Command, "<installer>", im.Installer)
	case probe.RepairReapply:
		if err := j.prepareReapply(ctx, env); err != nil {
			return nil, err
		}
	case probe.RepairBootstrap:
		target, err := apply.BootstrapTarget(env.Plan)
		if err != nil {
			return nil, err
		}

		if target.Name != b.Name {
			return nil, fmt.Errorf("%s is not the control plane to bootstrap: a cluster is bootstrapped once, on the plan's first control plane %s (%s); the others join it", b.Name, target.Name, target.Address)
		}
	case probe.RepairApprove:
		if err := j.prepareApprove(ctx, env); err != nil {
			return nil, err
		}
	case probe.RepairReset:
		disk := b.InstallDisk
		if disk == "" {
			disk = "its install disk"
		}

		j.Confirm = fmt.Sprintf("reset %s (%s): wipe STATE and EPHEMERAL on %s", b.Name, b.Address, disk)
	default:
		return nil, fmt.Errorf("no such repair: %q", r.Kind)
	}

	return j, nil
}

func (j *Job) prepareReapply(ctx context.Context, env Env) error {
	b := j.Board

	data, err := config.Regenerate(env.Dir, env.Plan, b.Name, env.AuthKey)
	if err != nil {
		return err
	}

	j.config = data
	path := filepath.Join(env.Dir, plan.ConfigFile(b.Name))
	j.Command = strings.ReplaceAll(j.Command, "--file "+plan.ConfigFile(b.Name), "--file "+path)

	if j.Repair.Reboots {
		// A board in maintenance mode runs no config: it installs this one.
		j.Against = b.Name + " runs no config (maintenance mode): it installs this one"

		return nil
	}

	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()

	running, err := probe.RunningConfig(cctx, j.target(env))
	if err != nil {
		return fmt.Errorf("reading the config %s runs, for the diff: %w", b.Name, err)
	}

	j.Against = "the config " + b.Name + " runs now"

	if j.Diff, j.Plus, j.Minus, err = config.Diff(running, data); err != nil {
		return err
	}

	if j.Diff == "" {
		return fmt.Errorf("%s already runs the config liftoff gen makes for it: re-applying it changes nothing", b.Name)
	}

	return nil
}

func (j *Job) prepareApprove(ctx context.Context, env Env) error {
	p := env.Plan
	host := p.Tailscale.Hostname
	j.routes = p.Routes()
	list := strings.Join(j.routes, ", ")

	if env.Tailnet == nil {
		j.Manual = []string{
			"open the Tailscale admin console: https://login.tailscale.com/admin/machines",
			"find " + host + " (" + j.Board.Name + "), open its ⋯ menu → Edit route settings",
			"tick " + list + " and Save",
			"or let liftoff do it: give it an API key (Settings → Keys → Generate API key) with --tailscale-api-key-file",
		}

		return nil
	}

	devices, err := env.Tailnet.Devices().List(ctx)
	if err != nil {
		return fmt.Errorf("the Tailscale API: %w", err)
	}

	for _, d := range devices {
		if d.Hostname == host || strings.HasPrefix(d.Name, host+".") {
			j.device = cmpOr(d.NodeID, d.ID)
		}
	}

	if j.device == "" {
		return fmt.Errorf("no device %s on the tailnet: %s's tailscale has not logged in (see its ext-tailscale log)", host, j.Board.Name)
	}

	body, _ := json.Marshal(map[string][]string{"routes": j.routes}) //nolint:errchkjson // strings only
	j.Command = fmt.Sprintf(`curl -u "$TS_API_KEY:" -X POST https://api.tailscale.com/api/v2/device/%s/routes -d '%s'`, j.device, body)

	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}

	return b
}

func (j *Job) target(env Env) probe.Target {
	return probe.Target{Node: j.Board.Name, Endpoint: apply.Endpoint(j.Board, env.Apply.Port), Talosconfig: env.Talosconfig}
}

// ErrCancelled is a repair stopped before it changed the board.
var ErrCancelled = errors.New("cancelled before anything was sent to the board")

// Run runs the prepared repair on its board and follows the board to
// Ready (a reset: to maintenance mode), reporting each step as a
// RepairStep event. Cancelling ctx stops it; once the board has been told
// to reboot, cancelling only stops the following.
func (j *Job) Run(ctx context.Context, env Env, emit func(probe.Event)) error {
	name, kind := j.Board.Name, string(j.Repair.Kind)
	step := func(state, detail string) {
		emit(probe.Event{Time: time.Now(), Node: name, Kind: probe.RepairStep, Name: kind, State: state, Detail: detail, Ready: state == "done"})
	}

	step("started", j.Repair.Title)

	if ctx.Err() != nil {
		step("cancelled", ErrCancelled.Error())

		return ErrCancelled
	}

	sent, err := j.act(ctx, env, emit, step)

	switch {
	case err != nil && !sent && ctx.Err() != nil:
		step("cancelled", ErrCancelled.Error())

		return ErrCancelled
	case err != nil && ctx.Err() != nil:
		step("cancelled", "liftoff stopped following "+name+"; what was sent to it goes on")

		return ctx.Err()
	case err != nil:
		step("failed", err.Error())

		return err
	case len(j.Manual) > 0:
		step("done", "nothing was changed: do it in the admin console — "+strings.Join(j.Manual, "; "))

		return nil
	}

	if err := j.follow(ctx, env, step); err != nil {
		if ctx.Err() != nil {
			step("cancelled", "liftoff stopped following "+name+"; what was sent to it goes on")

			return ctx.Err()
		}

		step("failed", err.Error())

		return err
	}

	return nil
}

// act does the repair's one change; sent tells whether the board (or the
// tailnet) was told anything.
func (j *Job) act(ctx context.Context, env Env, emit func(probe.Event), step func(string, string)) (sent bool, err error) {
	b := j.Board

	switch j.Repair.Kind {
	case probe.RepairUpgrade:
		if sent, err := j.call(ctx, env, nil); err != nil {
			return sent, err
		}

		step("step", "asking "+b.Name+" to upgrade to "+j.Installer)

		// cluster/apply's Upgrade, as the bring-up's card upgrade uses it:
		// the one call, then the new boot (by boot_id) to ready.
		opts := j.applyOptions(env)

		before, sent, err := apply.StartUpgrade(ctx, b, j.Installer, opts, emit)
		if err != nil {
			return sent, err
		}

		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Applied, Detail: j.Installer})
		step("rebooting", b.Name+" accepted the upgrade: it installs "+j.Installer+" and reboots; cancelling now only stops the watching")

		return true, apply.WaitUpgraded(ctx, b, j.Installer, before, opts, emit)
	case probe.RepairReapply:
		return j.reapply(ctx, env, emit, step)
	case probe.RepairBootstrap:
		step("step", "bootstrapping etcd on "+b.Name+" at "+b.Address)

		if ctx.Err() != nil {
			return false, ctx.Err()
		}

		if env.Bootstrap != nil {
			return true, env.Bootstrap(ctx)
		}

		return true, apply.Bootstrap(ctx, env.Plan, env.Talosconfig, env.Apply, emit)
	case probe.RepairApprove:
		if len(j.Manual) > 0 {
			return false, nil
		}

		step("step", "approving "+strings.Join(j.routes, ", ")+" for "+env.Plan.Tailscale.Hostname)

		if ctx.Err() != nil {
			return false, ctx.Err()
		}

		if err := env.Tailnet.Devices().SetSubnetRoutes(ctx, j.device, j.routes); err != nil {
			return true, fmt.Errorf("the Tailscale API refused the approval: %w", err)
		}

		return true, nil
	case probe.RepairReset:
		if sent, err := j.call(ctx, env, nil); err != nil {
			return sent, err
		}

		step("step", "resetting "+b.Name+": leaving etcd, wiping STATE and EPHEMERAL, rebooting")

		opts := j.applyOptions(env)

		if sent, err := apply.StartReset(ctx, b, apply.StartOver, opts, emit); err != nil {
			return sent, err
		}

		step("rebooting", b.Name+" accepted the reset: it wipes and reboots; cancelling now only stops the watching")

		return true, apply.WaitMaintenance(ctx, b, opts, emit)
	}

	return false, fmt.Errorf("no such repair: %q", j.Repair.Kind)
}

func (j *Job) reapply(ctx context.Context, env Env, emit func(probe.Event), step func(string, string)) (bool, error) {
	b := j.Board
	path := filepath.Join(env.Dir, plan.ConfigFile(b.Name))

	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	// The file on disk becomes what the board gets, as liftoff gen would
	// write it: the equivalent command names it.
	if err := fileio.WriteFile(path, j.config, 0o600); err != nil {
		return false, err
	}

	if j.Repair.Reboots {
		step("step", "sending "+b.Name+" its config in maintenance mode")

		return true, apply.Board(ctx, b, path, env.Apply, emit)
	}

	step("step", "applying "+b.Name+"'s regenerated config (mode auto: Talos applies it live where it can)")

	return j.call(ctx, env, func(ctx context.Context, c *client.Client) error {
		resp, err := c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: j.config, Mode: machine.ApplyConfigurationRequest_AUTO})
		if err != nil {
			return err
		}

		for _, m := range resp.GetMessages() {
			if m.GetMode() == machine.ApplyConfigurationRequest_REBOOT {
				j.Repair.Reboots = true
			}

			step("step", b.Name+": "+m.GetModeDetails())
		}

		return nil
	})
}

// call connects to the board over mutual TLS and makes one call: a repair
// is sent once, never retried behind the operator's back. A nil f only
// checks that the board runs a config.
func (j *Job) call(ctx context.Context, env Env, f func(context.Context, *client.Client) error) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, cmpDur(env.Apply.CallTimeout, 30*time.Second))
	defer cancel()

	c, secure, err := probe.Connect(cctx, j.target(env))
	if err != nil {
		return false, fmt.Errorf("%s: %w", j.Board.Name, err)
	}
	defer c.Close() //nolint:errcheck

	if !secure {
		return false, fmt.Errorf("%s is in maintenance mode: it runs no config to repair — apply its config (liftoff fix %s once it is diagnosed back in maintenance, or liftoff up)", j.Board.Name, j.Board.Name)
	}

	if ctx.Err() != nil || f == nil {
		return false, ctx.Err()
	}

	if err := f(cctx, c); err != nil {
		return true, fmt.Errorf("%s: %w", j.Board.Name, err)
	}

	return true, nil
}

// applyOptions are env's connection options with the talosconfig.
func (j *Job) applyOptions(env Env) apply.Options {
	opts := env.Apply
	opts.Talosconfig = env.Talosconfig

	return opts
}

func cmpDur(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}

	return b
}

// follow watches the board until the repair has taken: through its
// reboot when it reboots, to Ready (a reset: to maintenance mode).
func (j *Job) follow(ctx context.Context, env Env, step func(string, string)) error {
	if j.Repair.Kind == probe.RepairApprove {
		return j.followRoute(ctx, env, step)
	}

	name := j.Board.Name
	events := make(chan probe.Event, 256)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()

	watched := make(chan error, 1)

	go func() {
		watched <- probe.WatchTalos(wctx, j.target(env), func(e probe.Event) {
			select {
			case events <- e:
			case <-wctx.Done():
			}
		})
	}()

	l := probe.NewLab()
	apply.Planned(&plan.Plan{Boards: []plan.Board{j.Board}}, func(plan.Board) []string { return image.Extensions(env.Plan, j.Board.Role) }, l.Apply)

	// A rebooting repair must see the board go first; an upgrade or a
	// reset has already followed it through its reboot (cluster/apply).
	left := !j.Repair.Reboots || j.Repair.Kind == probe.RepairUpgrade || j.Repair.Kind == probe.RepairReset
	var stage probe.MachineStage

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-watched:
			return fmt.Errorf("watching %s: %w", name, err)
		case e := <-events:
			l.Apply(e)
		}

		n := l.Node(name)

		if n.Stage != stage {
			stage = n.Stage
			if left {
				step("step", name+": "+stage.String())
			}
		}

		if !left && (slices.Contains([]probe.MachineStage{probe.StageUpgrading, probe.StageInstalling, probe.StageRebooting, probe.StageBooting, probe.StageResetting, probe.StageMaintenance}, n.Stage) || !n.Reachable && n.Unreachable != "") {
			left = true

			step("rebooting", name+" is rebooting ("+cmpOr(n.Stage.String(), "its API went away")+"); cancelling now only stops the watching")
		}

		if left && j.arrived(n) {
			if j.Repair.Kind == probe.RepairReset {
				step("done", name+" is in maintenance mode, its config and data wiped: apply its config again (liftoff fix "+name+" offers it, or liftoff up)")
			} else {
				step("done", name+" is Ready")
			}

			return nil
		}
	}
}

// arrived: where the repair takes the board. Ready is Talos's MachineStatus
// ready (it includes the Kubernetes Node's Ready: the nodeReady condition)
// under the board's own name, with the role's extensions and no others.
func (j *Job) arrived(n *probe.Node) bool {
	if j.Repair.Kind == probe.RepairReset {
		return n.Stage == probe.StageMaintenance && n.Reachable
	}

	return n.Stage == probe.StageRunning && n.MachineReady && (n.Hostname == "" || n.Hostname == n.Name) &&
		len(n.Missing()) == 0 && len(n.Unexpected()) == 0
}

// followRoute waits for the approved route to become primary, when liftoff
// can see the route.
func (j *Job) followRoute(ctx context.Context, env Env, step func(string, string)) error {
	if env.Route == nil {
		// No view of the route from here: the tailnet's own word.
		got, err := env.Tailnet.Devices().SubnetRoutes(ctx, j.device)
		if err != nil {
			return fmt.Errorf("reading back the approval: %w", err)
		}

		for _, r := range j.routes {
			if !slices.Contains(got.Enabled, r) {
				return fmt.Errorf("the tailnet does not list %s as approved after the approval (enabled: %s)", r, strings.Join(got.Enabled, ", "))
			}
		}

		step("done", "approved "+strings.Join(j.routes, ", "))

		return nil
	}

	ro, err := env.Route(ctx)
	if err != nil {
		return err
	}

	step("step", "approved; waiting for the tailnet to make "+env.Plan.Tailscale.Hostname+" the routes' primary")

	if err := probe.RouteUntil(ctx, ro, func(e probe.Event) bool { return e.Kind == probe.Route && e.State == probe.RoutePrimary }); err != nil {
		return err
	}

	step("done", env.Plan.Tailscale.Hostname+" routes "+strings.Join(j.routes, ", "))

	return nil
}
