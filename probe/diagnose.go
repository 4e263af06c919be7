package probe

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// Diagnosis is why a node is stuck, in plain words, with the fix and the
// evidence. The troubleshoot view and `liftoff check` both show these.
type Diagnosis struct {
	Title    string
	Why      string
	Fix      string
	Evidence []string
	// Final: the board will not get further by itself; waiting helps
	// nothing, and a bring-up waiting on it can stop and say why (another
	// cluster's talosconfig; no node IP outside the cluster's CIDRs; a
	// Pi 5 that cannot boot what was installed).
	Final bool
	// Repair is the safe remedy liftoff can run for it, nil without one.
	Repair *Repair
}

// bootLoop is how many boots without reaching running mean a boot loop.
const bootLoop = 3

// Diagnose explains what keeps a node from being ready. An empty result
// means nothing is wrong that liftoff can see. now bounds "too long".
func Diagnose(n *Node, now time.Time) []Diagnosis {
	var out []Diagnosis

	add := func(d Diagnosis) { out = append(out, d) }

	if n.LabFault != "" {
		add(Diagnosis{
			Title: "the simulated lab stalled on " + n.Name,
			Why:   n.LabFault + ". This is a fault of liftoff's simulated lab, not of the plan or the configs: a real board would have finished or failed by now",
			Fix: "quit and start the lab again (its files stay in --dir); please report it with the scenario, the --speed and a recording " +
				"(liftoff sim --record rehearsal.jsonl)",
			Evidence: append([]string{"last stage seen: " + cmp.Or(n.Stage.String(), "none") + " since " + n.StageSince.Format("15:04:05")}, lastLines(n, "dmesg", 3)...),
		})
	}

	loop, looping := bootLoopDiagnosis(n)
	pi5, unbootable := pi5Boot(n)

	if unbootable {
		add(pi5)
	}

	// A failed install reboots the board: the cause, not the outage, first.
	pull, pullFailed := installerPullDiagnosis(n)
	if pullFailed {
		add(pull)
	}

	// A boot-looping board is unreachable half the time; that is the loop.
	// One whose boot sequence timed out reboots for what it waited for:
	// that comes first, the outage after it.
	var outage []Diagnosis

	if !n.Reachable && n.Unreachable != "" && !looping && !pullFailed && !unbootable {
		d := unreachableDiagnosis(n)

		if n.BootFailures > 0 {
			outage = append(outage, d)
		} else {
			add(d)
		}
	}

	if !n.AppliedAt.IsZero() && n.Stage == StageMaintenance && n.StageSince.After(n.AppliedAt) && !pullFailed {
		add(Diagnosis{
			Title: n.Name + " is back in maintenance mode",
			Why:   "it lost the config it was given before the install finished — power loss or a reset during install",
			Fix: "apply its config again (the wizard's apply, or talosctl apply-config --insecure -n ADDRESS -e ADDRESS --file " + n.Name + ".yaml); " +
				"if it happens again, check the power supply (a Raspberry Pi 4 needs 5V/3A, a Pi 5 5V/5A)",
			Evidence: append([]string{"config applied at " + n.AppliedAt.Format("15:04:05")}, lastLines(n, "dmesg", 3)...),
			Repair:   installRepair(n),
		})
	}

	if looping {
		add(loop)
	}

	out = append(out, roleDiagnoses(n)...)
	out = append(out, moduleDiagnoses(n)...)
	out = append(out, outage...)

	if d, ok := duplicateHostname(n); ok {
		add(d)
	}

	if d, ok := stuckStage(n, now); ok {
		add(d)
	}

	causes, warnings := talosDiagnoses(n)

	// Talos's own diagnosis of why kubelet and etcd cannot start comes
	// before what follows from it (etcd waiting, not ready).
	out = append(out, causes...)

	if d, ok := etcdWaiting(n); ok && len(causes) == 0 {
		add(d)
	}

	if AwaitingCNI(n) {
		add(awaitingCNI(n))

		return append(out, warnings...)
	}

	if noNetwork(n) && !Transitional(n, now) {
		add(Diagnosis{
			Title: n.Name + " has no pod network (CNI): its Node stays NotReady and CoreDNS stays Pending",
			Why: "the kubelet reports the container runtime's network not ready: no CNI has put its configuration on the node. " +
				"Talos deploys flannel unless the config says cluster.network.cni.name: none (or custom); then a CNI must be installed, " +
				"and until one runs every Node keeps the not-ready taint, so the scheduler places no pod — CoreDNS first",
			Fix: "install the CNI the configs make room for (Cilium: Talos's guide, www.talos.dev/v1.13/kubernetes-guides/network/deploying-cilium), " +
				"or drop the cni: none patch, run liftoff gen and apply again so Talos deploys flannel",
			Evidence: []string{"Node Ready: " + n.NodeReason},
		})
	}

	if n.Stage == StageRunning && !n.MachineReady && len(n.Unmet) > 0 && len(out) == 0 {
		add(Diagnosis{
			Title:    n.Name + " is running but Talos does not report it ready",
			Why:      "unmet conditions: " + strings.Join(n.Unmet, "; "),
			Fix:      "look at the services named above (talosctl services -n " + n.Name + ") and their logs",
			Evidence: n.Unmet,
		})
	}

	if n.MachineReady && !n.NodeReady && n.NodeReason != "" {
		add(Diagnosis{
			Title:    n.Name + " is ready in Talos but its Kubernetes Node is not Ready",
			Why:      n.NodeReason,
			Fix:      "check kubelet: talosctl logs kubelet -n " + n.Name + "; a node that stopped posting status has lost power or network",
			Evidence: append([]string{"Node Ready: " + n.NodeReason}, lastLines(n, "kubelet", 5)...),
		})
	}

	if n.MovedNote != "" {
		add(Diagnosis{
			Title: n.Name + " changed its address to " + n.Endpoint,
			Why: n.MovedNote + ". liftoff follows it by its machine UUID, but the plan and the config still name the old address: " +
				"talosctl, the VIP and the Kubernetes node IP (pinned to the plan's LAN or address) expect it there",
			Fix: "reserve the board's address in your router's DHCP settings (by its MAC), or set its address in lab.yaml to " +
				n.Endpoint + ", run liftoff gen and apply again",
			Evidence: []string{"now at " + n.Endpoint},
		})
	}

	// Talos's own warnings come last: they may hold on a Ready node too.
	return append(out, warnings...)
}

// Blocking is the first diagnosis of a node that waiting will not fix.
func Blocking(n *Node, now time.Time) (Diagnosis, bool) {
	for _, d := range Diagnose(n, now) {
		if d.Final {
			return d, true
		}
	}

	return Diagnosis{}, false
}

// unreachableDiagnosis says why a board's Talos API cannot be used, by the
// kind of outage: a board that refuses the talosconfig is not a power
// problem, and something else answering at its address is not a board.
func unreachableDiagnosis(n *Node) Diagnosis {
	d := Diagnosis{
		Title:    n.Name + " is not reachable",
		Why:      n.Unreachable,
		Fix:      powerFix,
		Evidence: lastLines(n, "dmesg", 3),
	}

	switch n.Outage {
	case OutageOtherCluster:
		d.Title = n.Name + " refuses this talosconfig: it belongs to another cluster"
		d.Fix = OtherClusterFix
		d.Final = true
	case OutageConfigured:
		d.Title = n.Name + " runs a config and liftoff has no talosconfig for it"
		d.Fix = configuredFix
	case OutageNotTalos:
		d.Title = "something else answers at " + n.Name + "'s address"
		d.Fix = notTalosFix
	}

	return d
}

// cniGrace is how long a new node may wait for its CNI before liftoff calls
// it missing: until the CNI's agent (flannel, on Talos) runs on a node,
// the kubelet reports the network plugin not ready — for seconds on a
// normal boot, longer while its image is pulled.
const cniGrace = 30 * time.Second

func noNetwork(n *Node) bool {
	return !n.NodeReady && strings.Contains(n.NodeReason, "NetworkPluginNotReady")
}

// AwaitingCNI tells a node where its plan says it should be before its
// platform is installed: running, Talos ready but for its Node (the only
// unmet condition is nodeReady, Talos v1.13.3 controllers/runtime/
// machine_status.go), and the Node NotReady for want of the pod network
// that platform brings.
func AwaitingCNI(n *Node) bool {
	if n.CNIBy == "" || !noNetwork(n) || n.Stage != StageRunning {
		return false
	}

	for _, u := range n.Unmet {
		if !strings.HasPrefix(u, "nodeReady") {
			return false
		}
	}

	return true
}

func awaitingCNI(n *Node) Diagnosis {
	return Diagnosis{
		Title: n.Name + " is waiting for " + n.CNIBy + ": its Node stays NotReady until " + n.CNIBy + " installs its CNI (expected)",
		Why: "the plan's profile leaves the pod network to " + n.CNIBy + " (cluster.network.cni.name: none, no kube-proxy): Talos is up, " +
			"and the kubelet reports NetworkPluginNotReady until " + n.CNIBy + "'s CNI runs. Nothing is wrong; this is the next step",
		Fix:      "install " + n.CNIBy + ": " + n.CNIInstall,
		Evidence: append([]string{"Node Ready: " + n.NodeReason}, unmetAbout(n, "nodeReady")...),
	}
}

// Transitional tells a node in a state it normally passes through: its
// Node waits for its pod network, within cniGrace. A settle waits it out.
func Transitional(n *Node, now time.Time) bool {
	return noNetwork(n) && now.Sub(n.NodeReasonSince) < cniGrace
}

// roleDiagnoses compare the running image with the role: the founding
// failure mode (tailscale where it does not belong, or not working on the
// gateway) and lost extensions.
func roleDiagnoses(n *Node) []Diagnosis {
	var out []Diagnosis

	ts, hasTS := n.Extensions["tailscale"]
	hasTS = hasTS && ts.State == ExtensionPresent
	svc := n.Services["ext-tailscale"]
	waitsConfig := hasTS && waitsFor(n, "ext-tailscale", "extension service config")
	tsDown := hasTS && (svc == nil || !svc.Up) && n.Stage == StageRunning

	switch {
	case n.Role == "compute" && hasTS:
		title, why := "tailscale on a compute node", n.Name+" has the compute role but its image carries the tailscale extension"
		if waitsConfig {
			title, why = "ext-tailscale waits for its config on a compute node", n.Name+" has the gateway image but no tailscale config — its role is compute"
		}

		out = append(out, Diagnosis{
			Title: title,
			Why: why + ". ext-tailscale waits for its own ExtensionServiceConfig (depends: configuration in its manifest), which a " +
				"compute node's config does not have, so it stays Waiting. " + bootWaitWords(n) +
				" Every node with tailscale wants to be a subnet router too",
			Fix:      "give " + n.Name + " the compute image (liftoff gen, then talosctl upgrade -n " + n.Name + " --image <compute installer from liftoff images>), or make it the gateway if it is the only one",
			Evidence: append([]string{"extensions: " + strings.Join(n.ExtensionNames(), " ")}, waitEvidence(n, "ext-tailscale")...),
			Repair:   upgradeRepair(n, "the compute image has no tailscale"),
		})
	case n.Role == "gateway" && waitsConfig:
		out = append(out, Diagnosis{
			Title: "the gateway's ext-tailscale waits for its config",
			Why: n.Name + "'s config has no ExtensionServiceConfig for tailscale (liftoff writes it only when it has the Tailscale auth key), " +
				"so ext-tailscale waits for one (depends: configuration in its manifest) and nothing advertises the cluster's routes. " + bootWaitWords(n),
			Fix: "give liftoff the auth key (liftoff gen --tailscale-authkey-file KEY, or export TS_AUTHKEY) so it writes the tailscale ExtensionServiceConfig, " +
				"then apply the gateway's config again: talosctl apply-config -n ADDRESS -e ADDRESS --file " + n.Name + ".yaml — the service starts and the boot finishes, no reboot needed",
			Evidence: waitEvidence(n, "ext-tailscale"),
			Repair:   reapplyRepair(n, "the regenerated config carries the tailscale ExtensionServiceConfig with the auth key, which Talos applies without a reboot"),
		})
	case n.Role == "gateway" && tsDown:
		cause, fix, regen := tailscaleCause(n, svc)

		var repair *Repair
		if regen {
			repair = reapplyRepair(n, "the regenerated config carries the tailscale ExtensionServiceConfig with the auth key, which Talos applies without a reboot")
		}

		out = append(out, Diagnosis{
			Title: "the gateway's ext-tailscale is not running",
			Why: n.Name + " is the gateway but the tailscale service is not up, so the subnet route is missing. " +
				cause,
			Fix:      fix,
			Evidence: waitEvidence(n, "ext-tailscale"),
			Repair:   repair,
		})
	}

	if missing := n.Missing(); len(missing) > 0 && booted(n) && n.Reachable {
		out = append(out, Diagnosis{
			Title: "extensions missing: " + strings.Join(missing, " "),
			Why: fmt.Sprintf("%s's role (%s) needs %s, but the running image has %s. The installed image is not the role's: "+
				"usually an install or upgrade with another installer (e.g. the plain ghcr.io/siderolabs/installer) which drops every extension, "+
				"or a Pi booted from a card with another image: Talos installs nothing on a board booted from its card, so the card's image runs until an upgrade",
				n.Name, n.Role, strings.Join(n.Expect, " "), orNone(n.ExtensionNames())),
			Fix:      "upgrade to the role's installer: talosctl upgrade -n " + n.Name + " --image <installer from liftoff images>" + plainHint(n.Installer),
			Evidence: nonEmpty("installer applied: "+n.Installer, "running schematic: "+orNoneStr(n.Schematic)),
			Repair:   upgradeRepair(n, "its image lacks "+strings.Join(missing, " ")),
		})
	}

	if unexpected := n.Unexpected(); len(unexpected) > 0 && !(len(unexpected) == 1 && unexpected[0] == "tailscale" && n.Role == "compute") {
		out = append(out, Diagnosis{
			Title:    "unexpected extensions: " + strings.Join(unexpected, " "),
			Why:      n.Name + "'s image has extensions its role (" + n.Role + ") does not ask for",
			Fix:      "install the role's image, or add them to images.extensions." + n.Role + " in the plan if you want them",
			Evidence: []string{"extensions: " + strings.Join(n.ExtensionNames(), " ")},
			Repair:   upgradeRepair(n, "its image has "+strings.Join(unexpected, " ")),
		})
	}

	return out
}

// booted: the node runs its installed image (running, or booting with its
// image's extensions published), so its extension list is what that image
// has. A board that boot-loops before Talos starts publishes none.
func booted(n *Node) bool {
	return n.Stage == StageRunning || n.Stage == StageBooting && len(n.Extensions) > 0
}

// waitsFor tells whether a service waits for a condition named like what:
// its state (ServiceList's "Waiting for ...") says so.
func waitsFor(n *Node, id, what string) bool {
	s := n.Services[id]

	return s != nil && s.State == "Waiting" && strings.Contains(s.Message, what)
}

// bootWaitWords says what a waiting service does to the machine, as Talos
// does it: the boot sequence waits, the stage stays booting, the Node may
// be Ready, and at BootTimeout the machine reboots.
func bootWaitWords(n *Node) string {
	s := "Talos's boot sequence waits for every service, extension services included, to be up, so " + n.Name +
		" stays in stage booting and Talos does not count it ready (`talosctl services` shows the service Waiting; its Kubernetes Node can be Ready meanwhile). " +
		"After 70 minutes (BootTimeout) the boot sequence fails and Talos reboots the machine, and it waits again."
	if n.BootFailures > 0 {
		s += fmt.Sprintf(" It has done so %d time(s) already.", n.BootFailures)
	}

	return s
}

// waitEvidence is what shows a service waiting: its state and last event,
// the boot sequence's console line, the stage, and the Node.
func waitEvidence(n *Node, id string) []string {
	var ev []string

	if s := n.Services[id]; s != nil {
		line := id + ": " + s.State + prefixed(" — ", s.Message)
		if s.Restarts > 0 {
			line += fmt.Sprintf(" (%d restarts)", s.Restarts)
		}

		ev = append(ev, line)
	} else {
		ev = append(ev, id+": no state read yet (talosctl services -n "+n.Name+")")
	}

	if n.BootWait != "" && strings.Contains(n.BootWait, `"`+id+`"`) {
		ev = append(ev, "console: [talos] task startAllServices (1/1): "+n.BootWait)
	}

	if n.Stage == StageBooting && !n.StageSince.IsZero() {
		ev = append(ev, "stage booting since "+n.StageSince.Format("15:04:05"))
	}

	if n.BootFailures > 0 {
		ev = append(ev, fmt.Sprintf("console: boot sequence failed %d time(s) at BootTimeout, then Talos rebooted", n.BootFailures))
	}

	if n.NodeReady {
		ev = append(ev, "Kubernetes Node: Ready")
	}

	return append(ev, lastLines(n, id, 3)...)
}

// moduleDiagnoses: an extension service that waits for a device node its
// kernel module creates, while the machine config does not load that
// module (Talos loads no extension module by itself).
func moduleDiagnoses(n *Node) []Diagnosis {
	var out []Diagnosis

	for _, name := range n.ExtensionNames() {
		ext, ok := plan.Extensions[name]
		if !ok || n.Extensions[name].State != ExtensionPresent {
			continue
		}

		for _, svc := range ext.Services {
			for _, path := range svc.Paths {
				if !waitsFor(n, svc.ID(), fmt.Sprintf("file %q to exist", path)) {
					continue
				}

				var missing []string

				for _, m := range ext.Modules {
					if _, listed := n.KernelModules[m.Name]; !listed {
						missing = append(missing, m.Name)
					}
				}

				if len(missing) == 0 {
					continue
				}

				mods := strings.Join(missing, ", ")
				out = append(out, Diagnosis{
					Title: mods + " module not loaded",
					Why: fmt.Sprintf("%s waits for %s, which only the %s kernel module creates, and Talos loads no extension module by itself: "+
						"the machine config must list it in machine.kernel.modules, and %s's does not. ", svc.ID(), path, mods, n.Name) + bootWaitWords(n),
					Fix: "regenerate the configs with liftoff gen (it writes machine.kernel.modules for each role's extensions since this release) and apply " +
						n.Name + "'s again (talosctl apply-config -n ADDRESS -e ADDRESS --file " + n.Name + ".yaml): the module loads, " + path +
						" appears and the boot finishes, no reboot needed. A hand-written config needs machine.kernel.modules: [{name: " + missing[0] + "}]",
					Evidence: append([]string{"kernel modules the config lists (talosctl get kernelmodulespecs): " + noneIfEmpty(slices.Sorted(maps.Keys(n.KernelModules)))},
						waitEvidence(n, svc.ID())...),
					// .machine.kernel is among the changes Talos applies
					// without a reboot (talos v1.13.3 internal/app/machined/
					// pkg/runtime/v1alpha1/v1alpha1_runtime.go, CanApplyImmediate).
					Repair: reapplyRepair(n, "the regenerated config lists "+mods+" in machine.kernel.modules, a change Talos applies without a reboot: the module loads and the boot goes on"),
				})
			}
		}
	}

	return out
}

