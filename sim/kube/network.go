package kube

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Network is the lab's pod and Service network, in process. Pod IPs and
// ClusterIPs are not routable on the host, so the Network maps them:
// a pod's IP:port goes to the pod's loopback listener, and every Service port
// gets a loopback listener that forwards to a ready endpoint, as kube-proxy
// would. Dial is the way in, for probes, the API server (through an HTTP
// CONNECT egress proxy) and the Tailscale simulation.
type Network struct {
	mu       sync.RWMutex
	pods     map[netip.AddrPort]string   // pod IP:port → listener address
	services map[netip.AddrPort]*svcPort // ClusterIP:port
	byName   map[string]*svcPort         // namespace/name:port
	watching bool

	client *http.Client
}

// NewNetwork makes an empty network.
func NewNetwork() *Network {
	n := &Network{
		pods:     map[netip.AddrPort]string{},
		services: map[netip.AddrPort]*svcPort{},
		byName:   map[string]*svcPort{},
	}
	n.client = &http.Client{Transport: &http.Transport{DialContext: n.Dial, MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}

	return n
}

// svcPort is one Service port's listener and its ready endpoints.
type svcPort struct {
	name      string // namespace/name:port
	clusterIP netip.AddrPort
	ln        net.Listener
	endpoints atomic.Pointer[[]netip.AddrPort]
	next      atomic.Uint64
}

var errNoRoute = errors.New("no route to host on the simulated network")

// Dial connects to a ClusterIP:port, a pod IP:port or a loopback address.
// Anything else fails, so nothing leaks onto the host's real network.
func (n *Network) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}

	target, err := n.resolve(ap)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}

	var d net.Dialer

	return d.DialContext(ctx, "tcp", target)
}

func (n *Network) resolve(ap netip.AddrPort) (string, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()

	if s, ok := n.services[ap]; ok {
		return s.ln.Addr().String(), nil
	}

	if t, ok := n.pods[ap]; ok {
		return t, nil
	}

	if ap.Addr().IsLoopback() {
		return ap.String(), nil
	}

	return "", errNoRoute
}

// ServiceAddr is the loopback address serving a ClusterIP:port.
func (n *Network) ServiceAddr(clusterIPPort string) (string, bool) {
	ap, err := netip.ParseAddrPort(clusterIPPort)
	if err != nil {
		return "", false
	}

	n.mu.RLock()
	defer n.mu.RUnlock()

	if s, ok := n.services[ap]; ok {
		return s.ln.Addr().String(), true
	}

	return "", false
}

// Lookup finds a Service port by name: its ClusterIP:port and the loopback
// address serving it.
func (n *Network) Lookup(namespace, service string, port int32) (clusterIP, loopback string, ok bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()

	s, ok := n.byName[fmt.Sprintf("%s/%s:%d", namespace, service, port)]
	if !ok {
		return "", "", false
	}

	return s.clusterIP.String(), s.ln.Addr().String(), true
}

// Get fetches path from a Service's port 80 over HTTP, through its
// ClusterIP. Its signature matches probe.Fetcher. Like the API server's
// proxy, a non-2xx answer is an error.
func (n *Network) Get(ctx context.Context, namespace, service, path string) (string, error) {
	cip, _, ok := n.Lookup(namespace, service, 80)
	if !ok {
		return "", fmt.Errorf("service %s/%s has no port 80 on the simulated network", namespace, service)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cip+path, nil)
	if err != nil {
		return "", err
	}

	resp, err := n.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()

	// A hello-world answers a line; a Service that streams is cut off.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s/%s%s: HTTP %s", namespace, service, path, resp.Status)
	}

	return string(b), err
}

func (n *Network) addPod(ap netip.AddrPort, target string) {
	n.mu.Lock()
	n.pods[ap] = target
	n.mu.Unlock()
}

func (n *Network) removePod(ap netip.AddrPort) {
	n.mu.Lock()
	delete(n.pods, ap)
	n.mu.Unlock()
}

// dialEndpoint reaches an endpoint: a pod on the simulated network or a
// loopback address (the kubernetes Service's API server).
func (n *Network) dialEndpoint(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
	n.mu.RLock()
	t, ok := n.pods[ap]
	n.mu.RUnlock()

	if !ok {
		if !ap.Addr().IsLoopback() {
			return nil, errNoRoute
		}

		t = ap.String()
	}

	var d net.Dialer

	return d.DialContext(ctx, "tcp", t)
}

// serveEgress is the API server's "cluster" egress: an HTTP CONNECT proxy on
// a unix socket, so `kubectl get --raw .../services/x:80/proxy/` and
// Services(ns).ProxyGet reach pods that exist only in this process.
// The returned func closes it (ending ctx does too).
func (n *Network) serveEgress(ctx context.Context, socket string) (func(), error) {
	_ = os.Remove(socket)

	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("egress proxy: %w", err)
	}

	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect {
				http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)

				return
			}

			up, err := n.Dial(r.Context(), "tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)

				return
			}

			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				_ = up.Close()

				return
			}

			if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
				_ = conn.Close()
				_ = up.Close()

				return
			}

			pipe(ctx, &bufferedConn{Conn: conn, r: rw.Reader}, up)
		}),
	}

	go func() { _ = srv.Serve(ln) }()

	closeSrv := func() { _ = srv.Close() }
	context.AfterFunc(ctx, closeSrv)

	return closeSrv, nil
}

// bufferedConn reads what the HTTP server had already buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}

	return c.Close()
}

// pipe copies both ways, passing half-closes on, until both sides are done
// or ctx ends.
func pipe(ctx context.Context, a, b net.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = a.Close(); _ = b.Close() })
	defer stop()

	var wg sync.WaitGroup

	half := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}

	wg.Go(func() { half(a, b) })
	wg.Go(func() { half(b, a) })
	wg.Wait()

	_ = a.Close()
	_ = b.Close()
}

// watchServices is the lab's kube-proxy: it follows Services and
// EndpointSlices with informers and keeps one loopback listener per Service
// port. It runs until ctx ends or the returned func is called, which
// closes the listeners before returning.
func (n *Network) watchServices(ctx context.Context, kubeconfig []byte, log io.Writer) (func(), error) {
	n.mu.Lock()
	if n.watching {
		n.mu.Unlock()

		return func() {}, nil
	}

	n.watching = true
	n.mu.Unlock()

	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}

	f := informers.NewSharedInformerFactory(cs, 0)
	svcs := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()

	sp := &serviceProxy{n: n, ctx: ctx, log: log, svcs: svcs.Lister().Services, slices: func(ns string) ([]*discoveryv1.EndpointSlice, error) {
		return slices.Lister().EndpointSlices(ns).List(labels.Everything())
	}}

	onSvc := func(obj any) {
		if s, ok := objOf[*corev1.Service](obj); ok {
			sp.sync(s.Namespace, s.Name)
		}
	}
	onSlice := func(obj any) {
		if s, ok := objOf[*discoveryv1.EndpointSlice](obj); ok {
			sp.sync(s.Namespace, s.Labels[discoveryv1.LabelServiceName])
		}
	}

	for _, reg := range []struct {
		inf cache.SharedIndexInformer
		fn  func(any)
	}{{svcs.Informer(), onSvc}, {slices.Informer(), onSlice}} {
		if _, err := reg.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: reg.fn, UpdateFunc: func(_, o any) { reg.fn(o) }, DeleteFunc: reg.fn,
		}); err != nil {
			return nil, err
		}
	}

	f.Start(ctx.Done())

	var once sync.Once

	stop := func() {
		once.Do(func() {
			f.Shutdown()
			n.mu.Lock()
			defer n.mu.Unlock()

			for k, s := range n.services {
				_ = s.ln.Close()
				delete(n.services, k)
			}

			clear(n.byName)
			n.watching = false
		})
	}
	context.AfterFunc(ctx, stop)

	return stop, nil
}

