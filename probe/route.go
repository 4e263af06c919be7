package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	tsapi "tailscale.com/client/tailscale/v2"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"
)

// RouteOptions say where the route probe looks.
type RouteOptions struct {
	// Local is the operator's tailscaled (local.Client{} for the system one).
	Local *local.Client
	// API, when set, is the control API: who advertises the cluster CIDRs
	// and who is approved for them. The daemon alone sees only the elected
	// primary, and advertisements only as best-effort Hostinfo.
	API *tsapi.Client
	// Gateway is the gateway board's hostname on the tailnet.
	Gateway string
	// CIDRs are the cluster's pod and service CIDRs.
	CIDRs []netip.Prefix
}

// RouteView is the subnet route as the operator's machine sees it.
type RouteView struct {
	Backend       string   // this machine's tailscaled state: Running, NeedsLogin …
	Advertising   []string // devices advertising any of the CIDRs
	Approved      []string // devices advertising and approved for every CIDR
	Primary       string   // the peer(s) elected to route the CIDRs, comma-separated
	PrimaryOnline bool
	Missing       []netip.Prefix // CIDRs no peer routes
	AcceptRoutes  bool           // this machine accepts subnet routes
	GatewaySeen   bool           // the gateway is on the tailnet
	GatewayOnline bool
	FromAPI       bool // Advertising and Approved come from the control API
	APIError      string
	CIDRs         []netip.Prefix
	Gateway       string
}

// Route states, as in Event.State for Route events.
const (
	RoutePrimary    = "primary"
	RouteApproved   = "approved"
	RouteAdvertised = "advertised"
	RouteMissing    = "missing"
)

// State is the furthest the route got: primary (a peer routes every CIDR),
// approved (approved but not routed, e.g. the router is offline),
// advertised (not approved), or missing.
func (v RouteView) State() string {
	switch {
	case v.Backend != ipn.Running.String():
		return RouteMissing
	case len(v.CIDRs) > 0 && len(v.Missing) == 0:
		return RoutePrimary
	case len(v.Approved) > 0:
		return RouteApproved
	case len(v.Advertising) > 0:
		return RouteAdvertised
	}

	return RouteMissing
}

// Usable is whether traffic from this machine can take the route.
func (v RouteView) Usable() bool {
	return v.State() == RoutePrimary && v.PrimaryOnline && v.AcceptRoutes
}

// Detail explains the view: the CIDRs, then what holds and what is wrong.
func (v RouteView) Detail() string {
	var say []string

	if v.Backend != ipn.Running.String() {
		say = append(say, "tailscale on this machine is "+v.Backend+", not Running")
	}

	if v.Primary != "" {
		s := "routed by " + v.Primary
		if !v.PrimaryOnline {
			s += ", which is offline"
		}

		say = append(say, s)
	}

	if len(v.Missing) > 0 && len(v.Missing) < len(v.CIDRs) {
		say = append(say, "no peer routes "+prefixes(v.Missing))
	}

	if v.Gateway != "" {
		switch {
		case !v.GatewaySeen:
			say = append(say, "the gateway "+v.Gateway+" is not on the tailnet (did it get a valid auth key?)")
		case !v.GatewayOnline:
			say = append(say, "the gateway "+v.Gateway+" is offline")
		case v.Primary != "" && !slices.Contains(strings.Split(v.Primary, ","), v.Gateway):
			say = append(say, "the primary is not the gateway "+v.Gateway)
		}
	}

	for _, d := range v.Advertising {
		if v.FromAPI && !slices.Contains(v.Approved, d) {
			say = append(say, "advertised by "+d+" but not approved (admin console: Machines → "+d+" → Edit route settings)")
		}
	}

	switch n := len(v.Advertising); {
	case n > 1:
		say = append(say, fmt.Sprintf("%d devices advertise the cluster CIDRs (%s); only the gateway should", n, strings.Join(v.Advertising, ", ")))
	case n == 0 && v.Primary == "":
		say = append(say, "no device advertises the cluster CIDRs")
	}

	if len(v.Advertising) > 0 && !v.FromAPI && v.Primary == "" {
		say = append(say, "advertised by "+strings.Join(v.Advertising, ", ")+" but routed by no peer: not approved, or offline (an API key would tell)")
	}

	if !v.AcceptRoutes {
		say = append(say, "this machine does not accept routes (tailscale set --accept-routes)")
	}

	if v.APIError != "" {
		say = append(say, "control API: "+v.APIError)
	}

	return prefixes(v.CIDRs) + ": " + strings.Join(say, "; ")
}

// Event is the view as a Route event.
func (v RouteView) Event(at time.Time) Event {
	return Event{Time: at, Kind: Route, State: v.State(), Name: v.Primary, Ready: v.Usable(),
		Count: len(v.Advertising), Detail: v.Detail()}
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}

	return strings.Join(s, ",")
}

