package board

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/resource/meta"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/impl/inmem"
	"github.com/cosi-project/runtime/pkg/state/impl/namespaced"
	"github.com/cosi-project/runtime/pkg/state/registry"
	"github.com/siderolabs/talos/pkg/machinery/nethelpers"
	"github.com/siderolabs/talos/pkg/machinery/resources/block"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/hardware"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/network"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"
)

// newState builds the board's COSI state the way machined does: an
// in-memory namespaced state with the namespace and resource-definition
// registries filled, so clients (talosctl get) can resolve aliases.
func newState(ctx context.Context, spec Spec) (state.State, error) {
	st := state.WrapCore(namespaced.NewState(inmem.Build))

	ns := registry.NewNamespaceRegistry(st)
	rd := registry.NewResourceRegistry(st)

	if err := ns.RegisterDefault(ctx); err != nil {
		return nil, err
	}

	if err := rd.RegisterDefault(ctx); err != nil {
		return nil, err
	}

	if err := registerResources(ctx, ns, rd); err != nil {
		return nil, err
	}

	for _, n := range []struct {
		name resource.Namespace
		desc string
	}{
		{v1alpha1.NamespaceName, "Talos v1alpha1 subsystems glue resources."},
		{hardware.NamespaceName, "Hardware resources."},
		{network.NamespaceName, "Networking resources."},
		{k8s.NamespaceName, "Kubernetes all the things."},
		{talosconfig.NamespaceName, "Talos node configuration."},
	} {
		if err := ns.Register(ctx, n.name, n.desc); err != nil {
			return nil, err
		}
	}

	for _, r := range []meta.ResourceWithRD{
		&runtime.MachineStatus{},
		&runtime.ExtensionStatus{},
		&runtime.Diagnostic{},
		&runtime.KernelModuleSpec{},
		&k8s.Nodename{},
		&talosconfig.MachineConfig{},
		&v1alpha1.Service{},
		&hardware.SystemInformation{},
		&block.Disk{},
		&network.LinkStatus{},
	} {
		if err := rd.Register(ctx, r); err != nil {
			return nil, err
		}
	}

	si := hardware.NewSystemInformation(hardware.SystemInformationID)
	parts := strings.SplitN(spec.Product, " ", 3)

	if len(parts) == 3 && parts[0] == "Raspberry" {
		si.TypedSpec().Manufacturer, si.TypedSpec().ProductName = "Raspberry Pi Ltd", spec.Product
	} else {
		si.TypedSpec().ProductName = spec.Product
	}

	si.TypedSpec().UUID = spec.UUID

	if err := st.Create(ctx, si); err != nil {
		return nil, err
	}

	for _, d := range spec.Disks {
		disk := block.NewDisk(block.NamespaceName, strings.TrimPrefix(d.Path, "/dev/"))
		disk.TypedSpec().DevPath, disk.TypedSpec().Size = d.Path, d.Size
		disk.TypedSpec().PrettySize = prettySize(d.Size)
		disk.TypedSpec().Model, disk.TypedSpec().Transport = d.Model, d.Transport

		if err := st.Create(ctx, disk); err != nil {
			return nil, err
		}
	}

	mac, err := net.ParseMAC(spec.MAC)
	if err != nil {
		return nil, fmt.Errorf("board %s: MAC %q: %w", spec.Name, spec.MAC, err)
	}

	link := network.NewLinkStatus(network.NamespaceName, cpuOf(spec.Model).linkName)
	link.TypedSpec().Type = nethelpers.LinkEther
	link.TypedSpec().HardwareAddr = nethelpers.HardwareAddr(mac)
	link.TypedSpec().PermanentAddr = nethelpers.HardwareAddr(mac)

	if err := st.Create(ctx, link); err != nil {
		return nil, err
	}

	return st, st.Create(ctx, runtime.NewMachineStatus())
}

