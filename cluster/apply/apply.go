// Package apply sends generated configs to boards, bootstraps the first
// control plane and fetches the kubeconfig, reporting progress as probe
// events. Every step is cancellable and retries what is worth retrying.
package apply

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// Options tune apply and bootstrap.
type Options struct {
	// Port is apid's port (the simulated lab uses the real one too).
	Port int
	// Attempts per board before giving up on a transient failure.
	Attempts int
	// Backoff is the first wait between attempts; it doubles.
	Backoff time.Duration
}

func (o Options) withDefaults() Options {
	if o.Port == 0 {
		o.Port = discover.TalosPort
	}

	if o.Attempts == 0 {
		o.Attempts = 5
	}

	if o.Backoff == 0 {
		o.Backoff = 500 * time.Millisecond
	}

	return o
}

// Endpoint is a board's apid address; port 0 means Talos's own.
func Endpoint(b plan.Board, port int) string {
	if port == 0 {
		port = discover.TalosPort
	}

	return net.JoinHostPort(b.Address, fmt.Sprint(port))
}

// Planned emits what the plan wants of each board, so a recorded stream
// carries its own expectations.
func Planned(p *plan.Plan, expect func(plan.Board) []string, emit func(probe.Event)) {
	for _, b := range p.Boards {
		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Planned, Name: b.Role, State: b.Machine, Detail: strings.Join(expect(b), " ")})
	}
}

// All applies every board's config from dir concurrently. One board failing
// does not stop the others; the error lists every failure.
func All(ctx context.Context, p *plan.Plan, dir string, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)

	for _, b := range p.Boards {
		wg.Go(func() {
			if err := Board(ctx, b, filepath.Join(dir, b.Name+".yaml"), opts, emit); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", b.Name, err))
				mu.Unlock()
			}
		})
	}

	wg.Wait()

	return errors.Join(errs...)
}

// Board applies one config to a board in maintenance mode. The config is
// validated locally first, so a bad file never reaches the board.
func Board(ctx context.Context, b plan.Board, path string, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()

	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading its config: %w (run liftoff gen first)", err)
	}

	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return fmt.Errorf("%s is not a Talos config: %w", path, err)
	}

	if _, err := cfg.Validate(config.Metal{}); err != nil {
		return fmt.Errorf("%s does not pass Talos validation: %w", path, err)
	}

	installer := cfg.Machine().Install().Image()
	endpoint := Endpoint(b, opts.Port)

	return retry(ctx, opts, func(attempt int) (bool, error) {
		if attempt > 1 {
			emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Log, Name: "liftoff", Detail: fmt.Sprintf("apply attempt %d of %d", attempt, opts.Attempts)})
		}

		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()

		c, secure, err := probe.Connect(actx, probe.Target{Node: b.Name, Endpoint: endpoint})
		if err != nil {
			return true, fmt.Errorf("connecting to %s: %w", endpoint, err)
		}
		defer c.Close() //nolint:errcheck

		if secure {
			return false, errors.New("the board is not in maintenance mode")
		}

		resp, err := c.ApplyConfiguration(actx, &machineapi.ApplyConfigurationRequest{Data: data, Mode: machineapi.ApplyConfigurationRequest_AUTO})
		if err != nil {
			// The board judged the config: trying again changes nothing.
			if s, ok := status.FromError(err); ok && s.Code() == codes.InvalidArgument {
				return false, fmt.Errorf("the board refused the config: %s", s.Message())
			}

			return true, err
		}

		msg := ""
		for _, m := range resp.GetMessages() {
			msg = strings.TrimSpace(m.GetModeDetails())
		}

		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Applied, Detail: installer})

		if msg != "" {
			emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Log, Name: "liftoff", Detail: msg})
		}

		return false, nil
	})
}

