package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/liftoff-lab/liftoff/probe"
)

// timeline is the bring-up as a picture: one row per board, its phases as
// segments on a time axis shared by every board, growing live. It is its
// own small type: the model hands it what to draw (timelineInput) and it
// keeps only its scroll position; timelineScreen (timeline_screen.go)
// adds the screen's keys and where esc goes.
type timeline struct {
	first int // the first row shown
}

// timelineInput is everything the timeline reads of the model.
type timelineInput struct {
	nodes []*probe.Node
	focus int // the selected board, an index into nodes (out of range: none)
	now   time.Time
	speed float64 // the lab's speed: expectations shrink by it
	theme Theme
	keys  keyMap // for the scroll hint's key names
	// state is a board's state in the dashboard's words.
	state func(*probe.Node) state
}

// phaseLook is how a phase is drawn: its letter (probe.Phase.Letter) at
// the start of each of its segments, then a fill, in a colour. Letter and
// fill carry the meaning, the colour repeats it.
type phaseLook struct {
	letter, fill string
	colour       string // default theme
	bright       string // high-contrast theme
	name         string // for the legend and labels (probe.Phase.Label)
}

var phaseFills = map[probe.Phase]phaseLook{
	probe.PhaseApply:      {fill: "·", colour: "#8b949e", bright: "#d0d0d0"},
	probe.PhaseInstall:    {fill: "█", colour: "#58a6ff", bright: "#00afff"},
	probe.PhaseReboot:     {fill: "░", colour: "#d29922", bright: "#ffd700"},
	probe.PhaseBoot:       {fill: "▓", colour: "#bc8cff", bright: "#ff87ff"},
	probe.PhaseExtensions: {fill: "▒", colour: "#39c5cf", bright: "#00ffff"},
	probe.PhaseTalos:      {fill: "▀", colour: "#7ee787", bright: "#afff00"},
	probe.PhaseNode:       {fill: "▄", colour: "#3fb950", bright: "#00ff5f"},
	probe.PhaseReady:      {fill: "─", colour: "#3fb950", bright: "#00ff5f"},
	probe.PhaseLost:       {fill: "═", colour: "#f85149", bright: "#ff3030"},
}

// look is a phase's look; a stage liftoff has none for (upgrading,
// resetting) is drawn thin and grey.
func look(p probe.Phase) phaseLook {
	l, ok := phaseFills[p]
	if !ok {
		l = phaseLook{fill: "▁", colour: "#8b949e", bright: "#d0d0d0"}
	}

	l.letter, l.name = p.Letter(), p.Label()

	return l
}

// style keys of one frame's cells.
const (
	sNone = iota
	sDim
	sWarn
	sBad
	sGood
	sPhase // then fill and letter styles per phase, two each, in phaseOrder
)

var phaseOrder = probe.Phases

type tlCell struct {
	g  string
	st int
}

// palette holds the frame's styles by key, as the escape codes around a
// styled run: rendering a style once per frame, not once per run, keeps
// a frame cheap (lipgloss's Render dominated it).
type palette []sgr

type sgr struct{ pre, post string }

func (s sgr) Render(text string) string { return s.pre + text + s.post }

func toSGR(st lipgloss.Style) sgr {
	pre, post, _ := strings.Cut(st.Render("\x00"), "\x00")

	return sgr{pre, post}
}

func newPalette(t Theme) palette {
	styles := []lipgloss.Style{lipgloss.NewStyle(), t.Dim, t.Warn, t.Bad, t.Good}
	bright := t.Name == "high-contrast"

	for _, ph := range phaseOrder {
		l := look(ph)
		c := l.colour

		if bright {
			c = l.bright
		}

		fill := lipgloss.NewStyle().Foreground(lipgloss.Color(c))
		if bright {
			fill = fill.Bold(true)
		}

		styles = append(styles, fill, fill.Reverse(true).Bold(true))
	}

	p := make(palette, len(styles))
	for i, st := range styles {
		p[i] = toSGR(st)
	}

	return p
}

func phaseStyle(ph probe.Phase, letter bool) int {
	for i, p := range phaseOrder {
		if p == ph {
			if letter {
				return sPhase + 2*i + 1
			}

			return sPhase + 2*i
		}
	}

	return sDim
}

// render joins cells into a line, one styled run per style.
func (p palette) render(cells []tlCell) string {
	var b strings.Builder

	for i := 0; i < len(cells); {
		st := p[cells[i].st]
		b.WriteString(st.pre)

		for ; i < len(cells) && p[cells[i].st] == st; i++ {
			b.WriteString(cells[i].g)
		}

		b.WriteString(st.post)
	}

	return b.String()
}

// axis maps times onto w cells from from to to.
type axis struct {
	from, to time.Time
	w        int
}

