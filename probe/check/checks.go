package check

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// Suite names, as the founding test plan calls them.
const (
	ClusterFormation    = "cluster-formation"
	WasmIntegration     = "wasm-integration"
	NetworkArchitecture = "network-architecture"
)

// Env is what the checks judge: the lab's picture after bring-up, the plan
// it was meant to follow, and live clients for the checks that act.
type Env struct {
	Plan  *plan.Plan
	Lab   *probe.Lab
	Kube  kubernetes.Interface // nil when no cluster answered
	Fetch probe.Fetcher
	Now   time.Time

	// ReadyBudget is the longest apply → Node Ready a node may take;
	// SpinBudget the longest the Spin hello-world's pod may take to
	// answer (its cold start). The founding plan's are DefaultBudgets.
	ReadyBudget time.Duration
	SpinBudget  time.Duration
	// Include names opt-in checks (Optional) to run too.
	Include []string
	Hello   probe.HelloOptions
	// Tailscale is nil when the route probe could not look (no tailscaled
	// on this machine); NoTailscale says why, and the checks that need it
	// skip with that reason.
	Tailscale   *TailscaleView
	NoTailscale string
	// MoveGateway, when set, moves the gateway to the named board and
	// returns the lab afterwards (the gateway-failover check).
	// Reach, when set, asks the cluster through the route once; the move
	// measures the outage with it.
	MoveGateway func(ctx context.Context, to string, reach func(context.Context) probe.Event) (Moved, error)
}

