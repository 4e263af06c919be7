package ui

import (
	"fmt"
	"strings"

	"github.com/liftoff-lab/liftoff/probe"
)

const feedKeep = 200

// activityFeed is the events told in words, newest last: the fold keeps
// it (record), the dashboard and the apply step show it.
type activityFeed struct {
	lines []feedLine
	told  map[string]string // the last text per node, kind and name
}

// feedLine is one event told in words for the activity panel.
type feedLine struct {
	at   string
	node string
	text string
	tone tone
}

// record keeps the events worth telling. Hello answers arrive every few
// seconds, so only a change of outcome is told; logs belong to troubleshoot.
func (m *Model) record(e probe.Event) {
	if prev, seen := m.lab.Hello[e.Name]; e.Kind == probe.Hello && seen && prev.OK == e.Ready {
		return
	}

	if prev := m.lab.Traffic; e.Kind == probe.Traffic && !prev.At.IsZero() && prev.Outcome == e.State {
		return
	}

	text, t := describe(e)
	if text == "" {
		return
	}

	// A watch re-sends a resource whenever any field moves; tell a fact once
	// until it changes.
	key := e.Node + "\x00" + string(e.Kind) + "\x00" + e.Name
	if m.feed.told[key] == text {
		return
	}

	if m.feed.told == nil {
		m.feed.told = map[string]string{}
	}

	m.feed.told[key] = text

	m.feed.lines = append(m.feed.lines, feedLine{at: e.Time.Format("15:04:05"), node: e.Node, text: text, tone: t})
	if len(m.feed.lines) > feedKeep {
		m.feed.lines = m.feed.lines[len(m.feed.lines)-feedKeep:]
	}
}

func describe(e probe.Event) (string, tone) {
	switch e.Kind {
	case probe.Discovered:
		return "answered in maintenance mode: " + e.Detail, good
	case probe.Applied:
		return "got its config", busy
	case probe.Stage:
		if e.State == "running" {
			return "is running its config", good
		}

		return "is " + e.State, busy
	case probe.Reachable:
		if e.Ready {
			return "Talos API answers (" + probe.OrDash(e.Detail) + ")", good
		}

		return "Talos API unreachable: " + probe.OrDash(e.Detail), warn
	case probe.Extension:
		if probe.ExtensionState(e.State) == probe.ExtensionPresent {
			return "extension " + e.Name + " " + e.Detail + " is in the image", good
		}

		return "extension " + e.Name + " is " + e.State, bad
	case probe.Service:
		if e.Ready {
			return e.Name + " is up", good
		}

		if e.Count > 0 {
			return fmt.Sprintf("%s %s (%d restarts)", e.Name, e.State, e.Count), bad
		}

		if e.State == "Waiting" && e.Detail != "" {
			return e.Name + ": " + e.Detail, busy
		}

		return e.Name + " " + e.State, busy
	case probe.MachineReady:
		if e.Ready {
			return "Talos reports the machine ready", good
		}

		return "Talos: not ready — " + probe.OrDash(e.Detail), warn
	case probe.NodeReady:
		if e.Ready {
			return "Kubernetes Node Ready", good
		}

		return "Kubernetes Node NotReady: " + probe.OrDash(e.Detail), warn
	case probe.Bootstrapped:
		return "etcd bootstrapped", good
	case probe.Route:
		return "Tailscale route " + e.State + " " + e.Detail, map[bool]tone{true: good, false: warn}[e.State == probe.RoutePrimary]
	case probe.Handover:
		switch e.State {
		case "done":
			return "gateway moved: " + e.Detail, good
		case "failed", "cancelled":
			return "gateway move " + e.State + ": " + e.Detail, bad
		}

		return "gateway move (" + e.State + "): " + e.Detail, busy
	case probe.Log:
		// liftoff's own notes (apply retrying, waiting, slow); the boards'
		// logs belong to troubleshoot.
		if e.Name != "liftoff" {
			return "", idle
		}

		switch e.State {
		case "failed":
			return e.Detail, bad
		case "retrying", "slow":
			return e.Detail, warn
		}

		return e.Detail, busy
	case probe.TalosDiagnostic:
		if e.Ready {
			return "Talos warns: " + e.Detail, warn
		}

		return "Talos's " + e.Name + " warning cleared", good
	case probe.Moved:
		return "moved to " + e.State + " (same machine UUID): followed it there", warn
	case probe.Traffic:
		if e.Ready {
			return "through the tailnet, " + e.Name + " answers (" + latency(e.Latency) + ")", good
		}

		return "through the tailnet, " + e.Name + ": " + e.State + " — " + e.Detail, bad
	case probe.Hello:
		if e.Ready {
			return e.Name + " hello-world answers (" + latency(e.Latency) + ")", good
		}

		return e.Name + " hello-world fails: " + e.Detail, bad
	case probe.Error:
		return "probe error: " + e.Detail, bad
	case probe.RepairStep:
		return repairLine(e)
	case probe.LabFault:
		return "lab fault: " + e.Detail, bad
	}

	return "", idle
}

// activity is the newest events, oldest first, in a panel h lines tall.
func (m *Model) activity(w, h int) string {
	t := m.theme
	n := h - 2
	feed := m.feed.lines

	if m.filter != "" {
		// The filter narrows the story to the boards it shows.
		shown := map[string]bool{"": true}
		for _, b := range m.boards() {
			shown[b.Name] = true
		}

		feed = nil

		for _, f := range m.feed.lines {
			if shown[f.node] {
				feed = append(feed, f)
			}
		}
	}

	if len(feed) > n {
		feed = feed[len(feed)-n:]
	}

	lines := make([]string, 0, len(feed))

	for _, f := range feed {
		who := f.node
		if who == "" {
			who = "cluster"
		}

		lines = append(lines, t.Dim.Render(f.at)+" "+t.Title.Render(pad(who, 12))+" "+t.tone(f.tone).Render(strings.TrimSpace(f.text)))
	}

	if len(lines) == 0 {
		lines = append(lines, t.Dim.Render("waiting for the first event"))
	}

	return m.box(t.Title.Render("Activity"), lines, w, h, false)
}

func repairLine(e probe.Event) (string, tone) {
	text := "repair (" + e.Name + "): " + probe.OrDash(e.Detail)

	switch e.State {
	case "done":
		return text, good
	case "failed":
		return text, bad
	case "cancelled", "rebooting":
		return text, warn
	}

	return text, busy
}
