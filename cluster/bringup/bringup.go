// Package bringup is one bring-up of a lab with liftoff's own code — gen,
// apply, bootstrap, kubeconfig — with every board, the Nodes and the
// Tailscale route watched into one event stream. The wizard, headless runs
// and the simulated lab share it; they differ only in Options.
package bringup

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"k8s.io/client-go/kubernetes"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/factory"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// Options say how a plan becomes configs and where the route is seen.
type Options struct {
	// AuthKey is the gateway's Tailscale auth key (needed with a gateway).
	AuthKey string
	// NewSecrets allows a new secrets bundle next to existing configs
	// (their boards are being wiped); see config.WriteOptions.
	NewSecrets bool
	// Edit changes the written files before they are applied: the
	// simulated lab's scenarios make a person's mistakes with it.
	Edit func(p *plan.Plan, dir string) error
	// Route is where the route probe looks (nil: no route watch).
	Route func(ctx context.Context) (probe.RouteOptions, error)
	// Apply tunes retries and timeouts of apply and bootstrap.
	Apply apply.Options
	// Changes receives what gen wrote (created, updated, unchanged …).
	Changes func([]config.Change)
	// Registered receives each schematic's registration with the plan's
	// Image Factory, which comes before anything is written or applied.
	Registered func(factory.Step)
	// KeepCards skips UpgradeCards after the bootstrap: a board booted
	// from a card keeps running the card's image.
	KeepCards bool
}

// Run is one bring-up in progress.
type Run struct {
	Plan        *plan.Plan
	Dir         string
	Stream      *probe.Stream
	Talosconfig *clientconfig.Config
	Kubeconfig  []byte
	Kube        kubernetes.Interface

	opts Options
}

// Start registers the boards' schematics with the plan's Image Factory,
// generates the configs into dir, announces the plan and starts watching
// every board (and the route, when Options.Route says where). A factory
// that refuses a schematic, or does not answer for one it never confirmed,
// stops it before anything is written.
func Start(ctx context.Context, dir string, p *plan.Plan, opts Options) (*Run, error) {
	registered, err := Register(ctx, dir, p, opts.Registered)
	if err != nil {
		return nil, err
	}

	changes, err := config.Write(dir, p, config.WriteOptions{AuthKey: opts.AuthKey, NewSecrets: opts.NewSecrets})
	if err != nil {
		return nil, err
	}

	if opts.Changes != nil {
		opts.Changes(changes)
	}

	if opts.Edit != nil {
		if err := opts.Edit(p, dir); err != nil {
			return nil, err
		}
	}

	tc, err := config.OpenTalosconfig(filepath.Join(dir, config.TalosconfigFile))
	if err != nil {
		return nil, fmt.Errorf("reading the talosconfig gen wrote: %w", err)
	}

	if opts.Apply.Talosconfig == nil {
		// With it, apply recognises boards already running this cluster's
		// config: a re-run resumes instead of failing on them.
		opts.Apply.Talosconfig = tc
	}

	r := &Run{Plan: p, Dir: dir, Stream: probe.NewStream(ctx, 1024), Talosconfig: tc, opts: opts}

	apply.Planned(p, func(b plan.Board) []string { return image.Extensions(p, b.Role) }, r.Stream.Emit)

	// Each board's note says its installer's schematic is known to the
	// factory: evidence for a failed install's diagnosis.
	for _, b := range p.Boards {
		if im, err := image.For(p, b); err == nil {
			if st, ok := registered[im.SchematicID]; ok {
				r.Stream.Emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Log, Name: "liftoff",
					Detail: fmt.Sprintf("schematic %s (%s) at %s: %s", shortID(im.SchematicID), st.Image, p.Images.Factory, st.Outcome)})
			}
		}
	}

	for _, b := range p.Boards {
		r.Stream.Go(func(ctx context.Context, emit func(probe.Event)) error {
			endpoint := apply.Endpoint(b, 0)

			// Known by its machine UUID, a board is followed to a new
			// address (a new DHCP lease after install) instead of lost.
			return probe.WatchTalos(ctx, probe.Target{Node: b.Name, Endpoint: endpoint, Talosconfig: tc,
				UUID: identity(ctx, endpoint), Find: neighbours(b.Address)}, emit)
		})
	}

	if _, ok := p.Gateway(); ok && opts.Route != nil {
		r.Stream.Go(func(ctx context.Context, emit func(probe.Event)) error {
			ro, err := opts.Route(ctx)
			if err != nil {
				return err
			}

			return probe.WatchRoute(ctx, ro, emit)
		})
	}

	return r, nil
}

// Apply sends every board its config.
func (r *Run) Apply(ctx context.Context) error {
	return apply.All(ctx, r.Plan, r.Dir, r.opts.Apply, r.Stream.Emit)
}

// ApplyBoard sends one board its config again: a board that came back in
// maintenance mode (power lost, a reset). apply.Board's rules still hold:
// a board that took a config, or is installing one, is never sent another.
func (r *Run) ApplyBoard(ctx context.Context, name string) error {
	b, ok := r.Plan.Board(name)
	if !ok {
		return fmt.Errorf("%s is not a board of the plan", name)
	}

	return apply.Board(ctx, b, filepath.Join(r.Dir, plan.ConfigFile(b.Name)), r.opts.Apply, r.Stream.Emit)
}

