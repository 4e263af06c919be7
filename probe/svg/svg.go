// Package svg draws the bring-up timeline as a self-contained SVG picture —
// for liftoff check's HTML report and support bundles — from the same
// per-board timelines the dashboard draws (probe.Node.Timeline). No
// scripts, no external fonts or references: it renders offline, anywhere.
package svg

import (
	"bytes"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
)

// Options say what to draw.
type Options struct {
	// Now is the time the picture is taken (open phases end there).
	Now time.Time
	// Speed is how much faster than real boards the lab ran (a simulated
	// lab's --speed): the expectations shrink by it. 0: real boards.
	Speed float64
	// Highlight is a board to emphasise (a support bundle's board).
	Highlight string
	// Title is the picture's accessible title (default "Bring-up timeline").
	Title string
}

// Geometry, in px.
const (
	width   = 960
	nameW   = 130
	labelW  = 270
	rowH    = 26
	barH    = 16
	top     = 56 // title and axis
	legendH = 84
)

// look is a phase's letter, colour and name; letters and a legend carry
// the meaning, the colour repeats it.
type look struct{ letter, colour, name string }

// colours for a white page; the terminal has its own (ui).
var colours = map[probe.Phase]string{
	probe.PhaseApply:      "#8c959f",
	probe.PhaseInstall:    "#1f6feb",
	probe.PhaseReboot:     "#bf8700",
	probe.PhaseBoot:       "#8250df",
	probe.PhaseExtensions: "#1b7c83",
	probe.PhaseTalos:      "#4ac26b",
	probe.PhaseNode:       "#1a7f37",
	probe.PhaseReady:      "#1a7f37",
	probe.PhaseLost:       "#cf222e",
}

func lookOf(p probe.Phase) look {
	c, ok := colours[p]
	if !ok {
		c = "#6e7781"
	}

	return look{p.Letter(), c, p.Label()}
}

type row struct {
	node *probe.Node
	tl   probe.Timeline
	has  bool
}

// Timeline draws every board's timeline on one time axis.
func Timeline(nodes []*probe.Node, o Options) []byte {
	if o.Title == "" {
		o.Title = "Bring-up timeline"
	}

	rows := make([]row, 0, len(nodes))

	var from, to time.Time

	for _, n := range nodes {
		tl := n.Timeline(o.Now, o.Speed)
		r := row{node: n, tl: tl, has: !tl.Start.IsZero()}
		rows = append(rows, r)

		if !r.has {
			continue
		}

		if from.IsZero() || tl.Start.Before(from) {
			from = tl.Start
		}

		end := tl.End
		if last := tl.Spans[len(tl.Spans)-1]; last.Open && last.Phase != probe.PhaseReady && last.Expected > last.Duration() {
			end = last.From.Add(last.Expected) // room for the expectation of a phase in progress
		}

		if end.After(to) {
			to = end
		}
	}

	if !from.IsZero() && to.Sub(from) < time.Second {
		to = from.Add(time.Second)
	}

	height := top + max(1, len(rows))*rowH + legendH

	var b bytes.Buffer

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="liftoff-timeline" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="tl-title tl-desc" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<title id="tl-title">%s</title>`+"\n", esc(o.Title))
	fmt.Fprintf(&b, `<desc id="tl-desc">%s</desc>`+"\n", esc(describe(rows)))
	b.WriteString(`<defs><pattern id="tl-outage" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
		`<rect width="6" height="6" fill="#ffebe9"/><line x1="0" y1="0" x2="0" y2="6" stroke="#cf222e" stroke-width="3"/></pattern></defs>` + "\n")
	b.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>` + "\n")
	fmt.Fprintf(&b, `<text x="8" y="20" font-size="15" font-weight="600" fill="#1f2328">%s</text>`+"\n", esc(o.Title))

	if from.IsZero() {
		fmt.Fprintf(&b, `<text x="8" y="%d" fill="#59636e">No board was given its config while liftoff watched: the timeline starts at apply (record a bring-up with liftoff up/sim --record).</text>`+"\n", top+16)
		legend(&b, top+rowH)
		b.WriteString("</svg>\n")

		return b.Bytes()
	}

	barW := float64(width - nameW - labelW - 16)
	x := func(t time.Time) float64 {
		return float64(nameW) + float64(t.Sub(from))/float64(to.Sub(from))*barW
	}

	axis(&b, from, to, x, top+len(rows)*rowH)

	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#59636e">slowest phase · now</text>`+"\n", width-labelW+4, top-8)
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#59636e" font-size="11">time from the first apply</text>`+"\n", nameW, top-24)

	for i, r := range rows {
		drawRow(&b, r, top+i*rowH, x, o)
	}

	legend(&b, top+len(rows)*rowH+12)
	b.WriteString("</svg>\n")

	return b.Bytes()
}

