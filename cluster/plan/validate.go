package plan

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"unicode"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/compatibility"
	"github.com/siderolabs/talos/pkg/machinery/config"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Severity of a plan problem.
type Severity int

// Severities.
const (
	Error Severity = iota
	Warning
)

// Problem is one thing wrong with a plan, said so a person can fix it.
type Problem struct {
	Severity Severity
	Board    string // empty for cluster-wide problems
	Field    string // the lab.yaml field at fault, e.g. "boards[2].role"
	Message  string
	Fix      string
}

func (p Problem) String() string {
	var b strings.Builder

	if p.Board != "" {
		fmt.Fprintf(&b, "board %s: ", p.Board)
	}

	b.WriteString(p.Message)

	if p.Fix != "" {
		b.WriteString(" — fix: ")
		b.WriteString(p.Fix)
	}

	if p.Field != "" {
		fmt.Fprintf(&b, " [%s]", p.Field)
	}

	return b.String()
}

// Problems is the outcome of validation.
type Problems []Problem

// Errors are the problems that stop generation.
func (ps Problems) Errors() Problems { return ps.only(Error) }

// Warnings are problems worth reading but not blocking.
func (ps Problems) Warnings() Problems { return ps.only(Warning) }

func (ps Problems) only(s Severity) Problems {
	var out Problems

	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}

	return out
}

// Err joins the errors into one error, or nil when there are none.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}

	lines := make([]string, len(errs))
	for i, p := range errs {
		lines[i] = p.String()
	}

	return &InvalidError{Problems: errs, text: strings.Join(lines, "\n")}
}

// InvalidError is returned for a plan with errors; it keeps the problems so
// callers (the wizard, check) can show them one by one.
type InvalidError struct {
	Problems Problems
	text     string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("the plan has %d problem(s):\n%s", len(e.Problems), e.text)
}

// Tailscale's own address ranges: cluster CIDRs inside them would be shadowed
// by the tailnet on every operator machine.
var (
	tailscaleV4 = netip.MustParsePrefix("100.64.0.0/10")
	tailscaleV6 = netip.MustParsePrefix("fd7a:115c:a1e0::/48")
)

