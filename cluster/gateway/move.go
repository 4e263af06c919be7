// Package gateway moves the gateway role — the one Tailscale subnet router —
// from one board to another: it edits the plan, regenerates both boards'
// configs from the same secrets bundle, brings the new router up beside
// the old one, then takes the old one down, so the route is served as long
// as it can be, and measures from the probes' events how long the tailnet
// could not reach the cluster. The dashboard, `liftoff move-gateway` and
// the gateway-failover check share it.
//
// Why this order: a Tailscale subnet route with two approved routers is
// served by one primary, which control chooses and tells every peer
// (tailscale v1.102.5 tailcfg/tailcfg.go, Node.PrimaryRoutes: "as
// determined by the control plane"); when the primary's control client
// goes away control considers it inactive and tells the peers to switch
// to another router of the same routes (ipn/ipnlocal/local.go,
// DisconnectControl; net/routecheck/probe.go calls such routers HA
// routers). sim/tailnet does that election. So the new router joins first,
// as the standby, and the outage is the failover alone.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	tsapi "tailscale.com/client/tailscale/v2"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
)

// Env is what a move needs: what a repair needs (the plan, the directory
// liftoff gen wrote — the secrets bundle is read, never regenerated —,
// the talosconfig, the auth key for the new gateway's config, the Tailscale
// API that approves the new router's routes when no autoApprovers rule
// did, and Route, where the move watches the route; nil: it cannot see the
// tailnet, and says so), and more.
type Env struct {
	repair.Env
	// PlanFile is lab.yaml, rewritten with the new roles; "" leaves the
	// plan on disk alone (the caller keeps it).
	PlanFile string
	// Reach asks the cluster through the route once (the hello-world's
	// ClusterIP) and says what came back as a Traffic event; nil: the
	// outage ends when the route is usable again.
	Reach func(ctx context.Context) probe.Event
	// Every is how often Reach is asked during the handover; default 100ms.
	Every time.Duration
}

// Move is a prepared move: everything its preview shows. Preparing
// changes nothing anywhere.
type Move struct {
	From, To plan.Board // the boards as they are now
	// Plan is the plan after the move.
	Plan *plan.Plan
	// Installers each board is upgraded to.
	FromInstaller, ToInstaller string
	// PlanDiff is lab.yaml's change; ConfigDiffs each config's, from the
	// file liftoff gen wrote (secrets redacted), by board name.
	PlanDiff    string
	ConfigDiffs map[string]string
	// Steps are the equivalent commands, in the order the move runs them.
	Steps []string

	configs  map[string][]byte
	planYAML []byte
}

// Prepare checks that to can take the gateway role and resolves
// everything the move will do. It reads the plan, the secrets bundle and
// the configs on disk; it changes nothing.
func Prepare(env Env, to string) (*Move, error) {
	p := env.Plan
	if p.Tailscale.Disabled {
		return nil, errors.New("the plan disables tailscale (tailscale.disabled): there is no gateway to move — remove tailscale.disabled and make one board the gateway first")
	}

	from, ok := p.Gateway()
	if !ok {
		return nil, errors.New("the plan has no gateway: make one board the gateway (role: gateway) and bring it up first")
	}

	dst, ok := p.Board(to)
	if !ok {
		return nil, fmt.Errorf("%s is not a board of the plan: name one of %s", to, strings.Join(names(p, from.Name), ", "))
	}

	if dst.Name == from.Name {
		return nil, fmt.Errorf("%s is the gateway already: name another board (%s)", to, strings.Join(names(p, from.Name), ", "))
	}

	if env.AuthKey == "" {
		return nil, errors.New("no Tailscale auth key for the new gateway's config: pass --tailscale-authkey-file (or TS_AUTHKEY), as for liftoff gen")
	}

	next := clone(p)
	for i := range next.Boards {
		switch next.Boards[i].Name {
		case from.Name:
			next.Boards[i].Role = plan.Compute
		case dst.Name:
			next.Boards[i].Role = plan.Gateway
		}
	}

	if err := next.Validate().Err(); err != nil {
		return nil, fmt.Errorf("the plan with %s as the gateway: %w", dst.Name, err)
	}

	m := &Move{From: from, To: dst, Plan: next, ConfigDiffs: map[string]string{}, configs: map[string][]byte{}}

	var err error

	if m.FromInstaller, err = installer(next, from.Name); err != nil {
		return nil, err
	}

	if m.ToInstaller, err = installer(next, dst.Name); err != nil {
		return nil, err
	}

	for _, b := range []plan.Board{dst, from} {
		data, err := config.Regenerate(env.Dir, next, b.Name, env.AuthKey)
		if err != nil {
			return nil, err
		}

		m.configs[b.Name] = data

		old, err := fileio.ReadFile(filepath.Join(env.Dir, plan.ConfigFile(b.Name)), fileio.Secrets)
		if err != nil {
			return nil, fmt.Errorf("reading %s's config for the diff: %w (point --out at the directory liftoff gen wrote)", b.Name, err)
		}

		if m.ConfigDiffs[b.Name], _, _, err = config.Diff(old, data); err != nil {
			return nil, err
		}
	}

	if m.planYAML, err = next.Marshal(); err != nil {
		return nil, err
	}

	before, err := p.Marshal()
	if err != nil {
		return nil, err
	}

	if m.PlanDiff, _, _, err = config.Diff(before, m.planYAML); err != nil {
		return nil, err
	}

	cfg := func(b plan.Board) string { return filepath.Join(env.Dir, plan.ConfigFile(b.Name)) }
	m.Steps = []string{
		fmt.Sprintf("talosctl apply-config -n %s -e %s --file %s --mode auto", dst.Address, dst.Address, cfg(dst)),
		fmt.Sprintf("talosctl upgrade -n %s -e %s --image %s", dst.Address, dst.Address, m.ToInstaller),
		"wait until " + p.Tailscale.Hostname + " on " + dst.Name + " advertises " + strings.Join(next.Routes(), ", ") + " and is approved (the standby router)",
		fmt.Sprintf("talosctl upgrade -n %s -e %s --image %s", from.Address, from.Address, m.FromInstaller),
		fmt.Sprintf("talosctl apply-config -n %s -e %s --file %s --mode auto", from.Address, from.Address, cfg(from)),
	}

	return m, nil
}

func installer(p *plan.Plan, name string) (string, error) {
	b, _ := p.Board(name)

	im, err := image.For(p, b)
	if err != nil {
		return "", err
	}

	return im.Installer, nil
}

// names are the plan's boards but one.
func names(p *plan.Plan, but string) []string {
	var out []string

	for _, b := range p.Boards {
		if b.Name != but {
			out = append(out, b.Name)
		}
	}

	return out
}

// clone is a deep enough copy of a plan for editing roles.
func clone(p *plan.Plan) *plan.Plan {
	c := *p
	c.Boards = slices.Clone(p.Boards)

	return &c
}

// Summary is the preview's first line.
func (m *Move) Summary() string {
	return fmt.Sprintf("move the gateway from %s (%s) to %s (%s): %s becomes the subnet router, %s a compute board; both reboot once, %s first",
		m.From.Name, m.From.Address, m.To.Name, m.To.Address, m.To.Name, m.From.Name, m.To.Name)
}

// ErrCancelled is a move stopped before it changed anything.
var ErrCancelled = errors.New("cancelled before anything was written or sent to a board")

// Result is what a finished move measured.
type Result struct {
	// Outage is how long the tailnet could not reach the cluster.
	Outage time.Duration
	// Words say what was measured.
	Words string
}

// Run moves the gateway: writes the plan and both configs, gives the new
// gateway its config and image and waits for it to stand by as a second
// router, then gives the old one the compute image and config, and
// follows the route until it answers through the new router. Progress is
// events for emit: Handover for the move, RepairStep for each board.
// Cancelling ctx before the first reboot changes nothing on a board;
// after it, cancelling only stops the following, and the error names the
// commands that finish the move.
func (m *Move) Run(ctx context.Context, env Env, emit func(probe.Event)) (Result, error) {
	pair := m.From.Name + " " + m.To.Name
	say := func(state, detail string, outage time.Duration) {
		emit(probe.Event{Time: time.Now(), Kind: probe.Handover, Name: pair, State: state, Detail: detail, Ready: state == "done", Latency: outage})
	}
	board := func(b plan.Board, state, detail string) {
		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.RepairStep, Name: "move-gateway", State: state, Detail: detail, Ready: state == "done"})
	}

	say("started", m.Summary(), 0)

	if ctx.Err() != nil {
		say("cancelled", ErrCancelled.Error(), 0)

		return Result{}, ErrCancelled
	}

	restore, err := m.write(env)
	if err != nil {
		say("failed", err.Error(), 0)

		return Result{}, err
	}

	// The picture learns the new roles: what each board should now run.
	apply.Planned(&plan.Plan{Boards: []plan.Board{m.with(m.To), m.with(m.From)}}, func(b plan.Board) []string { return image.Extensions(m.Plan, b.Role) }, emit)

	left := 0 // steps done, for the commands that finish the move

	fail := func(err error) (Result, error) {
		if ctx.Err() != nil && left > 0 {
			err = fmt.Errorf("liftoff stopped following the move (%w); what was sent goes on — finish it with: %s", ctx.Err(), strings.Join(m.Steps[left:], "; "))
			say("cancelled", err.Error(), 0)

			return Result{}, err
		}

		say("failed", err.Error(), 0)

		return Result{}, err
	}

	opts := env.Apply
	opts.Talosconfig = env.Talosconfig

	// 1. The new gateway: its config (tailscale waits for the image that
	// has it), then its image. The tailscale extension starts once the
	// new image boots (Talos v1.13.3 loads extension services at boot).
	board(m.To, "started", "becoming the gateway: its config, then "+m.ToInstaller)

	if _, err := apply.Live(ctx, m.To, m.configs[m.To.Name], opts, emit); err != nil {
		// Nothing reached a board: the files go back as they were.
		if rerr := restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("putting the plan and configs back: %w", rerr))
		} else if ctx.Err() != nil {
			say("cancelled", ErrCancelled.Error(), 0)

			return Result{}, ErrCancelled
		}

		return fail(err)
	}

	left = 1

	board(m.To, "rebooting", "upgrading to the gateway image; cancelling now only stops the following")

	if err := apply.Upgrade(ctx, m.To, m.ToInstaller, opts, emit); err != nil {
		board(m.To, "failed", err.Error())

		return fail(err)
	}

	left = 2

	board(m.To, "done", m.To.Name+" runs the gateway image and is Ready")

	// 2. The standby: the new router advertises and is approved.
	say("standby", "waiting for "+m.To.Name+"'s tailscale to join the tailnet as a second router", 0)

	if err := m.standby(ctx, env, say); err != nil {
		return fail(err)
	}

	left = 3

	// 3. The old gateway leaves: the meter watches from here.
	meter := &probe.OutageMeter{From: m.From.Name}
	watch, stop := m.watch(ctx, env, meter, emit)

	defer stop()

	say("failover", m.From.Name+" leaves: its routes fail over to "+m.To.Name, 0)
	board(m.From, "rebooting", "upgrading to the compute image "+m.FromInstaller)

	watch.arm()

	if err := apply.Upgrade(ctx, m.From, m.FromInstaller, opts, emit); err != nil {
		board(m.From, "failed", err.Error())

		return fail(err)
	}

	left = 4

	if _, err := apply.Live(ctx, m.From, m.configs[m.From.Name], opts, emit); err != nil {
		board(m.From, "failed", err.Error())

		return fail(err)
	}

	left = 5

	board(m.From, "done", m.From.Name+" runs the compute image and config and is Ready")

	// 4. The route answers again through the new router.
	if env.Route == nil && env.Reach == nil {
		words := "the outage was not measured: liftoff sees neither the route (no tailscaled here) nor the cluster through it"
		say("done", m.From.Name+" gone, "+m.To.Name+" is the gateway; "+words, 0)

		return Result{Words: words}, nil
	}

	if err := watch.wait(ctx); err != nil {
		return fail(err)
	}

	res := Result{Outage: meter.Outage(), Words: meter.Words()}
	say("done", fmt.Sprintf("%s gone, %s routes the cluster; %s", m.From.Name, m.To.Name, res.Words), res.Outage)

	return res, nil
}

