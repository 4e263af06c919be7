package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/internal/scratch"
)

// Options describe the control plane of one simulated cluster.
type Options struct {
	// Secrets is the cluster's Talos secrets bundle: every certificate is
	// issued by its CAs and the service-account key is its own.
	Secrets *secrets.Bundle
	// ClusterName names the kubeconfig's cluster; default "liftoff".
	ClusterName string
	// ServiceCIDR and PodCIDR default to Talos's 10.96.0.0/12 and 10.244.0.0/16.
	ServiceCIDR, PodCIDR string
	// DNSDomain defaults to cluster.local.
	DNSDomain string
	// Address is the loopback IP the API server, etcd and the controllers
	// listen on: the first control-plane board's address, e.g. 127.0.0.11.
	Address string
	// Port is the API server's port: 0 means 6443, -1 a free port.
	Port int
	// WorkDir holds certificates, data and logs. Empty: a temporary
	// directory removed by Stop; given: kept.
	WorkDir string
	// Log receives progress lines and children's deaths; nil discards.
	Log io.Writer
	// KubeBinary and EtcdBinary default to bin/kube and bin/etcd (see
	// internal/toolpath and `make tools`).
	KubeBinary, EtcdBinary string
	// NodeMonitorGracePeriod is how long a node may stay silent before the
	// node lifecycle controller marks it NotReady; default 8s.
	NodeMonitorGracePeriod time.Duration
	// ReadyTimeout bounds the wait for /readyz; default 2m.
	ReadyTimeout time.Duration
	// StopGrace is the wait between SIGTERM and SIGKILL; default 5s.
	StopGrace time.Duration
	// Network is the lab's pod and Service network; nil makes one.
	Network *Network
	// NodeName is the control plane node's hostname: Talos names the etcd
	// member after it. Default ClusterName.
	NodeName string
}

// ControlPlane is a running etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, as Talos would run them as static pods on the first
// control-plane node.
type ControlPlane struct {
	opts     Options
	dir      string
	tempDir  bool
	endpoint string
	ca       *authority
	admin    []byte
	network  *Network

	children []*child
	started  time.Duration
	etcdURL  string
	etcdTLS  *tls.Config

	stopOnce sync.Once
	stopErr  error
	mu       sync.Mutex         // guards unhook
	cancel   context.CancelFunc // ends the Service proxy and the egress proxy
	closers  []func()           // the same, synchronously
	unhook   func() bool        // undoes the ctx-cancel hook
}

// Start runs the control plane and returns once the API server answers
// /readyz and the controllers answer /healthz. Cancelling ctx stops it at
// any time, as Stop does.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	t0 := time.Now()

	if err := opts.defaults(); err != nil {
		return nil, err
	}

	cp := &ControlPlane{opts: opts, network: opts.Network}

	if opts.WorkDir == "" {
		// What a killed lab left (etcd data, ~120 MB each) goes first.
		for _, d := range scratch.Sweep("", "liftoff-kube-") {
			fmt.Fprintf(opts.Log, "kube: removed %s, left by a lab that was killed\n", d)
		}

		cp.dir, err = scratch.Dir("", "liftoff-kube-")
		cp.tempDir = true
	} else {
		cp.dir, err = filepath.Abs(opts.WorkDir)
		if err == nil {
			err = os.MkdirAll(cp.dir, 0o700)
		}
	}

	if err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cp.cancel = cancel

	defer func() {
		if err != nil {
			_ = cp.Stop()
		}
	}()

	if err := cp.run(ctx, runCtx); err != nil {
		return nil, err
	}

	// Whoever cancels ctx tears everything down, even after Start returned.
	cp.mu.Lock()
	cp.unhook = context.AfterFunc(ctx, func() { _ = cp.Stop() })
	cp.mu.Unlock()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	cp.started = time.Since(t0)
	cp.logf("control plane ready at %s in %s", cp.endpoint, cp.started.Round(time.Millisecond))

	return cp, nil
}