func (a axis) x(t time.Time) int {
	span := a.to.Sub(a.from)
	if span <= 0 {
		return 0
	}

	// The end of the axis is the last cell, so a board that ended there
	// still shows its mark.
	return int(float64(t.Sub(a.from)) / float64(span) * float64(a.w-1))
}

// sharedAxis spans every board's timeline: from the first apply to the
// last ready board's ready time, or now while any board is on its way —
// further when a phase in progress is expected to take longer, so its
// faint expectation shows ahead of it. Cheap per board: nothing is
// derived for rows not shown.
func sharedAxis(nodes []*probe.Node, now time.Time, speed float64) (from, to time.Time, ok bool) {
	for _, n := range nodes {
		start, end, has := n.TimelineBounds(now)
		if !has {
			continue
		}

		if !ok || start.Before(from) {
			from = start
		}

		if !ok || end.After(to) {
			to = end
		}

		ok = true

		if ahead := expectedEnd(n, speed); ahead.After(to) && !ready(n) {
			to = ahead
		}
	}

	if ok && to.Sub(from) < time.Second {
		to = from.Add(time.Second)
	}

	return from, to, ok
}

// expectedEnd is when the board's current stage is expected to end.
func expectedEnd(n *probe.Node, speed float64) time.Time {
	st, ok := probe.StageBudget(n.Stage)
	if !ok || n.StageSince.IsZero() {
		return time.Time{}
	}

	if speed <= 0 {
		speed = 1
	}

	return n.StageSince.Add(time.Duration(float64(st.Typical) / speed))
}

// bar draws one board's timeline on the axis: phase segments (letter,
// fill), the expectation (faint ahead of a phase in progress, a ┆ where
// a slow phase should have ended), outages the board did not announce (×),
// and the head of the phase in progress, animated with the clock.
func (tl *timeline) bar(t probe.Timeline, a axis, now time.Time) []tlCell {
	cells := make([]tlCell, a.w)
	for i := range cells {
		cells[i] = tlCell{" ", sNone}
	}

	set := func(x int, g string, st int) {
		if x >= 0 && x < a.w {
			cells[x] = tlCell{g, st}
		}
	}

	for _, s := range t.Spans {
		x0, x1 := a.x(s.From), a.x(s.To)
		lk := look(s.Phase)

		if s.Phase == probe.PhaseReady {
			if s.Open {
				set(x0, lk.letter, sGood)

				continue
			}

			for x := x0; x < x1; x++ {
				set(x, lk.fill, sGood)
			}

			continue
		}

		x1 = max(x1, x0+1)
		for x := x0; x < x1; x++ {
			set(x, lk.fill, phaseStyle(s.Phase, false))
		}

		if s.Expected > 0 {
			xe := a.x(s.From.Add(s.Expected))

			switch {
			case probe.Slow(s.Duration(), s.Expected) && xe > x0 && xe < x1:
				set(xe, "┆", sWarn) // where it should have ended
			case s.Open && xe >= x1:
				for x := x1; x < xe; x++ {
					set(x, "┈", sDim)
				}

				set(xe, "┆", sDim)
			}
		}

		if s.Open {
			// The head grows and starts over, four steps a second, timed
			// from the phase's start: a replay shows the same frames.
			frames := []string{"▎", "▌", "▊", "█"}
			set(x1-1, frames[int(now.Sub(s.From)/(250*time.Millisecond))%len(frames)], phaseStyle(s.Phase, false))
		}

		set(x0, lk.letter, phaseStyle(s.Phase, true))
	}

	for _, o := range t.Outages {
		if o.Expected {
			continue
		}

		for x := a.x(o.From); x < max(a.x(o.To), a.x(o.From)+1); x++ {
			set(x, "×", sBad)
		}
	}

	return cells
}