// retry runs f until it succeeds, says not to retry, or attempts run out.
func retry(ctx context.Context, opts Options, f func(attempt int) (retry bool, err error)) error {
	wait := opts.Backoff

	var err error

	for attempt := 1; attempt <= opts.Attempts; attempt++ {
		var again bool

		again, err = f(attempt)
		if err == nil || !again {
			return err
		}

		if attempt == opts.Attempts {
			break
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}

		wait *= 2
	}

	return fmt.Errorf("gave up after %d attempts: %w", opts.Attempts, err)
}

// BootstrapTarget is the board to bootstrap: always the first control plane
// by its own address. The VIP is not an option: it comes up only after
// etcd runs, which is what bootstrap starts.
func BootstrapTarget(p *plan.Plan) (plan.Board, error) {
	cps := p.ControlPlanes()
	if len(cps) == 0 {
		return plan.Board{}, errors.New("the plan has no control plane to bootstrap")
	}

	return cps[0], nil
}

// CheckBootstrapAddress explains why an address the user picked is wrong.
func CheckBootstrapAddress(p *plan.Plan, addr string) error {
	if p.Cluster.VIP != "" && addr == p.Cluster.VIP {
		first, _ := BootstrapTarget(p)

		return fmt.Errorf("%s is the VIP, which only comes up after etcd runs — and bootstrap is what starts etcd: bootstrap the first control plane by its own address (%s, %s)", addr, first.Name, first.Address)
	}

	for _, b := range p.Boards {
		if b.Address == addr && b.Machine != plan.ControlPlane {
			return fmt.Errorf("%s is %s, a worker: only a control plane can be bootstrapped", addr, b.Name)
		}
	}

	return nil
}

// Bootstrap starts etcd on the first control plane. It waits for the board
// to come up with its config (mutual TLS) and treats "already bootstrapped"
// as done, so it is safe to run again.
func Bootstrap(ctx context.Context, p *plan.Plan, tc *clientconfig.Config, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()

	b, err := BootstrapTarget(p)
	if err != nil {
		return err
	}

	endpoint := Endpoint(b, opts.Port)

	return waitSecure(ctx, b, endpoint, tc, emit, func(c *client.Client) error {
		err := c.Bootstrap(ctx, &machineapi.BootstrapRequest{})
		if s, ok := status.FromError(err); ok && s.Code() == codes.AlreadyExists {
			err = nil
		}

		if err == nil {
			emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Bootstrapped})
		}

		return err
	})
}

// Kubeconfig fetches the admin kubeconfig from the first control plane.
func Kubeconfig(ctx context.Context, p *plan.Plan, tc *clientconfig.Config, opts Options) ([]byte, error) {
	opts = opts.withDefaults()

	b, err := BootstrapTarget(p)
	if err != nil {
		return nil, err
	}

	var out []byte

	err = waitSecure(ctx, b, Endpoint(b, opts.Port), tc, func(probe.Event) {}, func(c *client.Client) error {
		data, err := c.Kubeconfig(ctx)
		out = data

		return err
	})

	return out, err
}

// waitSecure retries f on the board over mutual TLS until it succeeds or
// ctx ends: after apply the board installs and reboots before it can serve.
func waitSecure(ctx context.Context, b plan.Board, endpoint string, tc *clientconfig.Config, emit func(probe.Event), f func(*client.Client) error) error {
	wait := 500 * time.Millisecond

	var last error

	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, secure, err := probe.Connect(cctx, probe.Target{Node: b.Name, Endpoint: endpoint, Talosconfig: tc})

		cancel()

		switch {
		case err != nil:
			last = err
		case !secure:
			c.Close() //nolint:errcheck

			last = errors.New("still in maintenance mode (config not applied, or still installing)")
		default:
			err = f(c)
			c.Close() //nolint:errcheck

			if err == nil {
				return nil
			}

			last = err
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", b.Name, ctx.Err(), last)
		case <-time.After(wait):
		}

		wait = min(wait*2, 5*time.Second)
	}
}