func (o *Options) defaults() error {
	if o.Secrets == nil || o.Secrets.Certs == nil || o.Secrets.Certs.K8s == nil {
		return errors.New("kube: Options.Secrets needs a Talos secrets bundle with Kubernetes CAs")
	}

	if _, err := netip.ParseAddr(o.Address); err != nil {
		return fmt.Errorf("kube: Options.Address: %w", err)
	}

	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&o.ClusterName, "liftoff")
	set(&o.NodeName, o.ClusterName)
	set(&o.ServiceCIDR, "10.96.0.0/12")
	set(&o.PodCIDR, "10.244.0.0/16")
	set(&o.DNSDomain, "cluster.local")

	for _, c := range []string{o.ServiceCIDR, o.PodCIDR} {
		if _, err := netip.ParsePrefix(c); err != nil {
			return fmt.Errorf("kube: %w", err)
		}
	}

	if o.Port == 0 {
		o.Port = 6443
	}

	if o.Log == nil {
		o.Log = io.Discard
	}

	if o.NodeMonitorGracePeriod == 0 {
		o.NodeMonitorGracePeriod = 8 * time.Second
	}

	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}

	if o.StopGrace == 0 {
		o.StopGrace = 5 * time.Second
	}

	if o.Network == nil {
		o.Network = NewNetwork()
	}

	var err error

	if o.KubeBinary == "" {
		if o.KubeBinary, err = findTool("kube"); err != nil {
			return err
		}
	}

	if o.EtcdBinary == "" {
		if o.EtcdBinary, err = findTool("etcd"); err != nil {
			return err
		}
	}

	return nil
}

func (cp *ControlPlane) logf(format string, args ...any) {
	fmt.Fprintf(cp.opts.Log, "kube: "+format+"\n", args...)
}

