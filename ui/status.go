package ui

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
)

// state is one thing's condition as icon, word and tone: the icon and the
// word carry the meaning, the colour only repeats it.
type state struct {
	icon, word string
	tone       tone
}

func (s state) String() string { return s.icon + " " + s.word }

var (
	stPending = state{"·", "waiting", idle}
)

// nodeState sums a board up in one word, the one its panel leads with.
func nodeState(n *probe.Node, now time.Time) state {
	switch {
	case n.Repair.Running() && n.Repair.State == "rebooting" && !ready(n):
		return state{"⚒", "repair: rebooting", busy}
	case n.Repair.Running():
		return state{"⚒", "repairing", busy}
	case !n.Reachable && n.Unreachable != "" && rebooting(n, now):
		return state{"…", "rebooting", busy}
	case !n.Reachable && n.Unreachable != "":
		return state{"✗", "unreachable", bad}
	case ready(n):
		return state{"✓", "ready", good}
	case probe.AwaitingCNI(n):
		// The plan leaves the pod network to a platform installed next.
		return state{"…", "waiting for " + n.CNIBy, busy}
	case restarting(n) != "":
		return state{"✗", "restarting", bad}
	case blocked(n) != "":
		// Talos's boot sequence waits for a service that waits for ever:
		// stage booting, while Kubernetes may call the Node Ready.
		return state{"✗", "booting: " + blocked(n) + " waits", bad}
	case n.NodeReady && n.Stage == probe.StageRunning && len(n.Unmet) > 0:
		// Kubernetes is happy, Talos is not: the founding failure looks like this.
		return state{"✗", "not ready in Talos", bad}
	case len(n.Missing()) > 0 && installedImage(n):
		return state{"✗", "wrong image", bad}
	case stuck(n, now):
		return state{"✗", "stuck " + n.Stage.String(), bad}
	case n.Stage == probe.StageRunning && n.MachineReady:
		return state{"…", "joining", busy}
	case n.Stage == probe.StageRunning:
		return state{"…", "starting", busy}
	case n.Stage == probe.StageMaintenance || n.Stage == "":
		if n.AppliedAt.IsZero() {
			return state{"·", "maintenance", idle}
		}

		return state{"…", "applying", busy}
	}

	return state{"…", n.Stage.String(), busy}
}

// installedImage tells that the board runs its installed image, so its
// extension list is final (a plain installer's image has none at all).
func installedImage(n *probe.Node) bool {
	return n.Stage == probe.StageRunning && (len(n.Extensions) > 0 || !n.AppliedAt.IsZero() && n.Boots > 0)
}

// ready is ready in Talos and in Kubernetes: a node with tailscale and no
// config reads Ready in Kubernetes while Talos keeps it booting.
func ready(n *probe.Node) bool { return n.NodeReady && n.MachineReady }

// rebooting tells an expected outage (install, reboot) from a lost board:
// the API goes away for a while after every apply.
func rebooting(n *probe.Node, now time.Time) bool {
	switch n.Stage {
	case probe.StageInstalling, probe.StageRebooting, probe.StageBooting:
		return !stuck(n, now)
	}

	return false
}

// blocked names the service a booting node's boot sequence waits for that
// itself waits for something that will not come (its config, a module).
func blocked(n *probe.Node) string {
	if n.Stage != probe.StageBooting {
		return ""
	}

	id, _ := n.Blocked()

	return id
}

// restarting names a service that keeps restarting, if any: a restart
// policy at work on a service that keeps failing.
func restarting(n *probe.Node) string {
	for _, name := range slices.Sorted(maps.Keys(n.Services)) {
		s := n.Services[name]
		if !s.Up && s.Restarts > 0 {
			return name
		}
	}

	return ""
}

// stuck is past the stage's budget: the same table probe.Diagnose reads.
func stuck(n *probe.Node, now time.Time) bool {
	_, s := n.Stuck(now)

	return s
}

// extState is one extension on a board: active (with its time after
// apply), present but not yet active, missing, or unexpected.
func extState(n *probe.Node, name string) state {
	x := n.Extensions[name]
	expected := len(n.Expect) == 0 || slices.Contains(n.Expect, name)

	switch {
	case x == nil || x.State == probe.ExtensionMissing:
		if installedImage(n) {
			return state{"✗", name + " missing", bad}
		}

		return state{"·", name, idle}
	case !expected:
		return state{"!", name + " unexpected", warn}
	case !x.ActiveAt.IsZero():
		if n.AppliedAt.IsZero() {
			return state{"✓", name, good}
		}

		return state{"✓", name + " +" + dur(x.ActiveAt.Sub(n.AppliedAt)), good}
	case n.Services["ext-"+name] != nil && n.Services["ext-"+name].Restarts > 0:
		return state{"✗", name + " restarting", bad}
	case blocked(n) == "ext-"+name || strings.HasPrefix(blocked(n), "ext-"+name+"-"):
		return state{"✗", name + " waiting", bad}
	}

	return state{"…", name, busy}
}

// extNames is what a panel lists: expected extensions first (so a missing
// one shows), then any others the image has.
func extNames(n *probe.Node) []string {
	out := append([]string(nil), n.Expect...)

	for _, name := range n.ExtensionNames() {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}

	return out
}

func talosState(n *probe.Node) state {
	switch {
	case n.MachineReady:
		return state{"✓", "ready", good}
	case probe.AwaitingCNI(n):
		return state{"✓", "up; only its Node waits", good}
	case n.Stage == probe.StageRunning && len(n.Unmet) > 0:
		return state{"✗", "not ready", bad}
	case n.Stage == probe.StageRunning:
		return state{"…", "checking", busy}
	case blocked(n) != "":
		return state{"✗", "booting", bad}
	}

	return stPending
}

func kubeState(n *probe.Node) state {
	switch {
	case n.NodeReady:
		return state{"✓", "Ready", good}
	case probe.AwaitingCNI(n):
		return state{"…", "NotReady until " + n.CNIBy + "'s CNI", busy}
	case n.NodeReason != "":
		return state{"✗", "NotReady", bad}
	case n.MachineReady:
		return state{"…", "joining", busy}
	}

	return state{"·", "not joined", idle}
}

// readyTiming is the time from apply to Kubernetes Ready, or, while not
// ready, how long it has been so far.
func readyTiming(n *probe.Node, now time.Time) (time.Duration, bool) {
	if d, ok := n.ReadyAfter(); ok {
		return d, true
	}

	if n.AppliedAt.IsZero() || now.Before(n.AppliedAt) {
		return 0, false
	}

	return now.Sub(n.AppliedAt), false
}

// dur is a compact duration for narrow panels: 48s, 2m05s, 1h04m.
func dur(d time.Duration) string {
	if d < 0 {
		d = 0
	}

	switch {
	case d < time.Second:
		return "<1s" // stage ages and timings in whole seconds; ms is noise here
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}

	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// latency keeps sub-millisecond precision where it matters (WASM answers fast).
func latency(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}

	return fmt.Sprintf("%.1fs", d.Seconds())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}

	return fmt.Sprintf("%d %s", n, many)
}

func short(id string, n int) string {
	if len(id) > n {
		return id[:n] + "…"
	}

	return id
}
