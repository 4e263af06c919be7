package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	cosiv1alpha1 "github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/safe"
	"github.com/cosi-project/runtime/pkg/state"
	cosiclient "github.com/cosi-project/runtime/pkg/state/protobuf/client"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/hardware"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"
)

// Target is one board to watch through its Talos API.
type Target struct {
	Node     string // board name, as events carry it
	Endpoint string // host:port of the board's apid
	// Talosconfig authenticates once the board runs a config from these
	// secrets; nil watches a board only in maintenance mode.
	Talosconfig *clientconfig.Config
	// UUID is the board's machine UUID (from discovery): whoever answers
	// at Endpoint must be this machine, and after an address change (a new
	// DHCP lease) Find's candidates are searched for it. Empty: the
	// address is the identity.
	UUID string
	// Find lists endpoints where a board that moved may answer now (the
	// plan's subnet): called after lostAfter failed attempts.
	Find func(ctx context.Context) []string
}

// lostAfter is how many failed connection attempts in a row make the watch
// look for the board elsewhere (about 8 s of backoff).
const lostAfter = 5

// The reconnect schedule. A board nobody has seen answer is retried with
// backoff, from firstRetry doubling to maxRetry. A board that was up and
// went away (a reboot, mostly: a Pi takes ~40 s) is looked for every
// returnPoll for returnWindow, so it is seen back within a poll of its API
// answering, not up to maxRetry later. Each look is a TCP dial of at most
// dialTimeout, started on time whether or not the last one finished: a
// powered-off board on a LAN drops packets, and a dial to it would
// otherwise hold the next look for Connect's whole timeout.
const (
	firstRetry   = 250 * time.Millisecond
	maxRetry     = 4 * time.Second
	returnPoll   = 100 * time.Millisecond
	dialTimeout  = time.Second
	returnWindow = 10 * time.Minute
	// A returning board not back after lostWait may have moved (a new
	// DHCP lease): it is looked for elsewhere, then again after twice as
	// long, up to maxLostWait. While that search runs it is not polled.
	lostWait    = 4 * time.Second
	maxLostWait = 32 * time.Second
)

// Connect opens a client to a board: mutual TLS with the talosconfig when
// the board has a config, else maintenance mode's unauthenticated TLS. It
// tells which one worked.
func Connect(ctx context.Context, t Target) (*client.Client, bool, error) {
	var mtls error // why mutual TLS failed, when it was tried

	if t.Talosconfig != nil {
		c, err := client.New(ctx, client.WithConfig(t.Talosconfig), client.WithEndpoints(t.Endpoint))
		if err == nil {
			if _, err = c.Version(ctx); err == nil {
				return c, true, nil
			}

			c.Close() //nolint:errcheck
		}

		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}

		mtls = err
	}

	c, err := client.New(ctx, client.WithEndpoints(t.Endpoint),
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // maintenance mode has no CA yet
	if err != nil {
		return nil, false, err
	}

	if _, err := c.Version(ctx); err != nil {
		c.Close() //nolint:errcheck

		// A configured board refuses the connection without a client
		// certificate — with an alert, or by closing it mid-handshake —;
		// then the mutual TLS failure is the one that says why (another
		// cluster's talosconfig), not the fallback's.
		if fb := Explain(err).Kind; mtls != nil && (fb == OutageConfigured || fb == OutageDropped) && Explain(mtls).Kind == OutageOtherCluster {
			return nil, false, fmt.Errorf("%w (and without a client certificate: %v)", mtls, err)
		}

		return nil, false, err
	}

	return c, false, nil
}