// devicePath is a block device path; linkName a Linux interface name
// (IFNAMSIZ: 15 characters).
var (
	devicePath = regexp.MustCompile(`^/dev/[A-Za-z0-9_:./-]+$`)
	linkName   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the whole plan. Defaults must have been filled (Load and
// Parse do that).
func (p *Plan) Validate() Problems {
	v := &validator{plan: p}

	v.cluster()
	v.profile()
	v.boards()
	v.roles()
	v.network()
	v.tailscale()
	v.images()

	return v.out
}

type validator struct {
	plan *Plan
	out  Problems
}

func (v *validator) errf(board, field, fix, format string, args ...any) {
	v.out = append(v.out, Problem{Severity: Error, Board: board, Field: field, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (v *validator) warnf(board, field, fix, format string, args ...any) {
	v.out = append(v.out, Problem{Severity: Warning, Board: board, Field: field, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (v *validator) cluster() {
	c := v.plan.Cluster

	switch {
	case c.Name == "":
		v.errf("", "cluster.name", "set cluster.name, e.g. \"homelab\"", "the cluster has no name")
	case !dnsLabel.MatchString(c.Name):
		v.errf("", "cluster.name", "use lowercase letters, digits and '-', e.g. \"homelab\"", "cluster name %q is not a valid DNS label", c.Name)
	}

	contract, err := config.ParseContractFromVersion(c.TalosVersion)
	if err != nil || !strings.HasPrefix(c.TalosVersion, "v") {
		v.errf("", "cluster.talosVersion", "use a Talos release like "+DefaultTalosVersion, "Talos version %q is not a version", c.TalosVersion)
	}

	k8s, err := compatibility.ParseKubernetesVersion(strings.TrimPrefix(c.KubernetesVersion, "v"))
	if err != nil || !strings.HasPrefix(c.KubernetesVersion, "v") {
		v.errf("", "cluster.kubernetesVersion", "use a release like "+DefaultKubernetesVersion, "Kubernetes version %q is not a version", c.KubernetesVersion)
	} else if contract != nil {
		talos, terr := compatibility.ParseTalosVersion(&machine.VersionInfo{Tag: c.TalosVersion})
		if terr == nil {
			if serr := k8s.SupportedWith(talos); serr != nil {
				v.errf("", "cluster.kubernetesVersion", "pick a Kubernetes version Talos "+c.TalosVersion+" supports (its default is "+DefaultKubernetesVersion+")", "%s", serr)
			}
		}
	}

	if c.VIP != "" {
		vip, err := netip.ParseAddr(c.VIP)
		if err != nil {
			v.errf("", "cluster.vip", "write a plain IP address, e.g. 192.168.1.50", "VIP %q is not an IP address", c.VIP)
		} else if why, fix := v.hostAddress(vip); why != "" {
			v.errf("", "cluster.vip", fix, "VIP %s %s", vip, why)
		} else {
			for _, b := range v.plan.Boards {
				if addr, err := netip.ParseAddr(b.Address); err == nil && addr == vip {
					v.errf("", "cluster.vip", "pick a free address on the LAN for the VIP", "VIP %s is board %s's own address", vip, b.Name)
				}
			}
		}
	}

	if c.Endpoint != "" {
		v.endpoint(c.Endpoint)
	}
}

func (v *validator) endpoint(endpoint string) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		v.errf("", "cluster.endpoint", "write it as https://HOST:6443 (the VIP or the first control plane), or leave it out to derive it", "endpoint %q is not an https URL", endpoint)

		return
	}

	addr, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		if !dnsName(u.Hostname()) {
			v.errf("", "cluster.endpoint", "write a DNS name (letters, digits, '-' and '.') or an IP address", "endpoint host %q is neither an IP address nor a DNS name", u.Hostname())
		}

		return // a DNS name: nothing more to cross-check offline
	}

	if why, fix := v.hostAddress(addr); why != "" {
		v.errf("", "cluster.endpoint", fix, "endpoint %s: %s %s", endpoint, addr, why)
	}

	for _, b := range v.plan.Boards {
		if a, err := netip.ParseAddr(b.Address); err == nil && a == addr && b.Machine == Worker {
			v.errf("", "cluster.endpoint", "point it at a control plane or the VIP", "endpoint %s is worker %s: workers do not serve the Kubernetes API", endpoint, b.Name)
		}
	}
}

func (v *validator) boards() {
	if len(v.plan.Boards) == 0 {
		v.errf("", "boards", "add at least one board (name, address, model, machine, role)", "the plan has no boards")

		return
	}

	names := map[string]string{}
	addrs := map[netip.Addr]string{}

	for i, b := range v.plan.Boards {
		field := fmt.Sprintf("boards[%d]", i)
		who := b.Name

		if who == "" {
			who = fmt.Sprintf("#%d", i+1)
		}

		switch {
		case b.Name == "":
			v.errf(who, field+".name", "give every board a name; it becomes its hostname", "has no name")
		case !dnsLabel.MatchString(b.Name):
			v.errf(who, field+".name", "use lowercase letters, digits and '-' (it becomes the hostname)", "name %q is not a valid hostname", b.Name)
		case OwnedFile(b.Name) != "":
			v.errf(who, field+".name", "rename the board, e.g. "+b.Name+"-1",
				"name %q is reserved: liftoff writes %s in the output directory, next to each board's NAME.yaml, and a board's config must never land on it", b.Name, OwnedFile(b.Name))
		case names[b.Name] != "":
			v.errf(who, field+".name", "give each board its own name: two nodes with one hostname clash in Kubernetes", "name %q is used twice", b.Name)
		default:
			names[b.Name] = b.Name
		}

		v.address(who, field, b, addrs)

		if !slices.Contains(Models, b.Model) {
			v.errf(who, field+".model", "use one of "+strings.Join(Models, ", "), "model %q is unknown", b.Model)
		}

		if b.Machine != ControlPlane && b.Machine != Worker {
			v.errf(who, field+".machine", "use controlplane or worker", "machine type %q is unknown", b.Machine)
		}

		if b.Role != Compute && b.Role != Gateway {
			v.errf(who, field+".role", "use compute (drbd zfs spin) or gateway (compute + tailscale, one board only)", "role %q is unknown", b.Role)
		}

		switch {
		case !strings.HasPrefix(b.InstallDisk, "/dev/"):
			v.errf(who, field+".installDisk", "name a block device, e.g. /dev/mmcblk0 or /dev/nvme0n1", "install disk %q is not a device path", b.InstallDisk)
		case !devicePath.MatchString(b.InstallDisk) || strings.Contains(b.InstallDisk, ".."):
			v.errf(who, field+".installDisk", "name a block device, e.g. /dev/mmcblk0 or /dev/nvme0n1", "install disk %q is not a device path: spaces, control characters and '..' have no place in one", b.InstallDisk)
		case BootsOnlyFromMMC(b.Model) && !IsMMC(b.InstallDisk):
			v.pi5Disk(who, field, b)
		}

		if b.Link != "" && !linkName.MatchString(b.Link) {
			v.errf(who, field+".link", "write the interface name as Talos shows it (talosctl get links), e.g. end0 or eth0", "link %q is not a network interface name (at most 15 letters, digits, '-', '_' or '.')", b.Link)
		}

		if v.plan.Cluster.VIP != "" && b.Machine == ControlPlane && b.Link == "" {
			v.errf(who, field+".link", "set the interface that carries the VIP, e.g. link: eth0", "control plane needs a link for the VIP")
		}
	}
}

// Pi5BootDoc explains why a Pi 5 boots Talos only from its SD card or eMMC.
const Pi5BootDoc = "https://github.com/siderolabs/sbc-raspberrypi/issues/96"

// pi5Disk refuses a Pi 5 / CM5 install disk its bootloader cannot read. An
// error, not a warning: the install itself succeeds, then the board stops
// at the U-Boot logo on every boot, and only re-flashing its SD card or
// eMMC brings it back. With a self-built image (a U-Boot with PCIe/RP1
// support, e.g. from sbc-raspberrypi PR #97) it may boot, so then it is a
// warning.
func (v *validator) pi5Disk(who, field string, b Board) {
	sev := Error
	fix := "set " + field + ".installDisk to /dev/mmcblk0 (the SD card, or a CM5's eMMC) and use " + b.InstallDisk +
		" as a data disk once Talos runs; see " + Pi5BootDoc

	if v.plan.Images.Custom != "" {
		sev = Warning
		fix = "make sure your self-built image's U-Boot has PCIe/RP1 support (sbc-raspberrypi PR #97), or install to /dev/mmcblk0; see " + Pi5BootDoc
	}

	v.out = append(v.out, Problem{Severity: sev, Board: who, Field: field + ".installDisk", Fix: fix,
		Message: fmt.Sprintf("a %s boots Talos only from its SD card or eMMC: the official rpi_5 overlay's U-Boot has no PCIe or RP1 (USB) support, so it cannot load Talos from %s and the board stops at the U-Boot logo",
			modelName(b.Model), b.InstallDisk)})
}

func modelName(model string) string {
	switch model {
	case RPi5:
		return "Raspberry Pi 5"
	case CM5:
		return "Compute Module 5"
	}

	return model
}

func (v *validator) address(who, field string, b Board, seen map[netip.Addr]string) {
	if b.Address == "" {
		v.errf(who, field+".address", "set the board's LAN address (maintenance mode shows it on screen)", "has no address")

		return
	}

	addr, err := netip.ParseAddr(b.Address)
	if err != nil {
		fix := "write a plain IP address, e.g. 192.168.1.21"
		if strings.Contains(b.Address, "/") || strings.Contains(b.Address, ":") && strings.Count(b.Address, ":") == 1 {
			fix = "drop the prefix length or port: write only the IP"
		}

		v.errf(who, field+".address", fix, "address %q is not an IP address", b.Address)

		return
	}

	if other, dup := seen[addr]; dup {
		v.errf(who, field+".address", "each board needs its own address", "address %s is also board %s's", addr, other)
	}

	seen[addr] = b.Name

	if tailscaleV4.Contains(addr) || tailscaleV6.Contains(addr) {
		v.errf(who, field+".address", "use the board's LAN address, not its tailnet address", "address %s is in Tailscale's range", addr)
	}

	if why, fix := v.hostAddress(addr); why != "" {
		v.errf(who, field+".address", fix, "address %s %s", addr, why)
	}
}

// hostAddress says why an address cannot be a machine's on the LAN (a
// board, the VIP, the API endpoint), with the fix; "" when it can.
// Loopback is refused except in a plan whose LAN is itself loopback: the
// simulated lab's (its boards serve on 127.0.0.x), which no real lab can be.
func (v *validator) hostAddress(addr netip.Addr) (why, fix string) {
	const lanFix = "use the board's LAN address (maintenance mode shows it on the board's screen)"

	lan, err := netip.ParsePrefix(v.plan.Network.LAN)
	hasLAN := err == nil

	switch {
	case addr.Zone() != "":
		return "carries an interface zone (%" + addr.Zone() + ")", "drop the %" + addr.Zone() + ": write the address alone (link-local addresses with zones are not for a cluster either)"
	case addr.IsUnspecified():
		return "is the unspecified address: nothing can be reached there", lanFix
	case addr.IsMulticast():
		return "is a multicast address: it names a group, not a machine", lanFix
	case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "is the broadcast address", lanFix
	case addr.IsLinkLocalUnicast():
		return "is link-local: it is not routed and changes on every boot (a board shows one when DHCP failed)", "give the board a LAN address: fix DHCP or reserve one in the router, then use that"
	case addr.IsLoopback() && !(hasLAN && lan.Addr().IsLoopback()):
		return "is a loopback address: no other machine can reach it", lanFix
	}

	if hasLAN && lan.Addr().Is4() && addr.Is4() && lan.Bits() <= 30 && lan.Contains(addr) {
		switch addr {
		case lan.Masked().Addr():
			return "is the network address of the LAN " + lan.String() + ", not a machine's", lanFix
		case lastAddr(lan):
			return "is the broadcast address of the LAN " + lan.String(), lanFix
		}
	}

	return "", ""
}

// lastAddr is an IPv4 prefix's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= 1<<(32-p.Bits()) - 1

	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

var dnsLabelAnyCase = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// dnsName tells a DNS name: dot-separated labels, 253 characters at most.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}

	for l := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if !dnsLabelAnyCase.MatchString(l) {
			return false
		}
	}

	return true
}

func (v *validator) roles() {
	var gateways, cps []string

	for _, b := range v.plan.Boards {
		if b.Role == Gateway {
			gateways = append(gateways, b.Name)
		}

		if b.Machine == ControlPlane {
			cps = append(cps, b.Name)
		}
	}

	switch {
	case v.plan.Tailscale.Disabled && len(gateways) > 0:
		v.errf(strings.Join(gateways, ", "), "tailscale.disabled", "make it compute, or remove tailscale.disabled to have a subnet router",
			"has the gateway role but tailscale is disabled")
	case len(gateways) > 1:
		v.errf(strings.Join(gateways, ", "), "boards[].role", "keep one gateway and make the others compute",
			"%d boards have the gateway role: one subnet router per cluster — several routers fight over the same routes and a gateway without its own Tailscale config never becomes ready", len(gateways))
	case len(gateways) == 0 && !v.plan.Tailscale.Disabled && len(v.plan.Boards) > 0:
		v.errf("", "boards[].role", "make one board the gateway (role: gateway), or set tailscale.disabled: true for a cluster without Tailscale",
			"no board has the gateway role, so nothing routes the tailnet to the cluster")
	}

	switch {
	case len(cps) == 0 && len(v.plan.Boards) > 0:
		v.errf("", "boards[].machine", "make at least one board machine: controlplane (three for a cluster that survives a lost board)", "no control plane")
	case len(cps)%2 == 0 && len(cps) > 0:
		v.warnf("", "boards[].machine", "use an odd number (1 or 3)",
			"%d control planes: etcd needs a majority, so an even count tolerates no more failures than one fewer", len(cps))
	}
}

func (v *validator) network() {
	n := v.plan.Network

	lan, lanOK := v.prefix("network.lan", n.LAN, true)
	pods, podOK := v.prefix("network.podCIDR", n.PodCIDR, false)
	svcs, svcOK := v.prefix("network.serviceCIDR", n.ServiceCIDR, false)

	type named struct {
		field string
		p     netip.Prefix
	}

	var cluster []named
	if podOK {
		cluster = append(cluster, named{"network.podCIDR", pods})
	}

	if svcOK {
		cluster = append(cluster, named{"network.serviceCIDR", svcs})
	}

	if podOK && svcOK && pods.Overlaps(svcs) {
		v.errf("", "network.serviceCIDR", "pick disjoint ranges (defaults: pods "+DefaultPodCIDR+", services "+DefaultServiceCIDR+")",
			"pod CIDR %s and service CIDR %s overlap", pods, svcs)
	}

	for _, c := range cluster {
		if c.p.Overlaps(tailscaleV4) || c.p.Overlaps(tailscaleV6) {
			v.errf("", c.field, "move it out of 100.64.0.0/10 and fd7a:115c:a1e0::/48", "%s overlaps Tailscale's own addresses, so the tailnet would shadow it", c.p)
		}

		if lanOK && n.LAN != "" && c.p.Overlaps(lan) {
			v.errf("", c.field, "pick a range that is not the LAN", "%s overlaps the LAN %s: the gateway would advertise routes to your own network", c.p, lan)
		}

		for _, b := range v.plan.Boards {
			if addr, err := netip.ParseAddr(b.Address); err == nil && c.p.Contains(addr) {
				v.errf(b.Name, c.field, "pick a cluster range that does not contain board addresses", "address %s is inside %s", addr, c.p)
			}
		}

		// Inside the cluster, an address in these ranges is a pod's or a
		// Service's: the API endpoint and the VIP must live on the LAN.
		for _, a := range v.apiAddresses() {
			if c.p.Contains(a.addr) {
				v.errf("", a.field, "point it at a control plane's LAN address or a free LAN address, or move "+c.field+" away from it",
					"%s %s is inside %s %s: inside the cluster that address belongs to a %s", a.what, a.addr, c.field, c.p, map[string]string{"network.podCIDR": "pod", "network.serviceCIDR": "Service"}[c.field])
			}
		}
	}

	if lanOK && n.LAN != "" {
		for i, b := range v.plan.Boards {
			if addr, err := netip.ParseAddr(b.Address); err == nil && !lan.Contains(addr) {
				v.errf(b.Name, fmt.Sprintf("boards[%d].address", i), "correct the address or network.lan", "address %s is outside the LAN %s", addr, lan)
			}
		}

		if vip, err := netip.ParseAddr(v.plan.Cluster.VIP); err == nil && !lan.Contains(vip) {
			v.errf("", "cluster.vip", "a layer-2 VIP must be on the boards' LAN", "VIP %s is outside the LAN %s", vip, lan)
		}
	}
}

type apiAddress struct {
	field, what string
	addr        netip.Addr
}

// apiAddresses are the VIP and the endpoint's IP, when they are IPs.
func (v *validator) apiAddresses() []apiAddress {
	var out []apiAddress

	if a, err := netip.ParseAddr(v.plan.Cluster.VIP); err == nil {
		out = append(out, apiAddress{"cluster.vip", "VIP", a})
	}

	if u, err := url.Parse(v.plan.Cluster.Endpoint); err == nil && v.plan.Cluster.Endpoint != "" {
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			out = append(out, apiAddress{"cluster.endpoint", "endpoint", a})
		}
	}

	return out
}

// prefix parses a CIDR and insists on its network address, since a host
// address with a mask is nearly always a typo.
func (v *validator) prefix(field, s string, optional bool) (netip.Prefix, bool) {
	if s == "" && optional {
		return netip.Prefix{}, true
	}

	p, err := netip.ParsePrefix(s)
	if err != nil {
		v.errf("", field, "write it as ADDRESS/BITS, e.g. 10.244.0.0/16", "%q is not a CIDR", s)

		return p, false
	}

	if p.Masked() != p {
		v.errf("", field, fmt.Sprintf("did you mean %s?", p.Masked()), "%s is not a network address", p)

		return p, false
	}

	return p, true
}

func (v *validator) tailscale() {
	ts := v.plan.Tailscale

	if ts.Disabled {
		return
	}

	if ts.Hostname != "" && !dnsLabel.MatchString(ts.Hostname) {
		v.errf("", "tailscale.hostname", "use lowercase letters, digits and '-', at most 63 (set tailscale.hostname, or shorten cluster.name it is made from)",
			"tailscale hostname %q is not a valid DNS label: the gateway's name on the tailnet is one", ts.Hostname)
	}

	// TS_EXTRA_ARGS is one line of the extension's environment: a line
	// break there would start another variable of the attacker's choosing.
	if strings.ContainsFunc(ts.ExtraArgs, unicode.IsControl) {
		v.errf("", "tailscale.extraArgs", "keep the arguments on one line, separated by spaces, e.g. \"--advertise-tags=tag:k8s --accept-dns=false\"",
			"tailscale.extraArgs holds a line break or control character: it becomes TS_EXTRA_ARGS in the tailscale extension's environment, where a line break starts another variable")
	}

	v.tailscaleExtras()

	if ts.AuthKeyFile != "" {
		if err := fileio.CheckPath("tailscale.authKeyFile", ts.AuthKeyFile); err != nil {
			v.errf("", "tailscale.authKeyFile", "point it at a file holding the key (mode 0600), e.g. ~/.config/liftoff/tskey", "%s", err)
		}
	}
}

// tailscaleExtras checks what the gateway advertises besides the cluster's
// CIDRs, and the flags added to `tailscale up`. containerboot (tailscale
// v1.102.5 cmd/containerboot/tailscaled.go) passes TS_ROUTES as
// --advertise-routes and appends TS_EXTRA_ARGS after it, so a second
// --advertise-routes there would silently replace the cluster's routes.
func (v *validator) tailscaleExtras() {
	ts := v.plan.Tailscale
	seen := map[netip.Prefix]bool{}

	for i, r := range ts.Routes {
		field := fmt.Sprintf("tailscale.routes[%d]", i)

		pfx, err := netip.ParsePrefix(strings.TrimSpace(r))

		switch {
		case err != nil:
			v.errf("", field, "write a CIDR such as 192.168.1.0/24", "route %q is not a CIDR", r)

			continue
		case pfx != pfx.Masked():
			v.errf("", field, "write the network address: "+pfx.Masked().String(), "route %s has host bits set", pfx)

			continue
		case pfx.Bits() == 0:
			v.errf("", field, "an exit node is a choice of its own: set tailscale.exitNode: true if you mean it, and drop this route",
				"route %s is a default route: advertising it makes the gateway an exit node for the whole tailnet", pfx)

			continue
		case pfx.Overlaps(tailscaleV4) || pfx.Overlaps(tailscaleV6):
			v.errf("", field, "advertise only ranges outside 100.64.0.0/10 and fd7a:115c:a1e0::/48",
				"route %s overlaps Tailscale's own addresses: the tailnet would shadow it", pfx)

			continue
		case seen[pfx]:
			v.errf("", field, "list each route once", "route %s is listed twice", pfx)

			continue
		}

		seen[pfx] = true

		for _, c := range []struct{ field, cidr string }{{"network.podCIDR", v.plan.Network.PodCIDR}, {"network.serviceCIDR", v.plan.Network.ServiceCIDR}} {
			if cp, err := netip.ParsePrefix(c.cidr); err == nil && cp.Overlaps(pfx) {
				v.errf("", field, "drop it: the gateway advertises "+c.field+" already",
					"route %s overlaps %s %s, which the gateway advertises itself", pfx, c.field, cp)
			}
		}
	}

	for _, arg := range strings.Fields(ts.ExtraArgs) {
		name, _, _ := strings.Cut(arg, "=")

		switch name {
		case "--advertise-routes":
			v.errf("", "tailscale.extraArgs", "list extra routes in tailscale.routes; liftoff adds them to the cluster's",
				"tailscale.extraArgs sets --advertise-routes, which replaces the pod and service CIDRs the gateway must advertise")
		case "--advertise-exit-node":
			if !ts.ExitNode {
				v.errf("", "tailscale.extraArgs", "drop it, or set tailscale.exitNode: true if the gateway is meant to be an exit node",
					"tailscale.extraArgs makes the gateway an exit node (--advertise-exit-node): every tailnet device could send its internet traffic through the lab")
			}
		}
	}
}

func (v *validator) images() {
	im := v.plan.Images

	if _, err := FactoryURL(im.Factory); err != nil {
		v.errf("", "images.factory", "write a host such as factory.talos.dev, or a URL with no path such as http://10.0.0.5:8080", "%s", err)
	}

	// Self-built images (images.custom) may carry extensions of their own;
	// Image Factory builds only official ones.
	unknown := v.errf
	if im.Custom != "" {
		unknown = v.warnf
	}

	for _, role := range slices.Sorted(maps.Keys(im.Extensions)) {
		exts := im.Extensions[role]
		field := "images.extensions." + role

		if role != Compute && role != Gateway {
			v.errf("", field, "override only compute or gateway", "unknown role %q in extension overrides", role)

			continue
		}

		seen := map[string]bool{}

		for _, e := range exts {
			name := ShortExtension(e)
			if name == "" {
				v.errf("", field, "remove the empty entry", "an extension name is empty")

				continue
			}

			if seen[name] {
				v.errf("", field, "list each extension once", "extension %q is listed twice", name)
			}

			seen[name] = true

			if why, fix := officialProblem(e); why != "" {
				unknown("", field, fix, "%s", why)
			}
		}

		switch {
		case role == Compute && seen["tailscale"]:
			v.errf("", field, "remove tailscale from the compute set; only the gateway carries it",
				"the compute image includes tailscale: every compute node would become a subnet router and wait forever for a Tailscale config it never gets")
		case role == Gateway && !seen["tailscale"] && !v.plan.Tailscale.Disabled:
			v.errf("", field, "add tailscale to the gateway set (or set tailscale.disabled: true)", "the gateway image lacks tailscale")
		}
	}

	if im.Custom != "" {
		v.custom(im.Custom)
	}
}

// customData mirrors image.TemplateData: what an images.custom template
// may use.
type customData struct{ Version, Role, Arch, Model string }

// custom renders the self-built image template for every board model in
// both roles. It must render, give an image reference, and give compute
// and gateway boards different images: what a template says in a comment,
// or computes and throws away, does not count.
func (v *validator) custom(text string) {
	const example = "ghcr.io/me/talos:{{.Version}}-{{.Role}}"

	t, err := template.New("custom").Option("missingkey=error").Parse(text)
	if err != nil {
		v.errf("", "images.custom", "use Go template syntax, e.g. "+example, "template does not parse: %s", err)

		return
	}

	models := []string{}
	for _, b := range v.plan.Boards {
		if slices.Contains(Models, b.Model) && !slices.Contains(models, b.Model) {
			models = append(models, b.Model)
		}
	}

	if len(models) == 0 {
		models = []string{AMD64}
	}

	render := func(role, model string) (string, error) {
		var buf strings.Builder
		err := t.Execute(&buf, customData{Version: v.plan.Cluster.TalosVersion, Role: role, Arch: Arch(model), Model: model})

		return buf.String(), err
	}

	for _, model := range models {
		compute, err := render(Compute, model)
		if err == nil {
			_, err = render(Gateway, model)
		}

		if err != nil {
			v.errf("", "images.custom", "use only the fields .Version .Role .Arch .Model, e.g. "+example, "template does not render: %s", err)

			return
		}

		if compute == "" || strings.ContainsFunc(compute, unicode.IsSpace) || strings.ContainsFunc(compute, unicode.IsControl) {
			v.errf("", "images.custom", "make it render one image reference, e.g. "+example, "template renders %q for %s, which is not an image reference", compute, model)

			return
		}

		gateway, _ := render(Gateway, model)
		if gateway == compute && !v.plan.Tailscale.Disabled {
			v.errf("", "images.custom", "include {{.Role}} outside any comment, e.g. "+example,
				"template gives every role the same image (%s for %s): compute and gateway boards must get different images", compute, model)

			return
		}
	}

	// An image known to be built for one architecture boot-loops a board
	// of the other (the wrong-arch-image scenario).
	for _, b := range v.plan.Boards {
		if !slices.Contains(Models, b.Model) {
			continue
		}

		ref, err := render(b.Role, b.Model)
		if err != nil {
			continue
		}

		if arch, why := SingleArch(ref); arch != "" && arch != Arch(b.Model) {
			v.warnf(b.Name, "images.custom", "build the image for "+Arch(b.Model)+" too (a multi-arch manifest), or name the arch in the template: {{.Arch}}",
				"images.custom gives %s (%s, %s) %s, which %s: it cannot boot there", b.Name, b.Model, Arch(b.Model), ref, why)
		}
	}
}

// archWords are how image references name an architecture.
var archWords = map[string]string{"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64"}

// SingleArch tells when an image reference is known to hold one
// architecture: CozyStack's own Talos image (amd64 only: cozystack/cozystack
// v1.6.2 packages/core/talos/images/talos/profiles/installer.yaml has
// arch: amd64 and hack/gen-profiles.sh writes no other), or a reference
// that names an architecture in its path or tag.
func SingleArch(ref string) (arch, why string) {
	repo, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}

	if repo == CozyStack.Image {
		return "amd64", "is CozyStack's own Talos image, built for amd64 only"
	}

	for _, word := range strings.FieldsFunc(ref, func(r rune) bool { return strings.ContainsRune("/:@-_.", r) }) {
		if a, ok := archWords[strings.ToLower(word)]; ok {
			return a, "names " + word + " as its architecture"
		}
	}

	// x86-64 is split by '-' above.
	if strings.Contains(strings.ToLower(ref), "x86-64") {
		return "amd64", "names x86-64 as its architecture"
	}

	return "", ""
}

// ShortExtension turns "siderolabs/tailscale" into "tailscale": plans may use
// either form.
func ShortExtension(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}

	return name
}

// ErrInvalid matches any validation failure with errors.As.
var ErrInvalid = errors.New("invalid plan")

// Is lets errors.Is(err, ErrInvalid) find an InvalidError.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }
