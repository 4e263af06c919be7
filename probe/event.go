// Package probe observes a lab — real or simulated, through the same
// clients — and turns what it sees into timed events. The dashboard and
// `liftoff check` are two consumers of the same streams; Lab folds a stream
// into the current picture both of them read.
package probe

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind says what an event is about.
type Kind string

// Event kinds, in roughly the order a board produces them.
const (
	// Planned: what the plan wants of a board (State: machine type, Name: role, Detail: expected extensions, space-separated).
	Planned Kind = "planned"
	// Hardware: what the plan says a board is (Name: its model, rpi5 …; State: the Image Factory overlay
	// its images need, "" for none).
	Hardware Kind = "hardware"
	// Discovered: a board answered in maintenance mode (Detail: model/arch).
	Discovered Kind = "discovered"
	// Applied: a config was applied to the board (Detail: installer image).
	Applied Kind = "applied"
	// Stage: the Talos machine stage changed (State: installing, rebooting, booting, running, maintenance …).
	Stage Kind = "stage"
	// Reachable: the Talos API answered (Ready) or stopped answering (!Ready; Detail: why).
	Reachable Kind = "reachable"
	// Moved: the board answers at another address now (State: the new endpoint; Detail: how it was found).
	Moved Kind = "moved"
	// Extension: an extension is present in the running image, or gone from it (Name, State: present|missing, Detail: version); which are unexpected for the role is the fold's to say (Node.Unexpected).
	Extension Kind = "extension"
	// KernelModule: a kernel module the machine config lists, as Talos publishes it (talosctl get
	// kernelmodulespecs; Name: the module, Ready: listed (false: no longer), Detail: its parameters).
	KernelModule Kind = "kernel-module"
	// Service: a Talos service changed (Name, State: Talos's state, Ready: up by Talos's rule —
	// running and healthy or without a health check —, Count: restarts, Detail: last message).
	Service Kind = "service"
	// MachineReady: Talos's MachineStatus ready flag (Ready; Items: its unmet conditions, each
	// "name: reason"; Detail: the same for people, joined by "; ", never read back but in recordings
	// made before Items, see UnmetConditions).
	MachineReady Kind = "machine-ready"
	// TalosDiagnostic: a Talos Diagnostic resource (talosctl get diagnostics): Name: its ID (address-overlap,
	// kubelet-csr …), Ready: present (false: resolved), Items: its message, then its details; Detail: the
	// same for people, joined by "; ", read back only from recordings made before Items (DiagnosticParts).
	TalosDiagnostic Kind = "diagnostic"
	// NodeReady: the Kubernetes Node Ready condition (Ready; Detail: reason).
	NodeReady Kind = "node-ready"
	// Bootstrapped: etcd was bootstrapped on this control plane.
	Bootstrapped Kind = "bootstrapped"
	// Route: the Tailscale subnet route (cluster-wide; State: advertised|approved|primary|missing; Detail: CIDRs,
	// then what holds and what is wrong; Name: the primary router; Ready: usable from this machine; Count: devices
	// advertising the CIDRs).
	Route Kind = "route"
	// Traffic: a request to a cluster address through the Tailscale route, from the operator's side
	// (cluster-wide; Name: ClusterIP:port; State: ok|no-route|no-answer|wrong-answer; Ready: the right
	// answer; Latency; Detail: the body, or what happened).
	Traffic Kind = "traffic"
	// Hello: a hello-world response (cluster-wide; Name: wasm|container; Ready: right answer; Latency; Detail: body or error).
	Hello Kind = "hello"
	// Log: a line worth showing (Name: service or "dmesg"; Detail: the line).
	Log Kind = "log"
	// Error: the probe itself failed (Detail: what and why); the stream goes on.
	Error Kind = "error"
	// RepairStep: a repair liftoff runs on the board (Name: its kind — upgrade, re-apply, approve, bootstrap,
	// reset; State: started|step|rebooting|done|failed|cancelled; Ready: the board is Ready again (done);
	// Detail: what is happening, or why it failed).
	RepairStep Kind = "repair"
	// Handover: the gateway moves to another board (cluster-wide; Name: the old and the new gateway,
	// space-separated; State: started|standby|failover|done|failed|cancelled; Ready: done, the route answers
	// through the new gateway; Latency: the measured outage, the time the tailnet could not reach the
	// cluster; Detail: what is happening).
	Handover Kind = "handover"
	// AwaitsCNI: the plan leaves the pod network to a platform installed
	// after Talos (Name: the platform, e.g. CozyStack; Detail: the command
	// that installs it), so the Node is NotReady until then by design.
	AwaitsCNI Kind = "awaits-cni"
	// LabFault: the simulated lab reports a fault of its own — a board that
	// stayed in one stage far longer than its timing allows (State: the
	// stage; Detail: what and for how long). Never seen on real boards.
	LabFault Kind = "lab-fault"
)

// Event is one observation. It is flat on purpose: easy to record as JSON
// lines, replay, and filter.
type Event struct {
	Time    time.Time     `json:"t"`
	Node    string        `json:"node,omitempty"` // board name; empty for cluster-wide events
	Kind    Kind          `json:"kind"`
	Name    string        `json:"name,omitempty"`
	State   string        `json:"state,omitempty"`
	Ready   bool          `json:"ready,omitempty"`
	Count   int           `json:"count,omitempty"`
	Latency time.Duration `json:"latency,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	Items   []string      `json:"items,omitempty"` // a list the kind names (unmet conditions, a diagnostic's parts)
}

// SameAs is whether o says what e says: every field but Time (keep it
// in step with Event's fields).
func (e Event) SameAs(o Event) bool {
	return e.Node == o.Node && e.Kind == o.Kind && e.Name == o.Name && e.State == o.State && e.Ready == o.Ready &&
		e.Count == o.Count && e.Latency == o.Latency && e.Detail == o.Detail && slices.Equal(e.Items, o.Items)
}

// UnmetConditions is a MachineReady event's unmet conditions: Items, or
// in a recording made before that field, its Detail split where the probe
// joined them.
func (e Event) UnmetConditions() []string { return e.list() }

// DiagnosticParts is a TalosDiagnostic event's message, then its details;
// from a recording made before Items, its Detail split as it was joined.
func (e Event) DiagnosticParts() []string { return e.list() }

func (e Event) list() []string {
	if e.Items != nil || e.Detail == "" {
		return e.Items
	}

	return strings.Split(e.Detail, "; ")
}

// MarshalLine is the event as one JSON line (the record format).
func (e Event) MarshalLine() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}

	return append(b, '\n'), nil
}

// String is the event as one line for people — when (UTC, to the
// millisecond), which board, what kind, then what it says. Headless runs
// print it and support bundles keep it as their timeline.txt.
func (e Event) String() string {
	parts := []string{e.Time.UTC().Format("2006-01-02 15:04:05.000"), fmt.Sprintf("%-8s %-13s", OrDash(e.Node), e.Kind)}

	for _, s := range []string{e.Name, e.State} {
		if s != "" {
			parts = append(parts, s)
		}
	}

	switch e.Kind {
	case Reachable, MachineReady, NodeReady, Service:
		parts = append(parts, map[bool]string{true: "ready", false: "not ready"}[e.Ready])
	}

	if e.Count > 0 {
		parts = append(parts, fmt.Sprintf("count=%d", e.Count))
	}

	if e.Latency > 0 {
		parts = append(parts, "in "+e.Latency.Round(time.Microsecond).String())
	}

	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}

	return strings.Join(parts, " ")
}
