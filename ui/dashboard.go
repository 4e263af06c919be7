package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/probe"
)

const (
	minPanelW = 38 // two panels side by side on an 80-column terminal
	clusterH  = 5  // the route and hello-world row
)

// allBoards are the boards to show, in plan order. Boards the plan names
// but the Lab has not heard of yet get a placeholder, so the grid does not
// jump around as boards appear. Without a plan every planned node shows.
func (m *Model) allBoards() []*probe.Node {
	byName := map[string]*probe.Node{}
	for _, n := range m.lab.Nodes {
		byName[n.Name] = n
	}

	var out []*probe.Node

	if len(m.plan.Boards) > 0 {
		for _, b := range m.plan.Boards {
			n := byName[b.Name]
			if n == nil {
				n = &probe.Node{Name: b.Name, Machine: b.Machine, Role: b.Role, Expect: image.Extensions(m.plan, b.Role)}
			}

			out = append(out, n)
		}

		return out
	}

	for _, n := range m.lab.Nodes {
		if n.Machine != "" || n.Stage != "" && n.Info == "" {
			out = append(out, n)
		}
	}

	return out
}

// boards are allBoards through the / filter.
func (m *Model) boards() []*probe.Node {
	all := m.allBoards()
	if m.filter == "" {
		return all
	}

	f := strings.ToLower(m.filter)

	var out []*probe.Node

	for _, n := range all {
		hay := strings.ToLower(strings.Join([]string{n.Name, n.Machine, n.Role, n.Stage.String(), nodeState(n, m.now).word}, " "))
		if strings.Contains(hay, f) {
			out = append(out, n)
		}
	}

	return out
}

// summary is the dashboard's header: how far the cluster is.
func (m *Model) summary() string {
	all := m.allBoards()
	done := 0

	for _, n := range all {
		if ready(n) {
			done++
		}
	}

	t := m.theme
	s := t.Good

	if done < len(all) {
		s = t.Busy
	}

	out := s.Render(fmt.Sprintf("%d/%d Ready", done, len(all)))

	if h, ok := m.lab.Hello["wasm"]; ok && h.OK {
		out += t.Dim.Render(" · ") + t.Good.Render("✓ wasm answers")
	}

	return out
}

// gridCols balances the grid: four boards on three columns' worth of
// width make two rows of two, not three and a straggler.
func gridCols(w, n int) int {
	most := max(1, min(n, w/minPanelW))
	rows := (n + most - 1) / most

	return max(1, (n+rows-1)/rows)
}

// dashboardScreen is the cluster at a glance: a panel per board, the
// Tailscale route and the hello-world answers, the activity below. Its
// state is the Model's: the board focused and the / filter, which the
// troubleshoot and timeline views share.
type dashboardScreen struct{}

func (dashboardScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{k.Tab, with(k.Enter, "why?"), k.Timeline, k.Filter, k.Help, k.Quit},
		[]key.Binding{k.Troubleshoot, k.MoveGateway, k.Up, k.Down, k.Left, k.Right, k.ShiftTab, with(k.Back, "clear filter")}
}

func (dashboardScreen) view(m *Model, w, h int) string {
	nodes := m.boards()
	grid := m.boardGrid(nodes, w, h-clusterH, m.screen == ScreenDashboard)
	out := grid + "\n" + m.clusterRow(w, len(nodes))

	if rest := h - lineCount(out); rest >= 5 {
		out += "\n" + m.activity(w, rest)
	}

	return out
}

