// Package tailnet is a real Tailscale tailnet in process, for the simulated
// lab: Tailscale's own test control server (testcontrol), a DERP relay and a
// STUN server, all on 127.0.0.1, and tsnet nodes that join it — the gateway
// as a subnet router for the cluster's CIDRs, the operator's laptop as a
// node that accepts routes. The nodes run the real tailscaled backend
// (ipnlocal, magicsock, WireGuard, netstack), so the route probe reads them
// through the same tailscale.com/client/local API as a real tailscaled.
//
// What testcontrol does not do, this package adds, and only that:
//   - route approval and primary election: testcontrol's SetSubnetRoutes
//     makes routes primary for a node whether or not it advertises them, and
//     makes every approved router primary at once. Tailnet keeps the admin's
//     approvals and hands testcontrol, per prefix, the one primary real
//     control would elect: the first-joined running node that both
//     advertises and is approved for it.
//   - the public API (api.tailscale.com/api/v2): testcontrol serves only the
//     node protocol. See api.go for the subset served.
//
// Starting a Tailnet changes process-wide Tailscale knobs: log uploads off
// for good (envknob.SetNoLogsNoSupport, logtail.Disable), no socket marks or
// interface binding (netns), no port mapping (UPnP/NAT-PMP/PCP probes of
// the LAN's router), no local interface addresses advertised as endpoints
// (peers meet over DERP or the STUN-observed 127.0.0.1 endpoint), and the
// network assumed up (the sim needs only loopback).
package tailnet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"tailscale.com/derp/derpserver"
	"tailscale.com/envknob"
	"tailscale.com/logtail"
	"tailscale.com/net/netns"
	"tailscale.com/net/stun"
	"tailscale.com/tailcfg"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"

	"github.com/liftoff-lab/liftoff/internal/scratch"
)

// Options configure a Tailnet.
type Options struct {
	// Dir holds the nodes' state, in a private subdirectory removed by
	// Close. Empty means the system's temporary directory.
	Dir string
	// AuthKey is the one key the tailnet accepts; empty means a random one.
	AuthKey string
	// Logf receives the control server's and the nodes' logs; nil discards.
	Logf func(format string, args ...any)
}

// Tailnet is a running in-process tailnet.
type Tailnet struct {
	logf    logger.Logf
	authKey string
	apiKey  string
	dir     string

	control  *testcontrol.Server
	ctrlHTTP *httptest.Server
	derp     *derpserver.Server
	derpHTTP *httptest.Server
	stun     net.PacketConn
	stunDone chan struct{}
	api      *httptest.Server

	mu       sync.Mutex
	nodes    []*Node                           // running nodes, in join order
	approved map[key.NodePublic][]netip.Prefix // the admin's approvals ("enabled routes")
	primary  map[key.NodePublic][]netip.Prefix // what testcontrol was last told
	closed   bool
}

var setKnobs sync.Once

// Start brings the tailnet up on 127.0.0.1.
func Start(ctx context.Context, opts Options) (_ *Tailnet, err error) {
	setKnobs.Do(func() {
		envknob.SetNoLogsNoSupport()
		logtail.Disable()
		netns.SetEnabled(false)
		envknob.Setenv("TS_DISABLE_PORTMAPPER", "1")
		envknob.Setenv("TS_DEBUG_OMIT_LOCAL_ADDRS", "1")
		envknob.Setenv("TS_ASSUME_NETWORK_UP_FOR_TEST", "1")
	})

	if err := ctx.Err(); err != nil {
		return nil, err
	}

	t := &Tailnet{
		logf:     logger.Discard,
		authKey:  opts.AuthKey,
		apiKey:   "tskey-api-" + randHex(16),
		approved: map[key.NodePublic][]netip.Prefix{},
		primary:  map[key.NodePublic][]netip.Prefix{},
	}
	if opts.Logf != nil {
		t.logf = opts.Logf
	}

	if t.authKey == "" {
		t.authKey = "tskey-auth-" + randHex(24)
	}

	defer func() {
		if err != nil {
			t.Close()
		}
	}()

	for _, d := range scratch.Sweep(opts.Dir, "tailnet-") {
		t.logf("removed %s, left by a lab that was killed", d)
	}

	if t.dir, err = scratch.Dir(opts.Dir, "tailnet-"); err != nil {
		return nil, err
	}

	derpMap, err := t.startDERPAndSTUN()
	if err != nil {
		return nil, err
	}

	t.control = &testcontrol.Server{
		DERPMap:        derpMap,
		RequireAuthKey: t.authKey,
		AllOnline:      true,
		Logf:           logger.WithPrefix(t.logf, "control: "),
	}
	t.ctrlHTTP = httptest.NewServer(t.control)
	t.control.HTTPTestServer = t.ctrlHTTP

	t.api = httptest.NewServer(t.apiHandler())

	return t, nil
}

