package board

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/resource/meta"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/registry"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/nethelpers"
	"github.com/siderolabs/talos/pkg/machinery/resources/block"
	"github.com/siderolabs/talos/pkg/machinery/resources/cluster"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/network"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"github.com/siderolabs/talos/pkg/machinery/resources/siderolink"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"

	"github.com/liftoff-lab/liftoff/sim/kube"
)

// Lab is what a board sees of the lab around it: the other boards (apid
// forwards to them, discovery lists them), the cluster's etcd, and the
// pods its kubelet runs. nil: a board on its own.
type Lab interface {
	// Peer is the board answering at addr, or nil.
	Peer(addr string) *Board
	// Peers are every board of the lab, this one included.
	Peers() []*Board
	// Changed is told (in its own goroutine) that a board's stage moved.
	Changed(b *Board)
	// Etcd reads the cluster's etcd as this control plane's client would.
	Etcd(ctx context.Context, b *Board) (kube.EtcdReport, error)
	// Pods are the pods this board's kubelet runs, as its CRI lists them.
	Pods(b *Board) []kube.RunningPod
}

// extra is the board's bookkeeping for the APIs beyond the lifecycle:
// when it booted, how long it has been in its stage, what runs.
type extra struct {
	poweredAt  time.Time
	bootAt     time.Time
	stageSince time.Time
	staticPods bool // the control-plane static pods run here
	// stuck is a stage's wait that Talos itself would sit in (not a
	// lab fault): the watchdog leaves such a board alone.
	stuck string
	// ca is the OS CA certificate the board's apid and trustd serve with
	// ("" without a running config), readable without the board's lock.
	ca atomic.Pointer[string]
}

// registerResources adds the resource types and namespaces the APIs beyond
// liftoff's own serve, as machined registers them.
func registerResources(ctx context.Context, ns *registry.NamespaceRegistry, rd *registry.ResourceRegistry) error {
	for _, n := range []struct {
		name resource.Namespace
		desc string
	}{
		{cluster.NamespaceName, "Cluster configuration and discovery resources."},
		{cluster.RawNamespaceName, "Cluster unmerged raw resources."},
		{k8s.ControlPlaneNamespaceName, "Kubernetes control plane resources."},
	} {
		if err := ns.Register(ctx, n.name, n.desc); err != nil {
			return err
		}
	}

	for _, r := range []meta.ResourceWithRD{
		&cluster.Affiliate{}, &cluster.Member{}, &cluster.Identity{}, &cluster.Info{},
		&network.AddressStatus{}, &network.RouteStatus{}, &network.NodeAddress{}, &network.HostnameStatus{},
		&network.ResolverStatus{}, &network.TimeServerStatus{}, &network.Status{},
		&talosconfig.MachineType{}, &k8s.KubeletSpec{}, &k8s.StaticPodStatus{},
		&block.VolumeStatus{}, &runtime.SecurityState{}, &runtime.MetaKey{}, &siderolink.Status{},
	} {
		if err := rd.Register(ctx, r); err != nil {
			return err
		}
	}

	return nil
}

// stageChangedLocked keeps the bookkeeping and the resources that follow
// the stage, and tells the lab (discovery moves with it).
func (b *Board) stageChangedLocked() {
	now := time.Now()
	b.x.stageSince, b.x.stuck = now, ""

	ca := ""
	if b.cfg != nil && b.installed {
		ca = b.osCALocked()
	}

	b.x.ca.Store(&ca)

	if b.x.poweredAt.IsZero() {
		b.x.poweredAt, b.x.bootAt = now, now
	}

	if b.stage == "booting" || b.stage == "maintenance" && b.x.bootAt.Before(b.x.stageSince.Add(-time.Second)) && b.boots == 0 {
		b.x.bootAt = now
	}

	if b.stage != "running" && b.stage != "booting" {
		b.x.staticPods = false
	}

	b.publishNetworkLocked()
	b.publishMachineLocked()

	if lab := b.opts.Lab; lab != nil && b.ctx.Err() == nil {
		b.wg.Go(func() { lab.Changed(b) })
	} else {
		b.publishDiscoveryLocked([]affiliate{b.affiliateLocked()})
	}
}

// booted is whether the board runs its installed config.
func (b *Board) bootedLocked() bool {
	return b.cfg != nil && b.installed && (b.stage == "running" || b.stage == "booting")
}

func mustPrefix(s string) netip.Prefix {
	p, _ := netip.ParsePrefix(s)

	return p
}

// lanPrefix is the board's address on its /24, as a DHCP lease gives it.
func (b *Board) lanPrefix() netip.Prefix {
	a, err := netip.ParseAddr(b.address())
	if err != nil {
		return netip.Prefix{}
	}

	return netip.PrefixFrom(a, 24)
}

// gateway is the LAN's router: .1 of the board's /24.
func (b *Board) gateway() netip.Addr {
	p := b.lanPrefix()
	if !p.IsValid() {
		return netip.Addr{}
	}

	return p.Masked().Addr().Next()
}

// publishNetworkLocked publishes what Talos's network controllers would:
// lo and the onboard Ethernet with the DHCP address, the default route
// through the LAN's router, and the resolvers and time servers Talos uses
// by default (constants.DefaultPrimaryResolver …, time.cloudflare.com).
func (b *Board) publishNetworkLocked() {
	link := cpuOf(b.opts.Spec.Model).linkName
	lan := b.lanPrefix()
	up := b.stage != "rebooting" && b.stage != "resetting"

	addrs := []struct {
		id, link string
		p        netip.Prefix
		scope    nethelpers.Scope
	}{
		{"lo/127.0.0.1/8", "lo", mustPrefix("127.0.0.1/8"), nethelpers.ScopeHost},
		{"lo/::1/128", "lo", mustPrefix("::1/128"), nethelpers.ScopeHost},
		{link + "/" + lan.String(), link, lan, nethelpers.ScopeGlobal},
	}

	for i, a := range addrs {
		if !up || !a.p.IsValid() {
			b.destroy(network.NewAddressStatus(network.NamespaceName, a.id).Metadata())

			continue
		}

		b.modify(network.NewAddressStatus(network.NamespaceName, a.id), func(r resource.Resource) {
			s := r.(*network.AddressStatus).TypedSpec() //nolint:forcetypeassert
			s.Address, s.Local, s.LinkName, s.LinkIndex = a.p, a.p.Addr(), a.link, uint32(min(i+1, 2))
			s.Family, s.Scope, s.Flags = nethelpers.FamilyInet4, a.scope, nethelpers.AddressFlags(nethelpers.AddressPermanent)

			if a.p.Addr().Is6() {
				s.Family = nethelpers.FamilyInet6
			}
		})
	}

	gw := b.gateway()
	routes := []struct {
		id  string
		dst netip.Prefix
		gw  netip.Addr
	}{
		{fmt.Sprintf("inet4/%s//1024", gw), netip.Prefix{}, gw},
		{fmt.Sprintf("inet4//%s/1024", lan.Masked()), lan.Masked(), netip.Addr{}},
	}

	for _, r := range routes {
		if !up || !lan.IsValid() {
			b.destroy(network.NewRouteStatus(network.NamespaceName, r.id).Metadata())

			continue
		}

		b.modify(network.NewRouteStatus(network.NamespaceName, r.id), func(res resource.Resource) {
			s := res.(*network.RouteStatus).TypedSpec() //nolint:forcetypeassert
			s.Family, s.Destination, s.Gateway, s.Source = nethelpers.FamilyInet4, r.dst, r.gw, lan.Addr()
			s.OutLinkName, s.OutLinkIndex, s.Table, s.Priority = link, 2, nethelpers.TableMain, 1024
			s.Scope, s.Type, s.Protocol = nethelpers.ScopeGlobal, nethelpers.TypeUnicast, nethelpers.ProtocolBoot

			if !r.gw.IsValid() {
				s.Scope, s.Protocol = nethelpers.ScopeLink, nethelpers.ProtocolKernel
			}
		})
	}

	for _, id := range []string{network.NodeAddressDefaultID, network.NodeAddressCurrentID, network.NodeAddressRoutedID, network.NodeAddressAccumulativeID} {
		b.modify(network.NewNodeAddress(network.NamespaceName, id), func(r resource.Resource) {
			r.(*network.NodeAddress).TypedSpec().Addresses = []netip.Prefix{lan} //nolint:forcetypeassert
		})
	}

	b.modify(network.NewHostnameStatus(network.NamespaceName, network.HostnameID), func(r resource.Resource) {
		r.(*network.HostnameStatus).TypedSpec().Hostname = b.hostnameLocked() //nolint:forcetypeassert
	})

	b.modify(network.NewResolverStatus(network.NamespaceName, network.ResolverID), func(r resource.Resource) {
		r.(*network.ResolverStatus).TypedSpec().DNSServers = []netip.Addr{ //nolint:forcetypeassert
			netip.MustParseAddr(constants.DefaultPrimaryResolver), netip.MustParseAddr(constants.DefaultSecondaryResolver),
		}
	})

	b.modify(network.NewTimeServerStatus(network.NamespaceName, network.TimeServerID), func(r resource.Resource) {
		r.(*network.TimeServerStatus).TypedSpec().NTPServers = []string{constants.DefaultNTPServer} //nolint:forcetypeassert
	})

	for _, l := range []struct {
		id   string
		kind nethelpers.LinkType
	}{{"lo", nethelpers.LinkLoopbck}, {link, nethelpers.LinkEther}} {
		b.modify(network.NewLinkStatus(network.NamespaceName, l.id), func(r resource.Resource) {
			s := r.(*network.LinkStatus).TypedSpec() //nolint:forcetypeassert
			s.Type, s.LinkState = l.kind, up
			s.OperationalState = nethelpers.OperStateDown

			if up {
				s.OperationalState = nethelpers.OperStateUp
			}

			if l.id == "lo" {
				s.OperationalState = nethelpers.OperStateUnknown // what the kernel reports for lo
			}
		})
	}

	b.modify(network.NewStatus(network.NamespaceName, network.StatusID), func(r resource.Resource) {
		s := r.(*network.Status).TypedSpec() //nolint:forcetypeassert
		s.AddressReady, s.ConnectivityReady, s.HostnameReady, s.EtcFilesReady = up, up, up, up
	})

	b.modify(runtime.NewSecurityStateSpec(v1alpha1.NamespaceName), func(resource.Resource) {})
}

