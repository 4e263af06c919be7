package plan

import (
	"slices"
	"strings"
)

// Facts about the official system extensions liftoff's roles use, as their
// manifests in siderolabs/extensions v1.13.3 have them. They are data, not
// code, so configs (kernel modules), the simulated boards (which services an
// image runs and what each one waits for) and the diagnoses read one source.
//
// Sources, all at tag v1.13.3 of github.com/siderolabs/extensions:
//   - storage/zfs/zfs-service.yaml: service zfs-service, depends on services
//     udevd and cri and on path /dev/zfs, restart untilSuccess;
//     storage/zfs/README.md: "add the zfs kernel module to your machine config".
//   - storage/drbd/pkg.yaml: kernel modules only, no service.
//   - container-runtime/spin/10-spin.part: containerd runtime "spin"
//     (io.containerd.spin.v2), no service.
//   - network/tailscale/tailscale.yaml: service tailscale, depends on service
//     cri, network addresses/connectivity/etcfiles and configuration: true,
//     restart always.
//
// drbd's modules and parameter follow piraeus-operator docs/how-to/talos.md
// (drbd with usermode_helper=disabled, drbd_transport_tcp), which CozyStack's
// Talos guide repeats.

// Extension is what one official system extension brings to a board.
type Extension struct {
	Name string // short name, as in a plan ("zfs")
	// Services the extension runs; Talos names each "ext-" + Name.
	Services []ExtensionService
	// Modules must be listed in machine.kernel.modules: Talos loads no
	// extension module by itself.
	Modules []KernelModule
	// Runtime is the containerd runtime handler the extension registers.
	Runtime string
}

// ExtensionService is one service of an extension's manifest.
type ExtensionService struct {
	Name string // manifest name; Talos's service ID is "ext-" + Name
	// What the service waits for before it starts (manifest `depends`).
	Services      []string // other Talos services
	Paths         []string // paths that must exist, such as /dev/zfs
	Network       []string // network conditions
	Configuration bool     // waits for an ExtensionServiceConfig document
	Restart       string   // always, never or untilSuccess
}

// ID is the Talos service ID of an extension service.
func (s ExtensionService) ID() string { return "ext-" + s.Name }

// KernelModule is one entry of machine.kernel.modules.
type KernelModule struct {
	Name       string
	Parameters []string
}

// Extensions is the catalogue of official extensions liftoff knows, by
// short name. An extension not listed here brings no known service or module.
var Extensions = map[string]Extension{
	"drbd": {
		Name: "drbd",
		Modules: []KernelModule{
			{Name: "drbd", Parameters: []string{"usermode_helper=disabled"}},
			{Name: "drbd_transport_tcp"},
		},
	},
	"zfs": {
		Name: "zfs",
		Services: []ExtensionService{{
			Name:     "zfs-service",
			Services: []string{"udevd", "cri"},
			Paths:    []string{"/dev/zfs"},
			Restart:  "untilSuccess",
		}},
		Modules: []KernelModule{{Name: "zfs"}},
	},
	"spin": {
		Name:    "spin",
		Runtime: "spin",
	},
	"tailscale": {
		Name: "tailscale",
		Services: []ExtensionService{{
			Name:          "tailscale",
			Services:      []string{"cri"},
			Network:       []string{"addresses", "connectivity", "etcfiles"},
			Configuration: true,
			Restart:       "always",
		}},
	},
}

// ModulesFor is the kernel modules a set of extensions needs, in the order of
// the extensions given (sorted by the caller for stable configs), each module
// once.
func ModulesFor(extensions []string) []KernelModule {
	var out []KernelModule

	for _, e := range extensions {
		for _, m := range Extensions[ShortExtension(e)].Modules {
			if !slices.ContainsFunc(out, func(o KernelModule) bool { return o.Name == m.Name }) {
				out = append(out, m)
			}
		}
	}

	return out
}

// ServicesFor is the extension services a set of extensions runs.
func ServicesFor(extensions []string) []ExtensionService {
	var out []ExtensionService

	for _, e := range extensions {
		out = append(out, Extensions[ShortExtension(e)].Services...)
	}

	return out
}

// String is the module as a person reads it: name and parameters.
func (m KernelModule) String() string {
	return strings.TrimSpace(m.Name + " " + strings.Join(m.Parameters, " "))
}