// TailscaleView is what the route probe saw, and the way through the route.
type TailscaleView struct {
	Route probe.RouteView
	// Dial reaches a cluster address from the operator's side: the system
	// dialer on a laptop whose tailscaled accepts routes, the operator's
	// tsnet node in the simulated lab.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Check is one named acceptance test.
type Check struct {
	Suite string
	Name  string
	Doc   string
	Run   func(ctx context.Context, env *Env) Result
}

// All is the founding test plan's ten checks, in the order they run.
var All = []Check{
	{ClusterFormation, "compute-only-cluster", "multiple compute nodes (no tailscale) are Ready in Talos and Kubernetes", computeOnly},
	{ClusterFormation, "mixed-role-cluster", "compute nodes and the gateway form one cluster, all Ready", mixedRole},
	{ClusterFormation, "node-ready-timing", "every node goes from apply to Ready within the budget, none waiting on an unconfigured extension", readyTiming},
	{ClusterFormation, "extension-isolation", "each node runs exactly its role's extensions (tailscale only on the gateway)", extensionIsolation},
	{WasmIntegration, "spin-runtime-deploy", "a Spin app deploys on spin nodes only and answers /hello within the Spin budget", spinDeploy},
	{WasmIntegration, "multi-arch-confidence", "the same Spin image reference answers on arm64, and on every other architecture present", multiArch},
	{WasmIntegration, "performance-baseline", "WASM and container hello-worlds: cold start and latency", baseline},
	{NetworkArchitecture, "subnet-router-config", "the gateway's tailscale runs and advertises the pod and service CIDRs", subnetRouter},
	{NetworkArchitecture, "traffic-flow", "the hello-world Service answers through the Tailscale route", trafficFlow},
	{NetworkArchitecture, "single-gateway-only", "exactly one node routes for the cluster", singleGateway},
}

// Optional checks run only when named (Env.Include, or by name in only):
// the test plan's ten stay the default.
var Optional = []Check{
	{ClusterFormation, "cluster-dns", "CoreDNS, as Talos deploys it, is Running and Ready", clusterDNS},
	{NetworkArchitecture, "gateway-failover", "the gateway moves to another board: it becomes the only router, every node Ready, the hello-world answers through the route again, the outage measured", gatewayFailover},
}

// Suites in the order they run.
var Suites = []string{ClusterFormation, WasmIntegration, NetworkArchitecture}

// DefaultBudgets are the founding plan's: nodes Ready within 5 minutes of
// their apply, the Spin pod answering within 2.
const (
	DefaultReadyBudget = 5 * time.Minute
	DefaultSpinBudget  = 2 * time.Minute
)

// Known tells whether name is a check (default or optional) or a suite.
func Known(name string) bool {
	return slices.Contains(Suites, name) || slices.ContainsFunc(append(slices.Clone(All), Optional...), func(c Check) bool { return c.Name == name })
}

// IsOptional tells whether name is an opt-in check.
func IsOptional(name string) bool {
	return slices.ContainsFunc(Optional, func(c Check) bool { return c.Name == name })
}

// selected lists the checks a run executes, suite by suite: the defaults
// whose name or suite is in only (all when empty), and the optional ones
// included or named in only.
func selected(only, include []string) []Check {
	var first, out []Check

	for _, suite := range Suites {
		for _, c := range All {
			if c.Suite == suite && (len(only) == 0 || slices.Contains(only, c.Name) || slices.Contains(only, c.Suite)) {
				out = append(out, c)
			}
		}

		for _, c := range Optional {
			named := slices.Contains(only, c.Name)
			wanted := slices.Contains(include, c.Name) && (len(only) == 0 || slices.Contains(only, c.Suite))

			switch {
			case c.Suite != suite || !named && !wanted:
			case slices.Contains(changesLab, c.Name):
				first = append(first, c)
			default:
				out = append(out, c)
			}
		}
	}

	return append(first, out...)
}

// Run executes the checks whose name or suite is in only (all ten when
// empty), and the optional ones env.Include names.
func Run(ctx context.Context, env *Env, only []string) []Result {
	if env.Now.IsZero() {
		env.Now = time.Now()
	}

	var out []Result

	for _, c := range selected(only, env.Include) {

		start := time.Now()
		r := c.Run(ctx, env)
		r.Suite, r.Name, r.Duration = c.Suite, c.Name, time.Since(start)
		out = append(out, r)
	}

	return out
}

func pass(format string, args ...any) Result {
	return Result{Status: Pass, Summary: fmt.Sprintf(format, args...)}
}

func skip(format string, args ...any) Result {
	return Result{Status: Skip, Summary: fmt.Sprintf(format, args...)}
}

// failNodes fails with the first diagnosis of each stuck node as evidence.
func failNodes(env *Env, summary string, nodes []*probe.Node) Result {
	r := Result{Status: Fail, Summary: summary}

	var fixes []string

	for _, n := range nodes {
		ds := probe.Diagnose(n, env.Now)
		if len(ds) == 0 {
			r.Evidence = append(r.Evidence, fmt.Sprintf("%s: stage %s, machine ready %v, node ready %v", n.Name, probe.OrDash(n.Stage.String()), n.MachineReady, n.NodeReady))

			continue
		}

		d := ds[0]
		if r.Why == "" {
			r.Why = d.Why
		}

		r.Evidence = append(r.Evidence, n.Name+": "+d.Title)
		for _, e := range d.Evidence {
			r.Evidence = append(r.Evidence, "  "+e)
		}

		if !slices.Contains(fixes, d.Fix) {
			fixes = append(fixes, d.Fix)
		}
	}

	r.Fix = strings.Join(fixes, "; ")

	return r
}

// plural is "1 node" or "3 nodes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}

	return fmt.Sprintf("%d %s", n, many)
}

func nodesWhere(env *Env, keep func(*probe.Node) bool) []*probe.Node {
	var out []*probe.Node

	for _, n := range env.Lab.Nodes {
		if keep(n) {
			out = append(out, n)
		}
	}

	return out
}

func ready(n *probe.Node) bool { return n.MachineReady && n.NodeReady }

// unread tells a node whose Talos API was never read: it refused liftoff
// or did not answer. A check can say nothing of it but that.
func unread(n *probe.Node) bool { return n.Stage == "" }

// judgeable tells a node whose running image was read: its extensions are
// those of a booting or running system, not of maintenance mode, of an
// install in progress, or of an image that never gets through its boot.
func judgeable(n *probe.Node) bool {
	return n.Stage == probe.StageRunning || n.Stage == probe.StageBooting && !n.BootLooping()
}

// notReady is a failure summary that keeps apart the nodes seen not Ready
// from those that could not be read at all.
func notReady(what string, stuck []*probe.Node, total int) string {
	var seen, blind []*probe.Node

	for _, n := range stuck {
		if unread(n) {
			blind = append(blind, n)
		} else {
			seen = append(seen, n)
		}
	}

	var parts []string

	if len(seen) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d %s not Ready: %s", len(seen), total, what, names(seen)))
	}

	if len(blind) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d %s could not be read: %s", len(blind), total, what, names(blind)))
	}

	return strings.Join(parts, "; ")
}