// RouteSnapshot reads the route once, for `liftoff check`.
func RouteSnapshot(ctx context.Context, opts RouteOptions) (RouteView, error) {
	r := newRouteReader(opts)

	st, err := opts.Local.Status(ctx)
	if err != nil {
		return RouteView{}, fmt.Errorf("tailscale status: %w", err)
	}

	p, err := opts.Local.GetPrefs(ctx)
	if err != nil {
		return RouteView{}, fmt.Errorf("tailscale prefs: %w", err)
	}

	r.routeAll = p.RouteAll

	return r.view(ctx, st), nil
}

// RouteUntil watches the route until done says what it waited for has
// come (nil), ctx ends, or the watch fails. done sees the route's events
// one at a time on the watch's goroutine, and none after it said yes.
func RouteUntil(ctx context.Context, opts RouteOptions, done func(Event) bool) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()

	reached := make(chan struct{})
	errs := make(chan error, 1)

	go func() {
		errs <- WatchRoute(wctx, opts, func(e Event) {
			select {
			case <-reached:
			default:
				if done(e) {
					close(reached)
				}
			}
		})
	}()

	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-errs:
		return fmt.Errorf("watching the route: %w", err)
	case <-reached:
		return nil
	}
}

// WatchRoute follows the route until ctx ends, emitting a Route event when
// what it sees changes. It is driven by the daemon's IPN bus: the initial
// status, then peer changes — a route approved or a router gone reaches
// every peer's netmap. The API, when given, is read again on each change
// (it has no push); an approval that changes no netmap, such as a second
// router's, shows with the next change.
func WatchRoute(ctx context.Context, opts RouteOptions, emit func(Event)) error {
	mask := ipn.NotifyInitialState | ipn.NotifyInitialPrefs | ipn.NotifyInitialStatus | ipn.NotifyPeerChanges

	w, err := opts.Local.WatchIPNBus(ctx, mask)
	if err != nil {
		return fmt.Errorf("tailscale: watch: %w", err)
	}
	defer w.Close()

	r := newRouteReader(opts)

	var last Event

	for {
		n, err := w.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}

			return fmt.Errorf("tailscale: watch: %w", err)
		}

		if !r.note(n) {
			continue
		}

		st, err := opts.Local.Status(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}

			emit(Event{Time: time.Now(), Kind: Error, Detail: "tailscale status: " + err.Error()})

			continue
		}

		e := r.view(ctx, st).Event(time.Now())
		if e.State != last.State || e.Detail != last.Detail || e.Ready != last.Ready || e.Name != last.Name || e.Count != last.Count {
			emit(e)
			last = e
		}
	}
}

// routeReader keeps what the bus told: peers' Hostinfo (for advertised
// routes without the API) and whether this machine accepts routes.
type routeReader struct {
	opts     RouteOptions
	routeAll bool
	peers    map[tailcfg.NodeID]*tailcfg.Node
}

func newRouteReader(opts RouteOptions) *routeReader {
	return &routeReader{opts: opts, peers: map[tailcfg.NodeID]*tailcfg.Node{}}
}

// note folds a notification in and says whether it may change the view.
func (r *routeReader) note(n ipn.Notify) bool {
	if n.Prefs != nil && n.Prefs.Valid() {
		r.routeAll = n.Prefs.RouteAll()
	}

	for _, p := range n.PeersChanged {
		r.peers[p.ID] = p
	}

	for _, id := range n.PeersRemoved {
		delete(r.peers, id)
	}

	return n.InitialStatus != nil || n.State != nil || n.Prefs != nil || n.SelfChange != nil ||
		len(n.PeersChanged) > 0 || len(n.PeersRemoved) > 0 || len(n.PeerChangedPatch) > 0
}

func (r *routeReader) view(ctx context.Context, st *ipnstate.Status) RouteView {
	cidrs := r.opts.CIDRs
	v := RouteView{Backend: st.BackendState, AcceptRoutes: r.routeAll, CIDRs: cidrs, Gateway: r.opts.Gateway}

	var primaries []*ipnstate.PeerStatus

	for _, c := range cidrs {
		p := routerOf(st, c)
		if p == nil {
			v.Missing = append(v.Missing, c)

			continue
		}

		if !slices.Contains(primaries, p) {
			primaries = append(primaries, p)
		}
	}

	v.PrimaryOnline = len(primaries) > 0

	names := make([]string, 0, len(primaries))
	for _, p := range primaries {
		names = append(names, p.HostName)
		v.PrimaryOnline = v.PrimaryOnline && p.Online
	}

	v.Primary = strings.Join(names, ",")

	for _, p := range st.Peer {
		if r.opts.Gateway != "" && p.HostName == r.opts.Gateway {
			v.GatewaySeen, v.GatewayOnline = true, p.Online
		}
	}

	if r.opts.API != nil {
		err := r.fromAPI(ctx, &v)
		if err == nil {
			v.FromAPI = true

			return v
		}

		// Fall back on what the daemon sees, and say why.
		v.Advertising, v.Approved, v.APIError = nil, nil, err.Error()
	}

	r.fromHostinfo(ctx, st, &v, primaries)

	return v
}