// with is b with its role after the move.
func (m *Move) with(b plan.Board) plan.Board {
	nb, _ := m.Plan.Board(b.Name)

	return nb
}

// write puts the new plan and both configs on disk together (0600 for
// the configs: they hold the cluster's secrets and the auth key).
// It returns how to put them back while no board has been told anything.
func (m *Move) write(env Env) (restore func() error, err error) {
	var s, back fileio.Set

	add := func(path string, data []byte, mode os.FileMode, kind fileio.Kind) error {
		old, err := fileio.ReadFile(path, kind)
		if err != nil {
			return err
		}

		s.Add(path, data, mode, false)
		back.Add(path, old, mode, false)

		return nil
	}

	if env.PlanFile != "" {
		if err := add(env.PlanFile, m.planYAML, 0o644, fileio.Plan); err != nil {
			return nil, err
		}
	}

	for name, data := range m.configs {
		if err := add(filepath.Join(env.Dir, plan.ConfigFile(name)), data, 0o600, fileio.Secrets); err != nil {
			return nil, err
		}
	}

	return back.Commit, s.Commit()
}

// standby waits until two routers advertise the cluster's routes and both
// are approved; with the Tailscale API it approves the new one when no
// autoApprovers rule did.
func (m *Move) standby(ctx context.Context, env Env, say func(string, string, time.Duration)) error {
	if env.Route == nil {
		say("standby", "liftoff cannot see the tailnet from here: it goes on without waiting for "+m.To.Name+" to stand by", 0)

		return nil
	}

	ro, err := env.Route(ctx)
	if err != nil {
		return err
	}

	asked := false

	err = probe.RouteUntil(ctx, ro, func(e probe.Event) bool {
		if e.Kind != probe.Route || e.Count < 2 {
			return false
		}

		v, err := probe.RouteSnapshot(ctx, ro)
		if err != nil {
			return false
		}

		if len(v.Approved) >= 2 || !v.FromAPI {
			return true
		}

		if env.Tailnet != nil && !asked {
			asked = true

			if err := m.approve(ctx, env); err != nil {
				say("standby", "approving "+m.To.Name+"'s routes: "+err.Error(), 0)
			}

			return false
		}

		say("standby", m.To.Name+"'s routes wait for approval: admin console → Machines → "+m.Plan.Tailscale.Hostname+" (the newer one) → Edit route settings, or an autoApprovers rule", 0)

		return false
	})
	if err != nil {
		return err
	}

	say("standby", m.To.Name+" stands by: two routers advertise the cluster's routes, "+m.From.Name+" still primary", 0)

	return nil
}

