package plan

import "strings"

// The names other parts of the lab agree on: the node labels liftoff sets
// through Talos (so workloads select by capability) and the Spin runtime
// the spin extension registers. They live here, in the leaf package, so
// probe and sim read them without importing config generation.
const (
	// RoleLabel carries the board's role on its Node.
	RoleLabel       = "liftoff.dev/role"
	extensionPrefix = "extensions.liftoff.dev/"

	// SpinRuntimeHandler is the containerd runtime the siderolabs/spin
	// extension registers; a Kubernetes RuntimeClass for Spin must use it.
	SpinRuntimeHandler = "spin"
	// SpinRuntimeClass is the RuntimeClass name Talos and SpinKube docs use.
	SpinRuntimeClass = "wasmtime-spin-v2"
)

// ExtensionLabel is the node label marking an extension in the node's
// image; the Spin RuntimeClass schedules onto ExtensionLabel("spin").
func ExtensionLabel(ext string) string { return extensionPrefix + ext }

// Routes are what the gateway advertises: the pod and service CIDRs, then
// the plan's extra routes.
func (p *Plan) Routes() []string {
	out := []string{p.Network.PodCIDR, p.Network.ServiceCIDR}
	for _, r := range p.Tailscale.Routes {
		out = append(out, strings.TrimSpace(r))
	}

	return out
}
