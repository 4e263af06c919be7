// Package config turns a lab plan into Talos machine configs with the
// official machinery generator: one config per board, patched for its
// hostname, install disk and role image; the gateway alone also gets the
// tailscale ExtensionServiceConfig.
package config

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/container"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/types/network"
	"github.com/siderolabs/talos/pkg/machinery/config/types/runtime/extensions"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// TailscaleService is the extension service the gateway's config configures.
const TailscaleService = "tailscale"

// Metal is the validation mode of a board installed to disk. machinery has
// no ready-made type for it.
type Metal struct{}

func (Metal) String() string        { return "metal" }
func (Metal) RequiresInstall() bool { return true }
func (Metal) InContainer() bool     { return false }

// Board is one board's generated config.
type Board struct {
	Board  plan.Board
	Image  image.Image
	Config coreconfig.Provider
	// Warnings machinery's validation printed (not errors).
	Warnings []string
}

// Bytes is the config as written to disk (and sent to the board).
func (b Board) Bytes() ([]byte, error) {
	return b.Config.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
}

// Generate builds every board's config. The plan must be valid; authKey is
// needed only when the plan has a gateway.
func Generate(p *plan.Plan, bundle *secrets.Bundle, authKey string) ([]Board, error) {
	if err := p.Validate().Err(); err != nil {
		return nil, err
	}

	if _, ok := p.Gateway(); ok {
		if err := CheckAuthKey(authKey); err != nil {
			return nil, err
		}
	}

	contract, err := coreconfig.ParseContractFromVersion(p.Cluster.TalosVersion)
	if err != nil {
		return nil, fmt.Errorf("talos version: %w", err)
	}

	out := make([]Board, 0, len(p.Boards))

	for _, b := range p.Boards {
		cfg, im, err := board(p, b, bundle, contract, authKey)
		if err != nil {
			return nil, fmt.Errorf("board %s: %w", b.Name, err)
		}

		warnings, err := cfg.Validate(Metal{}, validation.WithStrict())
		if err != nil {
			return nil, fmt.Errorf("board %s: the generated config does not pass Talos validation: %w", b.Name, err)
		}

		out = append(out, Board{Board: b, Image: im, Config: cfg, Warnings: warnings})
	}

	return out, nil
}

func board(p *plan.Plan, b plan.Board, bundle *secrets.Bundle, contract *coreconfig.VersionContract, authKey string) (coreconfig.Provider, image.Image, error) {
	im, err := image.For(p, b)
	if err != nil {
		return nil, im, err
	}

	in, err := generate.NewInput(p.Cluster.Name, p.EndpointURL(), strings.TrimPrefix(p.Cluster.KubernetesVersion, "v"),
		generate.WithVersionContract(contract),
		generate.WithSecretsBundle(bundle),
		generate.WithInstallDisk(b.InstallDisk),
		generate.WithInstallImage(im.Installer),
		generate.WithEndpointList(controlPlaneAddresses(p)),
		generate.WithAdditionalSubjectAltNames(apiSANs(p)),
		generate.WithAllowSchedulingOnControlPlanes(p.Cluster.AllowSchedulingOnControlPlanes),
	)
	if err != nil {
		return nil, im, err
	}

	in.PodNet = []string{p.Network.PodCIDR}
	in.ServiceNet = []string{p.Network.ServiceCIDR}

	kind := machine.TypeWorker
	if b.Machine == plan.ControlPlane {
		kind = machine.TypeControlPlane
	}

	generated, err := in.Config(kind)
	if err != nil {
		return nil, im, err
	}

	var docs, profileDocs []config.Document

	for _, d := range generated.Documents() {
		// The generator asks for an automatic hostname; the plan names the
		// board, and Talos refuses both at once.
		if d.Kind() == network.HostnameKind {
			continue
		}

		if v1, ok := d.(*v1alpha1.Config); ok {
			pinNodeIP(v1, p, b)
			// Merge: the generator labels control planes too.
			if v1.MachineConfig.MachineNodeLabels == nil {
				v1.MachineConfig.MachineNodeLabels = map[string]string{}
			}

			maps.Copy(v1.MachineConfig.MachineNodeLabels, NodeLabels(b, im))
			v1.MachineConfig.MachineKernel = kernelModules(im.Extensions)

			if p.Cluster.Profile == plan.ProfileCozyStack {
				profileDocs = cozyStack(v1, p, b, im.Extensions)
			}
		}

		docs = append(docs, d)
	}

	docs = append(docs, profileDocs...)

	hostname := network.NewHostnameConfigV1Alpha1()
	hostname.ConfigHostname = b.Name
	docs = append(docs, hostname)

	if p.Cluster.VIP != "" && b.Machine == plan.ControlPlane {
		vip := network.NewLayer2VIPConfigV1Alpha1(p.Cluster.VIP)
		vip.LinkName = b.Link
		docs = append(docs, vip)
	}

	if b.Role == plan.Gateway {
		docs = append(docs, tailscaleConfig(p, authKey))
	}

	cfg, err := container.New(docs...)

	return cfg, im, err
}

