package probe

import (
	"strings"
	"time"
)

// RepairKind names what a repair does to its board.
type RepairKind string

// The repairs liftoff can run for a diagnosis (cluster/repair runs them).
const (
	// RepairUpgrade installs the role's installer on the running board
	// (the Talos machine API's Upgrade) and reboots it into that image.
	RepairUpgrade RepairKind = "upgrade"
	// RepairReapply sends the board its config, regenerated from the plan
	// and the secrets bundle as liftoff gen writes it. Talos picks the
	// mode (auto): no reboot where it can apply the change live.
	RepairReapply RepairKind = "re-apply"
	// RepairApprove approves the gateway's advertised routes in the tailnet.
	RepairApprove RepairKind = "approve"
	// RepairBootstrap bootstraps etcd on the plan's first control plane.
	RepairBootstrap RepairKind = "bootstrap"
	// RepairReset wipes the board's STATE and EPHEMERAL partitions
	// (gracefully) and reboots it into maintenance mode.
	RepairReset RepairKind = "reset"
)

// Repair is a diagnosis's safe remedy as data: which one board it touches,
// what it does there, the command an operator would type for it, and what
// it costs. Nothing here does I/O; cluster/repair runs it. Command uses
// talosctl's own placeholders where only the plan knows the value
// (ADDRESS, <installer>); cluster/repair fills them in.
type Repair struct {
	Kind    RepairKind
	Node    string // the only board it touches
	Title   string
	Does    string // what it does to Node, in words
	Command string // the talosctl (or Tailscale API) equivalent
	Reboots bool
	// Stages are the Talos stages the board goes through; Takes sums
	// their usual times from the one stage-budget table (budget.go).
	Stages []MachineStage
}

// Takes is how long the repair usually takes: the typical times of the
// stages it goes through; zero for one that changes a running board live.
func (r Repair) Takes() time.Duration {
	var d time.Duration

	for _, s := range r.Stages {
		if st, ok := StageBudget(s); ok {
			d += st.Typical
		}
	}

	return d
}

// throughReboot is what an install or upgrade goes through.
var throughReboot = []MachineStage{StageInstalling, StageRebooting, StageBooting}

func upgradeRepair(n *Node, why string) *Repair {
	return &Repair{
		Kind:  RepairUpgrade,
		Node:  n.Name,
		Title: "upgrade " + n.Name + " to its role's installer",
		Does: "installs the " + OrDash(n.Role) + " installer liftoff images lists for " + n.Name + " (" + why + "), " +
			"then reboots it into that image; its config and the cluster's data stay",
		Command: "talosctl upgrade -n ADDRESS -e ADDRESS --image <installer>",
		Reboots: true,
		Stages:  throughReboot,
	}
}

// reapplyRepair: a running board's config again, Talos choosing the mode.
func reapplyRepair(n *Node, why string) *Repair {
	return &Repair{
		Kind:    RepairReapply,
		Node:    n.Name,
		Title:   "re-apply " + n.Name + "'s config",
		Does:    "regenerates " + n.Name + "'s config from the plan and the secrets bundle (as liftoff gen does) and applies it; " + why,
		Command: "talosctl apply-config -n ADDRESS -e ADDRESS --file " + n.Name + ".yaml --mode auto",
	}
}

// installRepair: a board back in maintenance mode gets its config again
// and installs from scratch.
func installRepair(n *Node) *Repair {
	return &Repair{
		Kind:    RepairReapply,
		Node:    n.Name,
		Title:   "apply " + n.Name + "'s config again",
		Does:    "sends " + n.Name + " its config in maintenance mode; it installs and reboots into it",
		Command: "talosctl apply-config --insecure -n ADDRESS -e ADDRESS --file " + n.Name + ".yaml",
		Reboots: true,
		Stages:  throughReboot,
	}
}

func bootstrapRepair(n *Node) *Repair {
	return &Repair{
		Kind:    RepairBootstrap,
		Node:    n.Name,
		Title:   "bootstrap etcd on " + n.Name,
		Does:    "sends " + n.Name + " the one Bootstrap call a new cluster needs, at its own address (never the VIP); etcd starts, then the Kubernetes API",
		Command: "talosctl bootstrap -n ADDRESS -e ADDRESS",
	}
}

// ResetRepair starts a board over: graceful (leaves etcd, cordons and
// drains), wiping only the STATE and EPHEMERAL partitions, then a reboot
// into maintenance mode. It belongs to no diagnosis: the operator asks for
// it (liftoff fix --reset), and confirms it twice.
func ResetRepair(node string) Repair {
	return Repair{
		Kind:  RepairReset,
		Node:  node,
		Title: "reset " + node + " to maintenance mode",
		Does: "leaves etcd and drains " + node + " (graceful), wipes its STATE and EPHEMERAL partitions — its config and its data — " +
			"and reboots it into maintenance mode, ready for a config again",
		Command: "talosctl reset -n ADDRESS -e ADDRESS --graceful --reboot --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL",
		Reboots: true,
		Stages:  []MachineStage{StageRebooting, StageBooting},
	}
}

func approveRepair(n *Node, cidrs string) *Repair {
	return &Repair{
		Kind:  RepairApprove,
		Node:  n.Name,
		Title: "approve " + n.Name + "'s routes in the tailnet",
		Does: "approves the routes " + n.Name + " advertises (" + cidrs + ") through the Tailscale API with the API key file; " +
			"without one, shows the admin console's steps",
		Command: `curl -u "$TS_API_KEY:" -X POST https://api.tailscale.com/api/v2/device/DEVICE_ID/routes -d '{"routes":[…]}'`,
	}
}

// DiagnoseIn is Diagnose with what only the whole lab knows about a board
// (TailnetDiagnoses).
func DiagnoseIn(l *Lab, n *Node, now time.Time) []Diagnosis {
	return append(Diagnose(n, now), TailnetDiagnoses(l, n)...)
}

// TailnetDiagnoses are what the tailnet lacks for a board that is itself
// fine: the gateway's routes advertised but not approved.
func TailnetDiagnoses(l *Lab, n *Node) []Diagnosis {
	if d, ok := routeDiagnosis(l, n); ok {
		return []Diagnosis{d}
	}

	return nil
}

// FirstRepair is the first of a board's diagnoses that carries a repair.
func FirstRepair(l *Lab, n *Node, now time.Time) (Diagnosis, bool) {
	for _, d := range DiagnoseIn(l, n, now) {
		if d.Repair != nil {
			return d, true
		}
	}

	return Diagnosis{}, false
}

// routeDiagnosis: the gateway advertises the cluster routes and the
// tailnet has not approved them (the route probe tells with an API key).
func routeDiagnosis(l *Lab, n *Node) (Diagnosis, bool) {
	if l == nil || n.Role != "gateway" || l.Route.State != RouteAdvertised {
		return Diagnosis{}, false
	}

	cidrs, _, _ := strings.Cut(l.Route.Detail, ":")

	return Diagnosis{
		Title: n.Name + "'s routes are advertised but not approved",
		Why: "tailscaled on " + n.Name + " advertises " + cidrs + ", but a subnet route carries traffic only once the tailnet's admin approves it " +
			"(or an autoApprovers rule in the tailnet policy does)",
		Fix:      "approve them: Tailscale admin console → Machines → " + n.Name + " → Edit route settings → tick " + cidrs + " → Save",
		Evidence: []string{"route: " + l.Route.Detail},
		Repair:   approveRepair(n, cidrs),
	}, true
}