// WatchTalos follows one board for as long as ctx lives: through reboots,
// the switch from maintenance to mutual TLS, and outages. It never gives up
// on its own; every outage is an event, not an error.
func WatchTalos(ctx context.Context, t Target, emit func(Event)) error {
	backoff := firstRetry
	wasUp := true // so the first failure is reported
	failed := 0
	exts := map[string]bool{} // extensions reported present, across reconnects

	var back time.Time // until then the board is awaited every returnPoll

	for ctx.Err() == nil {
		err := watchOnce(ctx, t, exts, emit)
		if ctx.Err() != nil {
			break
		}

		if wasUp {
			emit(unreachable(t.Node, err))
		}

		wasUp = false

		if errors.Is(err, errWasConnected) {
			// It ran, then broke: the board is on its way back. The next
			// failure is reported too (why it does not answer yet).
			backoff, wasUp, failed = firstRetry, true, 0
			back = time.Now().Add(returnWindow)
		} else if answered(err) {
			back = time.Time{} // the port answers, the API refuses: back off as for any board
		}

		if time.Now().Before(back) {
			// Connect as soon as the port answers; after lostWait without an
			// answer, look for the board elsewhere, then await it again.
			wait := lostWait

			for !awaitPort(ctx, t.Endpoint, min(time.Until(back), wait), func(err error) {
				if wasUp {
					emit(unreachable(t.Node, err))
				}

				wasUp = false
			}) {
				if ctx.Err() != nil || !time.Now().Before(back) {
					break
				}

				if at, ok := moved(ctx, t, emit); ok {
					t.Endpoint, wait = at, lostWait
				} else {
					wait = min(2*wait, maxLostWait)
				}
			}

			continue
		}

		if failed++; failed >= lostAfter {
			failed = 0

			if at, ok := moved(ctx, t, emit); ok {
				t.Endpoint, backoff = at, firstRetry

				continue
			}
		}

		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}

		backoff = min(backoff*2, maxRetry)
	}

	return nil
}

// moved looks for the board at the endpoints t.Find lists, by its machine
// UUID, and tells where it answers now.
func moved(ctx context.Context, t Target, emit func(Event)) (string, bool) {
	if t.UUID == "" || t.Find == nil {
		return "", false
	}

	at, ok := locate(ctx, t)
	if ok {
		emit(Event{Time: time.Now(), Node: t.Node, Kind: Moved, State: at,
			Detail: fmt.Sprintf("%s answers at %s now, no longer at %s (same machine UUID %s): a new DHCP lease? Reserve its address in the router", t.Node, at, t.Endpoint, t.UUID)})
	}

	return at, ok
}

// answered tells an error from a board whose port took the connection
// (TLS, certificates, another machine) from one where nothing answered.
func answered(err error) bool {
	switch Explain(err).Kind {
	case OutageRefused, OutageTimeout, OutageDropped:
		return false
	}

	return true
}

