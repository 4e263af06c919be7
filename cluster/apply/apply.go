// Package apply sends generated configs to boards, bootstraps the first
// control plane and fetches the kubeconfig, reporting progress as probe
// events. Every step is cancellable and retries what is worth retrying.
package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cosi-project/runtime/pkg/safe"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
)

// Options tune apply and bootstrap.
type Options struct {
	// Port is apid's port (the simulated lab uses the real one too).
	Port int
	// Attempts per board before giving up on a transient apply failure.
	// Waiting for a board to come up (bootstrap, kubeconfig) is bounded by
	// ctx alone: an install or a reboot may take long.
	Attempts int
	// Backoff is the first wait between attempts; it doubles up to
	// MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// CallTimeout bounds one attempt: connecting and one API call. A board
	// that takes the connection but never answers costs this much.
	CallTimeout time.Duration
	// SlowAfter is when a wait is reported as taking longer than expected.
	SlowAfter time.Duration
	// Talosconfig, when set, lets apply recognise a board already running
	// this cluster's config, so a re-run resumes instead of failing.
	Talosconfig *clientconfig.Config
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

	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Second
	}

	o.MaxBackoff = max(o.MaxBackoff, o.Backoff)

	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}

	if o.SlowAfter == 0 {
		o.SlowAfter = 10 * time.Minute
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
	by, install := p.AwaitsCNI()

	for _, b := range p.Boards {
		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Planned, Name: b.Role, State: b.Machine, Detail: strings.Join(expect(b), " ")})
		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Hardware, Name: b.Model, State: plan.Overlay(b.Model)})

		if by != "" {
			emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.AwaitsCNI, Name: by, Detail: install})
		}
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
// validated locally first, so a bad file never reaches the board. Running it
// again is safe: a board that already took a config is never sent another.
func Board(ctx context.Context, b plan.Board, path string, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()

	data, err := fileio.ReadFile(path, fileio.MachineConfig)
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
	target := probe.Target{Node: b.Name, Endpoint: endpoint, Talosconfig: opts.Talosconfig}

	// maybe: an earlier attempt sent the config and lost the answer, so
	// the board may have taken it; it must not be sent a second time.
	maybe := false

	// configured: the board was seen with a config (installing, rebooting,
	// booting): while it finishes, not answering is waiting, not failing.
	configured := false

	took := func(how string) {
		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Applied, Detail: installer})
		emit(note(b.Name, "done", "apply: "+how))
	}

	return retry(ctx, opts, b.Name, "apply", emit, func(actx context.Context, _ int) (bool, error) {
		c, secure, err := probe.Connect(actx, target)
		if err != nil {
			if !certRequired(err) {
				if configured {
					return true, &busy{fmt.Sprintf("%s has a config and is not answering yet (%s)", b.Name, probe.Words(err))}
				}

				return true, fmt.Errorf("connecting to %s: %w", endpoint, err)
			}

			// It asks for a client certificate: it runs a config already.
			switch {
			case opts.Talosconfig != nil:
				if ferr := foreign(actx, b, endpoint, opts.Talosconfig); ferr != nil {
					emit(note(b.Name, "failed", "apply: "+ferr.Error()))

					return false, ferr
				}

				return true, fmt.Errorf("connecting to %s: %w", endpoint, err)
			case maybe:
				took("the board took the config before the connection dropped (its answer was lost); not sending it again")

				return false, nil
			}

			return false, errors.New("the board already runs a config (it asks for a client certificate): pass the talosconfig to resume, or reset the board to apply again")
		}
		defer c.Close() //nolint:errcheck

		if secure {
			if maybe {
				took("the board took the config before the connection dropped (its answer was lost); not sending it again")
			} else {
				emit(note(b.Name, "done", "apply: the board already runs this cluster's config; not applying it again"))
			}

			return false, nil
		}

		// A board that took a config (this run's, whose answer was lost, or
		// an earlier run's) is installing it: never send a second one.
		if ms, err := safe.StateGetByID[*runtime.MachineStatus](actx, c.COSI, runtime.MachineStatusID); err == nil {
			if st := ms.TypedSpec().Stage; st != runtime.MachineStageMaintenance && st != runtime.MachineStageUnknown {
				switch {
				case maybe:
					took("the board took the config before the connection dropped (its answer was lost); not sending it again")

					return false, nil
				case opts.Talosconfig != nil:
					configured = true

					return true, &busy{fmt.Sprintf("%s already has a config (stage %s); waiting for it to come up to tell whether it is this cluster's", b.Name, st)}
				}

				return false, fmt.Errorf("the board already has a config (stage %s): once it runs, run apply again with the talosconfig (it then recognises this cluster's config and skips the board)", st)
			}
		}

		resp, err := c.ApplyConfiguration(actx, &machineapi.ApplyConfigurationRequest{Data: data, Mode: machineapi.ApplyConfigurationRequest_AUTO})
		if err != nil {
			switch status.Code(err) {
			case codes.InvalidArgument:
				// The board judged the config: trying again changes nothing.
				return false, fmt.Errorf("the board refused the config: %s", fileio.Redact(status.Convert(err).Message()))
			case codes.PermissionDenied, codes.FailedPrecondition:
				// Maintenance mode refuses a second config.
				if maybe {
					took("the board took the config before the connection dropped (its answer was lost); not sending it again")

					return false, nil
				}

				return false, errors.New("the board already took a config and is installing it: once it has rebooted, run apply again with the talosconfig (it then recognises this cluster's config and skips the board)")
			}

			maybe = true

			return true, err
		}

		emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Applied, Detail: installer})

		for _, m := range resp.GetMessages() {
			if msg := strings.TrimSpace(m.GetModeDetails()); msg != "" {
				emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Log, Name: "liftoff", Detail: msg})
			}
		}

		return false, nil
	})
}