// pi5Boot: a Raspberry Pi 5 or CM5 that cannot boot what was installed.
// Its bootloader finds no device tree for itself on an rpi_generic image
// (that overlay's firmware has every bcm2712 one removed), and the rpi_5
// overlay's U-Boot has no PCIe or RP1 driver, so it cannot boot from NVMe
// or USB (siderolabs/sbc-raspberrypi v0.2.0; PR #79, issue #96). Either way
// the board never answers again; only its screen says why.
func pi5Boot(n *Node) (Diagnosis, bool) {
	if n.Model != plan.RPi5 && n.Model != plan.CM5 || n.InstallDisk == "" || n.Reachable && booted(n) {
		return Diagnosis{}, false
	}

	evidence := []string{
		"console during install: installing Talos to disk " + n.InstallDisk + prefixed(", overlay installer ", n.Overlay),
		"plan: " + n.Name + " is a " + n.Model + ", whose images need the " + orNoneStr(n.WantOverlay) + " overlay",
	}
	if !n.Reachable && n.Unreachable != "" {
		evidence = append(evidence, "not reachable since its install reboot: "+n.Unreachable)
	}

	switch {
	case n.Overlay != "" && n.Overlay != plan.OverlayRPi5:
		return Diagnosis{
			Title: n.Name + " (a Raspberry Pi 5) cannot boot an " + n.Overlay + " image",
			Why: "its image was built with the " + n.Overlay + " overlay, for models before the Pi 5: that overlay's firmware files have no bcm2712 device tree, " +
				"so the Pi 5's bootloader refuses the SD card (its screen says \"The installed operating system (OS) does not indicate support for Raspberry Pi 5\"), " +
				"tries its other boot modes and starts over. Talos never starts, so its API never answers",
			Fix: "liftoff cannot repair this over the network: a board whose firmware cannot boot its image never answers the Talos API, so no upgrade or reset reaches it. " +
				"Rewrite its SD card with its role's image with the rpi_5 overlay (liftoff flash " + n.Name + " writes the one liftoff images lists), boot it, and apply its config again",
			Evidence: evidence,
			Final:    true,
		}, true
	case !strings.HasPrefix(n.InstallDisk, "/dev/mmcblk"):
		return Diagnosis{
			Title: n.Name + " (a Raspberry Pi 5) cannot boot Talos from " + n.InstallDisk,
			Why: "Talos was installed to " + n.InstallDisk + ", but the official Pi 5 overlay's U-Boot has no PCIe or RP1 (USB) driver: the Pi 5 loads it from that disk " +
				"and it stops at its splash screen, with nothing more on the console and no network (sbc-raspberrypi PR #79 and issue #96: booting a Pi 5 from NVMe or USB is not possible yet)",
			Fix: "liftoff cannot repair this over the network: the board never answers the Talos API again, so no upgrade or reset reaches it. " +
				"Install a Pi 5 (or CM5) to its SD card or eMMC: set installDisk: /dev/mmcblk0 for " + n.Name + " in lab.yaml (liftoff plan validate refuses NVMe and USB for it), " +
				"liftoff gen, rewrite the SD card (liftoff flash " + n.Name + "), boot it from the card and apply again; the NVMe is usable as a data disk once Talos runs " +
				"(https://github.com/siderolabs/sbc-raspberrypi/pull/79)",
			Evidence: evidence,
			Final:    true,
		}, true
	}

	return Diagnosis{}, false
}

