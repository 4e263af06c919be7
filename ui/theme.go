package ui

import (
	"fmt"
	"image/color"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// tone is what a state means, independent of colour: every state is also
// written with an icon and a word, so the screen reads without colour.
type tone int

const (
	idle tone = iota
	good
	busy
	warn
	bad
)

// Theme holds every style the UI uses. Colours are downsampled (or dropped,
// with NO_COLOR) by the renderer according to the terminal's profile.
type Theme struct {
	Name string

	Text, Dim, Title, Accent, Key lipgloss.Style
	Good, Busy, Warn, Bad         lipgloss.Style
	Border, FocusBorder           lipgloss.Style
	Selected                      lipgloss.Style

	// Background and Foreground, when set, are asked of the terminal: the
	// high-contrast theme paints black so a washed-out projector keeps contrast.
	Background, Foreground color.Color
}

// Themes lists the names ThemeByName accepts, for a --theme flag's help.
var Themes = []string{"default", "high-contrast"}

// ThemeByName returns a theme for a --theme flag.
func ThemeByName(name string) (Theme, error) {
	switch name {
	case "", "default":
		return DefaultTheme(), nil
	case "high-contrast", "demo":
		return HighContrastTheme(), nil
	}

	return Theme{}, fmt.Errorf("unknown theme %q: use default or high-contrast", name)
}

// DefaultTheme is calm colours that read on dark and light terminals.
func DefaultTheme() Theme {
	s := lipgloss.NewStyle
	c := lipgloss.Color

	return Theme{
		Name:        "default",
		Text:        s(),
		Dim:         s().Foreground(c("#8b949e")),
		Title:       s().Bold(true),
		Accent:      s().Foreground(c("#bc8cff")).Bold(true),
		Key:         s().Foreground(c("#58a6ff")).Bold(true),
		Good:        s().Foreground(c("#3fb950")),
		Busy:        s().Foreground(c("#58a6ff")),
		Warn:        s().Foreground(c("#d29922")).Bold(true),
		Bad:         s().Foreground(c("#f85149")).Bold(true),
		Border:      s().Foreground(c("#6e7681")),
		FocusBorder: s().Foreground(c("#bc8cff")).Bold(true),
		Selected:    s().Bold(true).Underline(true),
	}
}

// HighContrastTheme is for projectors: pure, saturated colours, bold text,
// a black background and reverse video for the selection.
func HighContrastTheme() Theme {
	s := lipgloss.NewStyle
	c := lipgloss.Color

	return Theme{
		Name:        "high-contrast",
		Text:        s().Foreground(c("#ffffff")),
		Dim:         s().Foreground(c("#d0d0d0")),
		Title:       s().Foreground(c("#ffffff")).Bold(true),
		Accent:      s().Foreground(c("#ffff00")).Bold(true),
		Key:         s().Foreground(c("#00ffff")).Bold(true),
		Good:        s().Foreground(c("#00ff5f")).Bold(true),
		Busy:        s().Foreground(c("#00d7ff")).Bold(true),
		Warn:        s().Foreground(c("#ffd700")).Bold(true),
		Bad:         s().Foreground(c("#ff3030")).Bold(true),
		Border:      s().Foreground(c("#ffffff")),
		FocusBorder: s().Foreground(c("#ffff00")).Bold(true),
		Selected:    s().Reverse(true).Bold(true),
		Background:  c("#000000"),
		Foreground:  c("#ffffff"),
	}
}

func (t Theme) tone(k tone) lipgloss.Style { return byTone(k, t.Dim, t.Good, t.Busy, t.Warn, t.Bad) }

// byTone picks the style of a tone; idle reads dim.
func byTone[S any](k tone, dim, ok, busyS, warnS, badS S) S {
	switch k {
	case good:
		return ok
	case busy:
		return busyS
	case warn:
		return warnS
	case bad:
		return badS
	}

	return dim
}

// helpStyles keeps the help bar as readable as the rest: the bubbles
// default greys vanish on a projector.
func (t Theme) helpStyles() help.Styles {
	return help.Styles{
		Ellipsis:       t.Dim,
		ShortKey:       t.Key,
		ShortDesc:      t.Text,
		ShortSeparator: t.Dim,
		FullKey:        t.Key,
		FullDesc:       t.Text,
		FullSeparator:  t.Dim,
	}
}

// ink is a style as the escape codes around a run of text: the dashboard
// styles a few short runs per line of every panel, and lipgloss's Render
// per run was most of a frame. Text that Render treats specially (line
// breaks, tabs) still goes through it, so the bytes are the same.
type ink struct {
	st lipgloss.Style
	sgr
}

func newInk(st lipgloss.Style) ink { return ink{st, toSGR(st)} }

func (k ink) Render(text string) string {
	if strings.ContainsAny(text, "\n\t\r") {
		return k.st.Render(text)
	}

	return k.pre + text + k.post
}

// inks are a Theme's styles as inks: what the dashboard's panels use.
type inks struct {
	Dim, Title, Good, Busy, Warn, Bad, Border, FocusBorder ink
}

func newInks(t Theme) *inks {
	return &inks{Dim: newInk(t.Dim), Title: newInk(t.Title), Good: newInk(t.Good), Busy: newInk(t.Busy),
		Warn: newInk(t.Warn), Bad: newInk(t.Bad), Border: newInk(t.Border), FocusBorder: newInk(t.FocusBorder)}
}

// tone is Theme.tone as an ink.
func (t *inks) tone(k tone) ink { return byTone(k, t.Dim, t.Good, t.Busy, t.Warn, t.Bad) }

// inks are the current theme's, made when a frame starts (or now, outside
// one: a test drawing one panel).
func (m *Model) inks() *inks {
	if m.ink == nil {
		m.ink = newInks(m.theme)
	}

	return m.ink
}
