package probe

import (
	"strings"
	"testing"
	"time"
)

func fold(events ...Event) *Lab {
	l := NewLab()
	for _, e := range events {
		l.Apply(e)
	}

	return l
}

func running(node, role, expect string, exts ...string) []Event {
	evs := []Event{
		{Time: at(0), Node: node, Kind: Planned, Name: role, State: "worker", Detail: expect},
		{Time: at(1), Node: node, Kind: Applied, Detail: "factory.talos.dev/metal-installer/abc:v1.13.3"},
		{Time: at(30), Node: node, Kind: Stage, State: "running"},
		{Time: at(31), Node: node, Kind: Reachable, Ready: true},
	}

	for _, x := range exts {
		evs = append(evs, Event{Time: at(32), Node: node, Kind: Extension, Name: x, State: "present"})
	}

	return evs
}

func titles(ds []Diagnosis) string {
	var t []string
	for _, d := range ds {
		t = append(t, d.Title)
	}

	return strings.Join(t, " | ")
}

// booting is a node whose boot sequence waits for services, as a real
// board's console says it: the task's line every 15 s.
func booting(node, role, expect, waits string, exts ...string) []Event {
	evs := running(node, role, expect, exts...)
	evs[2].State = "booting"

	return append(evs, Event{Time: at(33), Node: node, Kind: Log, Name: "dmesg", Detail: "[  120.000] [talos] task startAllServices (1/1): " + waits})
}

// tailscale-everywhere as a real compute board shows it: stage booting,
// ext-tailscale Waiting for its config (never restarted), the console's
// boot-sequence line, Talos's readiness checks all met, the Node Ready.
func TestDiagnoseTailscaleOnComputeNode(t *testing.T) {
	evs := booting("pi-1", "compute", "drbd spin zfs", `service "ext-tailscale" to be "up"`, "drbd", "spin", "tailscale", "zfs")
	evs = append(evs,
		Event{Time: at(34), Node: "pi-1", Kind: Service, Name: "ext-tailscale", State: "Waiting", Detail: "Waiting for extension service config"},
		Event{Time: at(35), Node: "pi-1", Kind: MachineReady},
		Event{Time: at(36), Node: "pi-1", Kind: NodeReady, Ready: true},
	)

	n := fold(evs...).Node("pi-1")

	ds := Diagnose(n, at(60))
	if len(ds) != 1 {
		t.Fatalf("want exactly one diagnosis, got: %s", titles(ds))
	}

	d := ds[0]
	if d.Title != "ext-tailscale waits for its config on a compute node" {
		t.Errorf("title %q", d.Title)
	}

	for _, want := range []string{"gateway image but no tailscale config", "stays Waiting", "stays in stage booting", "Node can be Ready", "BootTimeout", "reboots"} {
		if !strings.Contains(d.Why, want) {
			t.Errorf("why lacks %q: %s", want, d.Why)
		}
	}

	if strings.Contains(d.Why, "restart") {
		t.Errorf("a waiting service is not restarted: %s", d.Why)
	}

	if !strings.Contains(d.Fix, "give pi-1 the compute image") || !strings.Contains(d.Fix, "or make it the gateway") {
		t.Errorf("fix: %s", d.Fix)
	}

	ev := strings.Join(d.Evidence, "\n")
	for _, want := range []string{"ext-tailscale: Waiting — Waiting for extension service config",
		`console: [talos] task startAllServices (1/1): service "ext-tailscale" to be "up"`, "stage booting since", "Kubernetes Node: Ready"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}

	if id, what := n.Blocked(); id != "ext-tailscale" || what != "extension service config" {
		t.Errorf("blocked: %s %s", id, what)
	}
}

