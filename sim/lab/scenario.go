package lab

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/container"
	"github.com/siderolabs/talos/pkg/machinery/config/types/network"
	"github.com/siderolabs/talos/pkg/machinery/config/types/runtime/extensions"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// Scenario is a way a lab goes right or wrong. Faults happen to boards;
// Edit makes the configuration mistake a person makes, on the files
// `liftoff gen` wrote, before they are applied.
type Scenario struct {
	Name        string
	Description string
	// Fails lists the checks this scenario must fail (the rest pass or skip).
	Fails []string
	// RoutesUnapproved: nobody approves the gateway's routes in the
	// tailnet's admin console.
	RoutesUnapproved bool

	// Plan changes the plan the spec makes before anything is generated:
	// the choices a person writes in lab.yaml.
	Plan   func(p *plan.Plan)
	Faults func(i int, b plan.Board) board.Faults
	Images func(p *plan.Plan) []image.Image
	Edit   func(p *plan.Plan, dir string) error
	// Spec reshapes the lab's boards (roles, cards) before it starts.
	Spec func(Spec) Spec
}

// Scenarios, selectable by name.
var Scenarios = []Scenario{
	{
		Name:        "happy",
		Description: "every board gets its role's image; the gateway has its Tailscale config",
	},
	{
		Name:        "tailscale-everywhere",
		Description: "every board gets the gateway image: compute boards wait for a Tailscale config forever",
		Fails:       []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing", "extension-isolation", "single-gateway-only"},
		Edit:        everyBoardGetsTheGatewayImage,
	},
	{
		Name:        "no-authkey",
		Description: "the gateway's config lacks its tailscale ExtensionServiceConfig",
		Fails:       []string{"mixed-role-cluster", "node-ready-timing", "subnet-router-config", "traffic-flow"},
		Edit:        gatewayWithoutTailscaleConfig,
	},
	{
		Name:        "power-loss-during-install",
		Description: "the second board (pi-w-1) loses power halfway through its install and comes back in maintenance mode",
		Fails:       []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing"},
		Faults: func(i int, _ plan.Board) board.Faults {
			return board.Faults{PowerLossDuringInstall: i == 1}
		},
	},
	{
		Name:        "slow-sd-card",
		Description: "the third board (pi-w-2) installs to a slow SD card: four times slower, but it gets there",
		Faults: func(i int, _ plan.Board) board.Faults {
			if i == 2 {
				return board.Faults{SlowDisk: 4}
			}

			return board.Faults{}
		},
	},
	{
		Name:        "wrong-arch-image",
		Description: "the third board (pi-w-2) is given a self-built amd64-only image: it boot-loops",
		Fails:       []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing"},
		Images: func(p *plan.Plan) []image.Image {
			return []image.Image{{Role: plan.Compute, Model: plan.AMD64, Arch: "amd64", Extensions: image.Extensions(p, plan.Compute), Installer: amd64Only}}
		},
		Edit: func(p *plan.Plan, dir string) error {
			b, err := nth(p, 2)
			if err != nil {
				return err
			}

			return setInstaller(filepath.Join(dir, b.Name+".yaml"), amd64Only)
		},
	},
	{
		Name:        "duplicate-hostname",
		Description: "the third board's config (pi-w-2's) names it like the second (pi-w-1): two machines fight over one Kubernetes Node",
		Fails:       []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing"},
		Edit: func(p *plan.Plan, dir string) error {
			first, err := nth(p, 1)
			if err != nil {
				return err
			}

			second, err := nth(p, 2)
			if err != nil {
				return err
			}

			return editDocs(filepath.Join(dir, second.Name+".yaml"), func(d config.Document) (config.Document, bool) {
				if h, ok := d.(*network.HostnameConfigV1Alpha1); ok {
					h.ConfigHostname = first.Name
				}

				return d, true
			})
		},
	},
	{
		Name:        "spin-less-image",
		Description: "every board runs a self-built image without spin, while its config still labels it spin-capable",
		Fails:       []string{"extension-isolation", "spin-runtime-deploy", "multi-arch-confidence", "performance-baseline"},
		Images: func(p *plan.Plan) []image.Image {
			return []image.Image{
				{Role: plan.Compute, Extensions: without(image.Extensions(p, plan.Compute), "spin"), Installer: noSpin(plan.Compute)},
				{Role: plan.Gateway, Extensions: without(image.Extensions(p, plan.Gateway), "spin"), Installer: noSpin(plan.Gateway)},
			}
		},
		Edit: func(p *plan.Plan, dir string) error {
			for _, b := range p.Boards {
				if err := setInstaller(filepath.Join(dir, b.Name+".yaml"), noSpin(b.Role)); err != nil {
					return err
				}
			}

			return nil
		},
	},
	{
		Name: "plain-installer",
		Description: "every board was installed with the plain Talos installer (ghcr.io/siderolabs/installer), as an upgrade " +
			"without the Image Factory image does: every extension is gone",
		Fails: []string{"extension-isolation", "spin-runtime-deploy", "multi-arch-confidence", "performance-baseline",
			"subnet-router-config", "traffic-flow", "single-gateway-only"},
		Images: func(*plan.Plan) []image.Image {
			return []image.Image{{Role: plan.Compute, Installer: plainInstaller}, {Role: plan.Gateway, Installer: plainInstaller}}
		},
		Edit: func(p *plan.Plan, dir string) error {
			for _, b := range p.Boards {
				if err := setInstaller(filepath.Join(dir, b.Name+".yaml"), plainInstaller); err != nil {
					return err
				}
			}

			return nil
		},
	},
	{
		Name: "card-wrong-image",
		Description: "the gateway is a Raspberry Pi (the last Pi; the amd64 box computes) whose SD card carries the compute image, " +
			"every Pi boots from its card: Talos installs nothing on a board booted from its card, so the gateway runs without tailscale until liftoff upgrades it",
		Spec: gatewayCardHoldsTheComputeImage,
		// liftoff's bring-up upgrades the gateway to its installer: nothing
		// fails. Without that upgrade (Options.KeepCards) the route does.
	},
	{
		Name:        "new-dhcp-lease",
		Description: "the third board (pi-w-2) gets a new DHCP lease after its install and comes back at another address",
		Faults: func(i int, b plan.Board) board.Faults {
			if i != 2 {
				return board.Faults{}
			}

			a := netip.MustParseAddr(b.Address).As4()
			a[3] += 100

			return board.Faults{MoveAfterInstall: netip.AddrFrom4(a).String()}
		},
	},
	{
		Name: "lan-in-pod-cidr",
		Description: "the configs were hand-edited to a pod CIDR that holds the boards' own LAN: Talos warns of address-overlap, " +
			"finds no node IP, and kubelet and etcd never start",
		// Talos v1.13.3: no routed address outside the pod and service
		// CIDRs means no node IP (controllers/k8s/nodeip.go) and no etcd
		// spec (controllers/etcd/spec.go); see sim/board's noNodeIPLocked.
		Fails: []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing"},
		Edit: func(p *plan.Plan, dir string) error {
			for _, b := range p.Boards {
				err := editConfig(filepath.Join(dir, b.Name+".yaml"), func(c coreconfig.Provider) (coreconfig.Provider, error) {
					return c.PatchV1Alpha1(func(v *v1alpha1.Config) error {
						v.ClusterConfig.ClusterNetwork.PodSubnet = []string{"127.0.0.0/8"}

						return nil
					})
				})
				if err != nil {
					return err
				}
			}

			return nil
		},
	},
	{
		Name: "schematic-not-registered",
		Description: "the gateway's config was hand-edited to an installer whose schematic (its extensions plus iscsi-tools) " +
			"nobody registered with the Image Factory: the installer pull is a 404, the install fails and the board comes back in maintenance mode",
		Fails: []string{"mixed-role-cluster", "node-ready-timing", "subnet-router-config", "traffic-flow", "single-gateway-only"},
		Edit:  unregisteredGatewaySchematic,
	},
	{
		Name: "no-cni",
		Description: "the configs set cluster.network.cni.name: none for a Cilium install that never happened: " +
			"no pod network, every Node NotReady, CoreDNS Pending",
		Fails: []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing", "cluster-dns",
			"spin-runtime-deploy", "multi-arch-confidence", "performance-baseline", "traffic-flow"},
		Edit: func(p *plan.Plan, dir string) error {
			for _, b := range p.Boards {
				err := editConfig(filepath.Join(dir, b.Name+".yaml"), func(c coreconfig.Provider) (coreconfig.Provider, error) {
					return c.PatchV1Alpha1(func(v *v1alpha1.Config) error {
						v.ClusterConfig.ClusterNetwork.CNI = &v1alpha1.CNIConfig{CNIName: "none"}

						return nil
					})
				})
				if err != nil {
					return err
				}
			}

			return nil
		},
	},
	{
		Name: "zfs-module-missing",
		Description: "the configs were edited to drop the zfs kernel module, as an older liftoff or a hand-written config has it: " +
			"ext-zfs-service waits for /dev/zfs and every board stays booting",
		Fails: []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing"},
		Edit:  withoutModule("zfs"),
	},
	{
		Name:        "pi5-generic-overlay",
		Description: "the first Raspberry Pi 5 (or CM5) gets the rpi_generic image of its role: its bootloader finds no device tree for itself and it never boots",
		Fails:       []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing", "bootstrap"},
		Images: func(p *plan.Plan) []image.Image {
			if im, err := genericImage(p); err == nil {
				return []image.Image{im}
			}

			return nil
		},
		Edit: func(p *plan.Plan, dir string) error {
			b, err := firstPi5(p)
			if err != nil {
				return err
			}

			im, err := genericImage(p)
			if err != nil {
				return err
			}

			return setInstaller(filepath.Join(dir, b.Name+".yaml"), im.Installer)
		},
	},
	{
		Name: "pi5-nvme-install",
		Description: "the first Raspberry Pi 5 (or CM5) installs to /dev/nvme0n1, edited into its config past plan validation: " +
			"its U-Boot cannot read NVMe and it never boots",
		Fails: []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing", "bootstrap"},
		Edit: func(p *plan.Plan, dir string) error {
			b, err := firstPi5(p)
			if err != nil {
				return err
			}

			return editConfig(filepath.Join(dir, b.Name+".yaml"), func(c coreconfig.Provider) (coreconfig.Provider, error) {
				return c.PatchV1Alpha1(func(v *v1alpha1.Config) error {
					v.MachineConfig.MachineInstall.InstallDisk = "/dev/nvme0n1"

					return nil
				})
			})
		},
	},
	{
		Name: "cozystack",
		Description: "the plan says cluster.profile: cozystack: Talos comes up, and every Node stays NotReady " +
			"(NetworkPluginNotReady) until CozyStack installs its CNI — the expected next step, not a failure",
		Plan: func(p *plan.Plan) {
			p.Cluster.Profile = plan.ProfileCozyStack
			p.Network.ServiceCIDR = ""
			p.Default()
		},
	},
	{
		Name: "compute-only",
		Description: "the plan says tailscale.disabled: true: no gateway at all, every board gets the compute image; " +
			"the cluster forms and the network checks skip with their reason",
		Plan: func(p *plan.Plan) {
			p.Tailscale.Disabled = true

			for i := range p.Boards {
				p.Boards[i].Role = plan.Compute
			}
		},
	},
	{
		Name:             "route-not-approved",
		Description:      "the gateway advertises the cluster routes but nobody approved them in the Tailscale admin console",
		Fails:            []string{"subnet-router-config", "traffic-flow"},
		RoutesUnapproved: true,
	},
}