// routerOf is the peer whose primary routes cover c.
func routerOf(st *ipnstate.Status, c netip.Prefix) *ipnstate.PeerStatus {
	for _, p := range st.Peer {
		if p.PrimaryRoutes == nil {
			continue
		}

		for _, r := range p.PrimaryRoutes.All() {
			if covers(r, c) {
				return p
			}
		}
	}

	return nil
}

func covers(r, c netip.Prefix) bool {
	return r.Bits() <= c.Bits() && r.Contains(c.Addr())
}

// touches is whether a route overlaps a cluster CIDR; default routes are an
// exit node's, not a subnet router's.
func touches(routes []netip.Prefix, cidrs []netip.Prefix) bool {
	for _, r := range routes {
		for _, c := range cidrs {
			if r.Bits() > 0 && r.Overlaps(c) {
				return true
			}
		}
	}

	return false
}

// fromAPI asks the control API who advertises the CIDRs and who is
// approved: every device, then each candidate's routes.
func (r *routeReader) fromAPI(ctx context.Context, v *RouteView) error {
	devices, err := r.opts.API.Devices().List(ctx, tsapi.WithFields(tsapi.IncludeFieldsAll))
	if err != nil {
		return err
	}

	// A router that left — the old gateway after a move, a board whose
	// tailscale state was wiped and logged in anew — stays a device, offline,
	// with its last advertisement, until someone removes it; it routes
	// nothing. It is left out when a connected device of the same name
	// advertises: that one took its place.
	connected := map[string]bool{}

	for _, d := range devices {
		if d.ConnectedToControl && touches(parsePrefixes(d.AdvertisedRoutes), v.CIDRs) {
			connected[cmp.Or(d.Hostname, d.Name)] = true
		}
	}

	for _, d := range devices {
		if !touches(parsePrefixes(d.AdvertisedRoutes), v.CIDRs) && !touches(parsePrefixes(d.EnabledRoutes), v.CIDRs) {
			continue
		}

		if !d.ConnectedToControl && connected[cmp.Or(d.Hostname, d.Name)] {
			continue
		}

		id := d.NodeID
		if id == "" {
			id = d.ID
		}

		routes, err := r.opts.API.Devices().SubnetRoutes(ctx, id)
		if err != nil {
			return err
		}

		name := cmp.Or(d.Hostname, d.Name)

		advertised, enabled := parsePrefixes(routes.Advertised), parsePrefixes(routes.Enabled)
		if !touches(advertised, v.CIDRs) {
			continue
		}

		v.Advertising = append(v.Advertising, name)

		if approvedAll(advertised, enabled, v.CIDRs) {
			v.Approved = append(v.Approved, name)
		}
	}

	slices.Sort(v.Advertising)
	slices.Sort(v.Approved)

	return nil
}

// approvedAll is whether every CIDR is covered by a route both advertised
// and enabled.
func approvedAll(advertised, enabled, cidrs []netip.Prefix) bool {
	for _, c := range cidrs {
		ok := false

		for _, r := range advertised {
			if covers(r, c) && slices.Contains(enabled, r) {
				ok = true

				break
			}
		}

		if !ok {
			return false
		}
	}

	return len(cidrs) > 0
}

// fromHostinfo is the view without the API: advertisements from peers'
// Hostinfo (best effort), approvals only where a route is primary.
func (r *routeReader) fromHostinfo(ctx context.Context, st *ipnstate.Status, v *RouteView, primaries []*ipnstate.PeerStatus) {
	var advertising []*ipnstate.PeerStatus

	online := map[string]bool{}

	for _, p := range st.Peer {
		n, ok := r.peers[p.NodeID]
		if !ok {
			var err error
			if n, err = r.opts.Local.PeerByID(ctx, p.NodeID); err != nil {
				continue
			}

			r.peers[p.NodeID] = n
		}

		if n.Hostinfo.Valid() && touches(n.Hostinfo.RoutableIPs().AsSlice(), v.CIDRs) {
			advertising = append(advertising, p)
			online[p.HostName] = online[p.HostName] || p.Online
		}
	}

	// As fromAPI: an offline router whose name an online one carries left.
	for _, p := range advertising {
		if p.Online || !online[p.HostName] {
			v.Advertising = append(v.Advertising, p.HostName)
		}
	}

	for _, p := range primaries {
		if len(v.Missing) == 0 && !slices.Contains(v.Approved, p.HostName) {
			v.Approved = append(v.Approved, p.HostName)
		}
	}

	slices.Sort(v.Advertising)
	slices.Sort(v.Approved)
}

