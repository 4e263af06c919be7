package probe

import (
	"slices"
	"strings"
	"time"
)

// logKeep is how many lines per source a node keeps for the troubleshoot view.
const logKeep = 50

// Lab is the current picture of a lab, folded from events. It is a plain
// value with no locks: one goroutine (the UI's update loop, or check) owns it.
type Lab struct {
	Nodes []*Node
	Route RouteState
	// Traffic is the last request through the route (zero until one).
	Traffic TrafficState
	Hello   map[string]HelloState // by flavour: wasm, container
	// Handover is the gateway moving to another board (zero until it does).
	Handover HandoverState
	First    time.Time // time of the first event
	Last     time.Time // time of the latest event
}

// Node is one board's picture.
type Node struct {
	Name    string
	Machine string   // controlplane | worker (from the plan)
	Role    string   // compute | gateway (from the plan)
	Expect  []string // extensions the role asks for
	Info    string   // what discovery said (model, arch, disks)
	// Model is the plan's board model (rpi5 …); WantOverlay the Image
	// Factory overlay its images need ("" for none).
	Model       string
	WantOverlay string

	Stage      MachineStage
	StageSince time.Time
	Boots      int // times the node entered the booting stage since apply

	Installer string // the installer image applied
	Schematic string // the running image's schematic ID, when it has one

	Endpoint  string // where it answers, when it moved from the plan's address
	MovedNote string

	Reachable   bool
	Unreachable string // why, when not reachable
	// Outage is the kind of the last outage (OutageOtherCluster …), "" while reachable.
	Outage       string
	AppliedAt    time.Time
	APIBackAt    time.Time // first reachable after apply
	Bootstrapped bool

	Extensions map[string]*ExtensionInfo
	Services   map[string]*ServiceInfo
	// KernelModules are the modules the running config lists, as Talos
	// publishes them (KernelModuleSpec): name → parameters.
	KernelModules map[string]string

	// BootWait is what the boot sequence still waits for, as its console
	// says every 15 s (the aggregate condition: `service "ext-zfs-service"
	// to be "up"`); BootWaitFor are those services and BootWaitSince when
	// this boot first said so. Empty once the sequence is done.
	BootWait      string
	BootWaitFor   []string
	BootWaitSince time.Time
	// BootFailures counts boot sequences that failed since apply (at
	// BootTimeout: Talos then reboots the machine).
	BootFailures int
	bootFailed   map[string]bool

	// InstallDisk and Overlay are what the console said of the last
	// install: the disk Talos went to and the overlay installer that ran.
	InstallDisk string
	Overlay     string

	MachineReady   bool
	MachineReadyAt time.Time
	Unmet          []string

	NodeReady   bool
	NodeReadyAt time.Time
	NodeReason  string
	// NodeReasonSince is when the Node's Ready condition last changed.
	NodeReasonSince time.Time

	// Hostname is the Kubernetes Node name the board goes by, as its Talos
	// tells (the Nodename resource, or the Node its nodeReady condition
	// waits for); HostnameFrom is that evidence.
	Hostname     string
	HostnameFrom string
	// SameHostname are the other boards going by the same Node name.
	SameHostname []string

	// CNIBy is the platform the plan leaves the pod network to (AwaitsCNI),
	// CNIInstall the command that installs it.
	CNIBy, CNIInstall string

	// Diagnostics are Talos's own warnings, by ID: the message, then its details.
	Diagnostics map[string][]string

	Logs   map[string][]string // last lines by source (service name or dmesg)
	Errors []string            // probe failures, newest last

	// Marks are the moments the timeline is drawn from (Node.Timeline), in
	// the order seen: applies, stage changes, the API going and coming back,
	// and the readiness milestones. MarksDropped counts those a long boot
	// loop pushed out (the first few are always kept).
	Marks        []Mark
	MarksDropped int
	extActive    bool // every expected extension active, as last marked

	// Repair is the latest repair liftoff ran on the board, as it went.
	Repair RepairState

	// LabFault is the simulated lab's own fault report on this board
	// (a stalled simulation), "" without one.
	LabFault string
}

// ExtensionInfo is one extension on a node.
type ExtensionInfo struct {
	Name     string
	State    ExtensionState
	Version  string
	ActiveAt time.Time // zero while not active
}

// ServiceInfo is one Talos service on a node.
type ServiceInfo struct {
	Name  string
	State string
	// Up is Talos's own rule, applied by the probe: running and healthy, or
	// running with no health check (extension services report Unknown).
	Up       bool
	Restarts int
	Message  string
	Since    time.Time
}