// awaitPort dials endpoint every returnPoll, each dial for at most
// dialTimeout, until one connects (true) or d passes (false). failed hears
// the first dial's error.
func awaitPort(ctx context.Context, endpoint string, d time.Duration, failed func(error)) bool {
	ctx, cancel := context.WithTimeout(ctx, d)

	var wg sync.WaitGroup

	defer func() { cancel(); wg.Wait() }()

	up := make(chan struct{}, 1)
	errs := make(chan error, 1)
	tick := time.NewTicker(returnPoll)

	defer tick.Stop()

	dial := func() {
		dctx, stop := context.WithTimeout(ctx, dialTimeout)
		defer stop()

		c, err := (&net.Dialer{}).DialContext(dctx, "tcp", endpoint)
		if err != nil {
			select {
			case errs <- err:
			default:
			}

			return
		}

		c.Close() //nolint:errcheck

		select {
		case up <- struct{}{}:
		default:
		}
	}

	for {
		wg.Go(dial)

		select {
		case <-up:
			return true
		case err := <-errs:
			if failed != nil && ctx.Err() == nil {
				failed(err)
				failed = nil
			}
		case <-ctx.Done():
			return false
		case <-tick.C:
			continue
		}

		// An error arrived between ticks: wait for the tick before the next dial.
		select {
		case <-up:
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// errWasConnected marks a watch that ran before it broke: reconnect fast.
var errWasConnected = errors.New("connection lost")

// watchOnce watches until the connection breaks. exts are the extensions
// reported present so far: a board that rebooted into another image (an
// upgrade) lists its new image's extensions, and the ones it no longer has
// were destroyed while no watch ran, so they are reported missing here.
func watchOnce(ctx context.Context, t Target, exts map[string]bool, emit func(Event)) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, secure, err := Connect(cctx, t)

	cancel()

	if err != nil {
		return err
	}
	defer c.Close() //nolint:errcheck

	if t.UUID != "" {
		if got := machineUUID(ctx, c); got != "" && got != t.UUID {
			return fmt.Errorf("another machine answers at %s (UUID %s, not %s's %s): did the address go to another board?", t.Endpoint, got, t.Node, t.UUID)
		}
	}

	mode := "maintenance (no client certificate)"
	if secure {
		mode = "mutual TLS"
	}

	emit(Event{Time: time.Now(), Node: t.Node, Kind: Reachable, Ready: true, Detail: mode})

	wctx, stop := context.WithCancel(ctx)
	defer stop()

	ch := make(chan state.Event, 64)

	// The client's own COSI adapter retries a broken watch from its last
	// bookmark with the old TLS settings, which hides a reboot (and the
	// switch to mutual TLS) for minutes: break on the first error instead
	// and reconnect from scratch.
	st := state.WrapCore(cosiclient.NewAdapter(cosiv1alpha1.NewStateClient(c.Conn()), cosiclient.WithDisableWatchRetry()))

	// Extensions on their own channel: their bootstrap marker ends the
	// listing of the image this boot runs.
	xch := make(chan state.Event, 16)

	for _, md := range watched() {
		to := ch
		if md.Type() == runtime.ExtensionStatusType {
			to = xch
		}

		if err := st.WatchKind(wctx, md, to, state.WithBootstrapContents(true)); err != nil {
			return fmt.Errorf("watching %s: %w", md.Type(), err)
		}
	}

	listed := map[string]bool{}
	listing := true

	// Kinds a board may refuse (an older Talos, maintenance mode) go to
	// their own channel, whose errors do not break the watch of the rest.
	opt := make(chan state.Event, 8)

	for _, md := range optional() {
		_ = st.WatchKind(wctx, md, opt, state.WithBootstrapContents(true)) //nolint:errcheck // best effort
	}

	// The followers' streams end with wctx, not with the connection: gRPC
	// may carry them to a new connection (a board back from a quick reboot
	// answers the same address), so stop them before waiting for them.
	follow := newFollower(wctx, c, t.Node, emit)
	defer func() { stop(); follow.wait() }()

	follow.wg.Go(follow.kernel)

	// A resource is re-sent whenever any of its fields moves (uptime,
	// versions): pass on only what changed in liftoff's terms.
	last := map[string]Event{}

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-ch:
			if ms, ok := ev.Resource.(*runtime.MachineStatus); ok {
				follow.services(unhealthy(ms))
			}

			switch ev.Type {
			case state.Errored:
				return fmt.Errorf("%w: %v", errWasConnected, ev.Error)
			case state.Bootstrapped, state.Noop:
				continue // markers carry an empty resource
			case state.Destroyed:
				// A Service resource exists only while its service runs: an
				// extension service that stops (a restart policy at work)
				// is followed through ServiceList and its log.
				if svc, ok := ev.Resource.(*v1alpha1.Service); ok && strings.HasPrefix(svc.Metadata().ID(), "ext-") {
					follow.services([]string{svc.Metadata().ID()})
				}
			}

			for _, e := range translate(t.Node, ev) {
				if changed(last, e) {
					emit(e)
				}
			}
		case ev := <-xch:
			switch ev.Type {
			case state.Errored:
				return fmt.Errorf("%w: %v", errWasConnected, ev.Error)
			case state.Noop:
				continue
			case state.Bootstrapped:
				if listing {
					listing = false

					for name := range exts {
						if !listed[name] {
							delete(exts, name)
							emit(Event{Time: time.Now(), Node: t.Node, Kind: Extension, Name: name, State: string(ExtensionMissing), Detail: "not in the image this boot runs"})
						}
					}
				}

				continue
			}

			for _, e := range translate(t.Node, ev) {
				listed[e.Name] = listing || listed[e.Name]
				exts[e.Name] = ExtensionState(e.State) == ExtensionPresent

				if !exts[e.Name] {
					delete(exts, e.Name)
				}

				if changed(last, e) {
					emit(e)
				}
			}
		case ev := <-opt:
			switch ev.Type {
			case state.Errored:
				opt = nil // refused: stop listening, keep the rest

				continue
			case state.Bootstrapped, state.Noop:
				continue // markers carry an empty resource: not a destroyed one
			}

			for _, e := range translate(t.Node, ev) {
				if changed(last, e) {
					emit(e)
				}
			}
		}
	}
}