// Causes of a gateway's ext-tailscale crash loop, told by what the service
// and tailscaled last said. Matched lowercased, newest words first; an
// empty key before a missing config, whose name its message carries.
var tailscaleCauses = []struct {
	words    []string
	why, fix string
	// regen: liftoff's regenerated config fixes it (it has the key).
	regen bool
}{
	{
		[]string{"ts_authkey is empty", "no auth key"},
		"Its tailscale ExtensionServiceConfig has no auth key (TS_AUTHKEY is empty), so tailscaled cannot log in",
		"save an auth key with mode 0600, run liftoff gen --tailscale-authkey-file KEY and apply %[1]s's config again",
		true,
	},
	{
		[]string{"extensionserviceconfig", "extension service config"},
		"Its config has no ExtensionServiceConfig for tailscale, so the service waits for one (it is not restarted: it never ran)",
		"give liftoff the auth key (liftoff gen --tailscale-authkey-file KEY, or export TS_AUTHKEY) so it writes the tailscale ExtensionServiceConfig, " +
			"then apply the gateway's config again: talosctl apply-config -n ADDRESS -e ADDRESS --file %[1]s.yaml",
		true,
	},
	{
		[]string{"invalid key", "invalid auth key", "expired", "not found", "does not exist", "already used"},
		"The Tailscale control server refuses its auth key: wrong, expired, revoked, or a one-off key already used (a re-install logs in anew)",
		"create a new auth key in the Tailscale admin console (Settings → Keys; pre-approved if your tailnet requires approval), " +
			"run liftoff gen --tailscale-authkey-file KEY and apply %[1]s's config again",
		false,
	},
	{
		[]string{"overlap"},
		"The routes it advertises (the pod and service CIDRs) overlap the LAN or the gateway's own address, so they cannot be routed through it",
		"pick pod and service CIDRs clear of the LAN and of every board's address (set network.lan and liftoff plan validate checks it), " +
			"then liftoff gen and apply every board's config again",
		false,
	},
}

// tailscaleCause names why the gateway's ext-tailscale is down: its state
// message first, then its log from the newest line back.
func tailscaleCause(n *Node, svc *ServiceInfo) (why, fix string, regen bool) {
	said := []string{}
	if svc != nil {
		said = append(said, svc.Message)
	}

	lines := n.Logs["ext-tailscale"]
	for i := len(lines) - 1; i >= 0; i-- {
		said = append(said, lines[i])
	}

	for _, s := range said {
		s = strings.ToLower(s)

		for _, c := range tailscaleCauses {
			for _, w := range c.words {
				if strings.Contains(s, w) {
					return c.why, fmt.Sprintf(c.fix, n.Name), c.regen
				}
			}
		}
	}

	// Talos's own address-overlap warning: the routes hold the LAN.
	if _, ok := n.Diagnostics["address-overlap"]; ok {
		c := tailscaleCauses[len(tailscaleCauses)-1]

		return c.why + " (Talos's address-overlap diagnostic)", fmt.Sprintf(c.fix, n.Name), false
	}

	return "Likely: no ExtensionServiceConfig for tailscale, or an auth key that is wrong, expired or already used",
		"create a new auth key (reusable off; pre-approved if your tailnet requires approval), run liftoff gen --tailscale-authkey-file KEY and apply the gateway's config again",
		false
}

// duplicateHostname: two boards going by one Kubernetes Node name. Both
// kubelets register as that Node and overwrite each other's status and
// addresses; the misnamed board never gets a Node of its own.
func duplicateHostname(n *Node) (Diagnosis, bool) {
	if len(n.SameHostname) == 0 {
		return Diagnosis{}, false
	}

	others := strings.Join(n.SameHostname, ", ")
	names := n.Name + " and " + others

	why := n.Name + "'s config names it " + n.Hostname + ", the name " + others + " also goes by"
	culprit := n.Name

	if n.Hostname == n.Name {
		why = others + " also goes by " + n.Name + ", this board's name"
		culprit = others
	}

	why += ": both kubelets register as the one Kubernetes Node " + n.Hostname + " and overwrite each other's status and addresses, " +
		"so Kubernetes sees one node where there are two machines"

	file := culprit + ".yaml"
	if len(n.SameHostname) > 1 && n.Hostname == n.Name {
		file = "BOARD.yaml"
	}

	ev := []string{n.Name + " goes by Node " + n.Hostname + prefixed(" — ", n.HostnameFrom), "also going by " + n.Hostname + ": " + others}
	if n.NodeReadyAt.IsZero() && n.Hostname != n.Name {
		ev = append(ev, "no Kubernetes Node "+n.Name+" has been seen")
	}

	// Only the misnamed board's own diagnosis carries the repair: it
	// touches that board alone.
	var repair *Repair
	if culprit == n.Name {
		repair = reapplyRepair(n, "it names the board "+n.Name+" again, a change Talos applies without a reboot: the kubelet restarts and registers as "+n.Name)
	}

	return Diagnosis{
		Title: names + " share the Node name " + n.Hostname,
		Why:   why,
		Fix: "give each board its own hostname: the board's name in lab.yaml is the hostname liftoff gen writes, so regenerate (liftoff gen) and apply " +
			culprit + "'s config again (talosctl apply-config -n ADDRESS -e ADDRESS --file " + file + "); then delete the stale Node " +
			"(kubectl delete node " + n.Hostname + ") so the right kubelet registers it afresh",
		Evidence: ev,
		Repair:   repair,
	}, true
}

// factoryInstaller picks the schematic ID out of an Image Factory
// installer reference.
var factoryInstaller = regexp.MustCompile(`^([^/]+)/(?:[a-z0-9-]+-)?installer(?:-secureboot)?/([0-9a-f]{64}):`)