// approve approves the routes of the connected device of the gateway's
// name that has none approved: the new router.
func (m *Move) approve(ctx context.Context, env Env) error {
	devices, err := env.Tailnet.Devices().List(ctx, tsapi.WithFields(tsapi.IncludeFieldsAll))
	if err != nil {
		return err
	}

	routes := m.Plan.Routes()

	for _, d := range devices {
		if cmp.Or(d.Hostname, d.Name) == m.Plan.Tailscale.Hostname && d.ConnectedToControl && len(d.EnabledRoutes) == 0 {
			return env.Tailnet.Devices().SetSubnetRoutes(ctx, cmp.Or(d.NodeID, d.ID), routes)
		}
	}

	return errors.New("no new device of that name without approved routes")
}

// FailoverWait bounds how long the move waits for the route to answer
// through the new router once the old one left.
const FailoverWait = 3 * time.Minute

// watcher folds the probes' events into the outage meter while the old
// router leaves: the old board's Talos events, the route, and requests
// through it.
type watcher struct {
	events chan probe.Event
	armed  chan time.Time
	done   chan struct{}
	meter  *probe.OutageMeter
	from   string
}

func (m *Move) watch(ctx context.Context, env Env, meter *probe.OutageMeter, emit func(probe.Event)) (*watcher, func()) {
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{events: make(chan probe.Event, 256), armed: make(chan time.Time, 1), done: make(chan struct{}), meter: meter, from: m.From.Name}
	meter.RouteOnly = env.Reach == nil

	send := func(e probe.Event) {
		select {
		case w.events <- e:
		case <-wctx.Done():
		}
	}

	var goes []func()

	goes = append(goes, func() {
		_ = probe.WatchTalos(wctx, probe.Target{Node: m.From.Name, Endpoint: apply.Endpoint(m.From, env.Apply.Port), Talosconfig: env.Talosconfig}, send)
	})

	if env.Route != nil {
		goes = append(goes, func() {
			if ro, err := env.Route(wctx); err == nil {
				_ = probe.WatchRoute(wctx, ro, send)
			}
		})
	}

	if env.Reach != nil {
		goes = append(goes, func() { reach(wctx, env, emit, send) })
	}

	finished := make(chan struct{})
	running := len(goes) + 1

	for _, g := range goes {
		go func() { defer func() { finished <- struct{}{} }(); g() }()
	}

	go func() {
		defer func() { finished <- struct{}{} }()
		w.fold(wctx)
	}()

	return w, func() {
		cancel()

		for range running {
			<-finished
		}
	}
}

// reach asks the cluster through the route every env.Every, each request
// on its own so a hung one does not delay the next. Every answer goes to
// the meter; the stream hears only a change of outcome.
func reach(ctx context.Context, env Env, emit, send func(probe.Event)) {
	every := cmp.Or(env.Every, 100*time.Millisecond)
	tick := time.NewTicker(every)

	defer tick.Stop()

	var (
		inflight sync.WaitGroup
		mu       sync.Mutex
		last     string
	)

	defer inflight.Wait()

	for {
		inflight.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			e := env.Reach(rctx)

			cancel()

			if ctx.Err() != nil {
				return
			}

			send(e)

			mu.Lock()
			changed := e.State != last
			last = e.State
			mu.Unlock()

			if changed {
				emit(e)
			}
		})

		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *watcher) fold(ctx context.Context) {
	closed := false

	for {
		select {
		case <-ctx.Done():
			return
		case at := <-w.armed:
			w.meter.Armed = at
		case e := <-w.events:
			w.meter.Apply(e)

			if w.meter.Done() && !closed {
				closed = true
				close(w.done)
			}
		}
	}
}

// arm starts the measuring: the old router is about to be told to go.
func (w *watcher) arm() { w.armed <- time.Now() }

// wait returns once the outage is measured: the route answers again.
func (w *watcher) wait(ctx context.Context) error {
	t := time.NewTimer(FailoverWait)
	defer t.Stop()

	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("the route did not answer through the new router within %s of %s leaving: check its tailscale (talosctl logs ext-tailscale) and the route's approval", FailoverWait, w.from)
	}
}