// note is a progress event of liftoff's own: State says where the step
// is (retrying, waiting, slow, failed, done), Count the attempt.
func note(node, state, detail string) probe.Event {
	return probe.Event{Time: time.Now(), Node: node, Kind: probe.Log, Name: "liftoff", State: state, Detail: detail}
}

// backoff doubles a wait from first up to most.
type backoff struct{ next, most time.Duration }

func (b *backoff) step() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.most)

	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()

	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retry runs f, each attempt bounded by opts.CallTimeout, until it
// succeeds, says not to retry, attempts run out or ctx ends. Every retry
// and the giving up are events, so a person sees why it waits.
func retry(ctx context.Context, opts Options, node, step string, emit func(probe.Event), f func(ctx context.Context, attempt int) (retry bool, err error)) error {
	bo := backoff{next: opts.Backoff, most: opts.MaxBackoff}
	start, waits, slow := time.Now(), 0, false

	var err, prev error // prev: the last answer before ctx ended, if any

	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, opts.CallTimeout)

		var again bool

		again, err = f(actx, attempt)

		cancel()

		if err == nil || !again {
			return err
		}

		if ctx.Err() != nil {
			return stopped(ctx, step, cmp.Or(prev, err))
		}

		prev = err

		// A board busy with a config (installing, rebooting) is waited for,
		// bounded by ctx alone: an install takes minutes on a Pi.
		var b *busy
		if errors.As(err, &b) {
			attempt--
			waits++

			so := roughly(time.Since(start))
			if !slow && time.Since(start) >= opts.SlowAfter {
				slow = true

				emit(note(node, "slow", fmt.Sprintf("%s: %s — taking longer than expected (%s so far); its dmesg shows why", step, b.why, so)))
			}

			e := note(node, "waiting", fmt.Sprintf("%s: %s (%s so far)", step, b.why, so))
			e.Count = waits
			emit(e)

			if sleep(ctx, bo.step()) != nil {
				return stopped(ctx, step, err)
			}

			continue
		}

		if attempt >= opts.Attempts {
			break
		}

		wait := bo.step()

		e := note(node, "retrying", fmt.Sprintf("%s: retrying (attempt %d of %d) in %s: %s", step, attempt+1, opts.Attempts, wait, probe.Words(err)))
		e.Count = attempt + 1
		emit(e)

		if sleep(ctx, wait) != nil {
			return stopped(ctx, step, err)
		}
	}

	emit(note(node, "failed", fmt.Sprintf("%s: gave up after %d attempts: %s", step, opts.Attempts, probe.Words(err))))

	return fmt.Errorf("gave up after %d attempts: %w", opts.Attempts, err)
}