// Reapply sends one board its config again beside the probes, as
// ApplyBoard does, saying why first (note, a Log event): a headless
// run's answer to a board back in maintenance mode, which must not hold
// up the events that showed it. done gets ApplyBoard's error.
func (r *Run) Reapply(ctx context.Context, name, note string, done func(error)) {
	r.Stream.Go(func(_ context.Context, emit func(probe.Event)) error {
		emit(probe.Event{Time: time.Now(), Node: name, Kind: probe.Log, Name: "liftoff", State: "retrying", Detail: note})
		done(r.ApplyBoard(ctx, name))

		return nil
	})
}

// Bootstrap bootstraps the first control plane, fetches the kubeconfig,
// starts watching the Nodes, and upgrades each board whose card runs
// another image than its config's installer (UpgradeCards).
func (r *Run) Bootstrap(ctx context.Context) error {
	if err := apply.Bootstrap(ctx, r.Plan, r.Talosconfig, r.opts.Apply, r.Stream.Emit); err != nil {
		return err
	}

	// Ready means the API server answers /readyz, not just that Talos
	// handed out a kubeconfig.
	kc, err := apply.KubeconfigReady(ctx, r.Plan, r.Talosconfig, r.opts.Apply, r.Stream.Emit)
	if err != nil {
		return err
	}

	cs, err := probe.KubeClient(kc)
	if err != nil {
		return err
	}

	r.Kubeconfig, r.Kube = kc, cs
	r.Stream.Go(func(ctx context.Context, emit func(probe.Event)) error { return probe.WatchNodes(ctx, cs, emit) })

	// A board booted from a card with another image than its config's
	// installer gets that installer now (cards.go).
	if r.opts.KeepCards {
		return nil
	}

	return r.UpgradeCards(ctx)
}

// WatchHello keeps both hello-worlds deployed on the bootstrapped cluster
// and asks them for as long as the run lasts (probe.WatchHello); through,
// when set, is the operator's way into the tailnet for the route's ask.
// A fetch that cannot be made is an event: the rest of the run goes on.
func (r *Run) WatchHello(fetch func(ctx context.Context, r *Run) (probe.Fetcher, error), through func(ctx context.Context) (probe.Dial, error)) {
	r.Stream.Go(func(ctx context.Context, emit func(probe.Event)) error {
		f, err := fetch(ctx, r)
		if err != nil {
			emit(probe.Event{Time: time.Now(), Kind: probe.Error, Detail: "the hello-world cannot reach the cluster: " + err.Error()})

			return nil
		}

		w := probe.HelloWatch{Kube: r.Kube, Fetch: f}
		if _, ok := r.Plan.Gateway(); ok {
			w.Through = through
		}

		return probe.WatchHello(ctx, w, emit)
	})
}

// Register registers each role's schematic for the plan's board models —
// the image matrix, so a role changed later needs no new registration —
// with its Image Factory (custom images have none), remembering confirmed
// ones in dir; it returns each schematic's step by ID. report may be nil.
func Register(ctx context.Context, dir string, p *plan.Plan, report func(factory.Step)) (map[string]factory.Step, error) {
	images, err := image.Matrix(p)
	if err != nil {
		return nil, err
	}

	c, err := factory.New(p.Images.Factory)
	if err != nil {
		return nil, err
	}

	steps := map[string]factory.Step{}

	err = factory.Register(ctx, c, dir, images, func(st factory.Step) {
		steps[st.ID] = st

		if report != nil {
			report(st)
		}
	})

	return steps, err
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}

	return id
}

// identity is a board's machine UUID, read in maintenance mode before its
// config goes out ("" when it does not answer that way: already set up).
func identity(ctx context.Context, endpoint string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	b, err := discover.Inspect(ctx, endpoint)
	if err != nil {
		return ""
	}

	return b.UUID
}

// neighbours lists the Talos endpoints answering in a board's /24: where a
// board that moved may be now. A TCP connect is enough here; the watch
// asks each one who it is.
func neighbours(addr string) func(ctx context.Context) []string {
	return func(ctx context.Context) []string {
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return nil
		}

		prefix, _ := a.Prefix(24)

		var (
			mu    sync.Mutex
			found []string
			wg    sync.WaitGroup
			slots = make(chan struct{}, 64)
		)

		for ip := prefix.Addr().Next(); prefix.Contains(ip) && ip.As4()[3] != 255; ip = ip.Next() {
			endpoint := net.JoinHostPort(ip.String(), fmt.Sprint(discover.TalosPort))
			slots <- struct{}{}

			wg.Go(func() {
				defer func() { <-slots }()

				d := net.Dialer{Timeout: 500 * time.Millisecond}
				if c, err := d.DialContext(ctx, "tcp", endpoint); err == nil {
					c.Close() //nolint:errcheck

					mu.Lock()
					found = append(found, endpoint)
					mu.Unlock()
				}
			})
		}

		wg.Wait()
		slices.Sort(found)

		return found
	}
}