func drawRow(b *bytes.Buffer, r row, y int, x func(time.Time) float64, o Options) {
	n := r.node
	by := float64(y + (rowH-barH)/2)
	weight := "400"

	if n.Name == o.Highlight {
		weight = "700"
		fmt.Fprintf(b, `<rect x="2" y="%d" width="%d" height="%d" fill="#fff8c5"/>`+"\n", y, width-4, rowH)
	}

	fmt.Fprintf(b, `<g class="board" data-board="%s">`+"\n", esc(n.Name))
	fmt.Fprintf(b, `<text x="8" y="%.0f" font-weight="%s" fill="#1f2328">%s</text>`+"\n", by+12, weight, esc(n.Name))

	if !r.has {
		fmt.Fprintf(b, `<text x="%d" y="%.0f" fill="#59636e">not given its config while watched (stage %s)</text>`+"\n", nameW, by+12, esc(probe.OrDash(n.Stage.String())))
		b.WriteString("</g>\n")

		return
	}

	tl := r.tl

	// The expectation, faint behind each stage that has one.
	for _, s := range tl.Spans {
		if s.Expected <= 0 {
			continue
		}

		x0, x1 := x(s.From), x(s.From.Add(s.Expected))
		fmt.Fprintf(b, `<rect class="expected" x="%.1f" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#8c959f" stroke-dasharray="3 2" opacity="0.8"><title>%s usually takes %s</title></rect>`+"\n",
			x0, by-3, max(1, x1-x0), barH+6, esc(lookOf(s.Phase).name), short(s.Expected))
	}

	for _, s := range tl.Spans {
		lk := lookOf(s.Phase)
		x0, x1 := x(s.From), x(s.To)

		if s.Phase == probe.PhaseReady {
			if s.Open {
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="%s" font-weight="700">✓<title>ready %s after apply</title></text>`+"\n", x0+2, by+12, lk.colour, short(tl.End.Sub(tl.Start)))
			} else {
				fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", x0, by+barH/2, x1, by+barH/2, lk.colour)
			}

			continue
		}

		w := max(1.5, x1-x0)
		tip := fmt.Sprintf("%s %s", lk.name, short(s.Duration()))

		if s.Expected > 0 {
			tip += " (usually " + short(s.Expected) + ")"
		}

		if s.Open {
			tip += ", still going"
		}

		fmt.Fprintf(b, `<rect class="phase" data-phase="%s" x="%.1f" y="%.1f" width="%.1f" height="%d" rx="2" fill="%s"><title>%s</title></rect>`+"\n",
			esc(string(s.Phase)), x0, by, w, barH, lk.colour, esc(tip))

		if w >= 11 {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#ffffff" font-weight="700" font-size="11" aria-hidden="true">%s</text>`+"\n", x0+2, by+12, esc(lk.letter))
		}

		if s.Open { // still going: an arrowhead says the bar grows
			fmt.Fprintf(b, `<path class="going" d="M%.1f %.1fl7 %dl-7 %dz" fill="%s"><title>%s, still going</title></path>`+"\n",
				x0+w+1, by, barH/2, barH/2, lk.colour, esc(lk.name))
		}

		if s.Expected > 0 && probe.Slow(s.Duration(), s.Expected) {
			xe := x(s.From.Add(s.Expected))
			fmt.Fprintf(b, `<line class="overrun" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#9a6700" stroke-width="2"><title>%s should have ended here</title></line>`+"\n",
				xe, by-4, xe, by+barH+4, esc(lk.name))
		}
	}

	for _, out := range tl.Outages {
		if out.Expected {
			continue
		}

		x0, x1 := x(out.From), x(out.To)
		fmt.Fprintf(b, `<rect class="outage" x="%.1f" y="%.1f" width="%.1f" height="%d" fill="url(#tl-outage)"><title>outage %s: %s</title></rect>`+"\n",
			x0, by, max(2, x1-x0), barH, short(out.Duration()), esc(out.Why))
	}

	label, _ := tl.Summary(true, short)
	if label == "" {
		label = "–"
	}

	state := "… "
	if tl.Ready {
		state = "✓ "
	}

	fmt.Fprintf(b, `<text x="%d" y="%.0f" fill="#1f2328">%s%s</text>`+"\n", width-labelW+4, by+12, state, esc(label))
	b.WriteString("</g>\n")
}