// busy is a board that has a config and is not done with it yet: waited
// for, not counted as a failed attempt.
type busy struct{ why string }

func (b *busy) Error() string { return b.why }

// foreign tells a board running another cluster's config, in words that
// say what to do about it; nil when its certificate is this cluster's.
func foreign(ctx context.Context, b plan.Board, endpoint string, tc *clientconfig.Config) error {
	err := probe.Foreign(ctx, endpoint, tc)
	if !errors.Is(err, probe.ErrForeign) {
		return nil
	}

	detail := strings.TrimPrefix(err.Error(), probe.ErrForeign.Error()+": ")

	return &foreignError{fmt.Sprintf("%s belongs to another cluster: %s. It runs a config from other secrets (someone else's plan, or an old install), "+
		"so liftoff will not touch it. Reset it to maintenance mode with the talosconfig of the cluster it belongs to "+
		"(talosctl reset --talosconfig THEIRS -n %s -e %s --graceful=false --reboot --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL) "+
		"or re-flash it, then apply again — or leave it out of the plan", b.Name, detail, b.Address, b.Address)}
}

// foreignError is probe.ErrForeign told for one board, with the fix.
type foreignError struct{ msg string }

func (e *foreignError) Error() string { return e.msg }
func (e *foreignError) Unwrap() error { return probe.ErrForeign }

// stopped is the error of a step ctx ended, with what was last in the way.
func stopped(ctx context.Context, step string, last error) error {
	return fmt.Errorf("%s stopped: %w (last try: %s)", step, ctx.Err(), probe.Words(last))
}

// isCertificate tells a TLS refusal of either side's certificate.
func isCertificate(err error) bool {
	msg := err.Error()

	return certRequired(err) || strings.Contains(msg, "unknown authority") || strings.Contains(msg, "certificate")
}

// certRequired tells a TLS refusal for want of a client certificate: the
// board has a config and talks only mutual TLS.
func certRequired(err error) bool {
	msg := err.Error()

	return strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate")
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
// as done, so it is safe to run again — also after a lost answer.
func Bootstrap(ctx context.Context, p *plan.Plan, tc *clientconfig.Config, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()

	b, err := BootstrapTarget(p)
	if err != nil {
		return err
	}

	return Secure(ctx, b, tc, opts, "bootstrap", emit, func(cctx context.Context, c *client.Client) error {
		err := c.Bootstrap(cctx, &machineapi.BootstrapRequest{})
		if s, ok := status.FromError(err); ok && s.Code() == codes.AlreadyExists {
			err = nil
		}

		if err == nil {
			emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Bootstrapped})
		}

		return err
	})
}

// Kubeconfig fetches the admin kubeconfig from the first control plane,
// waiting (until ctx ends) for the control plane to serve it.
func Kubeconfig(ctx context.Context, p *plan.Plan, tc *clientconfig.Config, opts Options) ([]byte, error) {
	return fetchKubeconfig(ctx, p, tc, opts.withDefaults(), func(probe.Event) {})
}

