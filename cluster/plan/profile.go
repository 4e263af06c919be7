package plan

import (
	"fmt"
	"slices"
	"strings"
)

// Profiles: what a cluster is made ready for. The default is plain Talos
// (flannel, kube-proxy, Talos's defaults).
const (
	ProfileTalos     = ""
	ProfileCozyStack = "cozystack"
)

// Profiles lists the accepted cluster.profile values, for help and errors.
var Profiles = []string{ProfileCozyStack}

// CozyStack is what CozyStack's current release asks of Talos, read from
// its own sources (docs/plan.md cites each one):
//
//   - T: cozystack/talm v0.33.1 charts/cozystack/templates/_helpers.tpl and
//     values.yaml (the cozystack preset);
//   - W: cozystack/website content/en/docs/v1.6/install/kubernetes/
//     talosctl.md (the talosctl path of the v1.6 install guide);
//   - C: cozystack/cozystack v1.6.2 packages/core/talos/images/talos/
//     profiles/installer.yaml (CozyStack's own Talos image).
//
// config.Generate applies it with machinery; the profile test reads the
// configs back and asserts each requirement.
var CozyStack = struct {
	// Modules loaded on every node (T, W): Open vSwitch for Kube-OVN, DRBD
	// for LINSTOR, ZFS, VFIO for KubeVirt passthrough.
	Modules []KernelModule
	// Extensions every role's image must carry for those modules (C:
	// drbd, zfs; the rest are in Talos's kernel).
	Extensions []string
	// Sysctls set on every node (T; the gc_thresh three also W).
	Sysctls map[string]string
	// KubeletExtraConfig (T: cpuManagerPolicy static, maxPods 512; W: maxPods).
	KubeletExtraConfig map[string]any
	// ServiceCIDR and DNSDomain (T values.yaml, W).
	ServiceCIDR, DNSDomain string
	// JoinCIDR is Kube-OVN's join network in the v1.6 Platform Package
	// example (website content/en/docs/v1.6/install/cozystack/platform.md).
	JoinCIDR string
	// EtcdQuotaBackendBytes (T values.yaml etcd.quotaBackendBytes).
	EtcdQuotaBackendBytes string
	// RegistryMirror is docker.io's mirror (T, W).
	RegistryMirror string
	// Files Talos writes (T, W): containerd's CRI customization and LVM's
	// filter, which keeps LVM off DRBD, device-mapper, zvol and loop devices.
	Files []ProfileFile
	// CNIBy and Install: CozyStack brings the CNI (Kube-OVN and Cilium);
	// until it is installed every Node is NotReady. The install command is
	// the v1.6 guide's (cozystack/website content/en/docs/v1.6/install/
	// cozystack/platform.md), at the release these requirements come from.
	CNIBy, Version, Install string
	// Image is CozyStack's own Talos installer: amd64 only (C: arch: amd64;
	// its hack/gen-profiles.sh writes no other).
	Image string
}{
	Modules: []KernelModule{
		{Name: "openvswitch"},
		{Name: "drbd", Parameters: []string{"usermode_helper=disabled"}},
		{Name: "zfs"},
		{Name: "spl"},
		{Name: "vfio_pci"},
		{Name: "vfio_iommu_type1"},
	},
	Extensions: []string{"drbd", "zfs"},
	Sysctls: map[string]string{
		"net.ipv4.neigh.default.gc_thresh1": "4096",
		"net.ipv4.neigh.default.gc_thresh2": "8192",
		"net.ipv4.neigh.default.gc_thresh3": "16384",
		"net.ipv4.tcp_orphan_retries":       "3",
		"net.ipv4.tcp_fin_timeout":          "30",
		"net.core.netdev_max_backlog":       "5000",
		"net.core.netdev_budget":            "600",
		"net.core.netdev_budget_usecs":      "8000",
	},
	KubeletExtraConfig:    map[string]any{"cpuManagerPolicy": "static", "maxPods": 512},
	ServiceCIDR:           "10.96.0.0/16",
	DNSDomain:             "cozy.local",
	JoinCIDR:              "100.64.0.0/16",
	EtcdQuotaBackendBytes: "8589934592",
	RegistryMirror:        "https://mirror.gcr.io",
	Files: []ProfileFile{
		{Path: "/etc/cri/conf.d/20-customization.part", Op: "create", Mode: 0o644, Content: `[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    device_ownership_from_security_context = true
  [plugins."io.containerd.cri.v1.runtime"]
    device_ownership_from_security_context = true
`},
		{Path: "/etc/lvm/lvm.conf", Op: "overwrite", Mode: 0o644, Content: `backup {
  backup = 0
  archive = 0
}
devices {
   global_filter = [ "r|^/dev/drbd.*|", "r|^/dev/dm-.*|", "r|^/dev/zd.*|", "r|^/dev/loop.*|" ]
}
`},
	},
	CNIBy:   "CozyStack",
	Version: "1.6.2",
	Install: "helm upgrade --install cozystack oci://ghcr.io/cozystack/cozystack/cozy-installer --version 1.6.2 " +
		"--namespace cozy-system --create-namespace, then kubectl apply -f cozystack-platform.yaml (its Platform Package: " +
		"cozystack.io/docs/v1.6/install/cozystack/platform)",
	Image: "ghcr.io/cozystack/cozystack/talos",
}

// ProfileFile is a file a profile has Talos write.
type ProfileFile struct {
	Path, Op, Content string
	Mode              uint32
}

// AwaitsCNI is the platform a plan leaves the pod network to, and the
// command that installs it; "" for a plan whose Talos deploys flannel.
func (p *Plan) AwaitsCNI() (by, install string) {
	if p.Cluster.Profile == ProfileCozyStack {
		return CozyStack.CNIBy, CozyStack.Install
	}

	return "", ""
}

// profile checks what a profile asks of the rest of the plan, and says
// where the plan asks for something the profile overrides.
func (v *validator) profile() {
	p := v.plan

	switch p.Cluster.Profile {
	case ProfileTalos:
		return
	case ProfileCozyStack:
	default:
		v.errf("", "cluster.profile", "leave it out for plain Talos, or write one of: "+strings.Join(Profiles, ", "),
			"cluster.profile %q is not a profile liftoff knows", p.Cluster.Profile)

		return
	}

	for _, role := range []string{Compute, Gateway} {
		if role == Gateway && p.Tailscale.Disabled {
			continue
		}

		// The default sets carry both; only an override can drop one.
		have, ok := p.Images.Extensions[role]
		if !ok {
			continue
		}

		for _, need := range CozyStack.Extensions {
			if !slices.ContainsFunc(have, func(e string) bool { return ShortExtension(e) == need }) {
				v.errf("", "images.extensions."+role,
					fmt.Sprintf("add %s to images.extensions.%s (or drop the override: the default sets carry drbd and zfs)", need, role),
					"cluster.profile cozystack loads the %s kernel module on every node (CozyStack's storage needs it), but the %s image lacks the %s extension that carries it", need, role, need)
			}
		}
	}

	// CozyStack's platform Package example gives Kube-OVN's join network
	// 100.64.0.0/16 (cozystack/website content/en/docs/v1.6/install/
	// cozystack/platform.md): inside Tailscale's 100.64.0.0/10, where the
	// gateway's own tailnet address lives.
	if !p.Tailscale.Disabled {
		v.warnf("", "cluster.profile", "when you install CozyStack, set the Platform Package's networking.joinCIDR outside 100.64.0.0/10 (e.g. 172.30.0.0/16)",
			"CozyStack's example Platform Package puts Kube-OVN's join network at %s, inside Tailscale's 100.64.0.0/10: on the gateway it would collide with its tailnet address", CozyStack.JoinCIDR)
	}

	if p.Network.ServiceCIDR != CozyStack.ServiceCIDR {
		v.warnf("", "network.serviceCIDR", "leave network.serviceCIDR out to take CozyStack's, or give CozyStack's platform Package the same range when you install it",
			"cluster.profile cozystack expects the service CIDR %s (talm's cozystack preset; the Platform Package's networking.serviceCIDR); the plan sets %s", CozyStack.ServiceCIDR, p.Network.ServiceCIDR)
	}
}
