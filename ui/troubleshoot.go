package ui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/probe"
)

const (
	listW   = 26 // the board list beside the diagnosis
	logTail = 5
)

// troubleshootScreen is "why is this board not Ready?": the board list
// beside the focused board's diagnoses, evidence and timeline, or a
// repair's or a gateway move's preview. The board focused is the Model's,
// shared with the dashboard.
type troubleshootScreen struct {
	detail bool   // tab: the keys scroll the details, not the list
	scroll int    // the details' first line
	back   Screen // where esc goes: the screen it was opened from
}

func (s *troubleshootScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys
	short = []key.Binding{with(k.Up, "board"), with(k.Tab, "details"), k.Filter, with(k.Back, "dashboard"), k.Help}
	extra = []key.Binding{k.Down, with(k.ShiftTab, "details"), k.PageUp, k.PageDown, k.Timeline, k.Dashboard, k.Quit, k.MoveGateway}

	// f and x always answer; the bar shows the one that matters now.
	switch {
	case m.move != nil && m.move.running:
		short = append([]key.Binding{with(k.CancelFix, "cancel the move")}, short...)
		extra = append(extra, k.Fix)
	case m.fix != nil && m.fix.running:
		short = append([]key.Binding{k.CancelFix}, short...)
		extra = append(extra, k.Fix)
	case m.focusedRepair():
		short = append([]key.Binding{k.Fix}, short...)
		extra = append(extra, k.CancelFix)
	default:
		extra = append(extra, k.Fix, k.CancelFix)
	}

	return short, extra
}

func (m *Model) openTroubleshoot() {
	nodes := m.boards()
	if m.focus >= len(nodes) {
		// From a cluster panel: start at the first board that needs help.
		m.focus = 0

		for i, n := range nodes {
			if !ready(n) {
				m.focus = i

				break
			}
		}
	}

	if m.screen != ScreenTroubleshoot {
		m.troubleshoot.back = m.screen
	}

	m.screen, m.troubleshoot.scroll, m.troubleshoot.detail = ScreenTroubleshoot, 0, false
}

func (s *troubleshootScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	nodes := m.boards()

	switch {
	case key.Matches(k, m.keys.Up):
		if m.fix != nil && !m.fix.running {
			m.fix = nil // another board: the preview was this one's
		}

		if s.detail {
			s.scroll = max(0, s.scroll-1)
		} else {
			m.focus, s.scroll = max(0, m.focus-1), 0
		}
	case key.Matches(k, m.keys.Down):
		if m.fix != nil && !m.fix.running {
			m.fix = nil
		}

		if s.detail {
			s.scroll++
		} else {
			m.focus, s.scroll = min(max(0, len(nodes)-1), m.focus+1), 0
		}
	case key.Matches(k, m.keys.PageDown):
		s.scroll += 10
	case key.Matches(k, m.keys.PageUp):
		s.scroll = max(0, s.scroll-10)
	case key.Matches(k, m.keys.Tab, m.keys.ShiftTab):
		s.detail = !s.detail
	case key.Matches(k, m.keys.Filter):
		m.filterInput()
	case key.Matches(k, m.keys.Fix):
		if len(nodes) > 0 {
			return m.startFix(nodes[min(m.focus, len(nodes)-1)])
		}
	case key.Matches(k, m.keys.MoveGateway):
		if len(nodes) > 0 {
			return m.startMove(nodes[min(m.focus, len(nodes)-1)])
		}
	case key.Matches(k, m.keys.CancelFix):
		if !m.cancelMoving() {
			m.cancelRepair()
		}
	case key.Matches(k, m.keys.Back):
		if m.move != nil && !m.move.running {
			m.move = nil

			return nil
		}

		if m.fix != nil && !m.fix.running {
			m.fix = nil

			return nil
		}

		if m.clearFilter() {
			return nil
		}

		m.screen = s.back
	case key.Matches(k, m.keys.Dashboard):
		m.screen = ScreenDashboard
	case key.Matches(k, m.keys.Timeline):
		return m.openTimeline()
	}

	return nil
}