// unjudged fails or skips a check that could not see all of its subject:
// a fail when it saw none of it, a skip naming what it could not see
// otherwise. Never a pass.
func unjudged(env *Env, subject string, seen int, blind []*probe.Node) Result {
	why := make([]string, 0, len(blind))

	for _, n := range blind {
		switch {
		case !n.Reachable && n.Unreachable != "":
			why = append(why, n.Name+": "+n.Unreachable)
		case n.Stage == "":
			why = append(why, n.Name+": never read")
		default:
			why = append(why, n.Name+": stage "+n.Stage.String())
		}
	}

	if seen == 0 {
		r := failNodes(env, "no node could be read, so "+subject+" is unknown: "+names(blind), blind)
		r.Evidence = append(why, r.Evidence...)

		return r
	}

	return Result{Status: Skip, Summary: fmt.Sprintf("%s could not be judged on %s (%s); the %d node(s) read are right", subject, names(blind), strings.Join(why, "; "), seen)}
}

func names(nodes []*probe.Node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name)
	}

	return strings.Join(s, ", ")
}

// waiting skips a check whose subject waits, as planned, for the
// platform that brings the pod network (probe.AwaitingCNI): every stuck
// node is there, so "not Ready" is the expected next step, not a failure.
func waiting(stuck []*probe.Node) (Result, bool) {
	if len(stuck) == 0 || slices.ContainsFunc(stuck, func(n *probe.Node) bool { return !probe.AwaitingCNI(n) }) {
		return Result{}, false
	}

	by := stuck[0].CNIBy

	return Result{Status: Skip, Summary: fmt.Sprintf("waiting for %s: Talos is up on %s, whose Nodes stay NotReady (NetworkPluginNotReady) until %s installs its CNI; next: %s",
		by, names(stuck), by, stuck[0].CNIInstall)}, true
}

func computeOnly(_ context.Context, env *Env) Result {
	compute := nodesWhere(env, func(n *probe.Node) bool { return n.Role == plan.Compute })
	if len(compute) == 0 {
		return skip("the plan has no compute nodes")
	}

	if stuck := nodesWhere(env, func(n *probe.Node) bool { return n.Role == plan.Compute && !ready(n) }); len(stuck) > 0 {
		if r, ok := waiting(stuck); ok {
			return r
		}

		return failNodes(env, notReady("compute nodes", stuck, len(compute)), stuck)
	}

	// The test plan's terms: "multiple nodes with only the Spin extension
	// reach Ready" — several compute nodes, none needing the gateway.
	if len(compute) < 2 {
		return skip("the test plan asks for multiple compute nodes; the plan has 1 (%s), Ready", compute[0].Name)
	}

	return pass("%d compute nodes Ready in Talos and Kubernetes", len(compute))
}

func mixedRole(_ context.Context, env *Env) Result {
	gw := nodesWhere(env, func(n *probe.Node) bool { return n.Role == plan.Gateway })
	if len(gw) == 0 {
		return skip("the plan has no gateway (tailscale disabled)")
	}

	if stuck := nodesWhere(env, func(n *probe.Node) bool { return n.Role != "" && !ready(n) }); len(stuck) > 0 {
		if r, ok := waiting(stuck); ok {
			return r
		}

		return failNodes(env, notReady("nodes", stuck, len(env.Lab.Nodes)), stuck)
	}

	return pass("%d nodes Ready, gateway %s among them", len(env.Lab.Nodes), gw[0].Name)
}

// waitsOnUnconfigured is the extension service a node's readiness waits
// on for want of its config: Talos holds an extension service that needs
// an ExtensionServiceConfig in Waiting ("Waiting for extension service
// config") and its MachineStatus names it among the unmet services.
func waitsOnUnconfigured(n *probe.Node) (string, bool) {
	for _, name := range slices.Sorted(maps.Keys(n.Services)) {
		s := n.Services[name]
		if !strings.HasPrefix(name, "ext-") || s.Up || !strings.Contains(strings.ToLower(s.Message), "extension service config") {
			continue
		}

		// Talos v1.13.3 holds such a node back through its boot sequence,
		// which waits for every loaded service (startAllServices), not
		// through the readiness conditions; either counts.
		if slices.Contains(n.BootWaitFor, name) || strings.Contains(n.BootWait, name) ||
			slices.ContainsFunc(n.Unmet, func(u string) bool { return strings.Contains(u, name) }) {
			return name, true
		}
	}

	return "", false
}

