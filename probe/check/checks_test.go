package check

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

func at(s int) time.Time {
	return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
}

const labPlan = `
cluster: {name: lab}
tailscale: {authKeyFile: /k}
boards:
  - {name: cp, address: 10.0.0.1, model: rpi5, machine: controlplane, role: compute}
  - {name: w1, address: 10.0.0.2, model: rpi4, machine: worker, role: compute}
  - {name: gw, address: 10.0.0.3, model: rpi4, machine: worker, role: gateway}
`

// bringUp folds a bring-up where each node gets the given extensions and
// ext-tailscale is up only where tsUp says.
func bringUp(t *testing.T, exts map[string]string, tsUp map[string]bool) *Env {
	t.Helper()

	p, err := plan.Parse([]byte(labPlan))
	if err != nil {
		t.Fatal(err)
	}

	lab := probe.NewLab()

	for i, b := range p.Boards {
		expect := "drbd spin zfs"
		if b.Role == plan.Gateway {
			expect = "drbd spin tailscale zfs"
		}

		// A node with tailscale and no working config is what Talos makes
		// of it: ext-tailscale waits for its config, the boot sequence
		// waits for ext-tailscale, the stage stays booting; Talos's
		// readiness checks see no waiting service, and the kubelet runs.
		ok := !strings.Contains(exts[b.Name], "tailscale") || tsUp[b.Name]
		stage := map[bool]string{true: "running", false: "booting"}[ok]

		evs := []probe.Event{
			{Time: at(0), Node: b.Name, Kind: probe.Planned, Name: b.Role, State: b.Machine, Detail: expect},
			{Time: at(1), Node: b.Name, Kind: probe.Applied},
			{Time: at(60), Node: b.Name, Kind: probe.Stage, State: stage},
			{Time: at(61), Node: b.Name, Kind: probe.Reachable, Ready: true},
		}

		for x := range strings.FieldsSeq(exts[b.Name]) {
			evs = append(evs, probe.Event{Time: at(62), Node: b.Name, Kind: probe.Extension, Name: x, State: "present"})
		}

		switch {
		case strings.Contains(exts[b.Name], "tailscale") && tsUp[b.Name]:
			evs = append(evs, probe.Event{Time: at(63), Node: b.Name, Kind: probe.Service, Name: "ext-tailscale", State: "Running", Ready: true})
		case strings.Contains(exts[b.Name], "tailscale"):
			evs = append(evs,
				probe.Event{Time: at(63), Node: b.Name, Kind: probe.Log, Name: "dmesg", Detail: `[talos] task startAllServices (1/1): service "ext-tailscale" to be "up"`},
				probe.Event{Time: at(63), Node: b.Name, Kind: probe.Service, Name: "ext-tailscale", State: "Waiting", Detail: "Waiting for extension service config"})
		}

		evs = append(evs, probe.Event{Time: at(64), Node: b.Name, Kind: probe.MachineReady, Ready: ok})
		evs = append(evs, probe.Event{Time: at(70 + 10*i), Node: b.Name, Kind: probe.NodeReady, Ready: true})

		for _, e := range evs {
			lab.Apply(e)
		}
	}

	return &Env{Plan: p, Lab: lab, Now: at(300), ReadyBudget: 10 * time.Minute}
}

func results(env *Env) map[string]Result {
	out := map[string]Result{}
	for _, r := range Run(context.Background(), env, nil) {
		out[r.Name] = r
	}

	return out
}

func TestHappyLabPassesLabChecks(t *testing.T) {
	env := bringUp(t,
		map[string]string{"cp": "drbd spin zfs", "w1": "drbd spin zfs", "gw": "drbd spin tailscale zfs"},
		map[string]bool{"gw": true})

	rs := results(env)
	for _, name := range []string{"compute-only-cluster", "mixed-role-cluster", "node-ready-timing", "extension-isolation", "single-gateway-only"} {
		if rs[name].Status != Pass {
			t.Errorf("%s: %s %s %s", name, rs[name].Status, rs[name].Summary, rs[name].Why)
		}
	}

	// Without the route probe, what the gateway advertises is not seen: the
	// subnet router check skips and says why (issue 21: never a pass unseen).
	for _, name := range []string{"spin-runtime-deploy", "traffic-flow", "subnet-router-config"} {
		if rs[name].Status != Skip {
			t.Errorf("%s without a cluster/route should skip: %s", name, rs[name].Status)
		}
	}

	if got := rs["node-ready-timing"].Summary; got != "apply → Ready: cp 1m9s, w1 1m19s, gw 1m29s" {
		t.Errorf("timing summary: %s", got)
	}
}

