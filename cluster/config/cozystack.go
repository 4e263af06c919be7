package config

import (
	"maps"
	"net/url"
	"slices"

	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/types/cri"
	"github.com/siderolabs/talos/pkg/machinery/config/types/meta"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// cozyStack makes a board's config what CozyStack's current release asks
// of Talos (plan.CozyStack, with its sources), through machinery's types:
// the same settings talm's cozystack preset renders, on the config the
// generator made. Control-plane-only settings follow the preset's
// `if eq .MachineType "controlplane"` blocks.
func cozyStack(cfg *v1alpha1.Config, p *plan.Plan, b plan.Board, extensions []string) []config.Document {
	want := plan.CozyStack
	m, c := cfg.MachineConfig, cfg.ClusterConfig

	// Kernel modules: the role's extension modules (drbd_transport_tcp …)
	// and CozyStack's, one entry per module, CozyStack's parameters kept.
	mods := slices.Clone(want.Modules)
	for _, x := range plan.ModulesFor(extensions) {
		if !slices.ContainsFunc(mods, func(k plan.KernelModule) bool { return k.Name == x.Name }) {
			mods = append(mods, x)
		}
	}

	m.MachineKernel = &v1alpha1.KernelConfig{}
	for _, k := range mods {
		m.MachineKernel.KernelModules = append(m.MachineKernel.KernelModules, &v1alpha1.KernelModuleConfig{ModuleName: k.Name, ModuleParameters: slices.Clone(k.Parameters)})
	}

	if m.MachineSysctls == nil {
		m.MachineSysctls = map[string]string{}
	}

	maps.Copy(m.MachineSysctls, want.Sysctls)

	if m.MachineKubelet.KubeletExtraConfig.Object == nil {
		m.MachineKubelet.KubeletExtraConfig.Object = map[string]any{}
	}

	maps.Copy(m.MachineKubelet.KubeletExtraConfig.Object, want.KubeletExtraConfig)

	m.MachineCertSANs = appendNew(m.MachineCertSANs, "127.0.0.1")

	for _, f := range want.Files {
		m.MachineFiles = append(m.MachineFiles, &v1alpha1.MachineFile{FilePath: f.Path, FileOp: f.Op, FileContent: f.Content, FilePermissions: v1alpha1.FileMode(f.Mode)})
	}

	c.ClusterNetwork.CNI = &v1alpha1.CNIConfig{CNIName: constants.NoneCNI}
	c.ClusterNetwork.DNSDomain = want.DNSDomain

	if b.Machine == plan.ControlPlane {
		delete(m.MachineNodeLabels, constants.LabelExcludeFromExternalLB)

		c.AllowSchedulingOnControlPlanes = new(true)

		if c.ControllerManagerConfig == nil {
			c.ControllerManagerConfig = &v1alpha1.ControllerManagerConfig{}
		}

		c.ControllerManagerConfig.ExtraArgsConfig = withArgs(c.ControllerManagerConfig.ExtraArgsConfig, map[string]string{
			"bind-address": "0.0.0.0", "allocate-node-cidrs": "true", "cluster-cidr": p.Network.PodCIDR,
		})

		if c.SchedulerConfig == nil {
			c.SchedulerConfig = &v1alpha1.SchedulerConfig{}
		}

		c.SchedulerConfig.ExtraArgsConfig = withArgs(c.SchedulerConfig.ExtraArgsConfig, map[string]string{"bind-address": "0.0.0.0"})

		if c.APIServerConfig == nil {
			c.APIServerConfig = &v1alpha1.APIServerConfig{}
		}

		c.APIServerConfig.CertSANs = appendNew(c.APIServerConfig.CertSANs, "127.0.0.1")

		if c.ProxyConfig == nil {
			c.ProxyConfig = &v1alpha1.ProxyConfig{}
		}

		c.ProxyConfig.Disabled = new(true)

		if c.ClusterDiscoveryConfig == nil {
			c.ClusterDiscoveryConfig = &v1alpha1.ClusterDiscoveryConfig{}
		}

		c.ClusterDiscoveryConfig.DiscoveryEnabled = new(false)

		if c.EtcdConfig == nil {
			c.EtcdConfig = &v1alpha1.EtcdConfig{}
		}

		c.EtcdConfig.EtcdAdvertisedSubnets = m.MachineKubelet.KubeletNodeIP.KubeletNodeIPValidSubnets
		c.EtcdConfig.EtcdExtraArgs = withArgs(c.EtcdConfig.EtcdExtraArgs, map[string]string{"quota-backend-bytes": want.EtcdQuotaBackendBytes})
	}

	mirror := cri.NewRegistryMirrorConfigV1Alpha1("docker.io")
	u, _ := url.Parse(want.RegistryMirror) //nolint:errcheck // a constant
	mirror.RegistryEndpoints = []cri.RegistryEndpoint{{EndpointURL: meta.URL{URL: u}}}

	return []config.Document{mirror}
}

func withArgs(a v1alpha1.Args, add map[string]string) v1alpha1.Args {
	if a == nil {
		a = v1alpha1.Args{}
	}

	for k, v := range add {
		a[k] = v1alpha1.NewArgValue(v, nil)
	}

	return a
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}

	return append(list, s)
}
