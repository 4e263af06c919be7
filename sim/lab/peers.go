package lab

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"

	"github.com/liftoff-lab/liftoff/sim/board"
	"github.com/liftoff-lab/liftoff/sim/kube"
)

// The lab is what each board sees around it (board.Lab): the other boards
// for apid's forwarding and discovery, the control plane's etcd, and the
// pods its kubelet runs.

// Peer is the board answering at addr.
func (l *Lab) Peer(addr string) *board.Board {
	for _, b := range l.Peers() {
		if host, _, err := net.SplitHostPort(b.Endpoint()); err == nil && host == addr {
			return b
		}
	}

	return nil
}

// Peers are the lab's boards.
func (l *Lab) Peers() []*board.Board {
	l.mu.Lock()
	defer l.mu.Unlock()

	return append([]*board.Board(nil), l.boards...)
}

// Changed refreshes every board's discovery: the discovery service hands
// each member the others' affiliates.
func (l *Lab) Changed(*board.Board) {
	if l.ctx.Err() != nil {
		return
	}

	for _, b := range l.Peers() {
		b.RefreshDiscovery()
	}
}

// Etcd reads the lab's etcd for the control plane that runs it.
func (l *Lab) Etcd(ctx context.Context, b *board.Board) (kube.EtcdReport, error) {
	l.mu.Lock()
	cp, host := l.cp, l.cpHost
	l.mu.Unlock()

	if cp == nil || host != b {
		return kube.EtcdReport{}, errors.New("etcdserver: no leader: this node's etcd member is not running (the lab runs etcd on the bootstrapped control plane only)")
	}

	return cp.Etcd(ctx)
}

// Pods are the pods the board's kubelet runs.
func (l *Lab) Pods(b *board.Board) []kube.RunningPod {
	l.mu.Lock()
	kl := l.kubelets[b.Spec().Address]
	l.mu.Unlock()

	if kl == nil {
		return nil
	}

	return kl.Pods()
}

// bootstrapManifests are Talos's bootstrap manifests' inputs, from the
// bootstrapped control plane's config as controllers/k8s/control_plane.go
// reads them.
func bootstrapManifests(cfg coreconfig.Provider) kube.Bootstrap {
	c := cfg.Cluster()

	b := kube.Bootstrap{
		Server: c.Endpoint().String(), ClusterDomain: c.Network().DNSDomain(), PodCIDRs: c.Network().PodCIDRs(),
		CNI: c.Network().CNI().Name(), FlannelImage: "ghcr.io/siderolabs/flannel:" + constants.FlannelVersion,
		ProxyImage: c.Proxy().Image(), Proxy: c.Proxy().Enabled(), CoreDNSImage: c.CoreDNS().Image(), CoreDNS: c.CoreDNS().Enabled(),
	}

	if kp := cfg.Machine().Features().KubePrism(); kp.Enabled() {
		b.Server = "https://127.0.0.1:" + strconv.Itoa(kp.Port())
	}

	if ips, err := c.Network().DNSServiceIPs(); err == nil {
		for _, ip := range ips {
			if ip.Is4() {
				b.DNSServiceIP = ip.String()

				break
			}
		}
	}

	return b
}

// networkAgents are the CNI node agents whose pod readies a node's
// network: Talos's flannel, or, with cni none or custom, the agents
// people install (the lab runs none of those, so nodes stay NotReady).
func networkAgents(cfg coreconfig.Provider) []string {
	if cfg.Cluster().Network().CNI().Name() == constants.FlannelCNI {
		return []string{"flannel"}
	}

	return []string{"cilium", "calico-node"}
}

// staticPods are the control-plane static pods Talos writes on a control
// plane, with the images its config names.
func staticPods(cfg coreconfig.Provider) ([]kube.StaticPod, string) {
	c := cfg.Cluster()
	api := c.APIServer().Image()

	version := ""
	if i := strings.LastIndex(api, ":"); i > strings.LastIndex(api, "/") {
		version = api[i+1:]
	}

	return []kube.StaticPod{
		{Name: "kube-apiserver", Image: api},
		{Name: "kube-controller-manager", Image: c.ControllerManager().Image()},
		{Name: "kube-scheduler", Image: c.Scheduler().Image()},
	}, version
}