// no-authkey: the gateway's ext-tailscale waits for its config.
func TestDiagnoseGatewayWaitsForItsConfig(t *testing.T) {
	evs := booting("gw", "gateway", "drbd spin tailscale zfs", `service "ext-tailscale" to be "up"`, "drbd", "spin", "tailscale", "zfs")
	evs = append(evs, Event{Time: at(34), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Waiting", Detail: "Waiting for extension service config"})

	ds := Diagnose(fold(evs...).Node("gw"), at(60))
	if len(ds) != 1 || ds[0].Title != "the gateway's ext-tailscale waits for its config" ||
		!strings.Contains(ds[0].Why, "no ExtensionServiceConfig for tailscale") || !strings.Contains(ds[0].Why, "stays in stage booting") ||
		!strings.Contains(ds[0].Fix, "--tailscale-authkey-file KEY") || !strings.Contains(ds[0].Fix, "--file gw.yaml") {
		t.Errorf("%s\n%+v", titles(ds), ds)
	}
}

// zfs-module-missing: ext-zfs-service waits for /dev/zfs, the config's
// KernelModuleSpecs lack zfs.
func TestDiagnoseZFSModuleNotLoaded(t *testing.T) {
	evs := booting("pi-2", "compute", "drbd spin zfs", `service "ext-zfs-service" to be "up"`, "drbd", "spin", "zfs")
	evs = append(evs,
		Event{Time: at(34), Node: "pi-2", Kind: Service, Name: "ext-zfs-service", State: "Waiting", Detail: `Waiting for file "/dev/zfs" to exist`},
		Event{Time: at(34), Node: "pi-2", Kind: KernelModule, Name: "drbd", Ready: true, Detail: "usermode_helper=disabled"},
		Event{Time: at(34), Node: "pi-2", Kind: KernelModule, Name: "drbd_transport_tcp", Ready: true},
		Event{Time: at(40), Node: "pi-2", Kind: Log, Name: "dmesg", Detail: "[ 4320.000] [talos] boot sequence: failed"},
	)

	ds := Diagnose(fold(evs...).Node("pi-2"), at(60))
	if len(ds) != 1 {
		t.Fatalf("want one diagnosis: %s", titles(ds))
	}

	d := ds[0]
	if d.Title != "zfs module not loaded" || !strings.Contains(d.Why, "ext-zfs-service waits for /dev/zfs") ||
		!strings.Contains(d.Why, "machine.kernel.modules") || !strings.Contains(d.Why, "stays in stage booting") {
		t.Errorf("%+v", d)
	}

	if !strings.Contains(d.Fix, "liftoff gen") || !strings.Contains(d.Fix, "--file pi-2.yaml") || !strings.Contains(d.Fix, "{name: zfs}") {
		t.Errorf("fix: %s", d.Fix)
	}

	ev := strings.Join(d.Evidence, "\n")
	for _, want := range []string{"talosctl get kernelmodulespecs): drbd drbd_transport_tcp",
		`ext-zfs-service: Waiting — Waiting for file "/dev/zfs" to exist`, `service "ext-zfs-service" to be "up"`, "boot sequence failed 1 time(s)"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}

	// The regenerated config lists it; Talos applies that live.
	if r := d.Repair; r == nil || r.Kind != RepairReapply || r.Reboots || r.Node != "pi-2" || !strings.Contains(r.Does, "machine.kernel.modules") {
		t.Errorf("repair: %+v", d.Repair)
	}

	// Listed, the module is no longer the cause.
	l := fold(append(evs, Event{Time: at(50), Node: "pi-2", Kind: KernelModule, Name: "zfs", Ready: true})...)
	for _, d := range Diagnose(l.Node("pi-2"), at(60)) {
		if strings.Contains(d.Title, "module") {
			t.Errorf("zfs listed, still: %s", d.Title)
		}
	}
}

// A Pi 5 that never comes back after its install: the console said which
// overlay the installer ran and which disk it went to.
func TestDiagnosePi5CannotBoot(t *testing.T) {
	for _, tc := range []struct {
		name, overlay, disk, title, fix string
	}{
		{"rpi_generic", "rpi_generic", "/dev/mmcblk0", "pi-cp-1 (a Raspberry Pi 5) cannot boot an rpi_generic image", "rpi_5 overlay"},
		{"nvme", "rpi_5", "/dev/nvme0n1", "pi-cp-1 (a Raspberry Pi 5) cannot boot Talos from /dev/nvme0n1", "installDisk: /dev/mmcblk0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fold(
				Event{Time: at(0), Node: "pi-cp-1", Kind: Planned, Name: "compute", State: "controlplane", Detail: "drbd spin zfs"},
				Event{Time: at(0), Node: "pi-cp-1", Kind: Hardware, Name: "rpi5", State: "rpi_5"},
				Event{Time: at(1), Node: "pi-cp-1", Kind: Applied, Detail: "factory.talos.dev/metal-installer/abc:v1.13.3"},
				Event{Time: at(2), Node: "pi-cp-1", Kind: Stage, State: "installing"},
				Event{Time: at(2), Node: "pi-cp-1", Kind: Log, Name: "dmesg", Detail: "[   10.000] [talos] task install (1/1): installing Talos to disk " + tc.disk},
				Event{Time: at(2), Node: "pi-cp-1", Kind: Log, Name: "dmesg", Detail: `[   10.100] running overlay installer "` + tc.overlay + `"`},
				Event{Time: at(3), Node: "pi-cp-1", Kind: Stage, State: "rebooting"},
				Event{Time: at(4), Node: "pi-cp-1", Kind: Reachable, Detail: "not reachable yet: nothing answers on the Talos port (booting or rebooting)"},
			)

			ds := Diagnose(l.Node("pi-cp-1"), at(60))
			if len(ds) != 1 || ds[0].Title != tc.title || !ds[0].Final || !strings.Contains(ds[0].Fix, tc.fix) {
				t.Errorf("%s\n%+v", titles(ds), ds)
			}

			// No API answers: no repair, and the fix says the card must be
			// rewritten.
			if len(ds) == 1 && (ds[0].Repair != nil || !strings.Contains(ds[0].Fix, "cannot repair this over the network") || !strings.Contains(ds[0].Fix, "liftoff flash pi-cp-1")) {
				t.Errorf("repair %+v, fix %s", ds[0].Repair, ds[0].Fix)
			}
		})
	}

	// A Pi 4 with the same image is fine.
	l := fold(
		Event{Time: at(0), Node: "pi-w-1", Kind: Hardware, Name: "rpi4", State: "rpi_generic"},
		Event{Time: at(2), Node: "pi-w-1", Kind: Log, Name: "dmesg", Detail: "[talos] task install (1/1): installing Talos to disk /dev/mmcblk0"},
		Event{Time: at(2), Node: "pi-w-1", Kind: Log, Name: "dmesg", Detail: `running overlay installer "rpi_generic"`},
	)
	if ds := Diagnose(l.Node("pi-w-1"), at(3)); len(ds) != 0 {
		t.Errorf("a Pi 4: %s", titles(ds))
	}
}