// changed records e and tells whether it differs, time aside, from the
// last event of its kind and name.
func changed(last map[string]Event, e Event) bool {
	key := string(e.Kind) + "\x00" + e.Name

	if prev, ok := last[key]; ok && prev.SameAs(e) {
		return false
	}

	last[key] = e

	return true
}

// machineUUID is the board's SMBIOS UUID ("" when it does not say).
func machineUUID(ctx context.Context, c *client.Client) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	si, err := safe.StateGetByID[*hardware.SystemInformation](ctx, c.COSI, hardware.SystemInformationID)
	if err != nil {
		return ""
	}

	return si.TypedSpec().UUID
}

// locate asks each candidate endpoint who it is, and returns the one where
// the board's machine UUID answers.
func locate(ctx context.Context, t Target) (string, bool) {
	for _, at := range t.Find(ctx) {
		if at == t.Endpoint || ctx.Err() != nil {
			continue
		}

		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, _, err := Connect(cctx, Target{Node: t.Node, Endpoint: at, Talosconfig: t.Talosconfig})

		if err == nil {
			uuid := machineUUID(cctx, c)
			c.Close() //nolint:errcheck

			if uuid == t.UUID {
				cancel()

				return at, true
			}
		}

		cancel()
	}

	return "", false
}

// Snapshot reads a board's current state once (a List per kind, not a
// watch): what check judges an existing cluster by.
func Snapshot(ctx context.Context, t Target) ([]Event, error) {
	c, secure, err := Connect(ctx, t)
	if err != nil {
		return []Event{unreachable(t.Node, err)}, nil
	}
	defer c.Close() //nolint:errcheck

	mode := "maintenance (no client certificate)"
	if secure {
		mode = "mutual TLS"
	}

	out := []Event{{Time: time.Now(), Node: t.Node, Kind: Reachable, Ready: true, Detail: mode}}

	for _, md := range watched() {
		list, err := c.COSI.List(ctx, md)
		if err != nil {
			return out, fmt.Errorf("%s: listing %s: %w", t.Node, md.Type(), err)
		}

		for _, r := range list.Items {
			out = append(out, translate(t.Node, state.Event{Type: state.Created, Resource: r})...)
		}
	}

	for _, md := range optional() {
		if list, err := c.COSI.List(ctx, md); err == nil {
			for _, r := range list.Items {
				out = append(out, translate(t.Node, state.Event{Type: state.Created, Resource: r})...)
			}
		}
	}

	// What no resource shows: services that do not run (a waiting one has
	// no Service resource), and the console, where the boot sequence says
	// what it waits for. Best effort: a board that refuses keeps the rest.
	if resp, err := c.ServiceList(ctx); err == nil {
		for _, m := range resp.GetMessages() {
			for _, s := range m.GetServices() {
				out = append(out, serviceEvent(t.Node, s))
			}
		}
	}

	if stream, err := c.Dmesg(ctx, false, false); err == nil {
		for {
			data, err := stream.Recv()
			if err != nil {
				break
			}

			for line := range strings.SplitSeq(strings.TrimRight(string(data.GetBytes()), "\n"), "\n") {
				if line != "" {
					out = append(out, Event{Time: time.Now(), Node: t.Node, Kind: Log, Name: "dmesg", Detail: line})
				}
			}
		}
	}

	return out, nil
}