func readyTiming(_ context.Context, env *Env) Result {
	type timing struct {
		name string
		d    time.Duration
	}

	var (
		times   []timing
		never   []*probe.Node
		blocked []*probe.Node
		held    []string
	)

	for _, n := range env.Lab.Nodes {
		if svc, ok := waitsOnUnconfigured(n); ok {
			blocked = append(blocked, n)
			held = append(held, n.Name+" waits on "+svc+": "+n.Services[svc].Message)
		}

		// Without an apply liftoff watched there is nothing to time.
		if n.Role == "" || n.AppliedAt.IsZero() {
			continue
		}

		d, ok := n.ReadyAfter()
		if !ok {
			never = append(never, n)

			continue
		}

		times = append(times, timing{n.Name, d})
	}

	if len(blocked) > 0 {
		r := failNodes(env, fmt.Sprintf("readiness waits on an extension service that has no config: %s", names(blocked)), blocked)
		r.Evidence = append(held, r.Evidence...)

		return r
	}

	if len(never) > 0 {
		if r, ok := waiting(never); ok {
			return r
		}

		return failNodes(env, fmt.Sprintf("never Ready after apply: %s", names(never)), never)
	}

	if len(times) == 0 {
		return skip("no node was applied while watched, so there is no apply → Ready time")
	}

	sort.Slice(times, func(i, j int) bool { return times[i].d < times[j].d })

	var parts []string
	for _, t := range times {
		parts = append(parts, fmt.Sprintf("%s %s", t.name, t.d.Round(time.Second)))
	}

	slowest := times[len(times)-1]
	summary := fmt.Sprintf("apply → Ready: %s; no node waits on an unconfigured extension", strings.Join(parts, ", "))

	if env.ReadyBudget > 0 && slowest.d > env.ReadyBudget {
		return Result{Status: Fail, Summary: summary,
			Why: fmt.Sprintf("%s took %s, over the %s budget", slowest.name, slowest.d.Round(time.Second), env.ReadyBudget),
			Fix: "look at where the time went in its timeline (install on SD cards is the usual culprit), or raise --ready-budget"}
	}

	if env.ReadyBudget > 0 {
		summary += fmt.Sprintf(" (budget %s)", env.ReadyBudget)
	}

	return pass("%s", summary)
}

func extensionIsolation(_ context.Context, env *Env) Result {
	var (
		wrong    []*probe.Node
		blind    []*probe.Node
		seen     int
		evidence []string
	)

	for _, n := range env.Lab.Nodes {
		if len(n.Expect) == 0 {
			continue
		}

		// A booting machine that published its extensions runs its
		// installed image already (its boot sequence may wait for ever, for
		// an extension that should not be there); one that has not yet
		// cannot be judged.
		if !judgeable(n) || n.Stage == probe.StageBooting && len(n.Extensions) == 0 {
			blind = append(blind, n)

			continue
		}

		seen++

		missing, unexpected := n.Missing(), n.Unexpected()
		if len(missing)+len(unexpected) == 0 {
			continue
		}

		wrong = append(wrong, n)
		evidence = append(evidence, fmt.Sprintf("%s (%s): has %s; missing %s; unexpected %s", n.Name, n.Role,
			strings.Join(n.ExtensionNames(), " "), probe.OrDash(strings.Join(missing, " ")), probe.OrDash(strings.Join(unexpected, " "))))
	}

	if len(wrong) == 0 {
		if len(blind) > 0 {
			return unjudged(env, "whether each node runs exactly its role's extensions", seen, blind)
		}

		return pass("every node runs exactly its role's extensions")
	}

	r := failNodes(env, fmt.Sprintf("%d node(s) run the wrong extensions: %s", len(wrong), names(wrong)), wrong)
	r.Evidence = append(evidence, r.Evidence...)

	return r
}

func needKube(env *Env) (Result, bool) {
	if env.Kube == nil || env.Fetch == nil {
		return skip("no Kubernetes API answered, so nothing can be deployed"), false
	}

	return Result{}, true
}