func prettySize(n uint64) string {
	const gb = 1000 * 1000 * 1000

	return fmt.Sprintf("%.0f GB", float64(n)/gb)
}

// modify updates a resource in the board's state, creating it if needed.
func (b *Board) modify(r resource.Resource, set func(resource.Resource)) {
	ctx := context.Background()

	cur, err := b.st.Get(ctx, r.Metadata())
	if err != nil {
		set(r)
		_ = b.st.Create(ctx, r) //nolint:errcheck // in-memory, cannot fail but on a duplicate

		return
	}

	next := cur.DeepCopy()
	set(next)

	// Talos's controllers write only what changed.
	if resource.Equal(cur, next) {
		return
	}

	_ = b.st.Update(ctx, next) //nolint:errcheck // in-memory
}

func (b *Board) setStageLocked(stage string) {
	b.stage = stage
	b.kmsg("machined: stage %s", stage)
	b.configResourcesLocked()
	b.stageChangedLocked()
}

// configResourcesLocked republishes what follows the stage and the config.
func (b *Board) configResourcesLocked() {
	b.updateMachineStatusLocked()
	b.updateDiagnosticsLocked()
	b.updateNodenameLocked()
	b.updateMachineConfigLocked()
	b.updateKernelModulesLocked()
}

// updateKernelModulesLocked publishes the config's machine.kernel.modules
// as KernelModuleSpec resources, as KernelModuleConfigController does from
// the active config (controllers/runtime/kernel_module_config.go): one per
// module, by name, with its parameters.
func (b *Board) updateKernelModulesLocked() {
	ctx := context.Background()
	want := map[string]bool{}

	if b.cfg != nil && b.installed && (b.stage == "running" || b.stage == "booting") {
		for _, m := range b.configModules() {
			want[m.Name()] = true

			b.modify(runtime.NewKernelModuleSpec(runtime.NamespaceName, m.Name()), func(r resource.Resource) {
				spec := r.(*runtime.KernelModuleSpec).TypedSpec() //nolint:forcetypeassert
				spec.Name, spec.Parameters = m.Name(), slices.Clone(m.Parameters())
			})
		}
	}

	list, err := b.st.List(ctx, runtime.NewKernelModuleSpec(runtime.NamespaceName, "").Metadata())
	if err != nil {
		return
	}

	for _, r := range list.Items {
		if !want[r.Metadata().ID()] {
			_ = b.st.Destroy(ctx, r.Metadata()) //nolint:errcheck // absent is fine
		}
	}
}

// updateMachineConfigLocked publishes the config the board runs (Talos's
// MachineConfig resource, what the review diffs a re-apply against).
func (b *Board) updateMachineConfigLocked() {
	md := talosconfig.NewMachineConfig(nil).Metadata()

	if b.cfg == nil || !b.installed || (b.stage != "running" && b.stage != "booting") {
		_ = b.st.Destroy(context.Background(), md) //nolint:errcheck // absent is fine

		return
	}

	_ = b.st.Destroy(context.Background(), md)                                 //nolint:errcheck // replaced whole: its spec is the config
	_ = b.st.Create(context.Background(), talosconfig.NewMachineConfig(b.cfg)) //nolint:errcheck // in-memory
}

// updateNodenameLocked publishes the name the kubelet registers as, as
// Talos's Nodename controller does once the machine runs its config.
func (b *Board) updateNodenameLocked() {
	if b.cfg == nil || !b.installed || (b.stage != "running" && b.stage != "booting") {
		_ = b.st.Destroy(context.Background(), k8s.NewNodename(k8s.NamespaceName, k8s.NodenameID).Metadata()) //nolint:errcheck // absent is fine

		return
	}

	b.modify(k8s.NewNodename(k8s.NamespaceName, k8s.NodenameID), func(r resource.Resource) {
		r.(*k8s.Nodename).TypedSpec().Nodename = b.hostnameLocked() //nolint:forcetypeassert
	})
}

