package probe

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Mark is one moment a board's timeline is drawn from.
type Mark struct {
	At   time.Time
	Kind Kind // Applied, Stage, Reachable, Extension (every expected one active), MachineReady, NodeReady
	// State is the stage (Stage marks).
	State string
	// Ready is the new value (Reachable, Extension, MachineReady, NodeReady).
	Ready bool
	// Detail is why the API went away (Reachable marks going down).
	Detail string
}

// Marks kept per board: enough for a power loss and a few re-applies; a boot
// loop past it keeps the first marksHead and the latest.
const (
	marksKeep = 256
	marksHead = 32
)

func (n *Node) mark(m Mark) {
	if len(n.Marks) >= marksKeep {
		n.Marks = slices.Delete(n.Marks, marksHead, marksHead+1)
		n.MarksDropped++
	}

	n.Marks = append(n.Marks, m)
}

// markChanges marks what an event changed among the timeline's milestones.
func (n *Node) markChanges(e Event, wasReachable, wasMachine, wasNode bool) {
	if n.Reachable != wasReachable {
		n.mark(Mark{At: e.Time, Kind: Reachable, Ready: n.Reachable, Detail: n.Unreachable})
	}

	if active := n.extensionsActive(); active != n.extActive {
		n.extActive = active
		n.mark(Mark{At: e.Time, Kind: Extension, Ready: active})
	}

	if n.MachineReady != wasMachine {
		n.mark(Mark{At: e.Time, Kind: MachineReady, Ready: n.MachineReady})
	}

	if n.NodeReady != wasNode {
		n.mark(Mark{At: e.Time, Kind: NodeReady, Ready: n.NodeReady})
	}
}

// extensionsActive: every extension the role expects (or, without a plan,
// every one present) is active. A board without any is done with the
// phase once it runs.
func (n *Node) extensionsActive() bool {
	if n.Stage != StageRunning {
		return false
	}

	names := n.Expect
	if len(names) == 0 {
		names = n.ExtensionNames()
	}

	for _, name := range names {
		if x := n.Extensions[name]; x == nil || x.ActiveAt.IsZero() {
			return false
		}
	}

	return true
}

// Phase is one stretch of a bring-up, in the order a board goes through
// them: apply → install → reboot → boot → extensions active → Node Ready →
// Talos ready, then ready. Talos reports a machine ready only once its
// Kubernetes Node is Ready (MachineStatus's nodeReady condition, Talos
// v1.13.3 internal/app/machined/pkg/controllers/runtime/machine_status.go),
// so the wait for the Node comes first and Talos's verdict last.
type Phase string

// Phases. Each but PhaseReady and PhaseLost is named after what the board
// is doing or waiting for.
const (
	PhaseApply      Phase = "apply"      // the config is on its way; the install has not begun
	PhaseInstall    Phase = "install"    // Talos stage installing
	PhaseReboot     Phase = "reboot"     // rebooting: the API is down
	PhaseBoot       Phase = "boot"       // booting the installed image
	PhaseExtensions Phase = "extensions" // running; waiting for every expected extension to be active
	PhaseNode       Phase = "node"       // extensions active; waiting for the Kubernetes Node to be Ready
	PhaseTalos      Phase = "talos"      // Node Ready; waiting for Talos to report the machine ready
	PhaseReady      Phase = "ready"      // ready in Talos and Kubernetes
	// PhaseLost: back in maintenance mode after apply: the config was lost (power cut, reset).
	PhaseLost Phase = "maintenance"
)

// Phases lists the bring-up's phases in order, for legends.
var Phases = []Phase{PhaseApply, PhaseInstall, PhaseReboot, PhaseBoot, PhaseExtensions, PhaseNode, PhaseTalos, PhaseReady, PhaseLost}

// Label is the phase for people, as legends say it.
func (p Phase) Label() string {
	switch p {
	case PhaseReboot:
		return "reboot (API down)"
	case PhaseExtensions:
		return "until extensions active"
	case PhaseNode:
		return "until Node Ready"
	case PhaseTalos:
		return "until Talos ready"
	case PhaseLost:
		return "back in maintenance"
	case "":
		return "?"
	}

	return string(p)
}

// Short is the phase in a picture's row, beside a legend that says what
// each phase waits for.
func (p Phase) Short() string {
	switch p {
	case PhaseReboot:
		return "reboot"
	case PhaseExtensions:
		return "extensions"
	case PhaseNode:
		return "Node Ready"
	case PhaseTalos:
		return "Talos ready"
	}

	return p.Label()
}

