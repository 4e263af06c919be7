package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/types/cri"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
)

const cozyPlan = `
cluster: {name: cozy, profile: cozystack}
network: {lan: 192.168.1.0/24}
boards:
  - {name: cp-1, address: 192.168.1.11, model: rpi5, machine: controlplane, role: compute}
  - {name: gw, address: 192.168.1.30, model: rpi4, machine: worker, role: gateway}
  - {name: w-1, address: 192.168.1.40, model: rpi4, machine: worker, role: compute}
`

// The cozystack profile's configs pass the official talosctl's metal
// validation, and carry every requirement of CozyStack's current release,
// read back through machinery. The values are written out here, not taken
// from plan.CozyStack, so a change there must be a change here too; each
// one's source is in docs/plan.md.
func TestCozyStackProfile(t *testing.T) {
	talosctl := toolpathtest.Need(t, "talosctl")[0]

	boards, err := Generate(parsePlan(t, cozyPlan), fixedBundle(t), testKey)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()

	for _, b := range boards {
		data, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}

		path := filepath.Join(dir, b.Board.Name+".yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}

		if out, err := exec.Command(talosctl, "validate", "--mode", "metal", "--strict", "--config", path).CombinedOutput(); err != nil {
			t.Errorf("%s: talosctl validate --mode metal --strict: %v\n%s", b.Board.Name, err, out)
		}

		cfg, err := configloader.NewFromBytes(data)
		if err != nil {
			t.Fatal(err)
		}

		t.Run(b.Board.Name, func(t *testing.T) { assertCozyStack(t, cfg, b.Board) })
	}
}

func assertCozyStack(t *testing.T, cfg coreconfig.Provider, b plan.Board) {
	m, c := cfg.Machine(), cfg.Cluster()

	var mods []string
	for _, k := range m.Kernel().Modules() {
		mods = append(mods, strings.TrimSpace(k.Name()+" "+strings.Join(k.Parameters(), " ")))
	}

	for _, want := range []string{"openvswitch", "drbd usermode_helper=disabled", "zfs", "spl", "vfio_pci", "vfio_iommu_type1", "drbd_transport_tcp"} {
		if !slices.Contains(mods, want) {
			t.Errorf("kernel module %q missing: %v", want, mods)
		}
	}

	for k, v := range map[string]string{
		"net.ipv4.neigh.default.gc_thresh1": "4096", "net.ipv4.neigh.default.gc_thresh2": "8192", "net.ipv4.neigh.default.gc_thresh3": "16384",
		"net.ipv4.tcp_orphan_retries": "3", "net.ipv4.tcp_fin_timeout": "30",
		"net.core.netdev_max_backlog": "5000", "net.core.netdev_budget": "600", "net.core.netdev_budget_usecs": "8000",
	} {
		if got := m.Sysctls()[k]; got != v {
			t.Errorf("sysctl %s = %q, want %q", k, got, v)
		}
	}

	extra := m.Kubelet().ExtraConfig()
	if extra["cpuManagerPolicy"] != "static" || extra["maxPods"] != 512 {
		t.Errorf("kubelet extraConfig: %v", extra)
	}

	if !slices.Equal(m.Kubelet().NodeIP().ValidSubnets(), []string{"192.168.1.0/24"}) {
		t.Errorf("kubelet nodeIP: %v", m.Kubelet().NodeIP().ValidSubnets())
	}

	if !slices.Contains(m.Security().CertSANs(), "127.0.0.1") {
		t.Errorf("machine certSANs: %v", m.Security().CertSANs())
	}

	mf, err := m.Files()
	if err != nil {
		t.Fatal(err)
	}

	files := map[string]string{}
	for _, f := range mf {
		files[f.Path()] = f.Op() + " " + f.Content()
	}

	if f := files["/etc/cri/conf.d/20-customization.part"]; !strings.HasPrefix(f, "create ") || !strings.Contains(f, "device_ownership_from_security_context = true") {
		t.Errorf("CRI customization: %q", f)
	}

	if f := files["/etc/lvm/lvm.conf"]; !strings.HasPrefix(f, "overwrite ") || !strings.Contains(f, `"r|^/dev/drbd.*|", "r|^/dev/dm-.*|", "r|^/dev/zd.*|", "r|^/dev/loop.*|"`) {
		t.Errorf("lvm.conf: %q", f)
	}

	if c.Network().CNI().Name() != "none" {
		t.Errorf("CNI %q, want none", c.Network().CNI().Name())
	}

	if c.Network().DNSDomain() != "cozy.local" {
		t.Errorf("dnsDomain %q", c.Network().DNSDomain())
	}

	if !slices.Equal(c.Network().PodCIDRs(), []string{"10.244.0.0/16"}) || !slices.Equal(c.Network().ServiceCIDRs(), []string{"10.96.0.0/16"}) {
		t.Errorf("CIDRs: pods %v services %v", c.Network().PodCIDRs(), c.Network().ServiceCIDRs())
	}

	var mirrors []string
	for _, d := range cfg.Documents() {
		if r, ok := d.(*cri.RegistryMirrorConfigV1Alpha1); ok {
			for _, e := range r.RegistryEndpoints {
				mirrors = append(mirrors, r.MetaName+"="+e.EndpointURL.String())
			}
		}
	}

	if !slices.Equal(mirrors, []string{"docker.io=https://mirror.gcr.io"}) {
		t.Errorf("registry mirrors: %v", mirrors)
	}

	if b.Machine != plan.ControlPlane {
		return
	}

	if _, ok := m.NodeLabels()["node.kubernetes.io/exclude-from-external-load-balancers"]; ok {
		t.Error("control plane keeps exclude-from-external-load-balancers")
	}

	if !c.ScheduleOnControlPlanes() {
		t.Error("no scheduling on control planes")
	}

	if c.Proxy().Enabled() {
		t.Error("kube-proxy enabled")
	}

	if c.Discovery().Enabled() {
		t.Error("discovery enabled")
	}

	for name, args := range map[string]map[string][]string{
		"controllerManager": c.ControllerManager().ExtraArgs(),
		"scheduler":         c.Scheduler().ExtraArgs(),
	} {
		if !slices.Equal(args["bind-address"], []string{"0.0.0.0"}) {
			t.Errorf("%s bind-address: %v", name, args)
		}
	}

	if cm := c.ControllerManager().ExtraArgs(); !slices.Equal(cm["allocate-node-cidrs"], []string{"true"}) || !slices.Equal(cm["cluster-cidr"], []string{"10.244.0.0/16"}) {
		t.Errorf("controllerManager: %v", cm)
	}

	if !slices.Contains(c.CertSANs(), "127.0.0.1") {
		t.Errorf("apiServer certSANs: %v", c.CertSANs())
	}

	if !slices.Equal(c.Etcd().AdvertisedSubnets(), []string{"192.168.1.0/24"}) || !slices.Equal(c.Etcd().ExtraArgs()["quota-backend-bytes"], []string{"8589934592"}) {
		t.Errorf("etcd: subnets %v args %v", c.Etcd().AdvertisedSubnets(), c.Etcd().ExtraArgs())
	}
}