// updateDiagnosticsLocked publishes Talos's address-overlap diagnostic as
// its check does: every routed host address lies inside the cluster's pod
// or service CIDRs (here the board has one address).
func (b *Board) updateDiagnosticsLocked() {
	const id = "address-overlap"

	md := runtime.NewDiagnostic(runtime.NamespaceName, id).Metadata()

	pods, services := b.clusterCIDRsLocked()
	addr, _ := netip.ParseAddr(b.opts.Spec.Address)

	// Talos's diagnostics run once the machine has its config and network,
	// in every stage after install; the sim publishes in booting and running.
	if !b.noNodeIPLocked() || b.stage != "running" && b.stage != "booting" {
		_ = b.st.Destroy(context.Background(), md) //nolint:errcheck // absent is fine

		return
	}

	b.modify(runtime.NewDiagnostic(runtime.NamespaceName, id), func(r resource.Resource) {
		spec := r.(*runtime.Diagnostic).TypedSpec() //nolint:forcetypeassert
		spec.Message = "host and Kubernetes pod/service CIDR addresses overlap"
		spec.Details = []string{
			fmt.Sprintf("host routed addresses: %q", []string{netip.PrefixFrom(addr, addr.BitLen()).String()}),
			fmt.Sprintf("Kubernetes pod CIDRs: %q", pods),
			fmt.Sprintf("Kubernetes service CIDRs: %q", services),
		}
	})
}

func (b *Board) clusterCIDRsLocked() (pods, services []string) {
	if b.cfg != nil && b.cfg.Cluster() != nil {
		pods, services = b.cfg.Cluster().Network().PodCIDRs(), b.cfg.Cluster().Network().ServiceCIDRs()
	}

	return pods, services
}

// noNodeIPLocked tells a board whose every routed address (here its one
// address) lies inside its config's pod or service CIDRs: Talos v1.13.3's
// address-overlap check (controllers/runtime/internal/diagnostics/
// address_overlap.go: the routed addresses minus the Kubernetes ones are
// none), which also leaves kubelet and etcd without an address.
func (b *Board) noNodeIPLocked() bool {
	addr, err := netip.ParseAddr(b.opts.Spec.Address)
	if err != nil || b.cfg == nil {
		return false
	}

	pods, services := b.clusterCIDRsLocked()

	return slices.ContainsFunc(append(slices.Clone(pods), services...), func(c string) bool {
		p, err := netip.ParsePrefix(c)

		return err == nil && p.Contains(addr)
	})
}

// updateMachineStatusLocked recomputes MachineStatus as Talos v1.13's
// controller does (controllers/runtime/machine_status.go): the stage is
// the boot sequence's (booting until startAllServices is done), and the
// readiness checks run only while booting or running (other stages read
// ready with no conditions). So a machine whose boot sequence still waits
// can read ready in booting: its waiting services have no Service
// resource, and the services check sees only those.
func (b *Board) updateMachineStatusLocked() {
	st, err := runtime.MachineStageString(b.stage)
	if err != nil {
		st = runtime.MachineStageUnknown
	}

	var unmet []runtime.UnmetCondition

	if b.stage == "running" || b.stage == "booting" {
		if problems := b.serviceProblemsLocked(); len(problems) > 0 {
			unmet = append(unmet, runtime.UnmetCondition{Name: "services", Reason: strings.Join(problems, ", ")})
		}

		// Talos checks the Node once the machine has a node name (a config);
		// a board without a Kubernetes side (Kubelet hook) has no Node to wait for.
		if name := b.hostnameLocked(); b.cfg != nil && b.installed && b.opts.Hooks.Kubelet != nil {
			switch {
			case !b.nodeSeen:
				unmet = append(unmet, runtime.UnmetCondition{Name: "nodeReady", Reason: fmt.Sprintf("node %q status is not available yet", name)})
			case !b.nodeReady:
				unmet = append(unmet, runtime.UnmetCondition{Name: "nodeReady", Reason: fmt.Sprintf("node %q is not ready", name)})
			}
		}
	}

	b.modify(runtime.NewMachineStatus(), func(r resource.Resource) {
		ms := r.(*runtime.MachineStatus) //nolint:forcetypeassert
		ms.TypedSpec().Stage = st
		ms.TypedSpec().Status.Ready = len(unmet) == 0
		ms.TypedSpec().Status.UnmetConditions = unmet
	})
}