func parsePrefixes(ss []string) []netip.Prefix {
	var out []netip.Prefix

	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}

	return out
}

// Flow outcomes of TrafficFlow.
const (
	FlowOK          = "ok"
	FlowNoRoute     = "no-route"     // the connection went nowhere
	FlowNoAnswer    = "no-answer"    // a route, but refused, reset or silent
	FlowWrongAnswer = "wrong-answer" // an answer, not the expected one
)

// FlowResult is one request through the route.
type FlowResult struct {
	Outcome string
	Latency time.Duration
	Status  int    // HTTP status, when one came
	Body    string // the answer, cut to 200 bytes
	Detail  string // what happened, in a sentence
}

// OK is whether the expected answer came.
func (r FlowResult) OK() bool { return r.Outcome == FlowOK }

// Event is the result as a Traffic event for the dashboard.
func (r FlowResult) Event(target string, at time.Time) Event {
	detail := r.Detail
	if r.OK() {
		detail = r.Body
	}

	return Event{Time: at, Kind: Traffic, Name: target, State: r.Outcome, Ready: r.OK(), Latency: r.Latency, Detail: detail}
}

// flowTimeout bounds a TrafficFlow whose ctx has no deadline.
const flowTimeout = 5 * time.Second

// TrafficFlow GETs path from clusterIPPort through dial and tells apart no
// route (the connect fails or goes nowhere), a route but no answer (refused,
// reset, timeout after connecting), and a wrong answer. For a real operator
// dial is a net.Dialer's (the OS routes via tailscaled); in the simulated
// lab, the operator tsnet node's Dial.
func TrafficFlow(ctx context.Context, dial Dial, clusterIPPort, path, want string) FlowResult {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flowTimeout)

		defer cancel()
	}

	// The transport may give up on a dial before it returns: only a
	// connection that was made counts as "connected".
	var (
		mu        sync.Mutex
		connected bool
		dialErr   error
	)

	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)

			mu.Lock()
			connected, dialErr = connected || err == nil, err
			mu.Unlock()

			return c, err
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()

	url := "http://" + clusterIPPort + path

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return FlowResult{Outcome: FlowNoRoute, Detail: err.Error()}
	}

	start := time.Now()
	res, err := (&http.Client{Transport: tr}).Do(req)

	if err != nil {
		r := FlowResult{Latency: time.Since(start)}

		mu.Lock()
		connected, dialErr := connected, dialErr
		mu.Unlock()

		switch {
		case !connected && dialErr != nil && refused(dialErr):
			r.Outcome, r.Detail = FlowNoAnswer, fmt.Sprintf("%s refused the connection: the route works, nothing listens (%v)", clusterIPPort, dialErr)
		case !connected && (dialErr == nil || timedOut(dialErr)):
			r.Outcome, r.Detail = FlowNoRoute, fmt.Sprintf("nothing answered the connection to %s in %v: no route, or it leads nowhere", clusterIPPort, r.Latency.Round(time.Millisecond))
		case !connected:
			r.Outcome, r.Detail = FlowNoRoute, fmt.Sprintf("no route to %s: %v", clusterIPPort, dialErr)
		default:
			r.Outcome, r.Detail = FlowNoAnswer, fmt.Sprintf("connected to %s but got no answer: %v", clusterIPPort, err)
		}

		return r
	}
	defer res.Body.Close()

	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	r := FlowResult{Latency: time.Since(start), Status: res.StatusCode, Body: cut(string(b), 200)}

	switch {
	case err != nil:
		r.Outcome, r.Detail = FlowNoAnswer, fmt.Sprintf("%s's answer broke off: %v", clusterIPPort, err)
	case res.StatusCode != http.StatusOK || !same(string(b), want):
		r.Outcome, r.Detail = FlowWrongAnswer, fmt.Sprintf("GET %s answered %d %q, want %q", url, res.StatusCode, r.Body, want)
	default:
		r.Outcome, r.Detail = FlowOK, fmt.Sprintf("GET %s answered %q in %v through the route", url, r.Body, r.Latency.Round(time.Microsecond))
	}

	return r
}

// refused covers the kernel's errno and netstack's wording for a RST.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "reset")
}

func timedOut(err error) bool {
	var ne net.Error

	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}

	return s
}