// RouteState is the Tailscale route as last seen.
type RouteState struct {
	State   string
	Detail  string
	Primary string // the router the route goes through
	Routers int    // devices advertising the cluster CIDRs
	Ready   bool   // usable from the probing machine
	Since   time.Time
}

// HandoverState is the gateway moving (Handover events).
type HandoverState struct {
	From, To string
	State    string // started, standby, failover, done, failed, cancelled
	Detail   string
	// Outage is how long the tailnet could not reach the cluster, once
	// measured (done).
	Outage  time.Duration
	Started time.Time
	Since   time.Time // when State last changed
}

// RepairState is a repair's progress on one board (RepairStep events).
type RepairState struct {
	Kind    string // upgrade, re-apply …; "" when none ran
	State   string // started, step, rebooting, done, failed, cancelled
	Detail  string
	Since   time.Time // when State last changed
	Started time.Time
}

// Running tells a repair still under way.
func (r RepairState) Running() bool {
	return r.Kind != "" && r.State != "done" && r.State != "failed" && r.State != "cancelled"
}

// TrafficState is the last request through the Tailscale route.
type TrafficState struct {
	Target  string // ClusterIP:port
	Outcome string // ok, no-route, no-answer, wrong-answer
	OK      bool
	Latency time.Duration
	Detail  string
	At      time.Time
}

// HelloState is the last hello-world answer of one flavour.
type HelloState struct {
	OK      bool
	Latency time.Duration
	Detail  string
	At      time.Time
	Count   int
}

// NewLab returns an empty picture.
func NewLab() *Lab {
	return &Lab{Hello: map[string]HelloState{}}
}

// Fold is the picture a stream of events gives, e.g. a recording's.
func Fold(events []Event) *Lab {
	l := NewLab()
	for _, e := range events {
		l.Apply(e)
	}

	return l
}

// Node returns a node by name, creating it on first sight so events may
// arrive in any order.
func (l *Lab) Node(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}

	n := &Node{Name: name, Extensions: map[string]*ExtensionInfo{}, Services: map[string]*ServiceInfo{}, Logs: map[string][]string{}}
	l.Nodes = append(l.Nodes, n)

	return n
}

