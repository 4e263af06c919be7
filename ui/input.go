package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// lineInput is a one-line editor in the status bar. It is deliberately
// tiny: no blinking cursor, so frames stay deterministic for golden tests.
type lineInput struct {
	label, value string
	done         func(string) tea.Cmd
	change       func(string) // called on every edit (live filter)
	cancel       func()
}

func (m *Model) onInput(k tea.KeyPressMsg) tea.Cmd {
	in := m.input

	switch {
	case key.Matches(k, m.keys.Enter):
		m.input = nil

		return in.done(strings.TrimSpace(in.value))
	case key.Matches(k, m.keys.Back):
		m.input = nil

		if in.cancel != nil {
			in.cancel()
		}

		return nil
	case key.Matches(k, m.keys.Erase):
		if r := []rune(in.value); len(r) > 0 {
			in.value = string(r[:len(r)-1])
		}
	case key.Matches(k, m.keys.Clear):
		in.value = ""
	default:
		if k.Text == "" {
			return nil
		}

		in.value += k.Text
	}

	if in.change != nil {
		in.change(in.value)
	}

	return nil
}

// filterInput opens "/ filter" on the dashboard and troubleshoot lists.
func (m *Model) filterInput() {
	before := m.filter
	m.input = &lineInput{
		label:  "filter (name, role, state)",
		value:  m.filter,
		change: func(v string) { m.filter = v; m.focus = 0 },
		done:   func(v string) tea.Cmd { m.filter = v; return nil },
		cancel: func() { m.filter = before },
	}
}

// clearFilter is esc on a filtered list: it clears the filter first, and
// says whether it did.
func (m *Model) clearFilter() bool {
	if m.filter == "" {
		return false
	}

	m.filter = ""

	return true
}

func (m *Model) helpView(w int) string {
	t := m.theme
	k := m.screenKeys()

	lines := []string{t.Title.Render("Keys on this screen"), ""}
	lines = append(lines, m.help.FullHelpView(k.FullHelp()))
	lines = append(lines, "",
		t.Title.Render("Reading the screen"),
		"✓ done / healthy   … in progress   ✗ failed or stuck   ! unexpected   · not started",
		"A heavy border marks the selected panel. Times like +48s count from the moment",
		"the board got its config; the Ready bar compares boards with each other.",
		m.keys.Timeline.Help().Key+" draws the bring-up as a timeline: one row per board from its apply, each phase",
		"a letter and a fill (the legend is at its foot), ┈┆ the usual time of a stage.",
		"",
		t.Dim.Render(m.keys.Help.Help().Key+" or "+m.keys.Back.Help().Key+" closes this help"))

	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, wrap(l, w)...)
	}

	return strings.Join(out, "\n")
}