// installerPullDiagnosis explains an install whose installer could not be
// pulled. Talos v1.13.3 (internal/pkg/containers/image/image.go, Pull)
// says "retrying error: failed to pull image …" on the console, gives up
// on a not-found answer after five retries, fails the install sequence and
// reboots; a board booted from an ISO or a disk image it did not install
// comes back in maintenance mode, its config gone.
func installerPullDiagnosis(n *Node) (Diagnosis, bool) {
	if n.Stage == StageRunning {
		return Diagnosis{}, false
	}

	var failed, gaveUp []string

	for _, l := range n.Logs["dmesg"] {
		switch {
		case strings.Contains(l, "failed to pull image"):
			failed = append(failed, "dmesg: "+clock(l))
		case strings.Contains(l, "install sequence: failed"):
			gaveUp = append(gaveUp, "dmesg: "+clock(l))
		}
	}

	if len(failed) == 0 {
		return Diagnosis{}, false
	}

	// The pull's own words once (later lines repeat them), then whether
	// the install gave up.
	last := failed[len(failed)-1]
	evidence := append([]string{"installer applied: " + n.Installer, failed[0]}, gaveUp[max(0, len(gaveUp)-1):]...)

	for _, l := range n.Logs["liftoff"] {
		if strings.Contains(l, "schematic ") {
			evidence = append(evidence, "liftoff: "+clock(l))
		}
	}

	back := "; it is still retrying"
	if n.Stage == StageMaintenance || len(gaveUp) > 0 {
		back = ": the install failed, and the board rebooted into maintenance mode, its config gone"
	}

	m := factoryInstaller.FindStringSubmatch(n.Installer)

	// Back in maintenance mode, the board takes a config again: liftoff
	// gen's names the plan's installer, whose schematic liftoff registers
	// (liftoff up, liftoff images --register) before it applies.
	var again *Repair
	if n.Stage == StageMaintenance {
		again = installRepair(n)
		again.Does = "sends " + n.Name + " the config liftoff gen makes for it, which names the plan's installer (registered by liftoff up or liftoff images --register) " +
			"instead of " + n.Installer + "; it installs and reboots into it"
	}

	switch {
	case strings.Contains(last, "not found") && m != nil:
		return Diagnosis{
			Repair: again,
			Title:  n.Name + "'s installer is unknown to the Image Factory: schematic not registered",
			Why: fmt.Sprintf("the image factory %s does not know schematic %s: it serves an installer only for a schematic posted to it (POST /schematics), "+
				"so the pull is a 404 (\"not found\"). Talos gives up on not found after five retries%s", m[1], shortSchematic(m[2]), back),
			Fix: "register the plan's schematics — liftoff images --register, or rerun liftoff up, which registers them before it applies — and apply " + n.Name +
				"'s config again (the wizard's apply, or talosctl apply-config --insecure -n ADDRESS -e ADDRESS --file " + n.Name + ".yaml). " +
				"An installer edited by hand must be one liftoff images lists: put extra extensions in the plan's images.extensions instead",
			Evidence: evidence,
		}, true
	case strings.Contains(last, "not found"):
		return Diagnosis{
			Title:    n.Name + "'s installer image does not exist",
			Why:      "its registry answers not found for " + n.Installer + back,
			Fix:      "push the image (a self-built one: check images.custom's template) or point the config at one liftoff images lists, then apply " + n.Name + "'s config again",
			Evidence: evidence,
		}, true
	}

	return Diagnosis{
		Title:    n.Name + " cannot pull its installer",
		Why:      "pulling " + n.Installer + " fails" + back,
		Fix:      "check that the board reaches the registry (DNS, a default route, a proxy) and that the image exists, then apply " + n.Name + "'s config again",
		Evidence: evidence,
	}, true
}

func shortSchematic(id string) string {
	if len(id) > 12 {
		return id[:12]
	}

	return id
}

// BootLooping tells a board that booted again and again since its config
// was applied without ever getting ready.
func (n *Node) BootLooping() bool {
	// A machine whose boot sequence ran got past the kernel: its reboots
	// are the boot sequence's (BootTimeout), not a loop.
	return n.Boots >= bootLoop && n.MachineReadyAt.IsZero() && !(n.Stage == StageRunning && n.MachineReady) &&
		n.BootWait == "" && n.BootFailures == 0
}