func TestDiagnoseGatewayWithoutWorkingTailscale(t *testing.T) {
	evs := running("gw", "gateway", "drbd spin tailscale zfs", "drbd", "spin", "tailscale", "zfs")
	evs = append(evs, Event{Time: at(33), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Waiting", Count: 2,
		Detail: `Error running Containerd(ext-tailscale), going to restart forever: task "ext-tailscale" failed: exit code 1 (last log "containerboot: tailscale up failed: invalid auth key")`})

	ds := Diagnose(fold(evs...).Node("gw"), at(60))
	if len(ds) != 1 || !strings.Contains(ds[0].Why, "auth key") || !strings.Contains(ds[0].Fix, "liftoff gen --tailscale-authkey-file") {
		t.Errorf("%s\n%+v", titles(ds), ds)
	}
}

func TestDiagnoseHealthyNodesHaveNothing(t *testing.T) {
	evs := running("gw", "gateway", "drbd spin tailscale zfs", "drbd", "spin", "tailscale", "zfs")
	evs = append(evs,
		Event{Time: at(33), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Running", Ready: true},
		Event{Time: at(34), Node: "gw", Kind: MachineReady, Ready: true},
		Event{Time: at(40), Node: "gw", Kind: NodeReady, Ready: true},
	)

	if ds := Diagnose(fold(evs...).Node("gw"), at(60)); len(ds) != 0 {
		t.Errorf("healthy gateway: %s", titles(ds))
	}
}

func TestDiagnoseMissingExtensions(t *testing.T) {
	evs := running("pi-2", "compute", "drbd spin zfs")
	ds := Diagnose(fold(evs...).Node("pi-2"), at(60))

	if len(ds) != 1 || ds[0].Title != "extensions missing: drbd spin zfs" || !strings.Contains(ds[0].Why, "plain ghcr.io/siderolabs/installer") {
		t.Errorf("%s", titles(ds))
	}
}

func TestDiagnoseBootLoop(t *testing.T) {
	evs := []Event{{Time: at(0), Node: "x", Kind: Applied, Detail: "factory.talos.dev/metal-installer/amd:v1.13.3"}}
	for i := range 4 {
		evs = append(evs,
			Event{Time: at(10 + 2*i), Node: "x", Kind: Stage, State: "booting"},
			Event{Time: at(11 + 2*i), Node: "x", Kind: Stage, State: "rebooting"})
	}

	evs = append(evs, Event{Time: at(30), Node: "x", Kind: Log, Name: "dmesg", Detail: "Kernel panic - not syncing: /init: exec format error"})

	ds := Diagnose(fold(evs...).Node("x"), at(31))
	if len(ds) == 0 || ds[0].Title != "boot loop" || !strings.Contains(ds[0].Why, "another CPU architecture") {
		t.Fatalf("%s %+v", titles(ds), ds)
	}

	// A board that never stays up has no API to repair it through.
	if ds[0].Repair != nil || !strings.Contains(ds[0].Fix, "cannot repair this over the network") || !strings.Contains(ds[0].Fix, "liftoff flash x") {
		t.Errorf("repair %+v, fix %s", ds[0].Repair, ds[0].Fix)
	}
}

func TestDiagnoseStuckInstallAndEtcd(t *testing.T) {
	l := fold(Event{Time: at(0), Node: "sd", Kind: Stage, State: "installing"})
	if ds := Diagnose(l.Node("sd"), at(0).Add(11*time.Minute)); len(ds) != 1 || !strings.Contains(ds[0].Fix, "SD card") {
		t.Errorf("slow install: %s", titles(ds))
	}

	if ds := Diagnose(l.Node("sd"), at(0).Add(time.Minute)); len(ds) != 0 {
		t.Errorf("a one-minute install is not stuck: %s", titles(ds))
	}

	cp := fold(
		Event{Time: at(0), Node: "cp", Kind: Planned, Name: "compute", State: "controlplane"},
		Event{Time: at(1), Node: "cp", Kind: Stage, State: "running"},
		Event{Time: at(2), Node: "cp", Kind: MachineReady, Detail: "services: services not healthy: etcd"},
	)

	ds := Diagnose(cp.Node("cp"), at(3))
	if len(ds) != 1 || !strings.Contains(ds[0].Fix, "never to the VIP") {
		t.Errorf("etcd: %s", titles(ds))
	}

	cp.Apply(Event{Time: at(4), Node: "cp", Kind: Bootstrapped})

	for _, d := range Diagnose(cp.Node("cp"), at(5)) {
		if strings.Contains(d.Title, "etcd") {
			t.Error("still waiting for bootstrap after it was sent")
		}
	}
}

func TestDiagnoseUnreachableAndNotReady(t *testing.T) {
	l := fold(Event{Time: at(0), Node: "n", Kind: Reachable, Detail: "not reachable yet: no answer"})
	if ds := Diagnose(l.Node("n"), at(1)); len(ds) != 1 || !strings.Contains(ds[0].Why, "no answer") {
		t.Errorf("unreachable: %s", titles(ds))
	}

	l = fold(
		Event{Time: at(0), Node: "k", Kind: MachineReady, Ready: true},
		Event{Time: at(1), Node: "k", Kind: NodeReady, Detail: "NodeStatusUnknown: Kubelet stopped posting node status."},
	)
	if ds := Diagnose(l.Node("k"), at(2)); len(ds) != 1 || !strings.Contains(ds[0].Why, "stopped posting") {
		t.Errorf("not ready: %s", titles(ds))
	}
}

func TestDiagnoseConfigLostToPowerLoss(t *testing.T) {
	l := fold(
		Event{Time: at(0), Node: "p", Kind: Applied},
		Event{Time: at(1), Node: "p", Kind: Stage, State: "installing"},
		Event{Time: at(5), Node: "p", Kind: Stage, State: "rebooting"},
		Event{Time: at(9), Node: "p", Kind: Stage, State: "maintenance"},
	)

	ds := Diagnose(l.Node("p"), at(10))
	if len(ds) != 1 || !strings.Contains(ds[0].Why, "power loss") || !strings.Contains(ds[0].Fix, "apply its config again") {
		t.Errorf("%s", titles(ds))
	}
}

func TestClockShortensTalosTimestamps(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-23T00:07:29.2904522Z service restarting (attempt 82)": "00:07:29 service restarting (attempt 82)",
		"tailscaled: starting":   "tailscaled: starting",
		"2026-11-23 not a stamp": "2026-11-23 not a stamp",
	} {
		if got := clock(in); got != want {
			t.Errorf("clock(%q) = %q, want %q", in, got, want)
		}
	}
}