// publishMachineLocked publishes what follows from a running config: the
// machine type, the node's identity and cluster, the kubelet's spec, the
// EPHEMERAL volume, and the static pods' status on a control plane.
func (b *Board) publishMachineLocked() {
	if !b.bootedLocked() {
		for _, md := range []*resource.Metadata{
			talosconfig.NewMachineType().Metadata(),
			cluster.NewInfo().Metadata(),
			k8s.NewKubeletSpec(k8s.NamespaceName, k8s.KubeletID).Metadata(),
			block.NewVolumeStatus(block.NamespaceName, constants.EphemeralPartitionLabel).Metadata(),
		} {
			b.destroy(md)
		}

		b.publishStaticPodsLocked()

		return
	}

	b.modify(talosconfig.NewMachineType(), func(r resource.Resource) {
		r.(*talosconfig.MachineType).SetMachineType(b.cfg.Machine().Type()) //nolint:forcetypeassert
	})

	b.modify(cluster.NewIdentity(cluster.NamespaceName, cluster.LocalIdentity), func(r resource.Resource) {
		r.(*cluster.Identity).TypedSpec().NodeID = b.nodeID() //nolint:forcetypeassert
	})

	b.modify(cluster.NewInfo(), func(r resource.Resource) {
		s := r.(*cluster.Info).TypedSpec() //nolint:forcetypeassert
		s.ClusterID, s.ClusterName = b.cfg.Cluster().ID(), b.cfg.Cluster().Name()
	})

	b.modify(k8s.NewKubeletSpec(k8s.NamespaceName, k8s.KubeletID), func(r resource.Resource) {
		s := r.(*k8s.KubeletSpec).TypedSpec() //nolint:forcetypeassert
		s.Image = b.cfg.Machine().Kubelet().Image()
		s.ExpectedNodename = b.hostnameLocked()
		s.Args = []string{
			"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubeconfig",
			"--cert-dir=/var/lib/kubelet/pki",
			"--config=/etc/kubernetes/kubelet.yaml",
			"--hostname-override=" + b.hostnameLocked(),
			"--kubeconfig=/etc/kubernetes/kubeconfig-kubelet",
			"--node-ip=" + b.address(),
		}
	})

	if d, ok := b.installDiskLocked(); ok {
		b.modify(block.NewVolumeStatus(block.NamespaceName, constants.EphemeralPartitionLabel), func(r resource.Resource) {
			s := r.(*block.VolumeStatus).TypedSpec() //nolint:forcetypeassert
			s.Phase, s.Type, s.Filesystem = block.VolumePhaseReady, block.VolumeTypePartition, block.FilesystemTypeXFS
			s.Location, s.ParentLocation, s.PartitionIndex = partition(d.Path, 6), d.Path, 6
			s.MountLocation = s.Location
			s.SetSize(ephemeralSize(d.Size))
		})
	}

	b.publishStaticPodsLocked()
}

