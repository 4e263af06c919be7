package ui

import (
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
)

// keyMap is every key liftoff answers to: handlers dispatch with
// key.Matches on it and screenKeys builds the help from it, so the two
// cannot name different keys.
type keyMap struct {
	Up, Down, Left, Right, Tab, ShiftTab key.Binding
	PageUp, PageDown, Home, End          key.Binding
	Enter, Back, Help, Quit, Filter      key.Binding
	Dashboard, Troubleshoot, Timeline    key.Binding
	// wizard
	Edit, Add, Remove, Rename, Machine, Role, Gateway key.Binding
	ControlPlane, Worker                              key.Binding
	Model, Disk, Diff                                 key.Binding
	Merge, Separate, Yes, No, Retry                   key.Binding
	// troubleshoot
	Fix, CancelFix, MoveGateway key.Binding
	Media, Device, Again        key.Binding
	// a line input
	Erase, Clear key.Binding
	// Interrupt is Quit's ctrl+c alone: it works even in a prompt.
	Interrupt key.Binding
}

func newKeys() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}

	return keyMap{
		Up:           b("↑/k", "up", "up", "k"),
		Down:         b("↓/j", "down", "down", "j"),
		Left:         b("←/h", "left", "left", "h"),
		Right:        b("→/l", "right", "right", "l"),
		Tab:          b("tab", "next panel", "tab"),
		ShiftTab:     b("shift+tab", "previous panel", "shift+tab"),
		PageUp:       b("pgup", "page up", "pgup"),
		PageDown:     b("pgdn/space", "page down", "pgdown", "space"),
		Home:         b("home", "first", "home"),
		End:          b("end", "last", "end"),
		Enter:        b("enter", "continue", "enter"),
		Back:         b("esc", "back", "esc"),
		Help:         b("?", "help", "?"),
		Quit:         b("q", "quit", "q", "ctrl+c"),
		Filter:       b("/", "filter boards", "/"),
		Dashboard:    b("d", "dashboard", "d"),
		Troubleshoot: b("t", "troubleshoot", "t"),
		Timeline:     b("p", "timeline", "p"),
		Edit:         b("e", "edit target", "e", "s"),
		Add:          b("a", "add by address", "a"),
		Remove:       b("x/del", "remove board", "x", "delete"),
		Rename:       b("n", "rename", "n"),
		Model:        b("o", "board model", "o"),
		Disk:         b("i", "install disk", "i"),
		Diff:         b("d", "config diffs", "d"),
		Machine:      b("m", "machine type", "m"),
		ControlPlane: b("c", "control plane", "c"),
		Worker:       b("w", "worker", "w"),
		Role:         b("r", "role", "r"),
		Gateway:      b("g", "make gateway", "g"),
		Merge:        b("m", "merge into ~/.kube/config", "m"),
		Separate:     b("s", "separate file", "s"),
		Yes:          b("y", "yes", "y", "Y"),
		No:           b("n", "no", "n", "N", "esc"),
		Retry:        b("r", "retry", "r"),
		Fix:          b("f", "repair", "f"),
		CancelFix:    b("x", "cancel repair", "x"),
		MoveGateway:  b("g", "make this board the gateway", "g"),
		Media:        b("b", "prepare boot media", "b"),
		Device:       b("tab", "next device", "tab", "right", "l"),
		Again:        b("r", "look again", "r"),
		Erase:        b("backspace", "erase", "backspace", "ctrl+h"),
		Clear:        b("ctrl+u", "clear", "ctrl+u"),
		Interrupt:    b("ctrl+c", "quit", "ctrl+c"),
	}
}

// helpKeys is what the help bar shows on one screen.
type helpKeys struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding  { return h.short }
func (h helpKeys) FullHelp() [][]key.Binding { return h.full }

func with(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)

	return b
}

// keyName is how on-screen text names a binding's key: the first of its
// help keys ("x" of "x/del"), so text never names a key the map does not
// bind.
func keyName(b key.Binding) string {
	if k, _, ok := strings.Cut(b.Help().Key, "/"); ok && k != "" {
		return k
	}

	return b.Help().Key
}

// screenKeys lists the keys that do something on the current screen: a
// question's or a prompt's, else the screen's own (screen.keys).
func (m *Model) screenKeys() helpKeys {
	k := m.keys
	general := []key.Binding{k.Help, k.Quit}

	switch {
	case m.confirm != nil:
		return helpKeys{short: []key.Binding{k.Yes, k.No}}
	case m.input != nil:
		return helpKeys{short: []key.Binding{with(k.Enter, "ok"), with(k.Back, "cancel")}}
	}

	short, extra := m.current().keys(m)

	var first []key.Binding

	for _, b := range short {
		if !slices.ContainsFunc(general, func(g key.Binding) bool { return g.Help() == b.Help() }) {
			first = append(first, b)
		}
	}

	full := [][]key.Binding{first}
	if len(extra) > 0 {
		full = append(full, extra)
	}

	return helpKeys{short: short, full: append(full, general)}
}