func (s *troubleshootScreen) view(m *Model, w, h int) string {
	nodes := m.boards()
	if len(nodes) == 0 {
		return m.boardGrid(nodes, w, h, false)
	}

	m.focus = min(m.focus, len(nodes)-1)
	n := nodes[m.focus]

	lines, title := m.detailLines, "Why "+n.Name+"?"
	if m.fix != nil && !m.fix.running && m.fix.repair.Node == n.Name {
		lines, title = func(_ *probe.Node, w int) []string { return m.fixPreview(w) }, "Repair "+n.Name+"?"
	}

	if m.move != nil && !m.move.running && m.move.to == n.Name {
		lines, title = func(_ *probe.Node, w int) []string { return m.movePreview(w) }, "Make "+n.Name+" the gateway?"
	}

	if w < 70 {
		// Narrow: the list collapses to one line above the details.
		sel := fmt.Sprintf("‹ %s ›  board %d of %d — %s/%s picks", n.Name, m.focus+1, len(nodes), keyName(m.keys.Up), keyName(m.keys.Down))
		body := m.scrolled(lines(n, w), h-2, &s.scroll)

		return m.theme.Title.Render(sel) + "\n\n" + body
	}

	list := m.box(m.theme.Title.Render("Boards"), m.listLines(nodes, listW-4), listW, h, !s.detail)
	inner := m.scrolled(lines(n, w-listW-4), h-2, &s.scroll)
	detail := m.box(m.theme.Title.Render(title), strings.Split(inner, "\n"), w-listW, h, s.detail)

	return hjoin(0, []int{listW, w - listW}, list, detail)
}

func (m *Model) listLines(nodes []*probe.Node, w int) []string {
	out := make([]string, 0, len(nodes))
	nameW := 4

	for _, n := range nodes {
		nameW = max(nameW, len(n.Name))
	}

	for i, n := range nodes {
		st := nodeState(n, m.now)
		mark := "  "

		if i == m.focus {
			mark = "▸ "
		}

		line := mark + m.theme.tone(st.tone).Render(st.icon) + " " + pad(n.Name, nameW) + " " + m.theme.tone(st.tone).Render(st.word)
		if i == m.focus {
			line = m.theme.Selected.Render(ansiStrip(pad(line, w)))
		}

		out = append(out, line)
	}

	return out
}

// scrolled shows h lines of text from the scroll offset, with a marker
// when more is below.
func (m *Model) scrolled(lines []string, h int, offset *int) string {
	if h <= 0 {
		return ""
	}

	*offset = max(0, min(*offset, len(lines)-h))
	lines = lines[*offset:]

	if len(lines) > h {
		lines = append(lines[:h-1:h-1], m.theme.Dim.Render(fmt.Sprintf("↓ %d more lines — %s scrolls", len(lines)-h+1, m.keys.Down.Help().Key)))
	}

	return strings.Join(lines, "\n")
}