// needReadyNode fails at once when no Node is Ready: a hello-world would
// only wait, Pending, for its whole timeout.
func needReadyNode(env *Env) (Result, bool) {
	var nodes []*probe.Node

	for _, n := range env.Lab.Nodes {
		if n.Role == "" {
			continue
		}

		if n.NodeReady {
			return Result{}, true
		}

		nodes = append(nodes, n)
	}

	if len(nodes) == 0 {
		return Result{}, true
	}

	if r, ok := waiting(nodes); ok {
		return r, false
	}

	return failNodes(env, "no Kubernetes Node is Ready: nothing can run the hello-world", nodes), false
}

func spinNodes(env *Env) []*probe.Node {
	return nodesWhere(env, func(n *probe.Node) bool {
		x, ok := n.Extensions["spin"]
		return ok && x.State == probe.ExtensionPresent
	})
}

func spinDeploy(ctx context.Context, env *Env) Result {
	if r, ok := needKube(env); !ok {
		return r
	}

	if r, ok := needReadyNode(env); !ok {
		return r
	}

	res := probe.RunHello(ctx, env.Kube, env.Fetch, probe.Spin, env.Hello, func(probe.Event) {})
	if res.Err != nil {
		return helloFailure(env, "the Spin hello-world did not answer", res)
	}

	spin := spinNodes(env)

	var blind []*probe.Node

	for _, node := range res.Nodes {
		n := env.Lab.Node(node)

		switch {
		case slices.Contains(spin, n):
		case !judgeable(n):
			blind = append(blind, n)
		default:
			return Result{Status: Fail, Summary: "a Spin pod ran on " + node + ", which has no spin extension",
				Why: "the RuntimeClass does not keep Spin pods on spin nodes", Fix: "give the RuntimeClass a nodeSelector on extensions.liftoff.dev/spin=true"}
		}
	}

	if len(blind) > 0 {
		r := unjudged(env, "whether the Spin hello-world ran on spin nodes only", len(res.Nodes)-len(blind), blind)
		r.Summary = fmt.Sprintf("the Spin hello-world answered %q, but %s", res.Body, r.Summary)

		return r
	}

	if env.SpinBudget > 0 && res.ColdStart > env.SpinBudget {
		return Result{Status: Fail, Summary: fmt.Sprintf("%q from %s, but only after %s", res.Body, strings.Join(res.Nodes, ","), res.ColdStart.Round(time.Millisecond)),
			Why: fmt.Sprintf("the Spin pod took %s to answer, over the %s budget", res.ColdStart.Round(time.Second), env.SpinBudget),
			Fix: "kubectl -n liftoff-hello describe pods shows where the time went (an image pull on a slow link is the usual culprit), or raise --ready-budget spin=…"}
	}

	return pass("%q from %s in %s (cold start)", res.Body, strings.Join(res.Nodes, ","), res.ColdStart.Round(time.Millisecond))
}

func helloFailure(env *Env, summary string, res probe.HelloResult) Result {
	r := Result{Status: Fail, Summary: summary, Why: res.Err.Error()}

	msg := res.Err.Error()

	switch {
	case strings.Contains(msg, "no runtime for") || strings.Contains(msg, "RuntimeClass") || len(spinNodes(env)) == 0 && allJudged(env):
		r.Why = "no node can run Spin: " + msg
		r.Fix = "give the nodes an image with the spin extension (both roles have it by default; see liftoff images), and make sure the RuntimeClass handler is \"spin\""
	default:
		r.Fix = "kubectl -n liftoff-hello describe pods shows the pods' events"
	}

	for _, n := range env.Lab.Nodes {
		if n.Role != "" && len(n.Expect) > 0 && !slices.Contains(n.ExtensionNames(), "spin") && (n.Stage == probe.StageRunning || n.Stage == probe.StageBooting) {
			r.Evidence = append(r.Evidence, n.Name+": no spin extension (has "+probe.OrDash(strings.Join(n.ExtensionNames(), " "))+")")
		}
	}

	return r
}

// allJudged tells whether every planned node's running image was read.
func allJudged(env *Env) bool {
	return len(nodesWhere(env, func(n *probe.Node) bool { return n.Role != "" && !judgeable(n) })) == 0
}

