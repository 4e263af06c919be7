package tailnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"
	"tailscale.com/tsnet"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
	"tailscale.com/wgengine/netstack"
)

// DialFunc dials an address behind a subnet router, e.g. kube.Network.Dial.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// backendDialTimeout bounds the router's connect to a backend; it runs while
// netstack holds the client's SYN (tsnet's handler lock is held, too).
const backendDialTimeout = 3 * time.Second

// ErrNoRoute is what Dial returns, wrapped, for a destination no route
// covers; it wraps EHOSTUNREACH, as a kernel without the route would say.
var ErrNoRoute = fmt.Errorf("no route to host through the tailnet: %w", syscall.EHOSTUNREACH)

// Node is a tsnet node on the tailnet.
type Node struct {
	t        *Tailnet
	srv      *tsnet.Server
	lc       *local.Client
	key      key.NodePublic
	id       tailcfg.StableNodeID
	hostname string
	dir      string
	state    string // JoinRouterFrom's: the dir outlives the node
	logf     logger.Logf

	advertise []netip.Prefix
	dial      DialFunc

	mu       sync.Mutex
	conns    map[net.Conn]struct{} // forwarded connections, both ends; LocalAPI connections
	closing  bool
	handlers sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// JoinRouter joins a subnet router: it logs in with authKey, advertises the
// prefixes and forwards TCP for addresses inside them to dial. A key the
// tailnet does not accept fails the join with the control server's answer,
// and the node never appears in the tailnet. Routes still need Approve.
func (t *Tailnet) JoinRouter(ctx context.Context, hostname, authKey string, advertise []netip.Prefix, dial DialFunc) (*Node, error) {
	return t.JoinRouterFrom(ctx, "", hostname, authKey, advertise, dial)
}

// JoinRouterFrom is JoinRouter with tailscaled's state kept under the name
// state (TS_STATE_DIR): a router that joins again from the same state is
// the same node, with its node key, as a tailscaled restarted on its own
// /var/lib/tailscale is. "" is a state of its own, gone when it closes.
func (t *Tailnet) JoinRouterFrom(ctx context.Context, state, hostname, authKey string, advertise []netip.Prefix, dial DialFunc) (*Node, error) {
	if authKey == "" {
		// tsnet would fall back to $TS_AUTHKEY, then wait for an
		// interactive login; tailscaled says NeedsLogin.
		return nil, fmt.Errorf("tailnet: %s cannot join: no auth key (tailscaled stays in NeedsLogin, waiting for an interactive login)", hostname)
	}

	if dial == nil {
		return nil, errors.New("tailnet: a router needs a dial func")
	}

	n := &Node{advertise: slices.Clone(advertise), dial: dial, state: state}

	if err := t.join(ctx, n, hostname, authKey); err != nil {
		return nil, err
	}

	if err := n.advertiseRoutes(ctx); err != nil {
		n.Close()

		return nil, err
	}

	t.elect()

	return n, nil
}

// JoinOperator joins the operator's laptop: a node that accepts routes.
func (t *Tailnet) JoinOperator(ctx context.Context, hostname string) (*Node, error) {
	n := &Node{}

	if err := t.join(ctx, n, hostname, t.authKey); err != nil {
		return nil, err
	}

	_, err := n.lc.EditPrefs(ctx, &ipn.MaskedPrefs{RouteAllSet: true, Prefs: ipn.Prefs{RouteAll: true}})
	if err != nil {
		n.Close()

		return nil, fmt.Errorf("tailnet: %s: accept routes: %w", hostname, err)
	}

	return n, nil
}

func (t *Tailnet) join(ctx context.Context, n *Node, hostname, authKey string) error {
	dir, err := t.nodeDir(hostname)
	if n.state != "" {
		dir = filepath.Join(t.dir, "state-"+filepath.Base(n.state))
		err = os.MkdirAll(dir, 0o700)
	}

	if err != nil {
		return err
	}

	n.t, n.hostname, n.dir = t, hostname, dir
	n.logf = logger.WithPrefix(t.logf, hostname+": ")
	n.conns = map[net.Conn]struct{}{}
	n.srv = &tsnet.Server{
		Dir:        dir,
		Hostname:   hostname,
		ControlURL: t.ControlURL(),
		AuthKey:    authKey,
		Logf:       n.logf,
		UserLogf:   n.logf,
	}

	if n.dial != nil {
		n.srv.RegisterFallbackTCPHandler(n.forward)
	}

	st, err := n.srv.Up(ctx)
	if err != nil {
		n.srv.Close()
		os.RemoveAll(dir)

		// tsnet says "tsnet.Up: backend: invalid authkey" for a refused key.
		return fmt.Errorf("tailnet: %s did not join: %w", hostname, err)
	}

	lc, err := n.srv.LocalClient()
	if err != nil {
		n.srv.Close()
		os.RemoveAll(dir)

		return fmt.Errorf("tailnet: %s: its LocalAPI: %w", hostname, err)
	}

	n.lc = &local.Client{Dial: n.localDial(lc.Dial)}
	n.key, n.id = st.Self.PublicKey, st.Self.ID

	if err := t.addNode(n); err != nil {
		n.srv.Close()
		os.RemoveAll(dir)

		return err
	}

	return nil
}

// advertiseRoutes sets the prefs, as `tailscale set --advertise-routes`, and
// waits until control has them in the node's Hostinfo: each map update the
// node receives afterwards is a chance to look.
func (n *Node) advertiseRoutes(ctx context.Context) error {
	w, err := n.lc.WatchIPNBus(ctx, 0)
	if err != nil {
		return err
	}
	defer w.Close()

	_, err = n.lc.EditPrefs(ctx, &ipn.MaskedPrefs{AdvertiseRoutesSet: true, Prefs: ipn.Prefs{AdvertiseRoutes: n.advertise}})
	if err != nil {
		return fmt.Errorf("tailnet: %s: advertise routes: %w", n.hostname, err)
	}

	for !n.controlHasRoutes() {
		if _, err := w.Next(); err != nil {
			return fmt.Errorf("tailnet: %s: control never saw the advertised routes: %w", n.hostname, err)
		}
	}

	return nil
}

func (n *Node) controlHasRoutes() bool {
	cn := n.t.control.Node(n.key)
	if cn == nil || !cn.Hostinfo.Valid() {
		return false
	}

	have := cn.Hostinfo.RoutableIPs().AsSlice()
	for _, p := range n.advertise {
		if !slices.Contains(have, p) {
			return false
		}
	}

	return true
}

// forward is the router's fallback TCP handler. It dials the backend while
// the client's SYN waits, so a backend that refuses becomes a RST, as with a
// kernel subnet router; the returned handler blocks until the connection
// ends, because netstack drops the subnet address when it returns.
func (n *Node) forward(src, dst netip.AddrPort) (func(net.Conn), bool) {
	if !slices.ContainsFunc(n.advertise, func(p netip.Prefix) bool { return p.Contains(dst.Addr()) }) {
		return nil, false
	}

	ctx, cancel := context.WithTimeout(context.Background(), backendDialTimeout)
	back, err := n.dial(ctx, "tcp", dst.String())
	cancel()

	if err != nil {
		n.logf("forward %v → %v: %v", src, dst, err)

		return nil, true // RST
	}

	if !n.track(back, false) {
		back.Close()

		return nil, true
	}

	return func(c net.Conn) {
		if !n.track(c, true) {
			c.Close()
			n.untrack(back)

			return
		}
		defer n.handlers.Done()

		pipe(c, back)
		n.untrack(c)
		n.untrack(back)
	}, true
}

// localDial dials the node's LocalAPI and tracks the connection for Close
// to cut: tsnet's Server.close gives its LocalAPI server's Shutdown 5 s
// (tailscale.com v1.102.5 tsnet/tsnet.go), and Shutdown waits for every
// open connection, which a caller's WatchIPNBus keeps open for as long as
// it watches — so closing a node someone still watched took 5 s.
func (n *Node) localDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}

		if !n.track(c, false) {
			c.Close()

			return nil, net.ErrClosed
		}

		return &localConn{Conn: c, n: n}, nil
	}
}