// KubeconfigReady fetches the admin kubeconfig and waits until the
// Kubernetes API answers ready with it, reporting each wait as an event:
// what a caller needs before its first Kubernetes request.
func KubeconfigReady(ctx context.Context, p *plan.Plan, tc *clientconfig.Config, opts Options, emit func(probe.Event)) ([]byte, error) {
	opts = opts.withDefaults()

	kc, err := fetchKubeconfig(ctx, p, tc, opts, emit)
	if err != nil {
		return nil, err
	}

	if err := WaitKubernetes(ctx, p, kc, opts, emit); err != nil {
		return nil, err
	}

	return kc, nil
}

func fetchKubeconfig(ctx context.Context, p *plan.Plan, tc *clientconfig.Config, opts Options, emit func(probe.Event)) ([]byte, error) {
	b, err := BootstrapTarget(p)
	if err != nil {
		return nil, err
	}

	var out []byte

	err = Secure(ctx, b, tc, opts, "kubeconfig", emit, func(cctx context.Context, c *client.Client) error {
		data, err := c.Kubeconfig(cctx)
		out = data

		return err
	})

	return out, err
}

// errMaintenance: the board answers, but without its config yet.
var errMaintenance = errors.New("still in maintenance mode (config not applied, or still installing)")

// Secure retries f on a board over mutual TLS until it
// succeeds or ctx ends: after apply the board installs and reboots before
// it can serve, and a slow SD card makes that long. Each wait is an event;
// one more says when it takes longer than opts.SlowAfter.
func Secure(ctx context.Context, b plan.Board, tc *clientconfig.Config, opts Options, step string, emit func(probe.Event), f func(context.Context, *client.Client) error) error {
	opts = opts.withDefaults()
	target := probe.Target{Node: b.Name, Endpoint: Endpoint(b, opts.Port), Talosconfig: tc}
	bo := backoff{next: opts.Backoff, most: opts.MaxBackoff}
	start := time.Now()
	slow := false

	var prev error // the last answer before ctx ended, if any

	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
		err := once(cctx, target, f)

		cancel()

		if err == nil {
			return nil
		}

		if status.Code(err) == codes.PermissionDenied {
			return fmt.Errorf("%s: %s: the talosconfig's certificate lacks the admin role (%s)", step, b.Name, probe.Words(err))
		}

		if isCertificate(err) {
			fctx, fcancel := context.WithTimeout(ctx, opts.CallTimeout)
			ferr := foreign(fctx, b, target.Endpoint, tc)

			fcancel()

			if ferr != nil {
				emit(note(b.Name, "failed", step+": "+ferr.Error()))

				return ferr
			}
		}

		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", b.Name, stopped(ctx, step, cmp.Or(prev, err)))
		}

		prev = err

		elapsed := time.Since(start)
		so := roughly(elapsed)

		if !slow && elapsed >= opts.SlowAfter {
			slow = true

			emit(note(b.Name, "slow", fmt.Sprintf("%s: %s is taking longer than expected (%s so far): %s — still waiting; its dmesg shows why (a slow SD card, a boot loop)", step, b.Name, so, probe.Words(err))))
		}

		wait := bo.step()

		e := note(b.Name, "waiting", fmt.Sprintf("%s: waiting for %s (attempt %d, %s so far), next try in %s: %s", step, b.Name, attempt, so, wait, probe.Words(err)))
		e.Count = attempt
		emit(e)

		if sleep(ctx, wait) != nil {
			return fmt.Errorf("%s: %w", b.Name, stopped(ctx, step, err))
		}
	}
}

// roughly is a duration as a person reads it in a progress line.
func roughly(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}

	return d.Round(time.Second)
}

// once connects over mutual TLS and runs f.
func once(ctx context.Context, t probe.Target, f func(context.Context, *client.Client) error) error {
	c, secure, err := probe.Connect(ctx, t)
	if err != nil {
		return err
	}
	defer c.Close() //nolint:errcheck

	if !secure {
		return errMaintenance
	}

	return f(ctx, c)
}