func multiArch(ctx context.Context, env *Env) Result {
	if r, ok := needKube(env); !ok {
		return r
	}

	if r, ok := needReadyNode(env); !ok {
		return r
	}

	// The architectures present among spin-capable Nodes, as Kubernetes labels them.
	nodes, err := env.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: plan.ExtensionLabel("spin") + "=true"})
	if err != nil {
		return Result{Status: Fail, Summary: "cannot list nodes", Why: err.Error()}
	}

	arches := map[string]bool{}
	for _, n := range nodes.Items {
		arches[n.Labels["kubernetes.io/arch"]] = true
	}

	delete(arches, "")

	if len(arches) == 0 {
		return helloFailure(env, "no spin-capable node", probe.HelloResult{Err: fmt.Errorf("no Node is labelled %s=true", plan.ExtensionLabel("spin"))})
	}

	// The plan's point is arm64: the boards are Raspberry Pis. Every other
	// architecture present is tried too, and each one named.
	var done []string

	for _, arch := range sortedKeys(arches) {
		f := probe.Spin
		f.Name += "-" + arch
		f.NodeSelector = map[string]string{"kubernetes.io/arch": arch}

		res := probe.RunHello(ctx, env.Kube, env.Fetch, f, probe.HelloOptions{Requests: 1, Timeout: env.Hello.Timeout}, func(probe.Event) {})
		if res.Err != nil {
			r := helloFailure(env, "the Spin image did not answer on "+arch, res)
			r.Evidence = append(r.Evidence, "answered on: "+probe.OrDash(strings.Join(done, " ")))

			return r
		}

		done = append(done, arch)
	}

	if !arches["arm64"] {
		return Result{Status: Fail, Summary: fmt.Sprintf("%s answers on %s, but the lab has no arm64 spin node", probe.SpinHelloImage, strings.Join(done, " and ")),
			Why: "the test plan's point is the same Spin image on arm64 (the Raspberry Pis); no spin-capable Node is labelled kubernetes.io/arch=arm64",
			Fix: "bring up an arm64 board (a Pi) with the spin extension, then run the check again"}
	}

	return pass("%s answers on %s: every architecture with a spin node", probe.SpinHelloImage, strings.Join(done, " and "))
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}

	slices.Sort(out)

	return out
}

func baseline(ctx context.Context, env *Env) Result {
	if r, ok := needKube(env); !ok {
		return r
	}

	if r, ok := needReadyNode(env); !ok {
		return r
	}

	var parts []string

	for _, f := range probe.Flavours {
		res := probe.RunHello(ctx, env.Kube, env.Fetch, f, env.Hello, func(probe.Event) {})
		if res.Err != nil {
			return helloFailure(env, "the "+f.Name+" hello-world did not answer", res)
		}

		parts = append(parts, fmt.Sprintf("%s: cold %s, p50 %s, p99 %s", f.Name,
			res.ColdStart.Round(time.Millisecond), res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond)))
	}

	return pass("%s", strings.Join(parts, "; "))
}

// tailscaleNodes are nodes whose image has tailscale, and those where it runs.
func tailscaleNodes(env *Env) (present, up []*probe.Node) {
	for _, n := range env.Lab.Nodes {
		if x, ok := n.Extensions["tailscale"]; ok && x.State == probe.ExtensionPresent {
			present = append(present, n)

			if s, ok := n.Services["ext-tailscale"]; ok && s.Up {
				up = append(up, n)
			}
		}
	}

	return present, up
}