// localConn is a LocalAPI connection that leaves the node's set when its
// user closes it.
type localConn struct {
	net.Conn
	n *Node
}

func (c *localConn) Close() error {
	c.n.untrack(c.Conn)

	return nil
}

// track registers a connection for Close to cut. A handler also counts
// itself, under mu, so Close never waits while a count is being added.
func (n *Node) track(c net.Conn, handler bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.closing {
		return false
	}

	n.conns[c] = struct{}{}

	if handler {
		n.handlers.Add(1)
	}

	return true
}

func (n *Node) untrack(c net.Conn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
	c.Close()
}

// pipe copies both ways until both directions end, passing half-closes on.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup

	half := func(dst, src net.Conn) {
		defer wg.Done()

		_, _ = io.Copy(dst, src)

		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			dst.Close()
		}
	}

	wg.Add(2)

	go half(a, b)
	go half(b, a)

	wg.Wait()
}

// Hostname is the node's name on the tailnet.
func (n *Node) Hostname() string { return n.hostname }

// ID is the node's stable ID, the API's nodeId.
func (n *Node) ID() string { return string(n.id) }

// LocalClient talks to the node's tailscaled, as `tailscale` does.
func (n *Node) LocalClient() *local.Client { return n.lc }

// Dial connects through the tailnet, and only through it: to a peer's
// Tailscale IP, or to an address in some peer's primary routes when this
// node accepts routes. Anything else fails with ErrNoRoute — tsnet would
// otherwise use the host's network, where a broken route could look fine.
func (n *Node) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !strings.HasPrefix(network, "tcp") {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("tailnet: only tcp to ip:port, not %s %q", network, addr)}
	}

	if err := n.routeFor(ctx, ap.Addr()); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}

	ns, ok := n.srv.Sys().Netstack.Get().(*netstack.Impl)
	if !ok {
		return nil, errors.New("tailnet: node has no netstack")
	}

	src, _ := n.srv.TailscaleIPs()

	c, err := ns.DialContextTCPWithBind(ctx, src, ap)
	if err != nil {
		return nil, err
	}

	return c, nil
}