// draw draws the whole screen: title, axis, rows (scrolled to keep the
// selected board in view), legend.
func (tl *timeline) draw(in timelineInput, w, h int) string {
	t := in.theme
	pal := newPalette(t)

	from, to, ok := sharedAxis(in.nodes, in.now, in.speed)

	readyN := 0

	for _, n := range in.nodes {
		if ready(n) {
			readyN++
		}
	}

	title := t.Title.Render("Bring-up timeline") + t.Dim.Render(fmt.Sprintf(" · %s, %d ready · time from the first apply", plural(len(in.nodes), "board", "boards"), readyN))
	legend := tl.legend(pal, t, w)

	if !ok {
		msg := "No board has been given its config while liftoff watched: the timeline starts at apply."
		if len(in.nodes) == 0 {
			msg = "No boards yet: they appear as the probes report them."
		}

		return strings.Join(append([]string{title, "", "  " + t.Dim.Render(msg), ""}, legend...), "\n")
	}

	nameW := 4
	for _, n := range in.nodes {
		nameW = max(nameW, len(n.Name))
	}

	nameW = min(nameW, 16)

	labelW := 0

	switch {
	case w >= 110:
		labelW = 40
	case w >= 64:
		labelW = 24
	}

	barW := max(4, w-2-nameW-1-labelW-1)
	a := axis{from: from, to: to, w: barW}

	rows := max(1, h-3-len(legend))
	hidden := len(in.nodes) > rows

	if hidden {
		rows = max(1, rows-1)
	}

	tl.scrollTo(in.focus, rows, len(in.nodes))

	head := strings.Repeat(" ", 2+nameW+1) + tl.axisLine(a, t)
	if labelW > 0 {
		head += " " + t.Dim.Render("slowest phase · now")
	}

	out := []string{pad(title, w), head}

	for i := tl.first; i < min(len(in.nodes), tl.first+rows); i++ {
		n := in.nodes[i]
		out = append(out, tl.row(in, pal, n, a, i == in.focus, nameW, labelW))
	}

	if hidden {
		out = append(out, t.Dim.Render(fmt.Sprintf("  ↕ boards %d–%d of %d — %s/%s scroll, %s explains the selected one",
			tl.first+1, min(len(in.nodes), tl.first+rows), len(in.nodes), keyName(in.keys.Up), keyName(in.keys.Down), keyName(in.keys.Enter))))
	}

	return strings.Join(append(append(out, ""), legend...), "\n")
}

func (tl *timeline) scrollTo(focus, rows, n int) {
	if focus >= 0 && focus < n {
		if focus < tl.first {
			tl.first = focus
		}

		if focus >= tl.first+rows {
			tl.first = focus - rows + 1
		}
	}

	tl.first = max(0, min(tl.first, n-rows))
}

// row is one board: marker and name, its bar, its state and slowest phase.
func (tl *timeline) row(in timelineInput, pal palette, n *probe.Node, a axis, selected bool, nameW, labelW int) string {
	t := in.theme
	name := pad(n.Name, nameW)
	mark := "  "

	if selected {
		mark = "▸ "
		name = t.Selected.Render(name)
	}

	tn := n.Timeline(in.now, in.speed)
	line := mark + name + " " + pal.render(tl.bar(tn, a, in.now))

	if labelW == 0 {
		return line
	}

	st := in.state(n)
	// Narrow, an unfinished board says only what it does now.
	label, over := tn.Summary(labelW >= 40, dur)

	if label == "" {
		label = st.word
	}

	ls := t.Dim
	if over {
		ls = t.Warn
	}

	return line + " " + pad(t.tone(st.tone).Render(st.icon)+" "+ls.Render(label), labelW)
}

// axisLine labels the axis at round steps from the first apply.
func (tl *timeline) axisLine(a axis, t Theme) string {
	span := a.to.Sub(a.from)
	step := probe.Ticks(span, max(1, a.w/9))
	line := []rune(strings.Repeat(" ", a.w))

	next := 0

	for d := time.Duration(0); d <= span; d += step {
		x := a.x(a.from.Add(d))
		label := []rune("╵" + dur(d))

		if d == 0 {
			label = []rune("╵0")
		}

		if x < next || x+len(label) > a.w {
			continue
		}

		copy(line[x:], label)
		next = x + len(label) + 1
	}

	return t.Dim.Render(string(line))
}

// legend says what every letter, fill and mark means, wrapped to w.
func (tl *timeline) legend(pal palette, t Theme, w int) []string {
	var items []string

	for _, ph := range phaseOrder {
		lk := look(ph)

		sample := pal[phaseStyle(ph, true)].Render(lk.letter) + pal[phaseStyle(ph, false)].Render(lk.fill+lk.fill)
		if ph == probe.PhaseReady {
			sample = t.Good.Render(lk.letter + lk.fill + lk.fill)
		}

		items = append(items, sample+" "+lk.name)
	}

	items = append(items,
		t.Dim.Render("┈┈┆")+" expected (the stage budget)",
		t.Warn.Render("┆")+" should have ended here",
		t.Bad.Render("×")+" outage (API down, unannounced)")

	var (
		lines []string
		cur   string
	)

	for _, it := range items {
		if cur != "" && lipWidth(cur)+3+lipWidth(it) > w {
			lines = append(lines, cur)
			cur = ""
		}

		if cur != "" {
			cur += "   "
		}

		cur += it
	}

	return append(lines, cur)
}

// rowFor is one board's bar on its own axis (the troubleshoot view): from
// its apply to its end, or its expected end while going.
func (tl *timeline) rowFor(n *probe.Node, now time.Time, speed float64, theme Theme, w int) (string, probe.Timeline, bool) {
	from, to, ok := sharedAxis([]*probe.Node{n}, now, speed)
	if !ok || w < 8 {
		return "", probe.Timeline{}, false
	}

	t := n.Timeline(now, speed)

	return newPalette(theme).render(tl.bar(t, axis{from: from, to: to, w: w}, now)), t, true
}