func subnetRouter(_ context.Context, env *Env) Result {
	gw, ok := env.Plan.Gateway()
	if !ok {
		return skip("the plan has no gateway (tailscale disabled)")
	}

	n := env.Lab.Node(gw.Name)
	want := strings.Join(env.Plan.Routes(), ",")

	switch s, ok := n.Services["ext-tailscale"]; {
	case !judgeable(n):
		return failNodes(env, "the gateway "+gw.Name+" could not be read, so whether its tailscale runs is unknown", []*probe.Node{n})
	case !ok || !s.Up:
		return failNodes(env, "the gateway "+gw.Name+"'s tailscale is not running, so nothing advertises the cluster's routes", []*probe.Node{n})
	case env.Tailscale == nil:
		return skip("ext-tailscale runs on %s, but whether it advertises %s, and whether they are approved, could not be seen: %s", gw.Name, want, probe.OrDash(env.NoTailscale))
	}

	v, host := env.Tailscale.Route, env.Plan.Tailscale.Hostname

	switch {
	case !v.GatewaySeen:
		return Result{Status: Fail, Summary: "the gateway " + host + " is not on the tailnet", Why: v.Detail(),
			Fix: "check the auth key in the gateway's tailscale config (liftoff gen --tailscale-authkey-file) and ext-tailscale's log: talosctl logs ext-tailscale -n " + gw.Name}
	case v.FromAPI && !slices.Contains(v.Advertising, host):
		return Result{Status: Fail, Summary: host + " is on the tailnet but does not advertise " + want, Why: v.Detail(),
			Fix: "the gateway's tailscale config needs TS_ROUTES=" + want + " (liftoff gen writes it)"}
	case v.FromAPI && !slices.Contains(v.Approved, host):
		return Result{Status: Fail, Summary: "the routes are advertised but not approved", Why: v.Detail(),
			Fix: "approve " + want + " for " + host + " in the Tailscale admin console (Machines → " + host + " → Edit route settings), or add an autoApprovers rule to the tailnet policy"}
	case v.State() != probe.RoutePrimary:
		return Result{Status: Fail, Summary: "no peer routes the cluster CIDRs yet", Why: v.Detail(),
			Fix: "approve the routes in the Tailscale admin console; without an API key (--tailscale-api-key-file) liftoff cannot tell unapproved from offline"}
	}

	return pass("%s advertises %s, approved; primary %s", host, want, v.Primary)
}

// trafficFlow asks the Spin hello-world's ClusterIP through the route, as
// a laptop on the tailnet would.
// flowTries bounds the attempts at a route that should work.
const flowTries = 3

func trafficFlow(ctx context.Context, env *Env) Result {
	if _, ok := env.Plan.Gateway(); !ok {
		return skip("the plan has no gateway (tailscale disabled): no route leads from the tailnet to the cluster")
	}

	if env.Tailscale == nil || env.Tailscale.Dial == nil {
		return skip("%s", "needs the Tailscale route probe: "+probe.OrDash(env.NoTailscale))
	}

	if r, ok := needKube(env); !ok {
		return r
	}

	if r, ok := needReadyNode(env); !ok {
		return r
	}

	if !env.Hello.Keep {
		defer probe.CleanupHello(context.WithoutCancel(ctx), env.Kube) //nolint:errcheck // best effort
	}

	hello, addr, failed, ok := routeTarget(ctx, env)
	if !ok {
		return failed
	}

	f := flowThrough(ctx, env, addr, hello)

	if f.OK() {
		return pass("%s answered %q through %s in %s", addr, f.Body, probe.OrDash(env.Tailscale.Route.Primary), f.Latency.Round(time.Microsecond))
	}

	said := map[string]string{
		probe.FlowNoRoute:     "is unreachable from here: no Tailscale route leads to it",
		probe.FlowNoAnswer:    "does not answer through the Tailscale route",
		probe.FlowWrongAnswer: "answers wrongly through the Tailscale route",
	}[f.Outcome]
	r := Result{Status: Fail, Summary: "the hello-world Service at " + addr + " " + said, Why: f.Detail,
		Evidence: []string{"route: " + env.Tailscale.Route.Detail()}}

	switch {
	case !env.Tailscale.Route.GatewaySeen:
		r.Fix = "the gateway is not on the tailnet: fix its tailscale first (see subnet-router-config)"
	case f.Outcome == probe.FlowNoRoute:
		r.Fix = "approve the gateway's routes and accept them on this machine (tailscale set --accept-routes)"
	case f.Outcome == probe.FlowNoAnswer:
		r.Fix = "the route works but nothing answers: check the gateway forwards (IP forwarding, its ext-tailscale log) and the Service has ready endpoints"
	default:
		r.Fix = "something else answers at " + addr + ": a LAN or another route overlaps the service CIDR " + env.Plan.Network.ServiceCIDR
	}

	return r
}

// flowThrough asks addr through the route. A usable route's first
// connection waits for the WireGuard handshake with the gateway (via DERP
// first), which on a loaded machine can outlast one attempt; only "no
// route" is worth another try.
func flowThrough(ctx context.Context, env *Env, addr string, hello probe.Flavour) probe.FlowResult {
	f := probe.TrafficFlow(ctx, env.Tailscale.Dial, addr, "/hello", hello.Text)
	for try := 1; try < flowTries && f.Outcome == probe.FlowNoRoute && env.Tailscale.Route.Usable() && ctx.Err() == nil; try++ {
		f = probe.TrafficFlow(ctx, env.Tailscale.Dial, addr, "/hello", hello.Text)
	}

	return f
}