// boardGrid lays boards out in as many columns as fit; rows that do not
// fit scroll so the focused board stays in view.
func (m *Model) boardGrid(nodes []*probe.Node, w, h int, focusable bool) string {
	if len(nodes) == 0 {
		msg := "No boards yet: they appear as the probes report them."
		if m.filter != "" {
			msg = "No board matches the filter " + fmt.Sprintf("%q", m.filter) + " (" + keyName(m.keys.Back) + " clears it)."
		}

		return "\n  " + m.theme.Dim.Render(msg)
	}

	cols := gridCols(w, len(nodes))
	rows := (len(nodes) + cols - 1) / cols
	pw := w / cols
	maxD := m.slowest(nodes)

	// Panels are as tall as the tallest body, up to a row's share of the
	// height. Bodies are styled only until one reaches that share: with
	// many boards the share is the minimum, which any body fills, so only
	// the boards on screen are styled (the frame's cost follows the rows
	// shown, not the boards).
	bodies := make([][]string, len(nodes))
	body := func(i int) []string {
		if bodies[i] == nil {
			bodies[i] = m.boardLines(nodes[i], pw-4, maxD)
		}

		return bodies[i]
	}

	most := max(5, h/rows)
	tallest := 0

	if most > minBodyLines+2 {
		for i := range nodes {
			if tallest = max(tallest, len(body(i))); tallest+2 >= most {
				break
			}
		}
	}

	ph := min(max(tallest, minBodyLines)+2, most)
	visible := max(1, h/ph)
	first := 0

	if rows > visible {
		visible = max(1, (h-1)/ph)
		if fr := m.focus / cols; m.focus < len(nodes) && fr >= visible {
			first = fr - visible + 1
		}
	}

	var out []string

	for r := first; r < min(rows, first+visible); r++ {
		var blocks [][]string

		for c := range cols {
			i := r*cols + c
			if i >= len(nodes) {
				break
			}

			n := nodes[i]
			blocks = append(blocks, m.boxLines(m.boardTitle(n), body(i), pw, ph, focusable && m.focus == i))
		}

		out = append(out, joinExact(blocks...))
	}

	if hidden := rows - visible; hidden > 0 {
		out = append(out, m.theme.Dim.Render(fmt.Sprintf("  ↕ %d of %d boards shown — arrows/%s scroll, %s filters", min(len(nodes), visible*cols), len(nodes), keyName(m.keys.Tab), keyName(m.keys.Filter))))
	}

	return strings.Join(out, "\n")
}

// slowest is the longest apply-to-Ready time on screen: the scale of every
// board's Ready bar, so boards compare at a glance.
func (m *Model) slowest(nodes []*probe.Node) time.Duration {
	var d time.Duration

	for _, n := range nodes {
		if t, _ := readyTiming(n, m.now); t > d {
			d = t
		}
	}

	return d
}

func (m *Model) boardTitle(n *probe.Node) string {
	role := n.Role
	if role == "gateway" {
		role = "◆ gateway"
	}

	return m.inks().Title.Render(n.Name) + " " + m.inks().Dim.Render(strings.Join(nonBlank(n.Machine, role), " · "))
}

// minBodyLines is the fewest lines boardLines returns: the state, Talos
// and Kubernetes lines.
const minBodyLines = 3

// boardLines is one board's panel, most important first: when space runs
// out the bottom lines go.
func (m *Model) boardLines(n *probe.Node, w int, maxD time.Duration) []string {
	t := m.inks()
	st := nodeState(n, m.now)
	lines := []string{m.stateLine(n, st, w)}

	ts := talosState(n)
	tl := "Talos " + t.tone(ts.tone).Render(ts.String())

	if !n.MachineReady && len(n.Unmet) > 0 && !probe.AwaitingCNI(n) {
		tl += t.Dim.Render(": " + strings.Join(n.Unmet, "; "))
	}

	lines = append(lines, tl, m.readyLine(n, w, maxD))
	lines = append(lines, m.extLines(n, w)...)

	if u := n.Unexpected(); len(u) > 0 {
		lines = append(lines, t.Warn.Render("! unexpected "+strings.Join(u, " ")+" for the "+probe.OrDash(n.Role)+" role"))
	}

	if miss := n.Missing(); len(miss) > 0 && installedImage(n) {
		lines = append(lines, t.Bad.Render("✗ missing "+strings.Join(miss, " ")+": not the role's image"))
	}

	if s := restarting(n); s != "" {
		lines = append(lines, t.Bad.Render(fmt.Sprintf("✗ %s restarting ×%d", s, n.Services[s].Restarts)))
	}

	if id, what := n.Blocked(); id != "" && n.Stage == probe.StageBooting {
		lines = append(lines, t.Bad.Render("✗ "+id+" waits for "+what))
	}

	return lines
}

