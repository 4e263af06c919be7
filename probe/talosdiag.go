package probe

import (
	"slices"
	"strings"
)

// talosDiagnoses are Talos's own warnings (Diagnostic resources), each
// with what it means for a home lab and its documentation link.
func talosDiagnoses(n *Node) []Diagnosis {
	var out []Diagnosis

	ids := make([]string, 0, len(n.Diagnostics))
	for id := range n.Diagnostics {
		ids = append(ids, id)
	}

	slices.Sort(ids)

	for _, id := range ids {
		parts := strings.Split(n.Diagnostics[id], "; ")
		message, details := parts[0], parts[1:]
		doc := "https://talos.dev/diagnostic/" + id

		d := Diagnosis{
			Title:    "Talos warns on " + n.Name + ": " + message,
			Why:      "Talos's " + id + " diagnostic: " + message,
			Fix:      "see " + doc,
			Evidence: append([]string{"talosctl get diagnostics " + id + " -n " + n.Name}, details...),
		}

		switch id {
		case "address-overlap":
			d.Why = n.Name + "'s own network addresses lie inside the cluster's pod or service CIDR, so pod and Service traffic " +
				"collides with the LAN (and a Tailscale route for those CIDRs would swallow the LAN too)"
			d.Fix = "choose pod and service CIDRs that do not overlap your LAN (network.podCIDR / network.serviceCIDR in lab.yaml), " +
				"run liftoff gen and apply again; " + doc
		case "kubelet-csr":
			d.Why = "kubelet asked for a serving certificate (rotate-server-certificates) and nobody approved it: kubectl logs and exec to " +
				n.Name + " fail, and metrics-server cannot scrape it"
			d.Fix = "approve it (kubectl get csr; kubectl certificate approve NAME) or run a CSR approver such as kubelet-serving-cert-approver; " + doc
		}

		out = append(out, d)
	}

	return out
}
