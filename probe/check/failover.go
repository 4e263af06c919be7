package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// changesLab are the checks that change the lab; they run before the
// others, which then judge the lab they leave.
var changesLab = []string{"gateway-failover"}

// Moved is the lab after the gateway moved: what the gateway-failover
// check judges, and what the checks after it see.
type Moved struct {
	Plan        *plan.Plan
	Lab         *probe.Lab
	Tailscale   *TailscaleView
	NoTailscale string
	// Outage is the measured time the tailnet could not reach the
	// cluster (0: not measured); Words say how it was measured.
	Outage time.Duration
	Words  string
}

// FailoverTarget is the board the check makes the gateway: the first
// Ready worker that is not the gateway, else the first Ready board.
func FailoverTarget(p *plan.Plan, l *probe.Lab) (plan.Board, bool) {
	gw, _ := p.Gateway()

	var fallback *plan.Board

	for _, b := range p.Boards {
		if b.Name == gw.Name || !ready(l.Node(b.Name)) {
			continue
		}

		if b.Machine == plan.Worker {
			return b, true
		}

		if fallback == nil {
			fallback = &b
		}
	}

	if fallback != nil {
		return *fallback, true
	}

	return plan.Board{}, false
}

// gatewayFailover is the seed test plan's gateway failover: move the
// gateway to another board and judge the lab afterwards — the other board
// the only router, every board Ready, the route primary through it, the
// hello-world answering through the route, and the outage measured.
func gatewayFailover(ctx context.Context, env *Env) Result {
	from, ok := env.Plan.Gateway()
	if !ok {
		return skip("the plan has no gateway (tailscale disabled): there is no router to move")
	}

	if env.MoveGateway == nil {
		return skip("moving the gateway needs the lab's talosconfig, configs and auth key: run it against a lab liftoff brought up (--plan, --talosconfig, --out, --tailscale-authkey-file) or --sim")
	}

	to, ok := FailoverTarget(env.Plan, env.Lab)
	if !ok {
		return Result{Status: Fail, Summary: "no Ready board to move the gateway to", Why: "a gateway moves only to a board that is Ready, so the route has somewhere to go",
			Fix: "bring the other boards up first (liftoff up), then run the check again"}
	}

	// Something to reach through the route while it moves: the outage
	// runs until it answers again.
	var (
		reach func(context.Context) probe.Event
		hello probe.Flavour
		addr  string
	)

	if env.Kube != nil && env.Tailscale != nil && env.Tailscale.Dial != nil {
		var (
			failed Result
			ok     bool
		)

		if hello, addr, failed, ok = routeTarget(ctx, env); !ok {
			failed.Summary = "before moving the gateway: " + failed.Summary

			return failed
		}

		// Its workload only: the checks after this one deploy theirs in
		// the same namespace.
		if !env.Hello.Keep {
			defer func() {
				wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				defer cancel()

				_ = probe.RemoveHelloAndWait(wctx, env.Kube, hello) //nolint:errcheck // best effort
			}()
		}

		dial := env.Tailscale.Dial
		reach = func(ctx context.Context) probe.Event {
			return probe.TrafficFlow(ctx, dial, addr, "/hello", hello.Text).Event(addr, time.Now())
		}
	}

	moved, err := env.MoveGateway(ctx, to.Name, reach)
	if err != nil {
		return Result{Status: Fail, Summary: "moving the gateway from " + from.Name + " to " + to.Name + " failed", Why: err.Error(),
			Fix: "see the failed step above; liftoff move-gateway " + to.Name + " resumes from the plan as it is now"}
	}

	// The checks after this one judge the lab as the move left it.
	env.Plan, env.Lab, env.Tailscale, env.NoTailscale = moved.Plan, moved.Lab, moved.Tailscale, moved.NoTailscale

	var problems, evidence []string

	if gw, _ := moved.Plan.Gateway(); gw.Name != to.Name {
		problems = append(problems, "the plan's gateway is "+gw.Name+", not "+to.Name)
	}

	var notReady []string

	for _, b := range moved.Plan.Boards {
		if n := moved.Lab.Node(b.Name); !ready(n) {
			notReady = append(notReady, b.Name)
		}
	}

	if len(notReady) > 0 {
		problems = append(problems, "not Ready after the move: "+strings.Join(notReady, ", "))
	}

	present, up := tailscaleNodes(env)
	if len(present) != 1 || present[0].Name != to.Name || len(up) != 1 {
		problems = append(problems, fmt.Sprintf("tailscale should run on %s alone; it is in the image of %s and runs on %s", to.Name, probe.OrDash(names(present)), probe.OrDash(names(up))))
	}

	host := moved.Plan.Tailscale.Hostname

	if ts := moved.Tailscale; ts == nil {
		problems = append(problems, "the route could not be seen after the move: "+probe.OrDash(moved.NoTailscale))
	} else {
		v := ts.Route
		evidence = append(evidence, "route: "+v.Detail())

		if !v.Usable() {
			problems = append(problems, "the route is not usable after the move ("+v.State()+")")
		}

		if v.FromAPI && !slices.Equal(v.Advertising, []string{host}) {
			problems = append(problems, fmt.Sprintf("%d devices advertise the cluster's routes (%s); only %s on %s should", len(v.Advertising), strings.Join(v.Advertising, ", "), host, to.Name))
		}

		switch f := flowThrough(ctx, env, addr, hello); {
		case reach == nil:
			evidence = append(evidence, "no hello-world to reach through the route (no Kubernetes API): the route's own word ended the outage")
		case !f.OK():
			problems = append(problems, "the hello-world does not answer through the route after the move: "+f.Detail)
		default:
			evidence = append(evidence, f.Detail)
		}
	}

	if moved.Outage <= 0 {
		problems = append(problems, "the outage was not measured: "+probe.OrDash(moved.Words))
	}

	evidence = append(evidence, moved.Words)

	if len(problems) > 0 {
		return Result{Status: Fail, Summary: "after moving the gateway from " + from.Name + " to " + to.Name + ": " + problems[0], Why: strings.Join(problems, "; "),
			Evidence: evidence, Fix: "see liftoff's troubleshoot view for the boards named; docs/roles.md explains moving the gateway"}
	}

	r := pass("moved the gateway from %s to %s: %s is the only router, every board Ready, the hello-world answers through the route; the tailnet could not reach the cluster for %s",
		from.Name, to.Name, to.Name, moved.Outage.Round(time.Millisecond))
	r.Evidence = evidence

	return r
}