// detailLines: the board in one line, each diagnosis (title, why, fix,
// evidence), then the raw evidence: unmet conditions, failing services,
// their log tails and dmesg.
func (m *Model) detailLines(n *probe.Node, w int) []string {
	t := m.theme
	st := nodeState(n, m.now)
	ts, ks := talosState(n), kubeState(n)

	out := []string{
		t.Title.Render(n.Name) + "  " + t.Dim.Render(strings.Join(nonBlank(n.Machine, n.Role, n.Stage.String()), " · ")),
		t.tone(st.tone).Render(st.String()) + "  Talos " + t.tone(ts.tone).Render(ts.String()) + "  k8s " + t.tone(ks.tone).Render(ks.String()),
		"",
	}

	if r := n.Repair; r.Kind != "" {
		line, tn := repairLine(probe.Event{Name: r.Kind, State: r.State, Detail: r.Detail})
		out = append(out, indent("⚒ ", line+" ("+dur(m.now.Sub(r.Started))+" since it started)", w)...)
		out[len(out)-1] = t.tone(tn).Render(out[len(out)-1])
		out = append(out, "")
	}

	diags := probe.Diagnose(n, m.now)

	switch {
	case len(diags) == 0 && ready(n):
		d, _ := n.ReadyAfter()
		out = append(out, t.Good.Render("✓ nothing wrong: Ready "+dur(d)+" after its config was applied"), "")
	case len(diags) == 0:
		out = append(out, indent("… ", "nothing looks wrong yet: "+n.Name+" is still coming up ("+probe.OrDash(n.Stage.String())+"). liftoff says more if a stage takes too long or a service keeps failing.", w)...)
		out = append(out, "")
	}

	// What the tailnet lacks comes after the board's own state: the board
	// may be fine while its routes wait for the admin.
	for _, d := range append(diags, probe.TailnetDiagnoses(m.lab, n)...) {
		out = append(out, t.Bad.Render("✗ "+d.Title))
		out = append(out, indent("  Why  ", d.Why, w)...)

		fix := indent("  Fix  ", d.Fix, w)
		for i := range fix {
			fix[i] = t.Good.Render(fix[i])
		}

		out = append(out, fix...)

		if len(d.Evidence) > 0 {
			out = append(out, t.Dim.Render("  Evidence"))
			for _, e := range d.Evidence {
				out = append(out, indent("   │ ", e, w)...)
			}
		}

		if d.Repair != nil {
			out = append(out, m.repairLines(*d.Repair, w)...)
		}

		out = append(out, "")
	}

	out = append(out, m.timelineSection(n, w)...)

	return append(out, m.evidenceLines(n, w)...)
}

func (m *Model) evidenceLines(n *probe.Node, w int) []string {
	t := m.theme

	var out []string

	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}

		out = append(out, t.Title.Render(title))
		for _, l := range lines {
			out = append(out, indent("  ", l, w)...)
		}

		out = append(out, "")
	}

	var unmet []string
	for _, u := range n.Unmet {
		unmet = append(unmet, "· "+u)
	}

	section("Unmet conditions", unmet)

	var svcs, failing []string

	for _, name := range sortedNames(n.Services) {
		s := n.Services[name]
		icon := "✓"

		if !s.Up {
			icon = "✗"
			failing = append(failing, name)
		}

		line := fmt.Sprintf("%s %s %s", icon, name, s.State)
		if s.Restarts > 0 {
			line += fmt.Sprintf(" ×%d", s.Restarts)
		}

		if s.Message != "" && !s.Up {
			line += " — " + s.Message
		}

		svcs = append(svcs, line)
	}

	section("Services", svcs)

	for _, name := range failing {
		section(name+" log (last lines)", tail(n.Logs[name], logTail))
	}

	section("dmesg (last lines)", tail(n.Logs["dmesg"], logTail))
	section("Probe errors", tail(n.Errors, 3))

	return out
}

func tail(lines []string, k int) []string {
	if len(lines) > k {
		return lines[len(lines)-k:]
	}

	return lines
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}

	slices.Sort(out)

	return out
}

// repairLines: a diagnosis's repair under it — what, on which board, the
// equivalent command, the cost — and the key that previews it.
func (m *Model) repairLines(r probe.Repair, w int) []string {
	t := m.theme
	cost := "no reboot"

	if r.Reboots {
		cost = "reboots"
	}

	if d := r.Takes(); d > 0 {
		cost += ", about " + dur(d)
	}

	out := indent("  Repair ", r.Title+" ("+cost+") — "+keyName(m.keys.Fix)+" previews it", w)
	for i := range out {
		out[i] = t.Accent.Render(out[i])
	}

	return append(out, indent("   $ ", r.Command, w)...)
}

// focusedRepair tells that the troubleshoot view's board has a repair.
func (m *Model) focusedRepair() bool {
	nodes := m.boards()
	if len(nodes) == 0 {
		return false
	}

	_, ok := probe.FirstRepair(m.lab, nodes[min(m.focus, len(nodes)-1)], m.now)

	return ok
}
