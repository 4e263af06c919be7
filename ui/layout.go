package ui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/charmbracelet/x/ansi"
)

// fit clips a frame to the terminal: no line wider than w, no more than h
// lines. Every screen goes through it, so nothing ever wraps or scrolls the
// terminal itself.
func fit(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if h > 0 && len(lines) > h {
		lines = lines[:h]
	}

	for i, l := range lines {
		if ansi.StringWidth(l) > w {
			lines[i] = ansi.Truncate(l, w, "…")
		}
	}

	return strings.Join(lines, "\n")
}

// pad right-pads (or truncates) a styled line to exactly w cells.
func pad(s string, w int) string {
	if w <= 0 {
		return ""
	}

	n := ansi.StringWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}

	return s + strings.Repeat(" ", w-n)
}

// wrap word-wraps text to w cells, breaking a word longer than a line (an
// image reference) where it must.
func wrap(s string, w int) []string {
	if w < 1 {
		w = 1
	}

	return strings.Split(ansi.Wrap(s, w, ""), "\n")
}

// indent wraps text after a fixed label: "  Why  text…" with continuation
// lines aligned under the text.
func indent(label, text string, w int) []string {
	lw := ansi.StringWidth(label)
	lines := wrap(text, w-lw)

	out := make([]string, len(lines))
	for i, l := range lines {
		if i == 0 {
			out[i] = label + l
		} else {
			out[i] = strings.Repeat(" ", lw) + l
		}
	}

	return out
}

// bar draws frac of w cells filled. Cells, not colour, carry the value.
func bar(frac float64, w int) string {
	if w <= 0 {
		return ""
	}

	frac = max(0, min(1, frac))
	n := int(frac*float64(w) + 0.5)

	if frac > 0 && n == 0 {
		n = 1
	}

	return strings.Repeat("█", n) + strings.Repeat("░", w-n)
}

// elapsedBar is bar for time still running: the filled part is shaded,
// not solid.
func elapsedBar(frac float64, w int) string {
	return strings.ReplaceAll(bar(frac, w), "█", "▒")
}

// box draws a bordered panel of exactly w×h cells (h <= 0: as tall as the
// body) with the title set into the top edge. The focused panel gets a
// heavy border, so focus shows without colour too.
func (m *Model) box(title string, body []string, w, h int, focused bool) string {
	return strings.Join(m.boxLines(title, body, w, h, focused), "\n")
}

// boxLines is box as its lines, each exactly w cells wide.
func (m *Model) boxLines(title string, body []string, w, h int, focused bool) []string {
	if w < 4 {
		return []string{""}
	}

	if h <= 0 {
		h = len(body) + 2
	}

	b := struct{ tl, tr, bl, br, hz, vt string }{"╭", "╮", "╰", "╯", "─", "│"}
	style := m.inks().Border

	if focused {
		b = struct{ tl, tr, bl, br, hz, vt string }{"┏", "┓", "┗", "┛", "━", "┃"}
		style = m.inks().FocusBorder
	}

	inner := w - 2
	t := ""

	if title != "" {
		t = " " + title + " "
		if ansi.StringWidth(t) > inner-1 {
			t = ansi.Truncate(t, inner-1, "…")
		}
	}

	top := style.Render(b.tl+b.hz) + t + style.Render(strings.Repeat(b.hz, max(0, inner-1-ansi.StringWidth(t)))+b.tr)

	lines := make([]string, 0, max(2, h))
	lines = append(lines, top)
	vt := style.Render(b.vt)

	for i := range h - 2 {
		l := ""
		if i < len(body) {
			l = body[i]
		}

		lines = append(lines, vt+" "+pad(l, inner-2)+" "+vt)
	}

	return append(lines, style.Render(b.bl+strings.Repeat(b.hz, inner)+b.br))
}

// joinExact sets blocks of lines side by side. Unlike hjoin it measures
// nothing: every line of a block must already be the block's width, as
// boxLines makes them.
func joinExact(blocks ...[]string) string {
	height := 0
	for _, b := range blocks {
		height = max(height, len(b))
	}

	var out strings.Builder

	for row := range height {
		if row > 0 {
			out.WriteByte('\n')
		}

		for _, b := range blocks {
			if row < len(b) {
				out.WriteString(b[row])
			}
		}
	}

	return out.String()
}

// hjoin sets blocks side by side, each padded to its width, with gap cells between.
func hjoin(gap int, widths []int, blocks ...string) string {
	cols := make([][]string, len(blocks))
	height := 0

	for i, b := range blocks {
		cols[i] = strings.Split(b, "\n")
		height = max(height, len(cols[i]))
	}

	var out strings.Builder

	for row := range height {
		if row > 0 {
			out.WriteByte('\n')
		}

		for i, c := range cols {
			if i > 0 {
				out.WriteString(strings.Repeat(" ", gap))
			}

			l := ""
			if row < len(c) {
				l = c[row]
			}

			if i == len(cols)-1 {
				out.WriteString(l)
			} else {
				out.WriteString(pad(l, widths[i]))
			}
		}
	}

	return out.String()
}

func lipWidth(s string) int { return ansi.StringWidth(s) }

func itoa(i int) string { return strconv.Itoa(i) }

func ansiStrip(s string) string { return ansi.Strip(s) }

// wrapStyled wraps plain text and styles each line on its own, so a
// style never spans a line break.
func wrapStyled(s lipgloss.Style, text string, w int) []string {
	lines := wrap(text, w)
	for i, l := range lines {
		lines[i] = s.Render(l)
	}

	return lines
}

func lineCount(s string) int { return strings.Count(s, "\n") + 1 }