func (cp *ControlPlane) run(ctx, runCtx context.Context) error {
	o := cp.opts

	if o.Port < 0 {
		p, err := freePort(o.Address)
		if err != nil {
			return err
		}

		o.Port = p
		cp.opts.Port = p
	}

	cp.endpoint = "https://" + net.JoinHostPort(o.Address, strconv.Itoa(o.Port))

	ports := make([]int, 4) // etcd client, etcd peer, controller-manager, scheduler
	for i := range ports {
		p, err := freePort(o.Address)
		if err != nil {
			return err
		}

		ports[i] = p
	}

	f, err := cp.writeFiles(ports)
	if err != nil {
		return err
	}

	// The API server reaches pods and Services (service proxy, webhooks)
	// through this HTTP CONNECT proxy onto the simulated network.
	closeEgress, err := cp.network.serveEgress(runCtx, f.egressSocket)
	if err != nil {
		return err
	}

	cp.closers = append(cp.closers, closeEgress)

	etcdURL := "https://" + net.JoinHostPort(o.Address, strconv.Itoa(ports[0]))
	peerURL := "https://" + net.JoinHostPort(o.Address, strconv.Itoa(ports[1]))

	etcd, err := startChild("etcd", o.EtcdBinary, []string{
		"--name=" + o.NodeName,
		"--data-dir=" + filepath.Join(cp.dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=" + o.NodeName + "=" + peerURL,
		"--initial-cluster-state=new",
		"--cert-file=" + f.etcdServer + ".crt", "--key-file=" + f.etcdServer + ".key",
		"--trusted-ca-file=" + f.etcdCA, "--client-cert-auth=true",
		"--peer-cert-file=" + f.etcdPeer + ".crt", "--peer-key-file=" + f.etcdPeer + ".key",
		"--peer-trusted-ca-file=" + f.etcdCA, "--peer-client-cert-auth=true",
		"--log-level=warn",
		// The lab's data is disposable: no fsync keeps start-up fast on slow disks.
		"--unsafe-no-fsync=true",
	}, cp.dir, o.Log)
	if err != nil {
		return err
	}

	cp.children = append(cp.children, etcd)
	cp.logf("etcd pid %d at %s", etcd.pid(), etcdURL)

	etcdTLS, err := cp.clientTLS(f.etcdCA, f.etcdClient)
	if err != nil {
		return err
	}

	cp.etcdURL, cp.etcdTLS = etcdURL, etcdTLS

	if err := cp.waitHealthy(ctx, etcd, etcdURL+"/health", etcdTLS, func(b string) bool { return strings.Contains(b, `"health":"true"`) }); err != nil {
		return err
	}

	apiserver, err := startChild("kube-apiserver", o.KubeBinary, append([]string{"apiserver"}, cp.apiserverArgs(f, etcdURL)...), cp.dir, o.Log)
	if err != nil {
		return err
	}

	cp.children = append(cp.children, apiserver)
	cp.logf("kube-apiserver pid %d at %s", apiserver.pid(), cp.endpoint)

	adminTLS, err := cp.clientTLS(f.ca, f.adminCert)
	if err != nil {
		return err
	}

	// The controllers start once RBAC is bootstrapped: before that they
	// are refused and exit.
	if err := cp.waitHealthy(ctx, apiserver, cp.endpoint+"/readyz", adminTLS, func(b string) bool { return b == "ok" }); err != nil {
		return err
	}

	cm, err := startChild("kube-controller-manager", o.KubeBinary, append([]string{"controller-manager"}, cp.controllerManagerArgs(f, ports[2])...), cp.dir, o.Log)
	if err != nil {
		return err
	}

	cp.children = append(cp.children, cm)

	sched, err := startChild("kube-scheduler", o.KubeBinary, []string{
		"scheduler",
		"--kubeconfig=" + f.scheduler,
		"--authentication-kubeconfig=" + f.scheduler,
		"--authorization-kubeconfig=" + f.scheduler,
		"--bind-address=" + o.Address,
		"--secure-port=" + strconv.Itoa(ports[3]),
		"--cert-dir=" + filepath.Join(cp.dir, "scheduler-certs"),
		"--leader-elect=false",
		"--v=1",
	}, cp.dir, o.Log)
	if err != nil {
		return err
	}

	cp.children = append(cp.children, sched)
	cp.logf("kube-controller-manager pid %d, kube-scheduler pid %d", cm.pid(), sched.pid())

	// The controllers serve self-signed certificates on /healthz.
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // local health check only
	for _, c := range []struct {
		ch   *child
		port int
	}{{cm, ports[2]}, {sched, ports[3]}} {
		u := "https://" + net.JoinHostPort(o.Address, strconv.Itoa(c.port)) + "/healthz"
		if err := cp.waitHealthy(ctx, c.ch, u, insecure, func(b string) bool { return b == "ok" }); err != nil {
			return err
		}
	}

	// A healthy controller manager may still be starting its controllers;
	// until the default ServiceAccount exists, pods are refused.
	if err := cp.waitDefaultServiceAccount(ctx); err != nil {
		return err
	}

	stopProxy, err := cp.network.watchServices(runCtx, f.kubeProxyConfig, o.Log)
	if err != nil {
		return err
	}

	cp.closers = append(cp.closers, stopProxy)

	return nil
}

func (cp *ControlPlane) waitDefaultServiceAccount(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, cp.opts.ReadyTimeout)
	defer cancel()

	cs, err := clientFor(cp.admin)
	if err != nil {
		return err
	}

	t0 := time.Now()
	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "serviceaccounts", metav1.NamespaceDefault, fields.OneTermEqualSelector("metadata.name", "default"))

	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.ServiceAccount{}, nil, func(ev watch.Event) (bool, error) {
		return ev.Type == watch.Added || ev.Type == watch.Modified, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the default ServiceAccount (the controller manager's service account controllers): %w", err)
	}

	cp.logf("default ServiceAccount after %s", time.Since(t0).Round(time.Millisecond))

	return nil
}

