package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	tsapi "tailscale.com/client/tailscale/v2"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
	"github.com/liftoff-lab/liftoff/sim/tailnet"
)

// The lab's tailnet: Tailscale's own control server, DERP and STUN in
// process (sim/tailnet). A board's ext-tailscale joins it as a subnet
// router with the key, hostname and routes of its ExtensionServiceConfig,
// so a missing or wrong key fails the way a real login does; the
// operator's laptop is another node, and the route probe reads it through
// the same local API as a real tailscaled.

// OperatorHostname is the operator's laptop on the simulated tailnet.
const OperatorHostname = "operator-laptop"

func (l *Lab) startTailnet() error {
	tn, err := tailnet.Start(l.ctx, tailnet.Options{AuthKey: SimAuthKey, Logf: func(string, ...any) {}})
	if err != nil {
		return fmt.Errorf("starting the simulated tailnet: %w", err)
	}

	l.tailnet = tn

	return nil
}

// tailscaleUp is the board hook: tailscaled logs in and advertises.
func (l *Lab) tailscaleUp(ctx context.Context, b *board.Board, env []string) error {
	vars := map[string]string{}

	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}

	if vars["TS_AUTHKEY"] == "" {
		return errors.New("no auth key: TS_AUTHKEY is empty in the tailscale ExtensionServiceConfig")
	}

	var routes []netip.Prefix

	for r := range strings.SplitSeq(vars["TS_ROUTES"], ",") {
		if p, err := netip.ParsePrefix(strings.TrimSpace(r)); err == nil {
			routes = append(routes, p)
		}
	}

	host := vars["TS_HOSTNAME"]
	if host == "" {
		host = b.Hostname()
	}

	// TS_STATE_DIR=/var/lib/tailscale is on EPHEMERAL (siderolabs/
	// extensions v1.13.3 network/tailscale/tailscale.yaml): a tailscaled
	// started again on the same EPHEMERAL — after a reboot, an upgrade, a
	// re-applied config — is the same device; after a reset that wiped
	// it, a new one.
	state := fmt.Sprintf("%s-%d", b.Spec().Address, b.Ephemeral())

	n, err := l.tailnet.JoinRouterFrom(ctx, state, host, vars["TS_AUTHKEY"], routes, l.dialCluster)
	if err != nil {
		return err
	}

	l.mu.Lock()
	old := l.routers[b.Spec().Address]
	l.routers[b.Spec().Address] = n
	l.mu.Unlock()

	if old != nil {
		old.Close() //nolint:errcheck // replaced by the new login
	}

	if !l.scenario.RoutesUnapproved {
		// The admin approves the routes (or an autoApprovers policy does).
		l.tailnet.Approve(n, routes)
	}

	return nil
}

// tailscaleDown is the board hook for a stopped tailscaled.
func (l *Lab) tailscaleDown(b *board.Board) {
	l.mu.Lock()
	n := l.routers[b.Spec().Address]
	delete(l.routers, b.Spec().Address)
	l.mu.Unlock()

	if n != nil {
		n.Close() //nolint:errcheck // going away either way
	}
}

// dialCluster is the gateway's side of the route: from the node's network
// into the cluster's pod and Service network.
func (l *Lab) dialCluster(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	cp := l.cp
	l.mu.Unlock()

	if cp == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused: the cluster network is not up yet")}
	}

	return cp.Network().Dial(ctx, network, addr)
}

// Operator is the operator's laptop on the tailnet (joined on first use),
// accepting routes as `tailscale set --accept-routes` would.
func (l *Lab) Operator(ctx context.Context) (*tailnet.Node, error) {
	l.opMu.Lock()
	defer l.opMu.Unlock()

	if l.operator != nil {
		return l.operator, nil
	}

	n, err := l.tailnet.JoinOperator(ctx, OperatorHostname)
	if err != nil {
		return nil, fmt.Errorf("the operator's laptop could not join the simulated tailnet: %w", err)
	}

	l.operator = n

	return n, nil
}

// RouteOptions point the route probe at the simulated tailnet: the
// operator's local client and the control API (the shim over testcontrol).
func (l *Lab) RouteOptions(ctx context.Context) (probe.RouteOptions, error) {
	op, err := l.Operator(ctx)
	if err != nil {
		return probe.RouteOptions{}, err
	}

	u, err := url.Parse(l.tailnet.APIURL())
	if err != nil {
		return probe.RouteOptions{}, err
	}

	var cidrs []netip.Prefix

	for _, r := range l.plan.Routes() {
		if p, err := netip.ParsePrefix(r); err == nil {
			cidrs = append(cidrs, p)
		}
	}

	return probe.RouteOptions{
		Local:   op.LocalClient(),
		API:     &tsapi.Client{BaseURL: u, APIKey: l.tailnet.APIKey(), Tailnet: "-"},
		Gateway: l.plan.Tailscale.Hostname,
		CIDRs:   cidrs,
	}, nil
}

// closeTailnet stops every node, then the tailnet.
func (l *Lab) closeTailnet() error {
	l.mu.Lock()
	routers := l.routers
	l.routers = map[string]*tailnet.Node{}
	l.mu.Unlock()

	for _, n := range routers {
		n.Close() //nolint:errcheck // the tailnet goes next
	}

	l.opMu.Lock()
	if l.operator != nil {
		l.operator.Close() //nolint:errcheck
		l.operator = nil
	}
	l.opMu.Unlock()

	if l.tailnet == nil {
		return nil
	}

	return l.tailnet.Close()
}