// serviceEvent is a service as ServiceList tells it: its state, up by
// Talos's rule, its restarts (the restart runner's events) and its last
// event, as `talosctl services` shows them.
func serviceEvent(node string, s *machineapi.ServiceInfo) Event {
	h := s.GetHealth()
	up := s.GetState() == "Running" && (h.GetHealthy() || h.GetUnknown())

	return Event{Time: time.Now(), Node: node, Kind: Service, Name: s.GetId(), State: s.GetState(), Ready: up,
		Count: Restarts(s.GetEvents().GetEvents()), Detail: LastEvent(s)}
}

// watched are the resource kinds liftoff follows on every board.
func watched() []resource.Metadata {
	return []resource.Metadata{
		resource.NewMetadata(runtime.NamespaceName, runtime.MachineStatusType, "", resource.VersionUndefined),
		resource.NewMetadata(runtime.NamespaceName, runtime.ExtensionStatusType, "", resource.VersionUndefined),
		resource.NewMetadata(v1alpha1.NamespaceName, v1alpha1.ServiceType, "", resource.VersionUndefined),
		resource.NewMetadata(runtime.NamespaceName, runtime.DiagnosticType, "", resource.VersionUndefined),
	}
}

// Hostname: the Kubernetes Node name a board's kubelet registers as (Talos's
// Nodename resource; Name: the node name, Detail: where it was read). Two
// boards with one name fight over one Node.
const Hostname Kind = "hostname"

// optional are kinds watched when the board serves them: a board without a
// config has no Nodename.
func optional() []resource.Metadata {
	return []resource.Metadata{
		resource.NewMetadata(k8s.NamespaceName, k8s.NodenameType, "", resource.VersionUndefined),
		resource.NewMetadata(runtime.NamespaceName, runtime.KernelModuleSpecType, "", resource.VersionUndefined),
	}
}

// translate turns a COSI event into liftoff events.
func translate(node string, ev state.Event) []Event {
	now := time.Now()

	switch r := ev.Resource.(type) {
	case *runtime.MachineStatus:
		s := r.TypedSpec()

		var unmet []string
		for _, u := range s.Status.UnmetConditions {
			unmet = append(unmet, u.Name+": "+u.Reason)
		}

		return []Event{
			{Time: now, Node: node, Kind: Stage, State: s.Stage.String()},
			// Talos reads ready outside booting/running (no checks run then):
			// only a running machine's ready flag means ready.
			{Time: now, Node: node, Kind: MachineReady, Ready: s.Status.Ready && s.Stage == runtime.MachineStageRunning,
				Items: unmet, Detail: strings.Join(unmet, "; ")},
		}
	case *runtime.ExtensionStatus:
		m := r.TypedSpec().Metadata
		st := ExtensionPresent

		if ev.Type == state.Destroyed {
			st = ExtensionMissing
		}

		return []Event{{Time: now, Node: node, Kind: Extension, Name: m.Name, State: string(st), Detail: m.Version}}
	case *runtime.Diagnostic:
		s := r.TypedSpec()
		parts := append([]string{s.Message}, s.Details...)

		return []Event{{Time: now, Node: node, Kind: TalosDiagnostic, Name: r.Metadata().ID(), Ready: ev.Type != state.Destroyed,
			Items: parts, Detail: strings.Join(parts, "; ")}}
	case *k8s.Nodename:
		name := r.TypedSpec().Nodename
		if ev.Type == state.Destroyed {
			name = ""
		}

		return []Event{{Time: now, Node: node, Kind: Hostname, Name: name, Detail: "Talos Nodename resource"}}
	case *runtime.KernelModuleSpec:
		return []Event{{Time: now, Node: node, Kind: KernelModule, Name: r.Metadata().ID(), Ready: ev.Type != state.Destroyed,
			Detail: strings.Join(r.TypedSpec().Parameters, " ")}}
	case *v1alpha1.Service:
		s := r.TypedSpec()
		st := "Running"

		if !s.Running || ev.Type == state.Destroyed {
			st = "Stopped"
		}

		up := st == "Running" && (s.Healthy || s.Unknown)

		return []Event{{Time: now, Node: node, Kind: Service, Name: r.Metadata().ID(), State: st, Ready: up}}
	}

	return nil
}