// routeTarget deploys a hello-world to reach through the route and kept
// running (the caller cleans up): Spin's, else the container one — the
// route is the subject, and when Spin cannot run (its own checks say so)
// the container hello-world still tests the path.
func routeTarget(ctx context.Context, env *Env) (hello probe.Flavour, addr string, failed Result, ok bool) {
	opts := env.Hello
	opts.Keep = true

	var res probe.HelloResult

	for _, hello = range probe.Flavours {
		if res = probe.RunHello(ctx, env.Kube, env.Fetch, hello, opts, func(probe.Event) {}); res.Err == nil {
			break
		}
	}

	if res.Err != nil {
		return hello, "", helloFailure(env, "no hello-world came up, so there is nothing to reach through the route", res), false
	}

	addr, err := probe.HelloAddr(ctx, env.Kube, hello)
	if err != nil {
		return hello, "", Result{Status: Fail, Summary: "the hello-world Service has no address to reach", Why: err.Error()}, false
	}

	return hello, addr, Result{}, true
}

func singleGateway(_ context.Context, env *Env) Result {
	present, _ := tailscaleNodes(env)

	// A board answering in maintenance mode routes nothing: its extension
	// services wait for cri, which Talos v1.13.3 starts only in the boot
	// sequence's StartAllServices, after a config (v1alpha1_sequencer.go).
	blind := nodesWhere(env, func(n *probe.Node) bool {
		return n.Role != "" && !judgeable(n) && !(n.Reachable && n.Stage == probe.StageMaintenance)
	})
	seen := len(nodesWhere(env, func(n *probe.Node) bool { return n.Role != "" })) - len(blind)

	var advertising []string
	if env.Tailscale != nil {
		advertising = env.Tailscale.Route.Advertising
	}

	switch {
	case len(present) > 1 || len(advertising) > 1:
		// Images and tailnet devices are counted apart: nodes whose
		// tailscale never logged in carry it without being devices.
		var counts []string

		if len(present) > 0 {
			counts = append(counts, fmt.Sprintf("%s carry tailscale (%s)", plural(len(present), "node", "nodes"), names(present)))
		}

		if len(advertising) > 0 {
			counts = append(counts, fmt.Sprintf("%s the cluster's routes on the tailnet (%s)",
				plural(len(advertising), "device advertises", "devices advertise"), strings.Join(advertising, ", ")))
		}

		r := failNodes(env, "more than one node can route for the cluster: "+strings.Join(counts, "; "), present)
		r.Why = "one subnet router per cluster: several routers fight over the same routes, and on a node with tailscale but no config ext-tailscale waits for one, so its boot sequence never finishes"
		r.Fix = "keep the gateway image on one board and give every other board the compute image"

		return r
	case len(blind) > 0:
		return unjudged(env, "how many nodes can route for the cluster", seen, blind)
	case len(present) == 0 && !env.Plan.Tailscale.Disabled:
		gw, _ := env.Plan.Gateway()
		r := Result{Status: Fail, Summary: "no node has tailscale",
			Why: "the plan makes " + gw.Name + " the gateway, but no running image carries the tailscale extension, so nothing routes the tailnet to the cluster",
			Fix: "give " + gw.Name + " the gateway image (liftoff images shows its installer; an upgrade must name it too)"}

		if n := env.Lab.Node(gw.Name); n.Installer != "" {
			r.Evidence = []string{gw.Name + ": installer " + n.Installer + ", extensions " + probe.OrDash(strings.Join(n.ExtensionNames(), " "))}
		}

		return r
	case len(present) == 0:
		return skip("the plan has no gateway (tailscale disabled), and no node carries tailscale")
	case env.Plan.Tailscale.Disabled:
		r := failNodes(env, "the plan disables tailscale, but "+names(present)+" carries it", present)
		r.Why = "with tailscale.disabled no node is a subnet router; a node with tailscale and no config never becomes ready"
		r.Fix = "give " + names(present) + " the compute image"

		return r
	}

	return pass("%s is the only node with tailscale", present[0].Name)
}
