package probe

import (
	"strings"
	"testing"
	"time"
)

// Each repairable diagnosis names its kind, the one board it touches, the
// command it stands for, and its cost from the stage-budget table.
func TestDiagnosesCarryTheirRepair(t *testing.T) {
	tailscaleOnCompute := append(running("pi-1", "compute", "drbd spin zfs", "drbd", "spin", "tailscale", "zfs"),
		Event{Time: at(33), Node: "pi-1", Kind: Service, Name: "ext-tailscale", State: "Waiting", Count: 7, Detail: "Waiting for extension service config"})

	noConfig := append(running("gw", "gateway", "drbd spin tailscale zfs", "drbd", "spin", "tailscale", "zfs"),
		Event{Time: at(33), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Waiting", Count: 3, Detail: "Waiting for extension service config"},
		Event{Time: at(34), Node: "gw", Kind: Log, Name: "ext-tailscale", Detail: "waiting for ExtensionServiceConfig tailscale"})

	badKey := append(running("gw", "gateway", "drbd spin tailscale zfs", "drbd", "spin", "tailscale", "zfs"),
		Event{Time: at(33), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Failed", Count: 2, Detail: "invalid auth key"})

	lost := []Event{
		{Time: at(0), Node: "p", Kind: Applied},
		{Time: at(1), Node: "p", Kind: Stage, State: "installing"},
		{Time: at(9), Node: "p", Kind: Stage, State: "maintenance"},
	}

	etcd := []Event{
		{Time: at(0), Node: "cp", Kind: Planned, Name: "compute", State: "controlplane"},
		{Time: at(1), Node: "cp", Kind: Stage, State: "running"},
		{Time: at(2), Node: "cp", Kind: MachineReady, Detail: "services: services not healthy: etcd"},
	}

	for _, tc := range []struct {
		name    string
		events  []Event
		node    string
		kind    RepairKind // "" for no repair
		command string
		reboots bool
		takes   time.Duration
	}{
		{"tailscale on compute", tailscaleOnCompute, "pi-1", RepairUpgrade, "talosctl upgrade -n ADDRESS -e ADDRESS --image <installer>", true, 160 * time.Second},
		{"plain installer", running("pi-2", "compute", "drbd spin zfs"), "pi-2", RepairUpgrade, "--image <installer>", true, 160 * time.Second},
		{"no tailscale config", noConfig, "gw", RepairReapply, "talosctl apply-config -n ADDRESS -e ADDRESS --file gw.yaml --mode auto", false, 0},
		{"a refused auth key needs a new key first", badKey, "gw", "", "", false, 0},
		{"back in maintenance", lost, "p", RepairReapply, "apply-config --insecure", true, 160 * time.Second},
		{"etcd waiting", etcd, "cp", RepairBootstrap, "talosctl bootstrap -n ADDRESS -e ADDRESS", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := fold(tc.events...)

			d, ok := FirstRepair(l, l.Node(tc.node), at(60))
			if tc.kind == "" {
				if ok {
					t.Fatalf("no safe repair expected, got %+v for %q", d.Repair, d.Title)
				}

				return
			}

			if !ok {
				t.Fatalf("no repair among: %s", titles(DiagnoseIn(l, l.Node(tc.node), at(60))))
			}

			r := d.Repair
			if r.Kind != tc.kind || r.Node != tc.node || !strings.Contains(r.Command, tc.command) || r.Reboots != tc.reboots || r.Takes() != tc.takes {
				t.Errorf("got %s on %s, %q, reboots %v, takes %s", r.Kind, r.Node, r.Command, r.Reboots, r.Takes())
			}

			if r.Title == "" || !strings.Contains(r.Does, tc.node) {
				t.Errorf("title %q / does %q should name %s", r.Title, r.Does, tc.node)
			}
		})
	}
}

// Only the misnamed board's diagnosis offers the re-apply: the other one
// is not the board to change.
func TestDuplicateHostnameRepairsTheMisnamedBoardOnly(t *testing.T) {
	var evs []Event
	for _, name := range []string{"pi-w-1", "pi-w-2"} {
		evs = append(evs, running(name, "compute", "drbd spin zfs", "drbd", "spin", "zfs")...)
	}

	evs = append(evs,
		Event{Time: at(40), Node: "pi-w-1", Kind: MachineReady, Detail: `nodeReady: node "pi-w-1" status is not available yet`},
		Event{Time: at(40), Node: "pi-w-2", Kind: MachineReady, Detail: `nodeReady: node "pi-w-1" status is not available yet`},
	)

	l := fold(evs...)

	d, ok := FirstRepair(l, l.Node("pi-w-2"), at(60))
	if !ok || d.Repair.Kind != RepairReapply || d.Repair.Node != "pi-w-2" || d.Repair.Reboots {
		t.Errorf("pi-w-2: %+v %v", d.Repair, ok)
	}

	if d, ok := FirstRepair(l, l.Node("pi-w-1"), at(60)); ok {
		t.Errorf("pi-w-1 keeps its name, yet got %+v", d.Repair)
	}
}

func TestRouteNotApprovedIsTheGatewaysToApprove(t *testing.T) {
	evs := append(running("gw", "gateway", "drbd spin tailscale zfs", "drbd", "spin", "tailscale", "zfs"),
		Event{Time: at(33), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Running", Ready: true},
		Event{Time: at(34), Node: "gw", Kind: MachineReady, Ready: true},
		Event{Time: at(35), Node: "gw", Kind: NodeReady, Ready: true},
		Event{Time: at(40), Kind: Route, State: RouteAdvertised, Count: 1, Detail: "10.244.0.0/16, 10.96.0.0/12: advertised by gw but not approved"},
	)
	evs = append(evs, running("w", "compute", "drbd spin zfs", "drbd", "spin", "zfs")...)

	l := fold(evs...)

	d, ok := FirstRepair(l, l.Node("gw"), at(60))
	if !ok || d.Repair.Kind != RepairApprove || !strings.Contains(d.Repair.Does, "10.244.0.0/16, 10.96.0.0/12") || !strings.Contains(d.Fix, "Edit route settings") {
		t.Errorf("gw: %+v %+v", d, ok)
	}

	if _, ok := FirstRepair(l, l.Node("w"), at(60)); ok {
		t.Error("a compute board has no routes to approve")
	}

	l.Apply(Event{Time: at(50), Kind: Route, State: RoutePrimary})

	if _, ok := FirstRepair(l, l.Node("gw"), at(60)); ok {
		t.Error("a primary route needs no approval")
	}
}

func TestResetNamesWhatItWipes(t *testing.T) {
	r := ResetRepair("pi-w-1")
	if !r.Reboots || r.Takes() != 70*time.Second || !strings.Contains(r.Command, "--system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL") {
		t.Errorf("%+v takes %s", r, r.Takes())
	}
}

func TestLabFoldsARepairsProgress(t *testing.T) {
	l := fold(
		Event{Time: at(0), Node: "pi-1", Kind: RepairStep, Name: "upgrade", State: "started", Detail: "upgrading"},
		Event{Time: at(5), Node: "pi-1", Kind: RepairStep, Name: "upgrade", State: "rebooting"},
	)

	r := l.Node("pi-1").Repair
	if !r.Running() || r.State != "rebooting" || !r.Started.Equal(at(0)) || !r.Since.Equal(at(5)) {
		t.Errorf("%+v", r)
	}

	l.Apply(Event{Time: at(9), Node: "pi-1", Kind: RepairStep, Name: "upgrade", State: "done", Ready: true})

	if r := l.Node("pi-1").Repair; r.Running() || !r.Started.Equal(at(0)) {
		t.Errorf("%+v", r)
	}
}