// plainInstaller is Talos's own installer: no extensions at all.
const plainInstaller = "ghcr.io/siderolabs/installer:v1.13.3"

// amd64Only is a self-built image for one architecture, as the CozyStack
// build machinery can make.
const amd64Only = "ghcr.io/example/talos:v1.13.3-compute-amd64"

// noSpin is a multi-arch self-built image of a role without the spin
// extension: the image a build that forgot an extension produces.
func noSpin(role string) string { return "ghcr.io/example/talos:v1.13.3-" + role + "-nospin" }

func without(list []string, drop string) []string {
	var out []string

	for _, x := range list {
		if x != drop {
			out = append(out, x)
		}
	}

	return out
}

// nth is the plan's board at a position: scenarios pick boards by place
// (like Faults), so they work whatever the wizard named them.
// gatewayCardHoldsTheComputeImage moves the gateway role to the last Pi
// (the amd64 box computes) and boots every Pi from a card: the gateway's
// carries the compute image, the others their role's.
func gatewayCardHoldsTheComputeImage(s Spec) Spec {
	boards := slices.Clone(s.Boards)

	last := -1

	for i, b := range boards {
		if b.Model != plan.AMD64 && (last < 0 || boards[last].Role != plan.Gateway) {
			last = i // the last Pi, unless a Pi is the gateway already
		}
	}

	for i := range boards {
		b := &boards[i]

		switch {
		case b.Model == plan.AMD64:
			if b.Role == plan.Gateway && last >= 0 {
				b.Role = plan.Compute
			}
		case i == last:
			b.Role, b.Card = plan.Gateway, plan.Compute
		default:
			b.Card = "role"
		}
	}

	s.Boards = boards

	return s
}