func (m *Model) stateLine(n *probe.Node, st state, w int) string {
	t := m.inks()
	left := t.tone(st.tone).Render(st.String())

	var detail string

	switch {
	case !n.Reachable && n.Unreachable != "" && rebooting(n, m.now):
		detail = "API down while it " + n.Stage.String() + " (expected) for " + dur(m.now.Sub(n.StageSince))
	case !n.Reachable && n.Unreachable != "":
		detail = n.Unreachable
	case n.Stage != "" && !n.StageSince.IsZero():
		detail = n.Stage.String() + " for " + dur(m.now.Sub(n.StageSince))
		if strings.Contains(st.word, n.Stage.String()) {
			detail = "for " + dur(m.now.Sub(n.StageSince))
		}

		if n.Boots > 1 {
			detail += fmt.Sprintf(" · %d boots", n.Boots)
		}
	}

	if detail == "" {
		return left
	}

	return left + "  " + pad(t.Dim.Render(detail), max(0, w-lipWidth(left)-2))
}

// readyLine is the Ready timing: apply → Kubernetes Ready, as a bar scaled
// to the slowest board.
func (m *Model) readyLine(n *probe.Node, w int, maxD time.Duration) string {
	t := m.inks()
	ks := kubeState(n)
	label := "k8s   " + t.tone(ks.tone).Render(ks.String())

	d, done := readyTiming(n, m.now)
	if d == 0 && !done {
		return label
	}

	word := dur(d)
	if !done {
		word = "for " + word
	}

	label += " " + word
	bw := w - lipWidth(label) - 1

	if bw < 4 || maxD == 0 {
		return label
	}

	if !done {
		// Still going: a lighter fill, so a full bar never reads as done.
		return label + " " + t.Busy.Render(elapsedBar(float64(d)/float64(maxD), bw))
	}

	return label + " " + t.Good.Render(bar(float64(d)/float64(maxD), bw))
}

// extLines lists each extension with its state and, once active, how long
// after apply it turned active.
func (m *Model) extLines(n *probe.Node, w int) []string {
	names := extNames(n)
	if len(names) == 0 {
		return nil
	}

	const label = "ext   "

	var lines []string

	cur := label

	for _, name := range names {
		st := extState(n, name)
		item := m.inks().tone(st.tone).Render(st.icon + name + strings.TrimPrefix(st.word, name))

		if lipWidth(cur)+lipWidth(item)+1 > w && cur != label {
			lines = append(lines, cur)
			cur = strings.Repeat(" ", len(label))
		}

		if cur != label && strings.TrimSpace(cur) != "" {
			cur += "  "
		}

		cur += item
	}

	return append(lines, cur)
}

// clusterRow is the Tailscale route and the hello-world answers.
func (m *Model) clusterRow(w, nBoards int) string {
	lw := w / 2
	rw := w - lw

	return hjoin(0, []int{lw, rw},
		m.box(m.theme.Title.Render("Tailscale route"), m.routeLines(lw-4), lw, clusterH, m.screen == ScreenDashboard && m.focus == nBoards),
		m.box(m.theme.Title.Render("Spin hello-world"), m.helloLines(rw-4), rw, clusterH, m.screen == ScreenDashboard && m.focus == nBoards+1))
}

func (m *Model) routeLines(w int) []string {
	t := m.theme
	r := m.lab.Route

	var st state

	switch r.State {
	case probe.RoutePrimary:
		st = state{"✓", "primary: tailnet reaches pods", good}
	case probe.RouteApproved:
		st = state{"…", "approved, not routed yet", busy}
	case probe.RouteAdvertised:
		st = state{"!", "advertised, not approved", warn}
	case probe.RouteMissing:
		st = state{"✗", "missing: nothing routes the cluster", bad}
	case "":
		st = state{"·", "not seen yet", idle}
	default:
		st = state{"…", r.State, busy}
	}

	lines := wrapStyled(t.tone(st.tone), st.String(), w)

	// The probe's detail is "CIDRs: what holds; what is wrong".
	cidrs, why, _ := strings.Cut(r.Detail, ": ")

	via := ""
	if r.Primary != "" {
		via = "via " + r.Primary
	} else if gw, ok := m.plan.Gateway(); ok {
		via = "gateway " + gw.Name
	}

	if r.Routers > 1 {
		via += fmt.Sprintf(" · %d routers advertise!", r.Routers)
	}

	if !r.Since.IsZero() {
		via = strings.TrimSpace(via + " · for " + dur(m.now.Sub(r.Since)))
	}

	// While the gateway moves, the handover takes the routers' line.
	if hand := m.handoverLines(w); len(hand) > 0 {
		lines = append(lines, hand...)
	} else if line := strings.TrimSpace(strings.ReplaceAll(cidrs, ",", " ") + " " + t.Dim.Render(via)); line != "" {
		lines = append(lines, line)
	}

	if tr := m.lab.Traffic; !tr.At.IsZero() {
		if tr.OK {
			lines = append(lines, t.Good.Render("✓ "+tr.Target+" "+latency(tr.Latency))+" "+fmt.Sprintf("%q", tr.Detail))
		} else {
			lines = append(lines, wrapStyled(t.Bad, "✗ "+tr.Target+" "+tr.Outcome+": "+tr.Detail, w)...)
		}
	} else if r.State != probe.RoutePrimary && why != "" {
		lines = append(lines, wrapStyled(t.Dim, why, w)...)
	}

	return lines
}