func bootLoopDiagnosis(n *Node) (Diagnosis, bool) {
	if !n.BootLooping() {
		return Diagnosis{}, false
	}

	why := fmt.Sprintf("%s booted %d times since the config was applied without staying up", n.Name, n.Boots)
	dmesg := lastLines(n, "dmesg", 5)

	for _, l := range dmesg {
		if strings.Contains(l, "exec format error") || strings.Contains(strings.ToLower(l), "architecture") {
			why += ": the installed image is for another CPU architecture"
		}
	}

	return Diagnosis{
		Title: "boot loop",
		Why:   why,
		Fix: "liftoff cannot repair this over the network: a board that never stays up has no Talos API to upgrade or reset through. " +
			"Rewrite its boot media with its role's image for its CPU and model (liftoff flash " + n.Name + " writes the one liftoff images lists: " +
			"a Raspberry Pi 4 or CM4 needs arm64 with the rpi_generic overlay, a Pi 5 or CM5 arm64 with the rpi_5 overlay), boot it and apply its config again",
		Evidence: append([]string{"installer applied: " + n.Installer}, dmesg...),
	}, true
}

func stuckStage(n *Node, now time.Time) (Diagnosis, bool) {
	budget, stuck := n.Stuck(now) // the one stage-budget table: budget.go
	if !stuck {
		return Diagnosis{}, false
	}

	if n.Stage == StageBooting && n.BootWait != "" {
		ev := []string{"console: [talos] task startAllServices (1/1): " + n.BootWait}
		for _, id := range n.BootWaitFor {
			if s := n.Services[id]; s != nil {
				ev = append(ev, id+": "+s.State+prefixed(" — ", s.Message))
			}
		}

		return Diagnosis{
			Title:    fmt.Sprintf("booting for %s: the boot sequence waits for %s", now.Sub(n.StageSince).Round(time.Second), strings.Join(n.BootWaitFor, ", ")),
			Why:      "Talos's boot sequence waits for every service to be up; these are not. The machine stays in booting until they are, and reboots after 70 minutes (BootTimeout)",
			Fix:      "look at what each one waits for (talosctl services -n " + n.Name + ") and at its log (talosctl logs SERVICE -n " + n.Name + ")",
			Evidence: ev,
		}, true
	}

	d := Diagnosis{
		Title:    fmt.Sprintf("%s for %s", n.Stage, now.Sub(n.StageSince).Round(time.Second)),
		Why:      fmt.Sprintf("%s usually takes well under %s", n.Stage, budget),
		Fix:      "watch its console or dmesg; a slow or failing SD card is the usual cause on a Raspberry Pi",
		Evidence: lastLines(n, "dmesg", 5),
	}

	return d, true
}

func etcdWaiting(n *Node) (Diagnosis, bool) {
	if n.Machine != "controlplane" || !booted(n) || n.Bootstrapped {
		return Diagnosis{}, false
	}

	etcd, ok := n.Services["etcd"]
	if ok && etcd.Up {
		return Diagnosis{}, false
	}

	if len(unmetAbout(n, "etcd")) == 0 && ok {
		return Diagnosis{}, false
	}

	return Diagnosis{
		Title:    "etcd is waiting to be bootstrapped",
		Why:      "a new cluster's first control plane waits for one Bootstrap call before etcd starts; the Kubernetes API and any VIP come up only after that",
		Fix:      "run the bootstrap step (liftoff sends it to this control plane's own address — never to the VIP, which does not exist before etcd runs)",
		Evidence: append(unmetAbout(n, "etcd"), lastLines(n, "etcd", 3)...),
		Repair:   bootstrapRepair(n),
	}, true
}

func unmetAbout(n *Node, word string) []string {
	var out []string

	for _, u := range n.Unmet {
		if strings.Contains(u, word) {
			out = append(out, "unmet: "+u)
		}
	}

	return out
}

func lastLines(n *Node, source string, k int) []string {
	lines := n.Logs[source]
	if len(lines) > k {
		lines = lines[len(lines)-k:]
	}

	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, source+": "+clock(l))
	}

	return out
}

// clock shortens a log line's RFC 3339 timestamp to the time of day: the
// date and nanoseconds only push the message off a panel.
func clock(line string) string {
	stamp, rest, ok := strings.Cut(line, " ")
	if !ok {
		return line
	}

	t, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return line
	}

	return t.Format("15:04:05") + " " + rest
}

// plainHint says why an installer brings no extensions, when it is one
// that never does.
func plainHint(installer string) string {
	if strings.HasPrefix(installer, "ghcr.io/siderolabs/installer:") {
		return "; " + installer + " is Talos's plain installer: it carries no extensions — every upgrade must name the Image Factory installer too"
	}

	return ""
}

func orNoneStr(s string) string {
	if s == "" {
		return "none (not an Image Factory image)"
	}

	return s
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}

	return p + s
}

func noneIfEmpty(list []string) string {
	if len(list) == 0 {
		return "none"
	}

	return strings.Join(list, " ")
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "no extensions"
	}

	return strings.Join(list, " ")
}

func nonEmpty(lines ...string) []string {
	return slices.DeleteFunc(lines, func(l string) bool { return strings.HasSuffix(l, ": ") })
}