// waitHealthy polls a health endpoint with backoff, as kubeadm does, until
// ok says yes, the process dies, ctx ends or ReadyTimeout passes.
func (cp *ControlPlane) waitHealthy(ctx context.Context, c *child, url string, tlsCfg *tls.Config, ok func(string) bool) error {
	ctx, cancel := context.WithTimeout(ctx, cp.opts.ReadyTimeout)
	defer cancel()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()

	t0 := time.Now()
	delay := 20 * time.Millisecond
	lastLog := t0

	var last string

	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)

		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()

			body := strings.TrimSpace(string(b))
			if resp.StatusCode == http.StatusOK && ok(body) {
				cp.logf("%s healthy after %s", c.name, time.Since(t0).Round(time.Millisecond))

				return nil
			}

			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, lastLine(body))
		} else {
			last = err.Error()
		}

		if time.Since(lastLog) > 3*time.Second {
			cp.logf("waiting for %s (%s so far): %s", c.name, time.Since(t0).Round(time.Second), last)
			lastLog = time.Now()
		}

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()

			return fmt.Errorf("%s not healthy at %s after %s (last: %s): %w\n%s", c.name, url, time.Since(t0).Round(time.Millisecond), last, ctx.Err(), c.tail(15))
		case <-c.done:
			t.Stop()

			return fmt.Errorf("%s exited while starting: %v\n%s", c.name, c.err, c.tail(25))
		case <-t.C:
		}

		delay = min(delay*2, time.Second)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")

	return lines[len(lines)-1]
}