func (m *Model) helloLines(w int) []string {
	t := m.theme

	// Nothing can answer before the platform brings the pod network: say
	// what the lab waits for and the command that ends the wait.
	if n := m.awaitingCNI(); n != nil && !m.lab.Hello["wasm"].OK {
		lines := wrapStyled(t.tone(busy), "… waiting for "+n.CNIBy+"'s CNI (expected; "+keyName(m.keys.Troubleshoot)+" explains)", w)

		return append(lines, wrapStyled(t.Dim, "next: "+n.CNIInstall, w)...)
	}

	line := func(flavour string) string {
		h, ok := m.lab.Hello[flavour]
		name := fmt.Sprintf("%-9s ", flavour)

		switch {
		case !ok:
			return name + t.Dim.Render("· no answer yet")
		case !h.OK:
			return name + t.Bad.Render("✗ "+probe.OrDash(h.Detail))
		}

		return name + t.Good.Render("✓ "+latency(h.Latency)) + " " + pad(fmt.Sprintf("%q", strings.TrimSpace(h.Detail)), max(0, w-lipWidth(name)-len(latency(h.Latency))-3))
	}

	lines := []string{line("wasm"), line("container")}
	ws, c := m.lab.Hello["wasm"], m.lab.Hello["container"]

	if ws.OK && c.OK && ws.Latency > 0 {
		ratio := float64(c.Latency) / float64(ws.Latency)

		switch {
		case ratio >= 1.5:
			lines = append(lines, t.Accent.Render(fmt.Sprintf("WASM %.0f× faster than the container", ratio)))
		case ratio <= 1/1.5:
			lines = append(lines, t.Dim.Render(fmt.Sprintf("the container answers %.0f× faster", 1/ratio)))
		default:
			lines = append(lines, t.Dim.Render("WASM and container answer about as fast"))
		}
	}

	return lines
}

func (dashboardScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	nodes := m.boards()
	panels := len(nodes) + 2
	cols := gridCols(m.w, len(nodes))

	switch {
	case key.Matches(k, m.keys.Tab):
		m.focus = (m.focus + 1) % panels
	case key.Matches(k, m.keys.ShiftTab):
		m.focus = (m.focus + panels - 1) % panels
	case key.Matches(k, m.keys.Right):
		m.focus = min(panels-1, m.focus+1)
	case key.Matches(k, m.keys.Left):
		m.focus = max(0, m.focus-1)
	case key.Matches(k, m.keys.Down):
		m.focus = min(panels-1, m.focus+cols)
	case key.Matches(k, m.keys.Up):
		m.focus = max(0, m.focus-cols)
	case key.Matches(k, m.keys.Enter, m.keys.Troubleshoot):
		m.openTroubleshoot()
	case key.Matches(k, m.keys.MoveGateway):
		// The focused board becomes the gateway: previewed in the
		// troubleshoot view, next to the board's details.
		if m.focus < len(nodes) {
			n := nodes[m.focus]
			m.openTroubleshoot()

			return m.startMove(n)
		}

		m.say(idle, "focus a board ("+keyName(m.keys.Tab)+") and press "+keyName(m.keys.MoveGateway)+" to make it the gateway")
	case key.Matches(k, m.keys.Timeline):
		return m.openTimeline()
	case key.Matches(k, m.keys.Filter):
		m.filterInput()
	case key.Matches(k, m.keys.Back):
		m.filter = ""
	}

	return nil
}

func nonBlank(ss ...string) []string {
	var out []string

	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}

	return out
}

// awaitingCNI is a board waiting, as planned, for the platform that brings
// the pod network; nil when none is.
func (m *Model) awaitingCNI() *probe.Node {
	for _, n := range m.boards() {
		if probe.AwaitingCNI(n) {
			return n
		}
	}

	return nil
}