// Apply folds one event in.
func (l *Lab) Apply(e Event) {
	if l.First.IsZero() || e.Time.Before(l.First) {
		l.First = e.Time
	}

	if e.Time.After(l.Last) {
		l.Last = e.Time
	}

	if e.Node == "" {
		l.applyCluster(e)

		return
	}

	n := l.Node(e.Node)
	wasReachable, wasMachine, wasNode := n.Reachable, n.MachineReady, n.NodeReady

	switch e.Kind {
	case Planned:
		n.Machine, n.Role = e.State, e.Name
		n.Expect = strings.Fields(e.Detail)
	case Hardware:
		n.Model, n.WantOverlay = e.Name, e.State
	case AwaitsCNI:
		n.CNIBy, n.CNIInstall = e.Name, e.Detail
	case Discovered:
		n.Info = e.Detail
		n.Reachable = true
	case Applied:
		n.AppliedAt, n.Installer = e.Time, e.Detail
		n.mark(Mark{At: e.Time, Kind: Applied})
		n.APIBackAt, n.Boots, n.BootFailures = time.Time{}, 0, 0
		// A new config may name the board anew.
		l.setHostname(n, "", "")
		// A new installer (an upgrade) brings its own extensions and their
		// services: the running image's are reported afresh once it runs
		// (every new watch sends them whole).
		clear(n.Extensions)
		clear(n.Services)
	case Stage:
		if st := MachineStage(e.State); n.Stage != st {
			n.Stage, n.StageSince = st, e.Time
			n.mark(Mark{At: e.Time, Kind: Stage, State: e.State})

			if st == StageBooting {
				n.Boots++
				n.BootWait, n.BootWaitFor, n.BootWaitSince = "", nil, time.Time{}
			}
		}
	case Reachable:
		n.Reachable = e.Ready
		n.Unreachable, n.Outage = "", ""

		if !e.Ready {
			n.Unreachable, n.Outage = e.Detail, e.State
		} else if !n.AppliedAt.IsZero() && n.APIBackAt.IsZero() && e.Time.After(n.AppliedAt) && n.Stage == StageRunning {
			n.APIBackAt = e.Time
		}
	case Extension:
		// Image Factory images carry a virtual extension named after the
		// schematic; it is the image's identity, not a feature.
		if e.Name == "schematic" {
			n.Schematic = e.Detail

			break
		}

		x := n.Extensions[e.Name]
		if x == nil {
			x = &ExtensionInfo{Name: e.Name}
			n.Extensions[e.Name] = x
		}

		x.State, x.Version = ExtensionState(e.State), e.Detail
	case Service:
		s := n.Services[e.Name]
		if s == nil {
			s = &ServiceInfo{Name: e.Name}
			n.Services[e.Name] = s
		}

		if s.State != e.State {
			s.Since = e.Time
		}

		switch {
		case e.Count > 0 || e.Detail != "":
			// ServiceList's account: state, restarts, last event.
			s.Restarts, s.Message = e.Count, e.Detail
		case s.State != e.State:
			// A Service resource says only running or not: an older
			// message no longer holds.
			s.Message = ""
		}

		s.State, s.Up = e.State, e.Ready
	case KernelModule:
		if n.KernelModules == nil {
			n.KernelModules = map[string]string{}
		}

		if e.Ready {
			n.KernelModules[e.Name] = e.Detail
		} else {
			delete(n.KernelModules, e.Name)
		}
	case MachineReady:
		if e.Ready && !n.MachineReady {
			n.MachineReadyAt = e.Time
		}

		n.MachineReady = e.Ready
		n.Unmet = e.UnmetConditions()

		for _, u := range n.Unmet {
			if name := waitedNode(u); name != "" {
				l.setHostname(n, name, "Talos: "+u)
			}
		}
	case Hostname:
		l.setHostname(n, e.Name, e.Detail)
	case NodeReady:
		if e.Ready && !n.NodeReady {
			n.NodeReadyAt = e.Time
		}

		if e.Detail != n.NodeReason || e.Ready != n.NodeReady {
			n.NodeReasonSince = e.Time
		}

		n.NodeReady, n.NodeReason = e.Ready, e.Detail
	case Bootstrapped:
		n.Bootstrapped = true
	case Moved:
		n.Endpoint, n.MovedNote = e.State, e.Detail
	case TalosDiagnostic:
		if n.Diagnostics == nil {
			n.Diagnostics = map[string][]string{}
		}

		if e.Ready {
			n.Diagnostics[e.Name] = e.DiagnosticParts()
		} else {
			delete(n.Diagnostics, e.Name)
		}
	case Log:
		if e.Name == "dmesg" {
			n.console(e.Detail, e.Time)
		}

		lines := append(n.Logs[e.Name], e.Detail)
		if len(lines) > logKeep {
			lines = lines[len(lines)-logKeep:]
		}

		n.Logs[e.Name] = lines
	case RepairStep:
		if n.Repair.Kind != e.Name || n.Repair.State != e.State {
			n.Repair.Since = e.Time
		}

		started := n.Repair.Started
		if e.State == "started" {
			started = e.Time
		}

		n.Repair = RepairState{Kind: e.Name, State: e.State, Detail: e.Detail, Since: n.Repair.Since, Started: started}
	case LabFault:
		n.LabFault = e.Detail
	case Error:
		n.Errors = append(n.Errors, e.Detail)
		if len(n.Errors) > logKeep {
			n.Errors = n.Errors[1:]
		}
	}

	n.updateActive(e.Time)
	n.markChanges(e, wasReachable, wasMachine, wasNode)
}

func (l *Lab) applyCluster(e Event) {
	switch e.Kind {
	case Route:
		if l.Route.State != e.State {
			l.Route.Since = e.Time
		}

		l.Route.State, l.Route.Detail = e.State, e.Detail
		l.Route.Primary, l.Route.Routers, l.Route.Ready = e.Name, e.Count, e.Ready
	case Traffic:
		l.Traffic = TrafficState{Target: e.Name, Outcome: e.State, OK: e.Ready, Latency: e.Latency, Detail: e.Detail, At: e.Time}
	case Handover:
		h := &l.Handover
		if e.State == "started" || h.Started.IsZero() {
			*h = HandoverState{Started: e.Time}
		}

		if h.State != e.State {
			h.Since = e.Time
		}

		if f := strings.Fields(e.Name); len(f) == 2 {
			h.From, h.To = f[0], f[1]
		}

		h.State, h.Detail = e.State, e.Detail
		if e.Latency > 0 {
			h.Outage = e.Latency
		}
	case Hello:
		h := l.Hello[e.Name]
		h.OK, h.Latency, h.Detail, h.At = e.Ready, e.Latency, e.Detail, e.Time
		h.Count++
		l.Hello[e.Name] = h
	}
}

