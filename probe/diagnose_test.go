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

func TestDiagnoseTailscaleOnComputeNode(t *testing.T) {
	evs := running("pi-1", "compute", "drbd spin zfs", "drbd", "spin", "tailscale", "zfs")
	evs = append(evs,
		Event{Time: at(33), Node: "pi-1", Kind: Service, Name: "ext-tailscale", State: "Waiting", Count: 7, Detail: "Waiting for extension service config"},
		Event{Time: at(34), Node: "pi-1", Kind: MachineReady, Detail: "services: services not healthy: ext-tailscale"},
		Event{Time: at(35), Node: "pi-1", Kind: Log, Name: "ext-tailscale", Detail: "waiting for ExtensionServiceConfig tailscale"},
	)

	ds := Diagnose(fold(evs...).Node("pi-1"), at(60))
	if len(ds) != 1 {
		t.Fatalf("want exactly one diagnosis, got: %s", titles(ds))
	}

	d := ds[0]
	for _, want := range []string{"gateway image but no tailscale config", "restarts forever"} {
		if !strings.Contains(d.Why, want) {
			t.Errorf("why lacks %q: %s", want, d.Why)
		}
	}

	if !strings.Contains(d.Fix, "give pi-1 the compute image") || !strings.Contains(d.Fix, "or make it the gateway") {
		t.Errorf("fix: %s", d.Fix)
	}

	ev := strings.Join(d.Evidence, "\n")
	for _, want := range []string{"ext-tailscale: Waiting, 7 restarts", "unmet: services: services not healthy: ext-tailscale", "ext-tailscale: waiting for ExtensionServiceConfig"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
}

func TestDiagnoseGatewayWithoutWorkingTailscale(t *testing.T) {
	evs := running("gw", "gateway", "drbd spin tailscale zfs", "drbd", "spin", "tailscale", "zfs")
	evs = append(evs, Event{Time: at(33), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Failed", Count: 2, Detail: "invalid auth key"})

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
		t.Errorf("%s %+v", titles(ds), ds)
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