// Letter marks the start of each of the phase's segments in a picture, so
// it reads without colour; a stage liftoff has no letter for (upgrading,
// resetting) gets its initial.
func (p Phase) Letter() string {
	switch p {
	case PhaseReboot:
		return "↻"
	case PhaseReady:
		return "✓"
	case PhaseLost:
		return "M"
	case "":
		return "?"
	}

	return strings.ToUpper(string(p)[:1])
}

// stage is the Talos stage a phase stands for, when it has one.
func (p Phase) stage() MachineStage {
	switch p {
	case PhaseInstall:
		return StageInstalling
	case PhaseReboot:
		return StageRebooting
	case PhaseBoot:
		return StageBooting
	}

	return ""
}

// Span is one phase from one moment to the next.
type Span struct {
	Phase    Phase
	From, To time.Time
	// Open: still going (To is now).
	Open bool
	// Expected is the phase's usual duration (StageBudget's Typical, at the
	// lab's speed); zero when liftoff has no expectation for it.
	Expected time.Duration
}

// Duration of the span.
func (s Span) Duration() time.Duration { return s.To.Sub(s.From) }

// Outage is a stretch when the board's Talos API did not answer.
type Outage struct {
	From, To time.Time
	Open     bool
	Why      string
	// Expected: it began while the board installed, rebooted or booted.
	Expected bool
}

// Duration of the outage.
func (o Outage) Duration() time.Duration { return o.To.Sub(o.From) }

// Timeline is one board's bring-up as phases on a time line, derived from
// the marks the Lab keeps, so it replays from recordings like the rest.
type Timeline struct {
	// Start is the first apply; zero when the board was never given a
	// config while liftoff watched (nothing to draw).
	Start time.Time
	// End is when the board became ready, or now while it is not.
	End   time.Time
	Ready bool
	Spans []Span
	// Reboots are the moments the board went down to reboot.
	Reboots []time.Time
	Outages []Outage
	// Dropped transitions were not kept (a long boot loop).
	Dropped int
}

// Timeline derives the board's timeline at now. speed is how much faster
// than a real board the lab runs (a simulated lab's --speed; <= 0 is 1):
// the expectations shrink by it.
func (n *Node) Timeline(now time.Time, speed float64) Timeline {
	if speed <= 0 {
		speed = 1
	}

	marks := n.Marks
	if !slices.IsSortedFunc(marks, byTime) {
		marks = slices.Clone(marks)
		slices.SortStableFunc(marks, byTime)
	}

	tl := Timeline{Dropped: n.MarksDropped}

	var (
		stage              MachineStage
		left, started      bool
		ext, machine, node bool
		cur                Phase
		from               time.Time
	)

	phase := func() Phase {
		switch stage {
		case StageInstalling:
			return PhaseInstall
		case StageRebooting:
			return PhaseReboot
		case StageBooting:
			return PhaseBoot
		case StageRunning:
			switch {
			case machine && node:
				return PhaseReady
			case !ext:
				return PhaseExtensions
			case !node:
				return PhaseNode
			}

			return PhaseTalos
		case StageMaintenance, "":
			if left {
				return PhaseLost
			}

			return PhaseApply
		}

		return Phase(stage) // upgrading, resetting …: named by Talos's stage
	}

	enter := func(p Phase, at time.Time) {
		if p == cur {
			return
		}

		if cur != "" && at.After(from) {
			tl.Spans = append(tl.Spans, span(cur, from, at, false, speed))
		}

		cur, from = p, at
	}

	for _, m := range marks {
		switch m.Kind {
		case Applied:
			if !started {
				started, tl.Start = true, m.At
			}

			// A board may report installing a moment before apply
			// returns; after a lost config, a re-apply starts over.
			left = stage != "" && stage != StageMaintenance
		case Stage:
			stage = MachineStage(m.State)
			if stage != "" && stage != StageMaintenance {
				left = true
			}

			if started && stage == StageRebooting {
				tl.Reboots = append(tl.Reboots, m.At)
			}
		case Reachable:
			if started {
				tl.outage(m, stage)
			}
		case Extension:
			ext = m.Ready
		case MachineReady:
			machine = m.Ready
		case NodeReady:
			node = m.Ready
		}

		if started {
			enter(phase(), maxTime(m.At, tl.Start))
		}
	}

	if !started {
		return Timeline{}
	}

	if cur == PhaseReady {
		tl.End, tl.Ready = from, true
		tl.Spans = append(tl.Spans, span(cur, from, maxTime(now, from), true, speed))
	} else {
		tl.End = maxTime(now, from)
		tl.Spans = append(tl.Spans, span(cur, from, tl.End, true, speed))
	}

	for i := range tl.Outages {
		if tl.Outages[i].Open {
			tl.Outages[i].To = maxTime(now, tl.Outages[i].From)
		}
	}

	return tl
}