// startDERPAndSTUN runs the relay every node homes on, and the STUN server
// through which a node learns its 127.0.0.1 endpoint for direct UDP.
func (t *Tailnet) startDERPAndSTUN() (*tailcfg.DERPMap, error) {
	t.derp = derpserver.New(key.NewNode(), logger.WithPrefix(t.logf, "derp: "))
	t.derpHTTP = httptest.NewUnstartedServer(derpserver.Handler(t.derp))
	t.derpHTTP.Config.ErrorLog = logger.StdLogger(t.logf)
	// DERP upgrades HTTP/1.1 connections; no HTTP/2.
	t.derpHTTP.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	t.derpHTTP.StartTLS()

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}

	t.stun, t.stunDone = pc, make(chan struct{})
	go serveSTUN(pc, t.stunDone)

	return &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{
		1: {RegionID: 1, RegionCode: "sim", RegionName: "simulated lab", Nodes: []*tailcfg.DERPNode{{
			Name:             "1a",
			RegionID:         1,
			HostName:         "127.0.0.1",
			IPv4:             "127.0.0.1",
			IPv6:             "none",
			DERPPort:         t.derpHTTP.Listener.Addr().(*net.TCPAddr).Port,
			STUNPort:         pc.LocalAddr().(*net.UDPAddr).Port,
			STUNTestIP:       "127.0.0.1",
			InsecureForTests: true, // httptest's certificate
		}}},
	}}, nil
}

func serveSTUN(pc net.PacketConn, done chan<- struct{}) {
	defer close(done)

	buf := make([]byte, 1500)

	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}

		txid, err := stun.ParseBindingRequest(buf[:n])
		if err != nil {
			continue
		}

		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}

		_, _ = pc.WriteTo(stun.Response(txid, ua.AddrPort()), addr)
	}
}

// AuthKey is the key the tailnet accepts.
func (t *Tailnet) AuthKey() string { return t.authKey }

// ValidKey reports whether the tailnet would accept key.
func (t *Tailnet) ValidKey(key string) bool { return key != "" && key == t.authKey }

// ControlURL is the coordination server's address.
func (t *Tailnet) ControlURL() string { return t.ctrlHTTP.URL }

// APIURL is the base URL of the API shim, for tailscale.Client.BaseURL.
func (t *Tailnet) APIURL() string { return t.api.URL }

// APIKey is the key the API shim accepts.
func (t *Tailnet) APIKey() string { return t.apiKey }

// Approve is the admin approving routes for a node (the admin console's
// "Edit route settings", or POST /api/v2/device/{id}/routes): it replaces
// the node's enabled routes. Routes may be approved before, or without,
// being advertised; only advertised and approved ones can become primary.
func (t *Tailnet) Approve(n *Node, prefixes []netip.Prefix) { t.approve(n.key, prefixes) }

func (t *Tailnet) approve(k key.NodePublic, prefixes []netip.Prefix) {
	t.mu.Lock()
	t.approved[k] = slices.Clone(prefixes)
	t.mu.Unlock()

	t.elect()
}

// elect hands testcontrol the primary routes real control would: each
// prefix goes to the first running node, in join order, that advertises
// and is approved for it.
func (t *Tailnet) elect() {
	t.mu.Lock()
	defer t.mu.Unlock()

	if t.closed {
		return
	}

	taken := map[netip.Prefix]bool{}
	want := map[key.NodePublic][]netip.Prefix{}

	for _, n := range t.nodes {
		cn := t.control.Node(n.key)
		if cn == nil || !cn.Hostinfo.Valid() {
			continue
		}

		advertised := cn.Hostinfo.RoutableIPs()
		for _, p := range t.approved[n.key] {
			if !taken[p] && advertised.ContainsFunc(func(a netip.Prefix) bool { return a == p }) {
				taken[p] = true
				want[n.key] = append(want[n.key], p)
			}
		}
	}

	for k := range t.primary {
		if _, ok := want[k]; !ok {
			want[k] = nil
		}
	}

	for k, routes := range want {
		if slices.Equal(t.primary[k], routes) {
			continue
		}

		// Peers get the change on their map streams, as from real control.
		t.control.SetSubnetRoutes(k, routes)

		if routes == nil {
			delete(t.primary, k)
		} else {
			t.primary[k] = routes
		}
	}
}

func (t *Tailnet) addNode(n *Node) error {
	t.mu.Lock()
	defer t.mu.Unlock()

	if t.closed {
		return errors.New("tailnet: closed")
	}

	t.nodes = append(t.nodes, n)

	return nil
}

func (t *Tailnet) removeNode(n *Node) {
	t.mu.Lock()
	t.nodes = slices.DeleteFunc(t.nodes, func(m *Node) bool { return m == n })
	t.mu.Unlock()

	// A router leaving hands its routes to the next one, as failover does:
	// control tells the peers to switch once the primary's control client
	// is gone (tailscale v1.102.5 ipn/ipnlocal/local.go, DisconnectControl).
	t.elect()
}

func (t *Tailnet) nodeDir(hostname string) (string, error) {
	return os.MkdirTemp(t.dir, filepath.Base(hostname)+"-")
}

// Close stops every node and server and removes the state directory.
func (t *Tailnet) Close() error {
	t.mu.Lock()
	nodes := slices.Clone(t.nodes)
	t.mu.Unlock()

	var errs []error

	for _, n := range nodes {
		errs = append(errs, n.Close())
	}

	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()

	for _, s := range []*httptest.Server{t.api, t.ctrlHTTP, t.derpHTTP} {
		if s != nil {
			s.CloseClientConnections()
			s.Close()
		}
	}

	if t.derp != nil {
		errs = append(errs, t.derp.Close())
	}

	if t.stun != nil {
		t.stun.Close()
		<-t.stunDone
	}

	if t.dir != "" {
		errs = append(errs, os.RemoveAll(t.dir))
	}

	return errors.Join(errs...)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}
