package plan

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParseValidate: any bytes either fail to parse with an error, or give
// a plan whose validation, marshalling and re-parsing never panic and agree.
func FuzzParseValidate(f *testing.F) {
	if ex, err := os.ReadFile("../../examples/lab.yaml"); err == nil {
		f.Add(ex)
	}

	f.Add([]byte(good))
	f.Add([]byte("cluster: {name: x}\nboards: [{name: a, address: '::1', model: amd64, machine: worker, role: gateway}]"))
	f.Add([]byte("network: {podCIDR: 10.0.0.0/8, serviceCIDR: 10.0.0.0/9}"))
	// Issue 21 item 12: values that parse but cannot be right.
	f.Add([]byte("cluster: {name: x, endpoint: 'https://10.96.0.1:6443'}\nnetwork: {lan: 192.168.1.0/24}\nboards: [{name: secrets, address: 192.168.1.255, model: rpi4, machine: controlplane, role: gateway}]"))
	f.Add([]byte("cluster: {name: x}\ntailscale: {hostname: Bad_Name, extraArgs: \"--a\\nTS_X=1\"}\nimages: {extensions: {compute: [ZFS, notarealext, me/x]}, custom: 'r:{{/* .Role */}}'}\nboards: [{name: a, address: 'fe80::1%eth0', model: amd64, machine: controlplane, role: gateway, installDisk: /dev/../x, link: 'e th0'}]"))
	f.Add([]byte("cluster: {name: x, vip: 224.0.0.1}\nnetwork: {lan: 127.0.0.0/8}\nboards: [{name: lab, address: 127.0.0.11, model: rpi5, machine: controlplane, role: gateway}, {name: b, address: 0.0.0.0, model: rpi4, machine: worker, role: compute}]"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}

		first := len(p.Validate().Errors())

		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("a parsed plan does not marshal: %v", err)
		}

		q, err := Parse(out)
		if err != nil {
			t.Fatalf("a marshalled plan does not parse: %v\n%s", err, out)
		}

		if again := len(q.Validate().Errors()); again != first {
			t.Fatalf("validation changed across a round trip: %d → %d errors\n%s", first, again, out)
		}
	})
}

// FuzzValidate builds plans field by field — values the YAML parser would
// rarely produce, such as odd addresses, CIDRs and templates — and checks
// that validation never panics, is deterministic, always explains itself,
// and that Err agrees with the problems it found.
func FuzzValidate(f *testing.F) {
	f.Add("homelab", "", "", "192.168.1.0/24", "", "", "", "pi-1", "192.168.1.11", "rpi5", "controlplane", "compute", "pi-2", "192.168.1.12", "rpi4", "worker", "gateway", false)
	f.Add("lab", "10.0.0.50", "https://10.0.0.50:6443", "10.0.0.0/24", "10.0.0.0/16", "10.0.0.0/8", "", "a", "10.0.0.1", "rpi4", "controlplane", "gateway", "b", "10.0.0.1", "RPI4", "Worker", "GATEWAY", false)
	f.Add("", "::1", "not a url", "fd00::/64", "100.64.0.0/10", "fd7a:115c:a1e0::/48", "{{.Nope}", "A_B", "::1", "x86", "boss", "router", "", "", "", "", "", true)
	f.Add("x", "", "https://[::1]:6443", "", "", "", "ghcr.io/me/talos:{{.Version}}-{{.Role}}", "n", "fe80::1%eth0", "amd64", "worker", "compute", "n", "192.168.1.300", "arm64", "controlplane", "compute", true)
	f.Add("x", "10.96.0.10", "https://10.96.0.1:6443", "192.168.1.0/24", "", "", "r:{{.Version}}{{/* .Role */}}", "secrets", "192.168.1.0", "rpi4", "controlplane", "gateway", "wizard-plan", "192.168.1.255", "rpi5", "worker", "compute", false)
	f.Add("x", "224.0.0.1", "https://api_server:6443", "127.0.0.0/8", "", "", "r:{{.Tag}}", "a", "127.0.0.11", "cm5", "controlplane", "gateway", "b", "255.255.255.255", "cm4", "worker", "compute", false)

	f.Fuzz(func(t *testing.T, name, vip, endpoint, lan, pod, svc, custom,
		n1, a1, m1, mt1, r1, n2, a2, m2, mt2, r2 string, noTailscale bool,
	) {
		p := &Plan{
			Cluster:   Cluster{Name: name, VIP: vip, Endpoint: endpoint},
			Network:   Network{LAN: lan, PodCIDR: pod, ServiceCIDR: svc},
			Tailscale: Tailscale{Disabled: noTailscale},
			Images:    Images{Custom: custom},
			Boards: []Board{
				{Name: n1, Address: a1, Model: m1, Machine: mt1, Role: r1},
				{Name: n2, Address: a2, Model: m2, Machine: mt2, Role: r2},
			},
		}
		p.Default()

		problems := p.Validate()

		again := p.Validate()
		if len(again) != len(problems) {
			t.Fatalf("validation is not deterministic: %d then %d problems", len(problems), len(again))
		}

		for i, pr := range problems {
			if pr != again[i] {
				t.Fatalf("validation is not deterministic: %v then %v", pr, again[i])
			}

			if strings.TrimSpace(pr.Message) == "" || (pr.Severity != Error && pr.Severity != Warning) {
				t.Fatalf("a problem that does not explain itself: %#v", pr)
			}

			if pr.Board != "" && !strings.Contains(pr.String(), "board "+pr.Board) {
				t.Fatalf("a board's problem does not name it: %s", pr)
			}
		}

		err := problems.Err()
		if (err == nil) != (len(problems.Errors()) == 0) {
			t.Fatalf("Err %v disagrees with %d errors", err, len(problems.Errors()))
		}

		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) || !errors.Is(err, ErrInvalid) || len(inv.Problems) != len(problems.Errors()) {
				t.Fatalf("Err is not an InvalidError with every error: %v", err)
			}
		}

		// Defaults are idempotent: validating again after Default agrees.
		p.Default()

		if n := len(p.Validate()); n != len(problems) {
			t.Fatalf("Default changed the verdict: %d → %d problems", len(problems), n)
		}
	})
}