// The gateway's ext-tailscale restarting (its restart policy, always, at
// work after each failed run), one case per cause: what the service and
// tailscaled last said names it.
func TestDiagnoseGatewayTailscaleCauses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		message string
		logs    []string
		extra   []Event
		why     []string
		fix     []string
	}{
		{
			name:    "empty auth key",
			message: `Error running Containerd(ext-tailscale), going to restart forever: task "ext-tailscale" failed: exit code 1 (last log "no auth key: TS_AUTHKEY is empty")`,
			why:     []string{"TS_AUTHKEY is empty"},
			fix:     []string{"mode 0600"},
		},
		{
			name:    "invalid key",
			message: `Error running Containerd(ext-tailscale), going to restart forever: task "ext-tailscale" failed: exit code 1 (last log "containerboot: tailscale up failed: backend error: invalid key: API key does not exist")`,
			logs:    []string{"2026-11-22T12:00:41Z containerboot: tailscale up failed: backend error: invalid key: API key does not exist"},
			why:     []string{"refuses its auth key", "one-off key already used"},
			fix:     []string{"create a new auth key", "apply gw's config again"},
		},
		{
			name: "expired key, said only in the log",
			logs: []string{"2026-11-22T12:00:40Z tailscaled: starting", "2026-11-22T12:00:41Z backend error: authkey expired"},
			why:  []string{"expired"},
			fix:  []string{"create a new auth key"},
		},
		{
			name: "the newest line wins",
			logs: []string{"2026-11-22T12:00:40Z waiting for ExtensionServiceConfig tailscale", "2026-11-22T12:00:50Z tailscale up failed: node key not found"},
			why:  []string{"refuses its auth key"},
		},
		{
			name: "routes overlapping the LAN, in Talos's words",
			logs: []string{"2026-11-22T12:00:41Z tailscaled: starting"},
			extra: []Event{{Time: at(36), Node: "gw", Kind: TalosDiagnostic, Name: "address-overlap", Ready: true,
				Detail: "host and Kubernetes pod/service CIDR addresses overlap; host address: 192.168.1.12/24"}},
			why: []string{"overlap the LAN or the gateway's own address", "address-overlap"},
			fix: []string{"pick pod and service CIDRs clear of the LAN", "liftoff plan validate"},
		},
		{
			name: "routes overlapping, in tailscaled's words",
			logs: []string{"2026-11-22T12:00:41Z advertised route 192.168.1.0/24 overlaps the local network"},
			why:  []string{"overlap the LAN"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := running("gw", "gateway", "drbd spin tailscale zfs", "drbd", "spin", "tailscale", "zfs")
			evs = append(evs, Event{Time: at(33), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Waiting", Count: 4, Detail: tc.message})

			for i, l := range tc.logs {
				evs = append(evs, Event{Time: at(34 + i), Node: "gw", Kind: Log, Name: "ext-tailscale", Detail: l})
			}

			ds := Diagnose(fold(append(evs, tc.extra...)...).Node("gw"), at(60))

			var d *Diagnosis

			for i := range ds {
				if ds[i].Title == "the gateway's ext-tailscale is not running" {
					d = &ds[i]
				}
			}

			if d == nil {
				t.Fatalf("no gateway diagnosis: %s", titles(ds))
			}

			for _, w := range tc.why {
				if !strings.Contains(d.Why, w) {
					t.Errorf("why lacks %q: %s", w, d.Why)
				}
			}

			for _, w := range tc.fix {
				if !strings.Contains(d.Fix, w) {
					t.Errorf("fix lacks %q: %s", w, d.Fix)
				}
			}

			if !strings.Contains(d.Evidence[0], "4 restarts") {
				t.Errorf("evidence lacks the restart count: %q", d.Evidence)
			}

			if len(tc.logs) > 0 && !strings.HasSuffix(d.Evidence[len(d.Evidence)-1], tc.logs[len(tc.logs)-1][len("2026-11-22T12:00:41Z "):]) {
				t.Errorf("evidence lacks the last log line: %q", d.Evidence)
			}
		})
	}
}

// The duplicate-hostname scenario as the probe saw it: pi-w-2's config
// names it pi-w-1, and Talos on pi-w-2 waits for Node "pi-w-1".
func TestDiagnoseDuplicateHostname(t *testing.T) {
	var evs []Event
	for _, name := range []string{"pi-w-1", "pi-w-2", "pi-w-3"} {
		evs = append(evs, running(name, "compute", "drbd spin zfs", "drbd", "spin", "zfs")...)
	}

	evs = append(evs,
		Event{Time: at(40), Node: "pi-w-1", Kind: MachineReady, Detail: `nodeReady: node "pi-w-1" status is not available yet`},
		Event{Time: at(40), Node: "pi-w-2", Kind: MachineReady, Detail: `nodeReady: node "pi-w-1" status is not available yet`},
		Event{Time: at(40), Node: "pi-w-3", Kind: MachineReady, Detail: `nodeReady: node "pi-w-3" status is not available yet`},
		Event{Time: at(50), Node: "pi-w-1", Kind: MachineReady, Ready: true},
		Event{Time: at(50), Node: "pi-w-2", Kind: MachineReady, Ready: true},
		Event{Time: at(50), Node: "pi-w-3", Kind: MachineReady, Ready: true},
		Event{Time: at(55), Node: "pi-w-1", Kind: NodeReady, Ready: true, Detail: "KubeletReady"},
		Event{Time: at(55), Node: "pi-w-3", Kind: NodeReady, Ready: true, Detail: "KubeletReady"},
	)

	l := fold(evs...)

	if ds := Diagnose(l.Node("pi-w-3"), at(60)); len(ds) != 0 {
		t.Errorf("pi-w-3 has its own name: %s", titles(ds))
	}

	ds := Diagnose(l.Node("pi-w-2"), at(60))
	if len(ds) != 1 || ds[0].Title != "pi-w-2 and pi-w-1 share the Node name pi-w-1" {
		t.Fatalf("pi-w-2: %s", titles(ds))
	}

	d := ds[0]
	for _, w := range []string{"pi-w-2's config names it pi-w-1", "one Kubernetes Node pi-w-1", "two machines"} {
		if !strings.Contains(d.Why, w) {
			t.Errorf("why lacks %q: %s", w, d.Why)
		}
	}

	for _, w := range []string{"its own hostname", "lab.yaml", "liftoff gen", "--file pi-w-2.yaml", "kubectl delete node pi-w-1"} {
		if !strings.Contains(d.Fix, w) {
			t.Errorf("fix lacks %q: %s", w, d.Fix)
		}
	}

	ev := strings.Join(d.Evidence, "\n")
	for _, w := range []string{`pi-w-2 goes by Node pi-w-1 — Talos: nodeReady: node "pi-w-1"`, "also going by pi-w-1: pi-w-1", "no Kubernetes Node pi-w-2"} {
		if !strings.Contains(ev, w) {
			t.Errorf("evidence lacks %q:\n%s", w, ev)
		}
	}

	ds = Diagnose(l.Node("pi-w-1"), at(60))
	if len(ds) != 1 || !strings.Contains(ds[0].Why, "pi-w-2 also goes by pi-w-1, this board's name") || !strings.Contains(ds[0].Fix, "apply pi-w-2's config") {
		t.Errorf("pi-w-1: %s\n%+v", titles(ds), ds)
	}

	// A new config with its own name ends it once Talos says so.
	l.Apply(Event{Time: at(70), Node: "pi-w-2", Kind: Applied, Detail: "x"})
	l.Apply(Event{Time: at(90), Node: "pi-w-2", Kind: Hostname, Name: "pi-w-2", Detail: "Talos Nodename resource"})

	if ds := Diagnose(l.Node("pi-w-1"), at(95)); len(ds) != 0 {
		t.Errorf("after the fix pi-w-1 still: %s", titles(ds))
	}
}

// An installer whose schematic the factory does not know: Talos's pull
// says not found, the install fails and the board is back in maintenance.
func TestDiagnoseSchematicNotRegistered(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	ref := "factory.talos.dev/metal-installer/" + id + ":v1.13.3"
	pull := `[talos] retrying error: failed to pull image "` + ref + `": failed to resolve reference "` + ref + `": ` + ref + `: not found`

	evs := []Event{
		{Time: at(0), Node: "edge", Kind: Planned, Name: "gateway", State: "worker", Detail: "drbd spin tailscale zfs"},
		{Time: at(1), Node: "edge", Kind: Log, Name: "liftoff", Detail: "schematic 4e5f… (gateway-amd64) at factory.talos.dev: registered"},
		{Time: at(2), Node: "edge", Kind: Applied, Detail: ref},
		{Time: at(3), Node: "edge", Kind: Stage, State: "installing"},
		{Time: at(4), Node: "edge", Kind: Log, Name: "dmesg", Detail: pull},
	}

	// While it retries: already explained, and said to be retrying.
	ds := Diagnose(fold(evs...).Node("edge"), at(5))
	if len(ds) != 1 || !strings.Contains(ds[0].Title, "schematic not registered") || !strings.Contains(ds[0].Why, "still retrying") {
		t.Fatalf("while pulling: %s %+v", titles(ds), ds)
	}

	// Still installing, it takes no config: nothing to repair yet.
	if ds[0].Repair != nil {
		t.Errorf("a repair while it retries: %+v", ds[0].Repair)
	}

	evs = append(evs,
		Event{Time: at(60), Node: "edge", Kind: Log, Name: "dmesg", Detail: "[talos] install sequence: failed"},
		Event{Time: at(70), Node: "edge", Kind: Stage, State: "rebooting"},
		Event{Time: at(110), Node: "edge", Kind: Stage, State: "maintenance"},
	)

	ds = Diagnose(fold(evs...).Node("edge"), at(120))
	if len(ds) != 1 {
		t.Fatalf("want one diagnosis (not also the power-loss one): %s", titles(ds))
	}

	d := ds[0]
	for _, want := range []string{"factory.talos.dev does not know schematic 0123456789ab", "POST /schematics", "five retries", "rebooted into maintenance mode"} {
		if !strings.Contains(d.Why, want) {
			t.Errorf("why lacks %q: %s", want, d.Why)
		}
	}

	for _, want := range []string{"liftoff images --register", "rerun liftoff up", "images.extensions"} {
		if !strings.Contains(d.Fix, want) {
			t.Errorf("fix lacks %q: %s", want, d.Fix)
		}
	}

	// Back in maintenance mode, liftoff gen's config (the plan's
	// installer) is applied again.
	if r := d.Repair; r == nil || r.Kind != RepairReapply || !r.Reboots || !strings.Contains(r.Command, "--insecure") || !strings.Contains(r.Does, "the plan's installer") {
		t.Errorf("repair: %+v", d.Repair)
	}

	if ev := strings.Join(d.Evidence, "\n"); !strings.Contains(ev, "installer applied: "+ref) || !strings.Contains(ev, ": not found") || !strings.Contains(ev, "gateway-amd64") {
		t.Errorf("evidence: %v", d.Evidence)
	}

	// A self-built image that does not exist is not a registration matter.
	evs[2].Detail = "ghcr.io/me/talos:v1.13.3-gateway"
	evs[4].Detail = `[talos] retrying error: failed to pull image "ghcr.io/me/talos:v1.13.3-gateway": failed to resolve reference: not found`

	if ds := Diagnose(fold(evs...).Node("edge"), at(120)); len(ds) != 1 || !strings.Contains(ds[0].Title, "installer image does not exist") {
		t.Errorf("self-built: %s", titles(ds))
	}
}

// Issue 21 item 6: Talos's address-overlap is why kubelet and etcd never
// start (no node IP outside the cluster's CIDRs, Talos v1.13.3's
// NodeIPController and etcd spec): the diagnosis comes first, names the
// CIDR that holds the board's address, and says what follows from it.
func TestAddressOverlapIsTheCauseAndNamesTheCIDR(t *testing.T) {
	evs := running("cp", "compute", "drbd spin zfs", "drbd", "spin", "zfs")
	evs = append(evs,
		Event{Time: at(33), Node: "cp", Kind: MachineReady, Detail: "services: kubelet not running, etcd not running"},
		Event{Time: at(34), Node: "cp", Kind: TalosDiagnostic, Name: "address-overlap", Ready: true,
			Detail: `host and Kubernetes pod/service CIDR addresses overlap; host routed addresses: ["127.0.0.11/32"]; Kubernetes pod CIDRs: ["127.0.0.0/8"]; Kubernetes service CIDRs: ["10.96.0.0/12"]`},
	)

	ds := Diagnose(fold(evs...).Node("cp"), at(60))
	if len(ds) == 0 {
		t.Fatal("no diagnosis")
	}

	d := ds[0]
	if !strings.Contains(d.Title, "host and Kubernetes pod/service CIDR addresses overlap") ||
		!strings.Contains(d.Why, "address 127.0.0.11 lies inside the pod CIDR 127.0.0.0/8") ||
		!strings.Contains(d.Why, "kubelet (and etcd on a control plane) never start") ||
		!strings.Contains(d.Fix, "network.podCIDR") || !strings.Contains(d.Fix, "https://talos.dev/diagnostic/address-overlap") {
		t.Errorf("first diagnosis: %+v", d)
	}

	for _, other := range ds[1:] {
		if strings.Contains(other.Title, "running but Talos does not report it ready") {
			t.Errorf("the consequence is told as another problem: %+v", other)
		}
	}
}