// NodeLabels are the labels a board's Node gets: its role and one per
// extension of its image.
func NodeLabels(b plan.Board, im image.Image) map[string]string {
	labels := map[string]string{plan.RoleLabel: b.Role}
	for _, ext := range im.Extensions {
		labels[plan.ExtensionLabel(ext)] = "true"
	}

	return labels
}

// kernelModules lists what the image's extensions need loaded: Talos loads
// no extension module by itself, and zfs's service waits for /dev/zfs (which
// only the zfs module creates), holding the boot sequence with it
// (siderolabs/extensions v1.13.3 storage/zfs; see plan.Extensions).
func kernelModules(extensions []string) *v1alpha1.KernelConfig {
	mods := plan.ModulesFor(extensions)
	if len(mods) == 0 {
		return nil
	}

	kc := &v1alpha1.KernelConfig{}
	for _, m := range mods {
		kc.KernelModules = append(kc.KernelModules, &v1alpha1.KernelModuleConfig{ModuleName: m.Name, ModuleParameters: slices.Clone(m.Parameters)})
	}

	return kc
}

// pinNodeIP keeps kubelet on the LAN address. On the gateway, tailscale0
// brings a second address and kubelet could otherwise pick it.
func pinNodeIP(cfg *v1alpha1.Config, p *plan.Plan, b plan.Board) {
	subnet := p.Network.LAN
	if subnet == "" {
		addr := netip.MustParseAddr(b.Address)
		subnet = netip.PrefixFrom(addr, addr.BitLen()).String()
	}

	cfg.MachineConfig.MachineKubelet.KubeletNodeIP = &v1alpha1.KubeletNodeIPConfig{KubeletNodeIPValidSubnets: []string{subnet}}
}

// tailscaleConfig is the gateway's subnet router: it advertises the pod and
// service CIDRs so the tailnet reaches the cluster through this one board.
func tailscaleConfig(p *plan.Plan, authKey string) *extensions.ServiceConfigV1Alpha1 {
	ts := extensions.NewServicesConfigV1Alpha1()
	ts.ServiceName = TailscaleService
	ts.ServiceEnvironment = []string{
		"TS_AUTHKEY=" + authKey,
		"TS_ROUTES=" + strings.Join(p.Routes(), ","),
		"TS_HOSTNAME=" + p.Tailscale.Hostname,
	}

	if args := ExtraArgs(p); args != "" {
		ts.ServiceEnvironment = append(ts.ServiceEnvironment, "TS_EXTRA_ARGS="+args)
	}

	return ts
}

// ExtraArgs is TS_EXTRA_ARGS: the plan's flags, and --advertise-exit-node
// when the plan asks for an exit node.
func ExtraArgs(p *plan.Plan) string {
	args := strings.Fields(p.Tailscale.ExtraArgs)
	if p.Tailscale.ExitNode && !slices.Contains(args, "--advertise-exit-node") {
		args = append(args, "--advertise-exit-node")
	}

	return strings.Join(args, " ")
}

func controlPlaneAddresses(p *plan.Plan) []string {
	var out []string
	for _, b := range p.ControlPlanes() {
		out = append(out, b.Address)
	}

	return out
}

// apiSANs lets the API server certificate cover the VIP and every control
// plane address, so any of them works as the kubeconfig server.
func apiSANs(p *plan.Plan) []string {
	sans := controlPlaneAddresses(p)
	if p.Cluster.VIP != "" {
		sans = append(sans, p.Cluster.VIP)
	}

	slices.Sort(sans)

	return slices.Compact(sans)
}

// Talosconfig is the client config for talosctl and liftoff, with an admin
// certificate from the bundle. Endpoints are the control planes.
func Talosconfig(p *plan.Plan, bundle *secrets.Bundle) ([]byte, error) {
	contract, err := coreconfig.ParseContractFromVersion(p.Cluster.TalosVersion)
	if err != nil {
		return nil, err
	}

	in, err := generate.NewInput(p.Cluster.Name, p.EndpointURL(), strings.TrimPrefix(p.Cluster.KubernetesVersion, "v"),
		generate.WithVersionContract(contract),
		generate.WithSecretsBundle(bundle),
		generate.WithEndpointList(controlPlaneAddresses(p)),
	)
	if err != nil {
		return nil, err
	}

	tc, err := in.Talosconfig()
	if err != nil {
		return nil, err
	}

	if ctx := tc.Contexts[tc.Context]; ctx != nil {
		for _, b := range p.Boards {
			ctx.Nodes = append(ctx.Nodes, b.Address)
		}
	}

	return tc.Bytes()
}