func nth(p *plan.Plan, i int) (plan.Board, error) {
	if i >= len(p.Boards) {
		return plan.Board{}, fmt.Errorf("this scenario needs at least %d boards; the plan has %d", i+1, len(p.Boards))
	}

	return p.Boards[i], nil
}

// firstPi5 is the plan's first Raspberry Pi 5 or CM5: the board the Pi 5
// scenarios are about, whatever its place.
func firstPi5(p *plan.Plan) (plan.Board, error) {
	for _, b := range p.Boards {
		if b.Model == plan.RPi5 || b.Model == plan.CM5 {
			return b, nil
		}
	}

	return plan.Board{}, fmt.Errorf("this scenario needs a Raspberry Pi 5 or CM5 board (model rpi5 or cm5) in the plan")
}

// genericImage is the first Pi 5's role image built for a Pi 4: the
// rpi_generic overlay.
func genericImage(p *plan.Plan) (image.Image, error) {
	b, err := firstPi5(p)
	if err != nil {
		return image.Image{}, err
	}

	b.Model = plan.RPi4

	return image.For(p, b)
}

// withoutModule drops a kernel module from every config, as a config
// written before liftoff loaded modules, or by hand, lacks it.
func withoutModule(name string) func(*plan.Plan, string) error {
	return func(p *plan.Plan, dir string) error {
		for _, b := range p.Boards {
			err := editConfig(filepath.Join(dir, b.Name+".yaml"), func(c coreconfig.Provider) (coreconfig.Provider, error) {
				return c.PatchV1Alpha1(func(v *v1alpha1.Config) error {
					if k := v.MachineConfig.MachineKernel; k != nil {
						k.KernelModules = slices.DeleteFunc(k.KernelModules, func(m *v1alpha1.KernelModuleConfig) bool { return m.ModuleName == name })
					}

					return nil
				})
			})
			if err != nil {
				return err
			}
		}

		return nil
	}
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, error) {
	var names []string

	for _, s := range Scenarios {
		if s.Name == name {
			return s, nil
		}

		names = append(names, s.Name)
	}

	return Scenario{}, fmt.Errorf("no scenario %q; scenarios: %s", name, strings.Join(names, ", "))
}