// outage opens or closes an outage at a Reachable mark.
func (tl *Timeline) outage(m Mark, stage MachineStage) {
	last := len(tl.Outages) - 1
	open := last >= 0 && tl.Outages[last].Open

	switch {
	case !m.Ready && !open:
		expected := stage == StageInstalling || stage == StageRebooting || stage == StageBooting
		tl.Outages = append(tl.Outages, Outage{From: m.At, Open: true, Why: m.Detail, Expected: expected})
	case m.Ready && open:
		tl.Outages[last].To, tl.Outages[last].Open = m.At, false
	}
}

func span(p Phase, from, to time.Time, open bool, speed float64) Span {
	s := Span{Phase: p, From: from, To: to, Open: open}
	if st, ok := StageBudget(p.stage()); ok {
		s.Expected = time.Duration(float64(st.Typical) / speed)
	}

	return s
}

func byTime(a, b Mark) int { return a.At.Compare(b.At) }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}

	return b
}

// Slow is a phase that took half as long again as it usually does: the
// timelines mark it (where it should have ended) and say by how much.
func Slow(spent, usual time.Duration) bool { return usual > 0 && spent > usual*3/2 }

// Total is the time spent in a phase, over every span of it.
func (t Timeline) Total(p Phase) (spent, expected time.Duration) {
	for _, s := range t.Spans {
		if s.Phase == p {
			spent += s.Duration()
			expected += s.Expected
		}
	}

	return spent, expected
}

// Slowest is the phase the board spent the most time in, before it was
// ready ("" when none took any time).
func (t Timeline) Slowest() (Phase, time.Duration) {
	var (
		best Phase
		most time.Duration
	)

	seen := map[Phase]bool{}

	for _, s := range t.Spans {
		if s.Phase == PhaseReady || seen[s.Phase] {
			continue
		}

		seen[s.Phase] = true

		if d, _ := t.Total(s.Phase); d > most {
			best, most = s.Phase, d
		}
	}

	return best, most
}

// Summary is a picture's row label: the board's slowest phase, by how much
// it was slow when it was, and — unless now is false — the phase it is in
// while still on its way. slow says the slowest phase took half as long
// again as usual. d formats durations the picture's way.
func (t Timeline) Summary(now bool, d func(time.Duration) string) (text string, slow bool) {
	p, spent := t.Slowest()
	if p == "" {
		return "", false
	}

	text = p.Short() + " " + d(spent)

	if _, usual := t.Total(p); Slow(spent, usual) {
		text += fmt.Sprintf(" ×%.1f", float64(spent)/float64(usual))
		slow = true
	}

	cur := t.Current()
	if t.Ready || cur == p || cur == "" {
		return text, slow
	}

	going := "now " + cur.Short() + " " + d(t.Spans[len(t.Spans)-1].Duration())
	if !now {
		return going, false
	}

	return text + " · " + going, slow
}

// Current is the phase the board is in at the end of the timeline.
func (t Timeline) Current() Phase {
	if len(t.Spans) == 0 {
		return ""
	}

	return t.Spans[len(t.Spans)-1].Phase
}

// TimelineBounds is when a board's timeline starts and ends at now,
// without deriving it: the first apply, and the ready time or now. Views
// compute a shared axis over every board with it and derive only the rows
// they show.
func (n *Node) TimelineBounds(now time.Time) (start, end time.Time, ok bool) {
	for _, m := range n.Marks {
		if m.Kind == Applied && (start.IsZero() || m.At.Before(start)) {
			start = m.At
		}
	}

	if start.IsZero() {
		return start, end, false
	}

	if n.MachineReady && n.NodeReady && n.Stage == StageRunning {
		end = maxTime(n.MachineReadyAt, n.NodeReadyAt)
	} else {
		end = now
	}

	return start, maxTime(end, start), true
}

// Ticks are round steps for a time axis spanning d with at most most
// labels: 1s, 2s, 5s, 10s, 15s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h ….
func Ticks(d time.Duration, most int) time.Duration {
	steps := []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}

	most = max(1, most)

	for _, s := range steps {
		if d/s <= time.Duration(most) {
			return s
		}
	}

	step := time.Hour
	for d/step > time.Duration(most) {
		step *= 2
	}

	return step
}