// console folds in what a console line says of the boot sequence and the
// install. A reconnecting watch reads the whole kernel log again, so a
// failure is counted once per line.
func (n *Node) console(line string, at time.Time) {
	if text, ids, ok := bootWait(line); ok {
		if n.BootWaitSince.IsZero() {
			n.BootWaitSince = at
		}

		n.BootWait, n.BootWaitFor = text, ids

		return
	}

	switch {
	case bootSequenceDone(line):
		n.BootWait, n.BootWaitFor, n.BootWaitSince = "", nil, time.Time{}
	case bootSequenceFailed(line):
		if n.bootFailed == nil {
			n.bootFailed = map[string]bool{}
		}

		if !n.bootFailed[line] {
			n.bootFailed[line] = true
			n.BootFailures++
		}
	}

	if m := installDisk.FindStringSubmatch(line); m != nil {
		n.InstallDisk, n.Overlay = m[1], ""
	}

	if m := overlayRun.FindStringSubmatch(line); m != nil {
		n.Overlay = m[1]
	}
}

// waitedNode reads the Node name out of Talos's nodeReady condition:
// `nodeReady: node "pi-w-1" status is not available yet`.
func waitedNode(unmet string) string {
	_, rest, ok := strings.Cut(unmet, `nodeReady: node "`)
	if !ok {
		return ""
	}

	name, _, ok := strings.Cut(rest, `"`)
	if !ok {
		return ""
	}

	return name
}

// setHostname records the Node name a board goes by and recomputes which
// boards share one: two kubelets with one name fight over one Node.
func (l *Lab) setHostname(n *Node, name, from string) {
	if n.Hostname == name && (name == "" || n.HostnameFrom == from) {
		return
	}

	n.Hostname, n.HostnameFrom = name, from

	for _, a := range l.Nodes {
		a.SameHostname = nil

		for _, b := range l.Nodes {
			if a != b && a.Hostname != "" && a.Hostname == b.Hostname {
				a.SameHostname = append(a.SameHostname, b.Name)
			}
		}
	}
}

// updateActive keeps each extension's ActiveAt: present in the running
// image, and its ext-<name> service up when it has one.
func (n *Node) updateActive(now time.Time) {
	for name, x := range n.Extensions {
		active := x.State == ExtensionPresent && n.Stage == StageRunning
		if s, ok := n.Services["ext-"+name]; ok {
			active = active && s.Up
		}

		switch {
		case active && x.ActiveAt.IsZero():
			x.ActiveAt = now
		case !active:
			x.ActiveAt = time.Time{}
		}
	}
}

// ReadyAfter is the Ready timing: from apply until the node is ready in
// both Talos and Kubernetes. Either alone is not enough: with tailscale on
// a compute node the kubelet runs and the Node reads Ready, while Talos's
// boot sequence waits for ext-tailscale and the machine stays in booting.
func (n *Node) ReadyAfter() (time.Duration, bool) {
	if n.AppliedAt.IsZero() || n.NodeReadyAt.IsZero() || n.MachineReadyAt.IsZero() {
		return 0, false
	}

	ready := n.NodeReadyAt
	if n.MachineReadyAt.After(ready) {
		ready = n.MachineReadyAt
	}

	return ready.Sub(n.AppliedAt), true
}

// ExtensionNames returns the extensions seen, sorted.
func (n *Node) ExtensionNames() []string {
	names := make([]string, 0, len(n.Extensions))
	for name := range n.Extensions {
		names = append(names, name)
	}

	slices.Sort(names)

	return names
}

// Missing are expected extensions the running image lacks.
func (n *Node) Missing() []string {
	var out []string

	for _, want := range n.Expect {
		if x, ok := n.Extensions[want]; !ok || x.State != ExtensionPresent {
			out = append(out, want)
		}
	}

	return out
}

// Unexpected are extensions running that the role does not ask for.
func (n *Node) Unexpected() []string {
	var out []string

	for _, name := range n.ExtensionNames() {
		if n.Extensions[name].State == ExtensionPresent && !slices.Contains(n.Expect, name) && len(n.Expect) > 0 {
			out = append(out, name)
		}
	}

	return out
}

// Blocked names a service the boot sequence waits for that itself waits
// for something time does not bring — its ExtensionServiceConfig, or a
// file such as a device node a kernel module makes — and what that is.
// Waits on other services pass by themselves and do not count.
func (n *Node) Blocked() (id, what string) {
	for _, id := range n.BootWaitFor {
		s := n.Services[id]
		if s == nil || s.State != "Waiting" {
			continue
		}

		w, ok := strings.CutPrefix(s.Message, "Waiting for ")
		if ok && !strings.Contains(w, `service "`) && (strings.Contains(w, "extension service config") || strings.Contains(w, "to exist")) {
			return id, w
		}
	}

	return "", ""
}
