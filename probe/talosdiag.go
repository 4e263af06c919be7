package probe

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// talosDiagnoses are Talos's own warnings (Diagnostic resources), each
// with what it means for a home lab and its documentation link. causes are
// those that keep the node from getting ready (address-overlap: no node IP,
// so no kubelet and no etcd); the rest are warnings that may hold on a
// Ready node.
func talosDiagnoses(n *Node) (causes, warnings []Diagnosis) {

	ids := make([]string, 0, len(n.Diagnostics))
	for id := range n.Diagnostics {
		ids = append(ids, id)
	}

	slices.Sort(ids)

	for _, id := range ids {
		parts := n.Diagnostics[id]
		if len(parts) == 0 {
			parts = []string{id}
		}

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
			overlap := overlapping(details)
			d.Why = n.Name + "'s " + orWord(overlap, "own network addresses lie inside the cluster's pod or service CIDR") + ". " +
				"Talos picks the kubelet's node IP, and etcd's address, among the host's addresses outside the pod and service CIDRs; " +
				"with none left, kubelet (and etcd on a control plane) never start, so the node never gets ready and no Kubernetes API comes up " +
				"(and a Tailscale route for those CIDRs would swallow the LAN too)"
			d.Fix = "choose pod and service CIDRs that do not hold your LAN (network.podCIDR / network.serviceCIDR in lab.yaml; Talos's defaults are " +
				"10.244.0.0/16 and 10.96.0.0/12), run liftoff gen and apply every board's config again — or, in a config edited by hand, " +
				"fix cluster.network.podSubnets / serviceSubnets; " + doc
			d.Evidence = append(d.Evidence, lastLines(n, "controller-runtime", 1)...)
			d.Final = true
			causes = append(causes, d)

			continue
		case "kubelet-csr":
			d.Why = "kubelet asked for a serving certificate (rotate-server-certificates) and nobody approved it: kubectl logs and exec to " +
				n.Name + " fail, and metrics-server cannot scrape it"
			d.Fix = "approve it (kubectl get csr; kubectl certificate approve NAME) or run a CSR approver such as kubelet-serving-cert-approver; " + doc
		}

		warnings = append(warnings, d)
	}

	return causes, warnings
}

var quoted = regexp.MustCompile(`"([^"]+)"`)

// overlapping reads Talos's address-overlap details ("host routed
// addresses: [...]", "Kubernetes pod CIDRs: [...]", "Kubernetes service
// CIDRs: [...]") and names which CIDR holds which address, e.g. "address
// 127.0.0.11 lies inside the pod CIDR 127.0.0.0/8"; "" when they do not say.
func overlapping(details []string) string {
	var hosts []netip.Addr

	cidrs := map[string][]netip.Prefix{}

	for _, d := range details {
		label, list, ok := strings.Cut(d, ": ")
		if !ok {
			continue
		}

		for _, m := range quoted.FindAllStringSubmatch(list, -1) {
			p, err := netip.ParsePrefix(m[1])
			if err != nil {
				continue
			}

			switch {
			case strings.HasPrefix(label, "host"):
				hosts = append(hosts, p.Addr())
			case strings.Contains(label, "pod"):
				cidrs["pod CIDR"] = append(cidrs["pod CIDR"], p)
			case strings.Contains(label, "service"):
				cidrs["service CIDR"] = append(cidrs["service CIDR"], p)
			}
		}
	}

	var parts []string

	for _, h := range hosts {
		for _, kind := range []string{"pod CIDR", "service CIDR"} {
			for _, c := range cidrs[kind] {
				if c.Contains(h) {
					parts = append(parts, fmt.Sprintf("address %s lies inside the %s %s", h, kind, c))
				}
			}
		}
	}

	return strings.Join(parts, ", and its ")
}

func orWord(s, otherwise string) string {
	if s == "" {
		return otherwise
	}

	return s
}