// unhealthy names the services MachineStatus blames.
func unhealthy(ms *runtime.MachineStatus) []string {
	var out []string

	for _, u := range ms.TypedSpec().Status.UnmetConditions {
		if u.Name != "services" {
			continue
		}

		// Talos's reason: "ext-tailscale not running, kubelet not healthy".
		for item := range strings.SplitSeq(u.Reason, ",") {
			item = strings.TrimSpace(item)
			if name, ok := strings.CutSuffix(item, " not running"); ok {
				out = append(out, name)
			} else if name, ok := strings.CutSuffix(item, " not healthy"); ok {
				out = append(out, name)
			}
		}
	}

	return out
}

// follower streams the logs of failing services and, on each new line,
// their state and restart count from ServiceList: the evidence the
// troubleshoot view shows. A service that does not run has no COSI Service
// resource, so this is the only way to see it. The services come from
// MachineStatus's unmet conditions and from the boot sequence's console
// lines, which name every service it still waits for.
type follower struct {
	ctx  context.Context
	c    *client.Client
	node string
	emit func(Event)
	mu   sync.Mutex
	seen map[string]bool
	wg   sync.WaitGroup
}

func newFollower(ctx context.Context, c *client.Client, node string, emit func(Event)) *follower {
	return &follower{ctx: ctx, c: c, node: node, emit: emit, seen: map[string]bool{}}
}

func (f *follower) wait() { f.wg.Wait() }

func (f *follower) services(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()

	for _, id := range ids {
		if f.seen[id] {
			continue
		}

		f.seen[id] = true
		f.wg.Go(func() { f.follow(id) })
	}
}

func (f *follower) follow(id string) {
	f.report(id)

	stream, err := f.c.Logs(f.ctx, "system", common.ContainerDriver_CONTAINERD, id, true, 20)
	if err != nil {
		return
	}

	f.pump(stream.Recv, id, func([]string) { f.report(id) })
}

// pump turns a log stream into Log events named source, calling after
// with each chunk's lines, until the stream ends.
func (f *follower) pump(recv func() (*common.Data, error), source string, after func([]string)) {
	for {
		data, err := recv()
		if err != nil {
			return
		}

		var lines []string

		for line := range strings.SplitSeq(strings.TrimRight(string(data.GetBytes()), "\n"), "\n") {
			if line != "" {
				f.emit(Event{Time: time.Now(), Node: f.node, Kind: Log, Name: source, Detail: line})
				lines = append(lines, line)
			}
		}

		after(lines)
	}
}

// kernel streams the board's kernel log (the whole buffer, then new
// messages): the evidence for boot loops, power and storage trouble, and
// the boot sequence's own account of what it waits for. Each time it says
// so, the services it names are followed and their state read again.
func (f *follower) kernel() {
	stream, err := f.c.Dmesg(f.ctx, true, false)
	if err != nil {
		return
	}

	f.pump(stream.Recv, "dmesg", func(lines []string) {
		var waits []string

		for _, l := range lines {
			if _, ids, ok := bootWait(l); ok {
				waits = ids
			}
		}

		if len(waits) == 0 {
			return
		}

		f.services(waits)

		for _, id := range waits {
			f.report(id)
		}
	})
}

// report emits a service's state, its restarts (the restart runner's
// events) and its last event, as `talosctl services` shows them.
func (f *follower) report(id string) {
	resp, err := f.c.ServiceList(f.ctx)
	if err != nil {
		return
	}

	for _, m := range resp.GetMessages() {
		for _, s := range m.GetServices() {
			if s.GetId() != id {
				continue
			}

			f.emit(serviceEvent(f.node, s))
		}
	}
}

// unreachable is the event of a failed connection: the outage's kind in
// State, its words in Detail.
func unreachable(node string, err error) Event {
	o := Explain(err)

	return Event{Time: time.Now(), Node: node, Kind: Reachable, State: o.Kind, Detail: o.Words}
}
