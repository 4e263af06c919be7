package plan

import (
	"errors"
	"strings"
	"testing"
)

const good = `
cluster:
  name: homelab
network:
  lan: 192.168.1.0/24
tailscale:
  authKeyFile: /secret/tskey
boards:
  - {name: pi-1, address: 192.168.1.11, model: rpi5, machine: controlplane, role: compute}
  - {name: pi-2, address: 192.168.1.12, model: rpi4, machine: worker, role: gateway}
  - {name: pi-3, address: 192.168.1.13, model: rpi4, machine: worker, role: compute}
`

func mustParse(t *testing.T, text string) *Plan {
	t.Helper()

	p, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}

	return p
}

func TestGoodPlanIsValidWithDefaults(t *testing.T) {
	p := mustParse(t, good)

	if ps := p.Validate(); len(ps) != 0 {
		t.Fatalf("problems in a good plan: %v", ps)
	}

	if p.Network.PodCIDR != DefaultPodCIDR || p.Network.ServiceCIDR != DefaultServiceCIDR {
		t.Errorf("CIDR defaults: %s %s", p.Network.PodCIDR, p.Network.ServiceCIDR)
	}

	if p.Boards[0].InstallDisk != "/dev/mmcblk0" || p.Boards[0].Link != "end0" {
		t.Errorf("rpi defaults: disk %s link %s", p.Boards[0].InstallDisk, p.Boards[0].Link)
	}

	if got := p.EndpointURL(); got != "https://192.168.1.11:6443" {
		t.Errorf("endpoint = %s, want the first control plane", got)
	}

	if p.Tailscale.Hostname != "homelab-gateway" {
		t.Errorf("tailscale hostname = %s", p.Tailscale.Hostname)
	}
}

// edit applies a textual change to the good plan, so each case shows exactly
// the mistake it makes.
func edit(old, new string) string {
	if !strings.Contains(good, old) {
		panic("test edit does not apply: " + old)
	}

	return strings.Replace(good, old, new, 1)
}

func TestValidationRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plan  string
		board string // the board the problem must name ("" for cluster-wide)
		want  string // a phrase the message must contain
		fix   string // a phrase the fix must contain
	}{
		{"no cluster name", edit("name: homelab", "name: ''"), "", "no name", "cluster.name"},
		{"bad cluster name", edit("name: homelab", "name: Home_Lab"), "", "not a valid DNS label", "lowercase"},
		{"bad talos version", edit("name: homelab", "name: homelab\n  talosVersion: latest"), "", "Talos version \"latest\"", "v1.13.3"},
		{"bad k8s version", edit("name: homelab", "name: homelab\n  kubernetesVersion: one"), "", "Kubernetes version \"one\"", "v1."},
		{"unsupported k8s version", edit("name: homelab", "name: homelab\n  kubernetesVersion: v1.20.0"), "", "1.20.0", "supports"},
		{"endpoint not https", edit("name: homelab", "name: homelab\n  endpoint: 192.168.1.11:6443"), "", "not an https URL", "https://HOST:6443"},
		{"endpoint on a worker", edit("name: homelab", "name: homelab\n  endpoint: https://192.168.1.13:6443"), "", "worker pi-3", "control plane"},
		{"vip not an ip", edit("name: homelab", "name: homelab\n  vip: vip.lan"), "", "not an IP", "plain IP"},
		{"vip is a board", edit("name: homelab", "name: homelab\n  vip: 192.168.1.12"), "", "board pi-2's own address", "free address"},
		{"vip outside lan", edit("name: homelab", "name: homelab\n  vip: 10.1.0.1"), "", "outside the LAN", "layer-2"},
		{"vip needs link", strings.Replace(edit("name: homelab", "name: homelab\n  vip: 192.168.1.50"), "model: rpi5", "model: arm64", 1), "pi-1", "needs a link", "link: eth0"},
		{"no boards", "cluster: {name: x}\ntailscale: {disabled: true}\nboards: []", "", "no boards", "add at least one"},
		{"board without name", edit("name: pi-3, ", ""), "#3", "has no name", "hostname"},
		{"bad board name", edit("name: pi-3", "name: Pi_3"), "Pi_3", "not a valid hostname", "lowercase"},
		{"duplicate name", edit("name: pi-3", "name: pi-2"), "pi-2", "used twice", "own name"},
		{"no address", edit("address: 192.168.1.13, ", ""), "pi-3", "has no address", "LAN address"},
		{"address with prefix", edit("192.168.1.13", "192.168.1.13/24"), "pi-3", "not an IP address", "drop the prefix"},
		{"address with port", edit("192.168.1.13", "\"192.168.1.13:50000\""), "pi-3", "not an IP address", "drop the prefix length or port"},
		{"duplicate address", edit("192.168.1.13", "192.168.1.12"), "pi-3", "also board pi-2's", "own address"},
		{"tailnet address", edit("192.168.1.13", "100.100.1.2"), "pi-3", "Tailscale's range", "LAN address"},
		{"address outside lan", edit("192.168.1.13", "192.168.2.13"), "pi-3", "outside the LAN", "correct the address"},
		{"unknown model", edit("model: rpi5", "model: rpi3"), "pi-1", "model \"rpi3\"", "rpi4, rpi5, cm4, cm5, arm64, amd64"},
		{"unknown machine type", edit("machine: worker, role: compute", "machine: agent, role: compute"), "pi-3", "machine type \"agent\"", "controlplane or worker"},
		{"unknown role", edit("role: gateway", "role: router"), "pi-2", "role \"router\"", "compute"},
		{"install disk not a device", edit("model: rpi5,", "model: rpi5, installDisk: sda,"), "pi-1", "not a device path", "/dev/"},
		{"pi 5 on nvme", edit("model: rpi5,", "model: rpi5, installDisk: /dev/nvme0n1,"), "pi-1", "no PCIe or RP1 (USB) support", "/dev/mmcblk0"},
		{"cm5 on usb", edit("model: rpi5,", "model: cm5, installDisk: /dev/sda,"), "pi-1", "Compute Module 5 boots Talos only from its SD card or eMMC", "sbc-raspberrypi/issues/96"},
		{"factory with a path", edit("tailscale:", "images: {factory: \"https://factory.lab/talos\"}\ntailscale:"), "", "has a path", "no path"},
		{"factory with a scheme it cannot speak", edit("tailscale:", "images: {factory: \"ftp://factory.lab\"}\ntailscale:"), "", "http or https", "URL"},
		{"two gateways", edit("machine: worker, role: compute", "machine: worker, role: gateway"), "pi-2, pi-3", "one subnet router per cluster", "keep one gateway"},
		{"no gateway", edit("role: gateway", "role: compute"), "", "no board has the gateway role", "tailscale.disabled: true"},
		{"gateway with tailscale disabled", edit("authKeyFile: /secret/tskey", "disabled: true"), "pi-2", "tailscale is disabled", "make it compute"},
		{"no control plane", edit("machine: controlplane", "machine: worker"), "", "no control plane", "controlplane"},
		{"pod cidr invalid", edit("lan: 192.168.1.0/24", "lan: 192.168.1.0/24\n  podCIDR: 10.244.0.0"), "", "not a CIDR", "ADDRESS/BITS"},
		{"pod cidr host bits", edit("lan: 192.168.1.0/24", "lan: 192.168.1.0/24\n  podCIDR: 10.244.1.0/16"), "", "not a network address", "10.244.0.0/16"},
		{"cidrs overlap", edit("lan: 192.168.1.0/24", "lan: 192.168.1.0/24\n  serviceCIDR: 10.244.128.0/20"), "", "overlap", "disjoint"},
		{"cidr overlaps lan", edit("lan: 192.168.1.0/24", "lan: 192.168.0.0/16\n  podCIDR: 192.168.128.0/17"), "", "overlaps the LAN", "not the LAN"},
		{"cidr holds a board", edit("lan: 192.168.1.0/24", "podCIDR: 192.168.0.0/16"), "pi-1", "inside 192.168.0.0/16", "does not contain board"},
		{"cidr overlaps tailscale v4", edit("lan: 192.168.1.0/24", "lan: 192.168.1.0/24\n  serviceCIDR: 100.64.0.0/12"), "", "Tailscale's own addresses", "100.64.0.0/10"},
		{"cidr overlaps tailscale v6", edit("lan: 192.168.1.0/24", "lan: 192.168.1.0/24\n  podCIDR: fd7a:115c:a1e0:ab00::/56"), "", "Tailscale's own addresses", "fd7a:115c:a1e0::/48"},
		{"lan not a network", edit("lan: 192.168.1.0/24", "lan: 192.168.1.1/24"), "", "not a network address", "192.168.1.0/24"},
		{"tailscale in compute", edit("tailscale:", "images: {extensions: {compute: [zfs, tailscale]}}\ntailscale:"), "", "every compute node would become a subnet router", "remove tailscale"},
		{"gateway without tailscale", edit("tailscale:", "images: {extensions: {gateway: [zfs]}}\ntailscale:"), "", "gateway image lacks tailscale", "add tailscale"},
		{"unknown role override", edit("tailscale:", "images: {extensions: {edge: [zfs]}}\ntailscale:"), "", "unknown role \"edge\"", "compute or gateway"},
		{"duplicate extension", edit("tailscale:", "images: {extensions: {compute: [zfs, siderolabs/zfs]}}\ntailscale:"), "", "listed twice", "once"},
		{"template does not parse", edit("tailscale:", "images: {custom: \"ghcr.io/me/talos:{{.Version\"}\ntailscale:"), "", "does not parse", "Go template"},
		{"template without role", edit("tailscale:", "images: {custom: \"ghcr.io/me/talos:{{.Version}}\"}\ntailscale:"), "", "same image", "{{.Role}}"},

		// Issue 15: profiles explain their conflicts.
		{"unknown profile", edit("name: homelab", "name: homelab\n  profile: openstack"), "", "not a profile liftoff knows", "cozystack"},
		{"cozystack without drbd", edit("name: homelab", "name: homelab\n  profile: cozystack\nimages: {extensions: {compute: [zfs, spin]}}"), "", "lacks the drbd extension", "add drbd to images.extensions.compute"},

		// Issue 15: gateway extras, validated.
		{"extra route not a cidr", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  routes: [192.168.1.0]"), "", "not a CIDR", "192.168.1.0/24"},
		{"extra route in tailnet v4", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  routes: [100.100.0.0/16]"), "", "Tailscale's own addresses", "100.64.0.0/10"},
		{"extra route in tailnet v6", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  routes: ['fd7a:115c:a1e0:1::/64']"), "", "Tailscale's own addresses", "fd7a:115c:a1e0::/48"},
		{"extra route is a default route", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  routes: [0.0.0.0/0]"), "", "exit node", "tailscale.exitNode: true"},
		{"extra route overlaps pods", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  routes: [10.244.1.0/24]"), "", "overlaps network.podCIDR", "advertises network.podCIDR already"},
		{"extra route host bits", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  routes: [192.168.1.7/24]"), "", "host bits", "192.168.1.0/24"},
		{"exit node by accident", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  extraArgs: --advertise-tags=tag:k8s --advertise-exit-node"), "", "exit node", "tailscale.exitNode: true"},
		{"routes in extra args", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  extraArgs: --advertise-routes=192.168.1.0/24"), "", "replaces the pod and service CIDRs", "tailscale.routes"},

		// Issue 21 item 12: the class of values that parse but cannot be right.
		{"unspecified address", edit("192.168.1.13", "0.0.0.0"), "pi-3", "unspecified address", "LAN address"},
		{"unspecified v6 address", edit("192.168.1.13", "'::'"), "pi-3", "unspecified address", "LAN address"},
		{"multicast address", edit("192.168.1.13", "224.0.0.251"), "pi-3", "multicast", "LAN address"},
		{"multicast v6 address", edit("192.168.1.13", "'ff02::1'"), "pi-3", "multicast", "LAN address"},
		{"broadcast address", edit("192.168.1.13", "255.255.255.255"), "pi-3", "is the broadcast address", "LAN address"},
		{"lan network address", edit("192.168.1.13", "192.168.1.0"), "pi-3", "network address of the LAN", "LAN address"},
		{"lan broadcast address", edit("192.168.1.13", "192.168.1.255"), "pi-3", "broadcast address of the LAN", "LAN address"},
		{"link-local with zone", edit("192.168.1.13", "'fe80::1%eth0'"), "pi-3", "zone (%eth0)", "drop the %eth0"},
		{"link-local v4", edit("192.168.1.13", "169.254.10.3"), "pi-3", "link-local", "DHCP"},
		{"loopback on a real LAN", edit("192.168.1.13", "127.0.0.13"), "pi-3", "loopback", "LAN address"},
		{"loopback without a LAN", strings.Replace(edit("network:\n  lan: 192.168.1.0/24", "network: {}"), "192.168.1.13", "127.0.0.13", 1), "pi-3", "loopback", "LAN address"},
		{"vip unspecified", edit("name: homelab", "name: homelab\n  vip: 0.0.0.0"), "", "unspecified", "LAN address"},
		{"endpoint multicast", edit("name: homelab", "name: homelab\n  endpoint: https://224.0.0.1:6443"), "", "multicast", "LAN address"},
		{"endpoint in service cidr", edit("name: homelab", "name: homelab\n  endpoint: https://10.96.0.1:6443"), "", "inside network.serviceCIDR 10.96.0.0/12", "LAN address"},
		{"endpoint in pod cidr", edit("name: homelab", "name: homelab\n  endpoint: https://10.244.3.1:6443"), "", "inside network.podCIDR 10.244.0.0/16", "LAN address"},
		{"vip in service cidr", strings.Replace(edit("lan: 192.168.1.0/24", "podCIDR: 10.244.0.0/16"), "name: homelab\n", "name: homelab\n  vip: 10.96.0.10\n", 1), "", "inside network.serviceCIDR", "LAN address"},
		{"endpoint host not dns", edit("name: homelab", "name: homelab\n  endpoint: https://api_server:6443"), "", "neither an IP address nor a DNS name", "DNS name"},
		{"unknown extension", edit("tailscale:", "images: {extensions: {compute: [zfs, notarealext]}}\ntailscale:"), "", "\"notarealext\" is not an official extension", "github.com/siderolabs/extensions"},
		{"extension case", edit("tailscale:", "images: {extensions: {compute: [ZFS, spin]}}\ntailscale:"), "", "\"ZFS\" is not an official extension name: names are lowercase", "write zfs"},
		{"extension typo", edit("tailscale:", "images: {extensions: {compute: [zfs, drdb]}}\ntailscale:"), "", "\"drdb\" is not an official", "did you mean drbd"},
		{"extension other owner", edit("tailscale:", "images: {extensions: {compute: [zfs, me/zfs2]}}\ntailscale:"), "", "only siderolabs/NAME", "siderolabs/zfs2"},
		{"tailscale hostname not a label", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  hostname: Home_Gateway"), "", "not a valid DNS label", "lowercase"},
		{"extra args newline", edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  extraArgs: \"--accept-dns=false\\nTS_AUTH_ONCE=true\""), "", "line break or control character", "one line"},
		{"auth key file looks like a key", edit("authKeyFile: /secret/tskey", "authKeyFile: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d"), "", "looks like a key or token", "0600"},
		{"template role in a comment", edit("tailscale:", "images: {custom: \"ghcr.io/me/talos:{{.Version}}{{/* .Role */}}\"}\ntailscale:"), "", "same image", "outside any comment"},
		{"template role unused", edit("tailscale:", "images: {custom: \"ghcr.io/me/talos:{{.Version}}{{$r := .Role}}\"}\ntailscale:"), "", "same image", "{{.Role}}"},
		{"template unknown field", edit("tailscale:", "images: {custom: \"ghcr.io/me/talos:{{.Tag}}-{{.Role}}\"}\ntailscale:"), "", "does not render", ".Version .Role .Arch .Model"},
		{"template not a reference", edit("tailscale:", "images: {custom: \"ghcr.io/me/talos {{.Role}}\"}\ntailscale:"), "", "not an image reference", "one image reference"},
		{"install disk with spaces", edit("model: rpi5,", "model: rpi5, installDisk: \"/dev/sda; rm\","), "pi-1", "not a device path", "/dev/"},
		{"install disk escaping /dev", edit("model: rpi5,", "model: rpi5, installDisk: /dev/../etc/passwd,"), "pi-1", "not a device path", "/dev/"},
		{"link not an interface name", edit("model: rpi5,", "model: rpi5, link: \"eth0 up\","), "pi-1", "not a network interface name", "talosctl get links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.plan)
			ps := p.Validate()

			for _, pr := range ps.Errors() {
				if strings.Contains(pr.Message, tc.want) {
					if pr.Board != tc.board {
						t.Errorf("problem names board %q, want %q: %s", pr.Board, tc.board, pr)
					}

					if !strings.Contains(pr.Fix, tc.fix) {
						t.Errorf("fix %q lacks %q", pr.Fix, tc.fix)
					}

					if pr.Field == "" {
						t.Errorf("problem names no field: %s", pr)
					}

					return
				}
			}

			t.Fatalf("no problem containing %q; got %v", tc.want, ps)
		})
	}
}

func TestEvenControlPlanesWarnOnly(t *testing.T) {
	p := mustParse(t, edit("machine: worker, role: gateway", "machine: controlplane, role: gateway"))
	ps := p.Validate()

	if err := ps.Err(); err != nil {
		t.Fatalf("a warning blocked the plan: %v", err)
	}

	w := ps.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Message, "2 control planes") || !strings.Contains(w[0].Fix, "odd number") {
		t.Errorf("warnings = %v", w)
	}
}

func TestOneErrorPerMistake(t *testing.T) {
	// A single mistake must read as a single error, not a cascade.
	p := mustParse(t, edit("role: gateway", "role: router"))
	if n := len(p.Validate().Errors()); n != 2 {
		// unknown role + therefore no gateway: both are true and both fixable.
		t.Errorf("%d errors for an unknown role: %v", n, p.Validate())
	}

	p = mustParse(t, edit("192.168.1.13", "192.168.1.12"))
	if n := len(p.Validate().Errors()); n != 1 {
		t.Errorf("%d errors for a duplicate address: %v", n, p.Validate())
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "  \n", "empty"},
		{"typo field", edit("role: gateway", "rol: gateway"), "field rol not found"},
		{"not yaml", "cluster: [", "not valid YAML"},
		{"two documents", good + "---\ncluster: {name: b}\n", "more than one YAML document"},
		{"auth key inline", edit("authKeyFile: /secret/tskey", "authKeyFile: tskey-auth-abc123"), "keep the key out of lab.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestErrIsInvalid(t *testing.T) {
	p := mustParse(t, edit("name: homelab", "name: ''"))

	err := p.Validate().Err()

	var inv *InvalidError
	if !errors.As(err, &inv) || !errors.Is(err, ErrInvalid) || len(inv.Problems) != 1 {
		t.Fatalf("err = %#v", err)
	}

	if !strings.Contains(err.Error(), "1 problem") {
		t.Errorf("message: %s", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	p := mustParse(t, good)

	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	q := mustParse(t, string(data))
	if q.Boards[1].Role != Gateway || q.Network.LAN != "192.168.1.0/24" || len(q.Boards) != 3 {
		t.Errorf("round trip lost data:\n%s", data)
	}
}

// A Pi 4 or CM4 may install to USB or NVMe (its U-Boot reads them); with a
// self-built image a Pi 5 off the SD card is the person's call, so a warning.
func TestPi5DiskRuleKnowsItsBoards(t *testing.T) {
	for _, text := range []string{
		edit("model: rpi4, machine: worker, role: gateway", "model: rpi4, installDisk: /dev/sda, machine: worker, role: gateway"),
		edit("model: rpi4, machine: worker, role: gateway", "model: cm4, installDisk: /dev/nvme0n1, machine: worker, role: gateway"),
		edit("model: rpi5,", "model: cm5, installDisk: /dev/mmcblk0,"),
	} {
		if ps := mustParse(t, text).Validate(); len(ps) != 0 {
			t.Errorf("%v", ps)
		}
	}

	custom := mustParse(t, edit("tailscale:", "images: {custom: \"ghcr.io/me/talos:{{.Version}}-{{.Role}}\"}\ntailscale:"))
	custom.Boards[0].InstallDisk = "/dev/nvme0n1"

	ps := custom.Validate()
	if len(ps.Errors()) != 0 || len(ps.Warnings()) != 1 || !strings.Contains(ps.Warnings()[0].Fix, "PR #97") {
		t.Errorf("self-built Pi 5 image on NVMe: %v", ps)
	}
}

func TestFactoryURLAndHost(t *testing.T) {
	for _, tc := range []struct{ in, url, host string }{
		{"", "https://factory.talos.dev", "factory.talos.dev"},
		{"factory.talos.dev", "https://factory.talos.dev", "factory.talos.dev"},
		{"registry.lab:5000", "https://registry.lab:5000", "registry.lab:5000"},
		{"http://10.0.0.5:8080", "http://10.0.0.5:8080", "10.0.0.5:8080"},
		{"https://factory.lab/", "https://factory.lab", "factory.lab"},
	} {
		u, err := FactoryURL(tc.in)
		if err != nil || u.String() != tc.url || FactoryHost(tc.in) != tc.host {
			t.Errorf("%q: URL %v (%v), host %s; want %s, %s", tc.in, u, err, FactoryHost(tc.in), tc.url, tc.host)
		}
	}
}

// Item 1 of issue 21: no board may be named after a file liftoff owns in
// an output directory — whichever file, now or added later to the list.
func TestBoardNamesNeverMapToOwnedFiles(t *testing.T) {
	for _, f := range OwnedFiles {
		name, _, _ := strings.Cut(f, ".")

		p := mustParse(t, edit("name: pi-3", "name: "+name))

		var found bool

		for _, pr := range p.Validate().Errors() {
			if pr.Board == name && pr.Field == "boards[2].name" && strings.Contains(pr.Message, "reserved") &&
				strings.Contains(pr.Message, f) && strings.Contains(pr.Fix, "rename") {
				found = true
			}
		}

		if !found {
			t.Errorf("board %q (next to %s) is not refused: %v", name, f, p.Validate())
		}

		if got := OwnedFile(name + "-1"); got != "" {
			t.Errorf("the suggested name %s-1 is reserved too (%s)", name, got)
		}
	}
}

// Loopback addresses are the simulated lab's: allowed where the plan's LAN
// is itself loopback (its boards serve on 127.0.0.x), refused everywhere
// else.
func TestLoopbackOnlyOnALoopbackLAN(t *testing.T) {
	sim := mustParse(t, strings.NewReplacer("192.168.1.0/24", "127.0.0.0/8", "192.168.1.1", "127.0.0.1").Replace(good))
	if err := sim.Validate().Err(); err != nil {
		t.Errorf("the simulated lab's plan: %v", err)
	}

	real := mustParse(t, edit("192.168.1.11", "127.0.0.1"))
	if err := real.Validate().Err(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a loopback board on a real LAN: %v", err)
	}
}

// The official list is the v1.13.3 one and holds every extension liftoff
// knows facts about.
func TestOfficialExtensionsList(t *testing.T) {
	if len(Official) != 81 {
		t.Errorf("%d official extensions, want the 81 of Talos v1.13.3", len(Official))
	}

	for name := range Extensions {
		if !IsOfficial(name) {
			t.Errorf("%s is in the catalogue but not official", name)
		}
	}

	for _, name := range []string{"nonfree-kmod-nvidia-lts", "ZFS", "siderolabs/zfs", ""} {
		if IsOfficial(name) {
			t.Errorf("%q taken for an official short name", name)
		}
	}
}

// With self-built images (images.custom) an unknown extension is only a
// warning: such images may carry extensions of their own.
func TestUnknownExtensionWarnsWithCustomImages(t *testing.T) {
	p := mustParse(t, edit("tailscale:", "images: {custom: \"ghcr.io/me/talos:{{.Version}}-{{.Role}}\", extensions: {compute: [zfs, my-ext]}}\ntailscale:"))
	ps := p.Validate()

	if err := ps.Err(); err != nil {
		t.Errorf("blocked: %v", err)
	}

	if len(ps.Warnings()) != 1 || !strings.Contains(ps.Warnings()[0].Message, "my-ext") {
		t.Errorf("warnings: %v", ps.Warnings())
	}
}

// The gateway extras people ask for: the LAN and a load-balancer pool
// advertised besides the cluster's CIDRs, tags, and an exit node only
// when asked for by name.
func TestGatewayExtrasAreAccepted(t *testing.T) {
	p := mustParse(t, edit("authKeyFile: /secret/tskey", "authKeyFile: /secret/tskey\n  routes: [192.168.1.0/24, 192.168.50.0/28]\n  extraArgs: --advertise-tags=tag:k8s --advertise-exit-node\n  exitNode: true"))

	if ps := p.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
}

// The cozystack profile takes CozyStack's service CIDR and schedules on
// control planes; a plan that sets another service CIDR is told what that
// means, as a warning.
func TestCozyStackProfileDefaultsAndWarnings(t *testing.T) {
	p := mustParse(t, strings.Replace(edit("name: homelab", "name: homelab\n  profile: cozystack"), "authKeyFile: /secret/tskey", "disabled: true", 1))
	p.Boards[1].Role = Compute

	if ps := p.Validate(); len(ps) != 0 || p.Network.ServiceCIDR != "10.96.0.0/16" || !p.Cluster.AllowSchedulingOnControlPlanes {
		t.Fatalf("problems %v, service CIDR %s, scheduling on control planes %v", ps, p.Network.ServiceCIDR, p.Cluster.AllowSchedulingOnControlPlanes)
	}

	p = mustParse(t, strings.Replace(edit("lan: 192.168.1.0/24", "lan: 192.168.1.0/24\n  serviceCIDR: 10.96.0.0/12"), "name: homelab", "name: homelab\n  profile: cozystack", 1))

	ws := p.Validate().Warnings()
	if len(ws) != 2 || !strings.Contains(ws[0].Message, "100.64.0.0/16, inside Tailscale's 100.64.0.0/10") || !strings.Contains(ws[0].Fix, "networking.joinCIDR") ||
		!strings.Contains(ws[1].Message, "expects the service CIDR 10.96.0.0/16") || !strings.Contains(ws[1].Fix, "platform Package") {
		t.Errorf("warnings: %v", ws)
	}
}

// A custom image known to hold one architecture warns for each board of
// the other: CozyStack's own Talos image is amd64 only, and a reference
// that names an arch means it.
func TestCustomImageOfTheOtherArchWarns(t *testing.T) {
	for _, tc := range []struct{ custom, board, why string }{
		{"ghcr.io/cozystack/cozystack/talos:{{.Version}}{{if eq .Role \"gateway\"}}-gw{{end}}", "pi-1", "CozyStack's own Talos image, built for amd64 only"},
		{"ghcr.io/me/talos:{{.Version}}-{{.Role}}-amd64", "pi-2", "names amd64"},
	} {
		p := mustParse(t, edit("tailscale:", "images: {custom: '"+tc.custom+"'}\ntailscale:"))
		ws := p.Validate().Warnings()

		var got []string
		for _, w := range ws {
			if w.Field == "images.custom" {
				got = append(got, w.Board+": "+w.Message)
			}
		}

		if len(got) != 3 || !strings.Contains(strings.Join(got, "\n"), tc.board+": images.custom gives "+tc.board+" (") || !strings.Contains(got[0], tc.why) {
			t.Errorf("%s: %v", tc.custom, got)
		}
	}

	// Multi-arch by name ({{.Arch}} per board) is fine.
	p := mustParse(t, edit("tailscale:", "images: {custom: 'ghcr.io/me/talos:{{.Version}}-{{.Role}}-{{.Arch}}'}\ntailscale:"))
	for _, w := range p.Validate().Warnings() {
		if w.Field == "images.custom" {
			t.Errorf("per-arch template warns: %v", w)
		}
	}
}