func (n *Node) routeFor(ctx context.Context, ip netip.Addr) error {
	st, err := n.lc.Status(ctx)
	if err != nil {
		return err
	}

	for _, p := range st.Peer {
		if slices.Contains(p.TailscaleIPs, ip) {
			return nil
		}
	}

	if !acceptsRoutes(ctx, n.lc) {
		return fmt.Errorf("%w: %v (this node does not accept routes)", ErrNoRoute, ip)
	}

	if primaryFor(st, ip) == nil {
		return fmt.Errorf("%w: %v is in no peer's primary routes", ErrNoRoute, ip)
	}

	return nil
}

func acceptsRoutes(ctx context.Context, lc *local.Client) bool {
	p, err := lc.GetPrefs(ctx)

	return err == nil && p.RouteAll
}

func primaryFor(st *ipnstate.Status, ip netip.Addr) *ipnstate.PeerStatus {
	for _, p := range st.Peer {
		if p.PrimaryRoutes == nil {
			continue
		}

		for _, r := range p.PrimaryRoutes.All() {
			if r.Contains(ip) {
				return p
			}
		}
	}

	return nil
}

// Close takes the node off the tailnet (its routes fail over to the next
// router) and stops it. Peers still list it: testcontrol has no per-node
// presence and never deletes a node.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.t.removeNode(n)

		n.mu.Lock()
		n.closing = true
		for c := range n.conns {
			c.Close()
		}
		n.mu.Unlock()

		n.closeErr = n.srv.Close()
		n.handlers.Wait()
		if n.state == "" {
			n.closeErr = errors.Join(n.closeErr, os.RemoveAll(n.dir))
		}
	})

	return n.closeErr
}