func (cp *ControlPlane) clientTLS(caFile, certBase string) (*tls.Config, error) {
	caPEM, err := fileio.ReadFile(caFile, fileio.Own)
	if err != nil {
		return nil, err
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	cert, err := loadKeyPair(certBase)
	if err != nil {
		return nil, err
	}

	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func (cp *ControlPlane) apiserverArgs(f *files, etcdURL string) []string {
	o := cp.opts

	return []string{
		"--advertise-address=" + o.Address,
		"--bind-address=" + o.Address,
		"--secure-port=" + strconv.Itoa(o.Port),
		// The endpoint reconciler refuses loopback addresses, so the
		// kubernetes Service has no endpoints in the lab.
		"--endpoint-reconciler-type=none",
		"--etcd-servers=" + etcdURL,
		"--etcd-cafile=" + f.etcdCA,
		"--etcd-certfile=" + f.apiserverEtcd + ".crt", "--etcd-keyfile=" + f.apiserverEtcd + ".key",
		"--tls-cert-file=" + f.apiserver + ".crt", "--tls-private-key-file=" + f.apiserver + ".key",
		"--client-ca-file=" + f.ca,
		"--service-cluster-ip-range=" + o.ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc." + o.DNSDomain,
		"--service-account-key-file=" + f.saKey,
		"--service-account-signing-key-file=" + f.saKey,
		"--api-audiences=https://kubernetes.default.svc." + o.DNSDomain,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--enable-bootstrap-token-auth=true",
		"--allow-privileged=true",
		"--kubelet-client-certificate=" + f.kubeletClient + ".crt", "--kubelet-client-key=" + f.kubeletClient + ".key",
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--proxy-client-cert-file=" + f.frontProxy + ".crt", "--proxy-client-key-file=" + f.frontProxy + ".key",
		"--requestheader-client-ca-file=" + f.aggregatorCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--enable-aggregator-routing=false",
		"--egress-selector-config-file=" + f.egressConfig,
		"--encryption-provider-config=" + f.encryption,
		"--profiling=false",
		"--v=1",
	}
}

func (cp *ControlPlane) controllerManagerArgs(f *files, port int) []string {
	o := cp.opts

	return []string{
		"--kubeconfig=" + f.controllerManager,
		"--authentication-kubeconfig=" + f.controllerManager,
		"--authorization-kubeconfig=" + f.controllerManager,
		"--bind-address=" + o.Address,
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(cp.dir, "controller-manager-certs"),
		"--cluster-name=" + o.ClusterName,
		// Node IPAM hands each node a /24 of the pod CIDR, which the
		// simulated kubelet allocates pod IPs from.
		"--allocate-node-cidrs=true",
		"--cluster-cidr=" + o.PodCIDR,
		"--node-cidr-mask-size=24",
		"--service-cluster-ip-range=" + o.ServiceCIDR,
		"--cluster-signing-cert-file=" + f.ca, "--cluster-signing-key-file=" + f.caKey,
		"--root-ca-file=" + f.ca,
		"--service-account-private-key-file=" + f.saKey,
		"--use-service-account-credentials=true",
		"--controllers=*,bootstrap-signer-controller,token-cleaner-controller",
		"--configure-cloud-routes=false",
		"--node-monitor-grace-period=" + o.NodeMonitorGracePeriod.String(),
		"--node-monitor-period=1s",
		"--leader-elect=false",
		"--v=1",
	}
}

// Kubeconfig is the admin kubeconfig (system:masters), the bytes the Talos
// Kubeconfig API hands out.
func (cp *ControlPlane) Kubeconfig() []byte { return append([]byte(nil), cp.admin...) }

// Endpoint is the API server's URL.
func (cp *ControlPlane) Endpoint() string { return cp.endpoint }

// Network is the lab network pods and Services live on.
func (cp *ControlPlane) Network() *Network { return cp.network }

// NodeKubeconfig issues a kubelet's credentials (system:node:<name> in
// system:nodes), which the Node authorizer and NodeRestriction confine to
// its own Node, Lease and pods.
func (cp *ControlPlane) NodeKubeconfig(node string) ([]byte, error) {
	crt, key, err := cp.ca.issue(leaf{cn: "system:node:" + node, orgs: []string{"system:nodes"}, client: true})
	if err != nil {
		return nil, err
	}

	return kubeconfig(cp.opts.ClusterName, cp.endpoint, "system:node:"+node, cp.ca.crtPEM, crt, key), nil
}

// Stats are start-up time and memory of the control plane.
type Stats struct {
	StartUp time.Duration
	RSS     map[string]uint64 // bytes per process
	PIDs    map[string]int
}

// TotalRSS sums the processes' resident memory.
func (s Stats) TotalRSS() uint64 {
	var t uint64
	for _, v := range s.RSS {
		t += v
	}

	return t
}

// Stats measures the running processes now.
func (cp *ControlPlane) Stats() Stats {
	s := Stats{StartUp: cp.started, RSS: map[string]uint64{}, PIDs: map[string]int{}}

	for _, c := range cp.children {
		s.PIDs[c.name] = c.pid()
		if r, err := rss(c.pid()); err == nil {
			s.RSS[c.name] = r
		}
	}

	return s
}

// Stop ends the controllers, the API server and etcd in that order (SIGTERM,
// then SIGKILL after StopGrace), closes the Service listeners and removes
// a temporary work dir. It is safe to call more than once.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		cp.mu.Lock()
		if cp.unhook != nil {
			cp.unhook()
		}
		cp.mu.Unlock()

		if cp.cancel != nil {
			cp.cancel()
		}

		for _, c := range cp.closers {
			c()
		}

		var wg sync.WaitGroup
		// Controllers first, in parallel; then the API server; etcd last so
		// nothing loses its storage mid-write.
		for i := len(cp.children) - 1; i >= 0; i-- {
			c := cp.children[i]
			if c.name == "kube-controller-manager" || c.name == "kube-scheduler" {
				wg.Go(func() { c.stop(cp.opts.StopGrace) })
			}
		}
		wg.Wait()

		for i := len(cp.children) - 1; i >= 0; i-- {
			cp.children[i].stop(cp.opts.StopGrace)
		}

		if cp.tempDir {
			cp.stopErr = os.RemoveAll(cp.dir)
		}

		cp.logf("control plane stopped")
	})

	return cp.stopErr
}

// freePort asks the kernel for an unused port on addr. Another process may
// take it before the child binds; the child then fails loudly.
func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()

	return l.Addr().(*net.TCPAddr).Port, nil
}

// loadKeyPair reads base.crt and base.key, files the control plane wrote.
func loadKeyPair(base string) (tls.Certificate, error) {
	crt, err := fileio.ReadFile(base+".crt", fileio.Own)
	if err != nil {
		return tls.Certificate{}, err
	}

	key, err := fileio.ReadFile(base+".key", fileio.Own)
	if err != nil {
		return tls.Certificate{}, err
	}

	return tls.X509KeyPair(crt, key)
}