// objOf unwraps informer objects, including deletion tombstones.
func objOf[T any](obj any) (T, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}

	t, ok := obj.(T)

	return t, ok
}

type serviceProxy struct {
	n      *Network
	ctx    context.Context
	log    io.Writer
	mu     sync.Mutex
	svcs   func(ns string) corelisters.ServiceNamespaceLister
	slices func(ns string) ([]*discoveryv1.EndpointSlice, error)
}

// sync makes one Service's listeners and endpoints match the informers.
func (sp *serviceProxy) sync(ns, name string) {
	if name == "" || sp.ctx.Err() != nil {
		return
	}

	sp.mu.Lock()
	defer sp.mu.Unlock()

	want := map[string]netip.AddrPort{} // namespace/name:port → ClusterIP:port
	eps := map[string][]netip.AddrPort{}

	svc, err := sp.svcs(ns).Get(name)
	if err == nil && svc.Spec.Type != corev1.ServiceTypeExternalName {
		ip, perr := netip.ParseAddr(svc.Spec.ClusterIP)

		slices, _ := sp.slices(ns)

		for _, p := range svc.Spec.Ports {
			if perr != nil || (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) {
				continue
			}

			key := fmt.Sprintf("%s/%s:%d", ns, name, p.Port)
			want[key] = netip.AddrPortFrom(ip, uint16(p.Port))
			eps[key] = readyEndpoints(slices, name, p.Name)
		}
	}

	n := sp.n
	n.mu.Lock()
	defer n.mu.Unlock()

	prefix := ns + "/" + name + ":"
	for key, s := range n.byName {
		if len(key) > len(prefix) && key[:len(prefix)] == prefix {
			if ap, ok := want[key]; !ok || ap != s.clusterIP {
				_ = s.ln.Close()
				delete(n.byName, key)
				delete(n.services, s.clusterIP)
			}
		}
	}

	for key, ap := range want {
		s, ok := n.byName[key]
		if !ok {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				fmt.Fprintf(sp.log, "kube-proxy: %s: %v\n", key, err)

				continue
			}

			s = &svcPort{name: key, clusterIP: ap, ln: ln}
			n.byName[key] = s
			n.services[ap] = s

			go sp.serve(s)
		}

		e := eps[key]
		s.endpoints.Store(&e)
	}
}

// readyEndpoints are the ready addresses serving a Service port.
func readyEndpoints(slices []*discoveryv1.EndpointSlice, service, portName string) []netip.AddrPort {
	var out []netip.AddrPort

	for _, sl := range slices {
		if sl.Labels[discoveryv1.LabelServiceName] != service {
			continue
		}

		for _, p := range sl.Ports {
			if p.Port == nil || (p.Name != nil && *p.Name != portName) || (p.Name == nil && portName != "") {
				continue
			}

			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}

				for _, a := range ep.Addresses {
					if ip, err := netip.ParseAddr(a); err == nil {
						out = append(out, netip.AddrPortFrom(ip, uint16(*p.Port)))
					}
				}
			}
		}
	}

	return out
}

// serve forwards each connection to the next ready endpoint, round robin.
// With none, the connection is closed at once, as kube-proxy rejects.
func (sp *serviceProxy) serve(s *svcPort) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}

		go func() {
			eps := *s.endpoints.Load()
			if len(eps) == 0 {
				_ = c.Close()

				return
			}

			i := s.next.Add(1)

			// Try each endpoint once, starting at the round-robin position.
			for k := range eps {
				ep := eps[(int(i)+k)%len(eps)]

				up, err := sp.n.dialEndpoint(sp.ctx, ep)
				if err == nil {
					pipe(sp.ctx, c, up)

					return
				}
			}

			_ = c.Close()
		}()
	}
}