// serviceProblemsLocked is Talos's services check: over the Service
// resources (running services only), "not healthy" for a running service
// whose health check fails; then "not running" for each service a machine
// requires (apid, machined, kubelet; etcd and trustd on a control plane)
// that is not running.
func (b *Board) serviceProblemsLocked() []string {
	var problems []string

	for _, id := range slices.Sorted(maps.Keys(b.services)) {
		if s := b.services[id]; s.state == "Running" && !s.unknown && !s.healthy {
			problems = append(problems, id+" not healthy")
		}
	}

	required := []string{"apid", "machined", "kubelet"}
	if b.isControlPlane() {
		required = append(required, "etcd", "trustd")
	}

	for _, id := range required {
		if s := b.services[id]; s == nil || s.state != "Running" {
			problems = append(problems, id+" not running")
		}
	}

	return problems
}

// publishServicesLocked mirrors services into Service resources, which
// exist only while a service runs (controllers/v1alpha1/service.go
// destroys the resource on any other state).
func (b *Board) publishServicesLocked() {
	ctx := context.Background()

	list, err := b.st.List(ctx, v1alpha1.NewService("").Metadata())
	if err == nil {
		for _, r := range list.Items {
			if s := b.services[r.Metadata().ID()]; s == nil || s.state != "Running" {
				_ = b.st.Destroy(ctx, r.Metadata()) //nolint:errcheck // absent is fine
			}
		}
	}

	for id, s := range b.services {
		if s.state != "Running" {
			continue
		}

		b.modify(v1alpha1.NewService(id), func(r resource.Resource) {
			spec := r.(*v1alpha1.Service).TypedSpec() //nolint:forcetypeassert
			spec.Running, spec.Healthy, spec.Unknown = true, s.healthy, s.unknown
		})
	}
}

// publishExtensionsLocked lists the installed image's extensions, plus the
// virtual "schematic" one Image Factory images carry.
func (b *Board) publishExtensionsLocked() {
	b.clearExtensionsLocked()

	names := append([]string(nil), b.image.Extensions...)

	for i, name := range names {
		b.modify(runtime.NewExtensionStatus(runtime.NamespaceName, fmt.Sprint(i)), func(r resource.Resource) {
			spec := r.(*runtime.ExtensionStatus).TypedSpec() //nolint:forcetypeassert
			spec.Image = fmt.Sprintf("%03d-%s.sqsh", i, name)
			spec.Metadata.Name, spec.Metadata.Version = name, "sim"
			spec.Metadata.Author = "Sidero Labs"
		})
	}

	if b.image.SchematicID != "" {
		b.modify(runtime.NewExtensionStatus(runtime.NamespaceName, fmt.Sprint(len(names))), func(r resource.Resource) {
			spec := r.(*runtime.ExtensionStatus).TypedSpec() //nolint:forcetypeassert
			spec.Image = "schematic"
			spec.Metadata.Name, spec.Metadata.Version = "schematic", b.image.SchematicID
		})
	}
}

func (b *Board) clearExtensionsLocked() {
	ctx := context.Background()

	list, err := b.st.List(ctx, runtime.NewExtensionStatus(runtime.NamespaceName, "").Metadata())
	if err != nil {
		return
	}

	for _, r := range list.Items {
		_ = b.st.Destroy(ctx, r.Metadata()) //nolint:errcheck
	}
}
