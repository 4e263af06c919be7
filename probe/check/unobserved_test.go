package check

import (
	"context"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// Item 3 of issue 21, as a class: a check never passes on a node it could
// not read. Each board in turn — and then all of them — refuses liftoff's
// talosconfig (another cluster's), while the rest of the lab is healthy and
// the route is seen working: no check that covers the unread board passes,
// and every failure it causes names the true cause and its fix.
func TestAnUnreadNodeIsNeverPassed(t *testing.T) {
	p, err := plan.Parse([]byte(labPlan))
	if err != nil {
		t.Fatal(err)
	}

	healthy := map[string]string{"cp": "drbd spin zfs", "w1": "drbd spin zfs", "gw": "drbd spin tailscale zfs"}
	refused := probe.Explain(errOtherCA)

	for _, blind := range [][]string{{"cp"}, {"w1"}, {"gw"}, {"cp", "w1", "gw"}} {
		t.Run(strings.Join(blind, "+"), func(t *testing.T) {
			lab := probe.NewLab()

			for _, b := range p.Boards {
				expect := strings.Fields(healthy[b.Name])
				lab.Apply(probe.Event{Time: at(0), Node: b.Name, Kind: probe.Planned, Name: b.Role, State: b.Machine, Detail: strings.Join(expect, " ")})
				// Kubernetes is read with its own (valid) kubeconfig.
				lab.Apply(probe.Event{Time: at(5), Node: b.Name, Kind: probe.NodeReady, Ready: true})

				if contains(blind, b.Name) {
					lab.Apply(probe.Event{Time: at(1), Node: b.Name, Kind: probe.Reachable, State: refused.Kind, Detail: refused.Words})

					continue
				}

				for _, e := range []probe.Event{
					{Time: at(1), Node: b.Name, Kind: probe.Reachable, Ready: true},
					{Time: at(1), Node: b.Name, Kind: probe.Stage, State: "running"},
					{Time: at(1), Node: b.Name, Kind: probe.MachineReady, Ready: true},
				} {
					lab.Apply(e)
				}

				for _, x := range expect {
					lab.Apply(probe.Event{Time: at(1), Node: b.Name, Kind: probe.Extension, Name: x, State: "present"})
				}

				if b.Role == plan.Gateway {
					lab.Apply(probe.Event{Time: at(1), Node: b.Name, Kind: probe.Service, Name: "ext-tailscale", State: "Running", Ready: true})
				}
			}

			env := &Env{Plan: p, Lab: lab, Now: at(60), Tailscale: &TailscaleView{Route: probe.RouteView{
				GatewaySeen: true, GatewayOnline: true, Primary: "lab-gateway", PrimaryOnline: true, AcceptRoutes: true,
			}}}

			covers := map[string][]string{
				"compute-only-cluster": {"cp", "w1"}, "mixed-role-cluster": {"cp", "w1", "gw"},
				"extension-isolation": {"cp", "w1", "gw"}, "single-gateway-only": {"cp", "w1", "gw"},
				"subnet-router-config": {"gw"},
			}

			for _, r := range Run(context.Background(), env, nil) {
				covered := false
				for _, n := range covers[r.Name] {
					covered = covered || contains(blind, n)
				}

				if covered && r.Status == Pass {
					t.Errorf("%s passed although %v could not be read: %s", r.Name, blind, r.Summary)
				}

				if len(blind) == len(p.Boards) && r.Status == Pass {
					t.Errorf("%s passed with no board read: %s", r.Name, r.Summary)
				}

				text := r.Summary + r.Why + r.Fix + strings.Join(r.Evidence, " ")
				if r.Status == Fail && strings.Contains(r.Fix, "check power and network") {
					t.Errorf("%s blames power and network for a refused talosconfig: %s", r.Name, r.Fix)
				}

				if r.Status != Pass && covered && !strings.Contains(text, "another cluster") && !strings.Contains(text, "other secrets") {
					t.Errorf("%s (%s) does not name the cause: %s | %s | %s", r.Name, r.Status, r.Summary, r.Why, r.Fix)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}

	return false
}

// errOtherCA is what the machinery client says when the board's
// certificate is not from the talosconfig's CA.
var errOtherCA = errorString(`rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`)

type errorString string

func (e errorString) Error() string { return string(e) }