// Names lists the scenarios.
func Names() []string {
	var out []string

	for _, s := range Scenarios {
		out = append(out, s.Name)
	}

	return out
}

func everyBoardGetsTheGatewayImage(p *plan.Plan, dir string) error {
	for _, b := range p.Boards {
		if b.Role == plan.Gateway {
			continue
		}

		gw := b
		gw.Role = plan.Gateway

		im, err := image.For(p, gw)
		if err != nil {
			return err
		}

		if err := setInstaller(filepath.Join(dir, b.Name+".yaml"), im.Installer); err != nil {
			return err
		}
	}

	return nil
}

// unregisteredGatewaySchematic gives the gateway the installer of a
// schematic computed by hand — its role's extensions plus iscsi-tools —
// that was never posted to the factory, as a config edited after
// `liftoff gen` (or a schematic ID copied from elsewhere) has.
func unregisteredGatewaySchematic(p *plan.Plan, dir string) error {
	gw, ok := p.Gateway()
	if !ok {
		return fmt.Errorf("scenario schematic-not-registered needs a gateway in the plan")
	}

	im, err := image.For(p, gw)
	if err != nil {
		return err
	}

	s := *im.Schematic
	s.Customization.SystemExtensions.OfficialExtensions = append(slices.Clone(s.Customization.SystemExtensions.OfficialExtensions), "siderolabs/iscsi-tools")
	slices.Sort(s.Customization.SystemExtensions.OfficialExtensions)

	id, err := s.ID()
	if err != nil {
		return err
	}

	return setInstaller(filepath.Join(dir, gw.Name+".yaml"), image.FactoryInstaller(p.Images.Factory, id, p.Cluster.TalosVersion))
}

func gatewayWithoutTailscaleConfig(p *plan.Plan, dir string) error {
	gw, ok := p.Gateway()
	if !ok {
		return fmt.Errorf("scenario no-authkey needs a gateway in the plan")
	}

	return editDocs(filepath.Join(dir, gw.Name+".yaml"), func(d config.Document) (config.Document, bool) {
		_, isTS := d.(*extensions.ServiceConfigV1Alpha1)

		return d, !isTS
	})
}

func setInstaller(path, installer string) error {
	return editConfig(path, func(c coreconfig.Provider) (coreconfig.Provider, error) {
		c.RawV1Alpha1().MachineConfig.MachineInstall.InstallImage = installer

		return c, nil
	})
}

// editDocs rewrites a config document by document; keep=false drops one.
func editDocs(path string, f func(config.Document) (config.Document, bool)) error {
	return editConfig(path, func(c coreconfig.Provider) (coreconfig.Provider, error) {
		var docs []config.Document

		for _, d := range c.Documents() {
			if d, keep := f(d); keep {
				docs = append(docs, d)
			}
		}

		return container.New(docs...)
	})
}

// editConfig loads, edits (a mutable clone) and writes a machine config.
func editConfig(path string, f func(coreconfig.Provider) (coreconfig.Provider, error)) error {
	data, err := fileio.ReadFile(path, fileio.MachineConfig)
	if err != nil {
		return err
	}

	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	edited, err := f(cfg.Clone())
	if err != nil {
		return err
	}

	out, err := edited.EncodeBytes()
	if err != nil {
		return err
	}

	return fileio.WriteFile(path, out, 0o600)
}