// installDiskLocked is the disk the running config installed to.
func (b *Board) installDiskLocked() (Disk, bool) {
	if b.cfg == nil {
		return Disk{}, false
	}

	want := b.cfg.Machine().Install().Disk()

	for _, d := range b.opts.Spec.Disks {
		if d.Path == want {
			return d, true
		}
	}

	return Disk{}, false
}

// partition is the device of a disk's n-th partition (mmcblk0p6, sda6).
func partition(disk string, n int) string {
	if last := disk[len(disk)-1]; last >= '0' && last <= '9' {
		return fmt.Sprintf("%sp%d", disk, n)
	}

	return fmt.Sprintf("%s%d", disk, n)
}

// ephemeralSize is what is left of a disk for EPHEMERAL after Talos's
// system partitions (BOOT about 1 GiB, META 1 MiB, STATE 100 MiB) and the
// GPT's overhead, as pkg/cluster/check's disk-size check counts them.
func ephemeralSize(disk uint64) uint64 {
	const system = 1<<30 + 1<<20 + 100<<20 + 10<<20

	if disk < system {
		return 0
	}

	return disk - system
}

// nodeID is the node's discovery identity: a random 32-byte value in
// base62 in Talos (persisted across reboots); derived from the machine
// UUID here so it is stable.
func (b *Board) nodeID() string {
	sum := sha256.Sum256([]byte(b.opts.Spec.UUID))

	return new(big.Int).SetBytes(sum[:]).Text(62)
}

// SetStaticPods says whether the control-plane static pods (kube-apiserver,
// kube-controller-manager, kube-scheduler) run on this board: Talos reports
// them as StaticPodStatus resources once its kubelet runs them.
func (b *Board) SetStaticPods(running bool) {
	b.mu.Lock()
	defer b.mu.Unlock()

	b.x.staticPods = running
	b.publishStaticPodsLocked()
}

func (b *Board) publishStaticPodsLocked() {
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		id := "kube-system/" + name + "-" + b.hostnameLocked()

		if !b.x.staticPods || !b.bootedLocked() {
			list, err := b.st.List(context.Background(), k8s.NewStaticPodStatus(k8s.NamespaceName, "").Metadata())
			if err == nil {
				for _, r := range list.Items {
					if strings.HasPrefix(r.Metadata().ID(), "kube-system/"+name+"-") {
						b.destroy(r.Metadata())
					}
				}
			}

			continue
		}

		b.modify(k8s.NewStaticPodStatus(k8s.NamespaceName, id), func(r resource.Resource) {
			r.(*k8s.StaticPodStatus).TypedSpec().PodStatus = map[string]any{ //nolint:forcetypeassert
				"phase":  "Running",
				"hostIP": b.address(),
				"podIP":  b.address(),
				"conditions": []any{
					map[string]any{"type": "Initialized", "status": "True"},
					map[string]any{"type": "Ready", "status": "True"},
					map[string]any{"type": "ContainersReady", "status": "True"},
					map[string]any{"type": "PodScheduled", "status": "True"},
				},
			}
		})
	}
}