func TestTailscaleEverywhereFailsIsolationAndSingleGateway(t *testing.T) {
	all := "drbd spin tailscale zfs"
	env := bringUp(t, map[string]string{"cp": all, "w1": all, "gw": all}, map[string]bool{"gw": true})

	rs := results(env)

	iso := rs["extension-isolation"]
	if iso.Status != Fail || !strings.Contains(iso.Summary, "cp, w1") || !strings.Contains(iso.Fix, "compute image") {
		t.Errorf("isolation: %+v", iso)
	}

	single := rs["single-gateway-only"]
	if single.Status != Fail || !strings.Contains(single.Summary, "cp, w1, gw") || !strings.Contains(single.Why, "one subnet router per cluster") {
		t.Errorf("single gateway: %+v", single)
	}

	// Issue 21 item 15: nodes carrying tailscale and devices on the
	// tailnet are counted apart; one device is never "more than one".
	env.Tailscale = &TailscaleView{Route: probe.RouteView{Advertising: []string{"lab-gateway"}, GatewaySeen: true}}

	single = results(env)["single-gateway-only"]
	if single.Status != Fail || !strings.Contains(single.Summary, "3 nodes carry tailscale (cp, w1, gw)") ||
		!strings.Contains(single.Summary, "1 device advertises the cluster's routes on the tailnet (lab-gateway)") {
		t.Errorf("single gateway with the API's view: %+v", single)
	}

	co := rs["compute-only-cluster"]
	if co.Status != Fail || !strings.Contains(co.Why, "gateway image but no tailscale config") {
		t.Errorf("compute-only: %+v", co)
	}

	if rs["node-ready-timing"].Status != Fail {
		t.Errorf("timing should fail when nodes never get Ready")
	}
}

func TestNoAuthKeyFailsSubnetRouterConfig(t *testing.T) {
	env := bringUp(t,
		map[string]string{"cp": "drbd spin zfs", "w1": "drbd spin zfs", "gw": "drbd spin tailscale zfs"},
		map[string]bool{})

	rs := results(env)

	sr := rs["subnet-router-config"]
	if sr.Status != Fail || !strings.Contains(sr.Why, "auth key") {
		t.Errorf("subnet-router-config: %+v", sr)
	}

	if rs["compute-only-cluster"].Status != Pass {
		t.Error("compute nodes are fine without the gateway")
	}

	if rs["mixed-role-cluster"].Status != Fail {
		t.Error("mixed cluster needs the gateway Ready")
	}
}

func TestReadyBudget(t *testing.T) {
	env := bringUp(t,
		map[string]string{"cp": "drbd spin zfs", "w1": "drbd spin zfs", "gw": "drbd spin tailscale zfs"},
		map[string]bool{"gw": true})
	env.ReadyBudget = 75 * time.Second

	r := results(env)["node-ready-timing"]
	if r.Status != Fail || !strings.Contains(r.Why, "gw took 1m29s, over the 1m15s budget") {
		t.Errorf("%+v", r)
	}
}

func TestOnlySelectsBySuiteOrName(t *testing.T) {
	env := bringUp(t, map[string]string{}, nil)

	if got := Run(context.Background(), env, []string{"network-architecture"}); len(got) != 3 {
		t.Errorf("suite filter: %d results", len(got))
	}

	if got := Run(context.Background(), env, []string{"extension-isolation"}); len(got) != 1 {
		t.Errorf("name filter: %d results", len(got))
	}
}

func TestReadyTimingSkipsWithoutAWatchedApply(t *testing.T) {
	p, err := plan.Parse([]byte(labPlan))
	if err != nil {
		t.Fatal(err)
	}

	lab := probe.NewLab()
	for _, b := range p.Boards {
		lab.Apply(probe.Event{Time: at(0), Node: b.Name, Kind: probe.Planned, Name: b.Role, State: b.Machine})
		lab.Apply(probe.Event{Time: at(1), Node: b.Name, Kind: probe.MachineReady, Ready: true})
		lab.Apply(probe.Event{Time: at(1), Node: b.Name, Kind: probe.NodeReady, Ready: true})
	}

	rs := Run(context.Background(), &Env{Plan: p, Lab: lab, Now: at(2)}, []string{"node-ready-timing"})
	if len(rs) != 1 || rs[0].Status != Skip || !strings.Contains(rs[0].Summary, "no node was applied") {
		t.Errorf("%+v", rs)
	}
}