func axis(b *bytes.Buffer, from, to time.Time, x func(time.Time) float64, bottom int) {
	span := to.Sub(from)
	step := probe.Ticks(span, 8)

	for d := time.Duration(0); d <= span; d += step {
		xx := x(from.Add(d))
		label := short(d)

		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d1d9e0"/>`+"\n", xx, top-4, xx, bottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" fill="#59636e" font-size="11">%s</text>`+"\n", xx+2, top-8, esc(label))
	}
}

func legend(b *bytes.Buffer, y int) {
	x := 8

	item := func(swatch, text string, w int) {
		fmt.Fprintf(b, `<g transform="translate(%d %d)">%s<text x="22" y="11" fill="#1f2328">%s</text></g>`+"\n", x, y, swatch, esc(text))
		x += w
	}

	for i, p := range probe.Phases {
		if i == 5 {
			x, y = 8, y+20
		}

		lk := lookOf(p)
		sw := fmt.Sprintf(`<rect width="18" height="14" rx="2" fill="%s"/><text x="3" y="11" fill="#ffffff" font-weight="700" font-size="11">%s</text>`, lk.colour, esc(lk.letter))
		item(sw, lk.name, 22+7*len(lk.name)+14)
	}

	x, y = 8, y+20
	item(`<rect width="18" height="14" fill="none" stroke="#8c959f" stroke-dasharray="3 2"/>`, "usual time of the stage", 190)
	item(`<line x1="9" y1="0" x2="9" y2="14" stroke="#9a6700" stroke-width="2"/>`, "where a slow stage should have ended", 260)
	item(`<rect width="18" height="14" fill="url(#tl-outage)"/>`, "outage: API down, unannounced", 230)
}

// describe is the picture in words, for screen readers and text searches.
func describe(rows []row) string {
	var parts []string

	for _, r := range rows {
		if !r.has {
			parts = append(parts, r.node.Name+": not given its config while watched")

			continue
		}

		var phases []string
		for _, s := range r.tl.Spans {
			if s.Phase != probe.PhaseReady {
				phases = append(phases, fmt.Sprintf("%s %s", lookOf(s.Phase).name, short(s.Duration())))
			}
		}

		end := "not ready"
		if r.tl.Ready {
			end = "ready after " + short(r.tl.End.Sub(r.tl.Start))
		}

		parts = append(parts, fmt.Sprintf("%s: %s; %s", r.node.Name, strings.Join(phases, ", "), end))
	}

	return strings.Join(parts, ". ")
}

// short is a duration in whole seconds.
func short(d time.Duration) string { return d.Round(time.Second).String() }

func esc(s string) string { return html.EscapeString(s) }