// affiliate is what one board tells the discovery service of itself.
type affiliate struct {
	ok      bool
	cluster string
	spec    cluster.AffiliateSpec
}

// affiliateLocked is this board's local affiliate, as Talos's
// LocalAffiliateController builds it (controllers/cluster/local_affiliate.go):
// only a board running a config with discovery on is one.
func (b *Board) affiliateLocked() affiliate {
	if !b.bootedLocked() || !b.cfg.Cluster().Discovery().Enabled() {
		return affiliate{}
	}

	a := affiliate{ok: true, cluster: b.cfg.Cluster().ID()}
	a.spec.NodeID = b.nodeID()
	a.spec.Hostname = b.hostnameLocked()
	a.spec.Nodename = b.hostnameLocked()
	a.spec.MachineType = b.cfg.Machine().Type()
	a.spec.OperatingSystem = fmt.Sprintf("Talos (%s)", b.booted)

	if ip, err := netip.ParseAddr(b.address()); err == nil {
		a.spec.Addresses = []netip.Addr{ip}
	}

	if a.spec.MachineType.IsControlPlane() {
		a.spec.ControlPlane = &cluster.ControlPlane{APIServerPort: constants.DefaultControlPlanePort}
	}

	return a
}

// RefreshDiscovery recomputes the board's affiliates and members from the
// lab's boards of the same cluster, as Talos's discovery service (its
// default registry) hands every member the others' affiliates.
func (b *Board) RefreshDiscovery() {
	var all []affiliate

	if lab := b.opts.Lab; lab != nil {
		for _, p := range lab.Peers() {
			if p == b {
				continue
			}

			p.mu.Lock()
			a := p.affiliateLocked()
			p.mu.Unlock()

			all = append(all, a)
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()

	b.publishDiscoveryLocked(append(all, b.affiliateLocked()))
}

func (b *Board) publishDiscoveryLocked(all []affiliate) {
	self := b.affiliateLocked()

	affiliates, members := map[string]bool{}, map[string]bool{}

	if self.ok {
		for _, a := range all {
			if !a.ok || a.cluster != self.cluster {
				continue
			}

			affiliates[a.spec.NodeID], members[a.spec.Nodename] = true, true

			b.modify(cluster.NewAffiliate(cluster.NamespaceName, a.spec.NodeID), func(r resource.Resource) {
				*r.(*cluster.Affiliate).TypedSpec() = a.spec //nolint:forcetypeassert
			})

			b.modify(cluster.NewMember(cluster.NamespaceName, a.spec.Nodename), func(r resource.Resource) {
				s := r.(*cluster.Member).TypedSpec() //nolint:forcetypeassert
				s.NodeID, s.Addresses, s.Hostname = a.spec.NodeID, slices.Clone(a.spec.Addresses), a.spec.Hostname
				s.MachineType, s.OperatingSystem, s.ControlPlane = a.spec.MachineType, a.spec.OperatingSystem, a.spec.ControlPlane
			})
		}
	}

	b.prune(cluster.NewAffiliate(cluster.NamespaceName, "").Metadata(), affiliates)
	b.prune(cluster.NewMember(cluster.NamespaceName, "").Metadata(), members)
}

// prune destroys the resources of a kind whose IDs are not kept.
func (b *Board) prune(kind *resource.Metadata, keep map[string]bool) {
	list, err := b.st.List(context.Background(), kind)
	if err != nil {
		return
	}

	for _, r := range list.Items {
		if !keep[r.Metadata().ID()] {
			b.destroy(r.Metadata())
		}
	}
}

func (b *Board) destroy(md *resource.Metadata) {
	if err := b.st.Destroy(context.Background(), md); err != nil && !state.IsNotFoundError(err) {
		b.kmsg("state: %v", err)
	}
}
