package ui

import (
	"slices"

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

// screenKeys lists the keys that do something on the current screen.
func (m *Model) screenKeys() helpKeys {
	k := m.keys
	// apply and bootstrap show the dashboard's board grid and take its keys.
	progress := []key.Binding{k.Up, k.Down, k.Tab, k.Left, k.Right, k.ShiftTab, k.MoveGateway, k.Timeline, k.Filter, k.Dashboard}
	general := []key.Binding{k.Help, k.Quit}

	switch {
	case m.confirm != nil:
		return helpKeys{short: []key.Binding{k.Yes, k.No}}
	case m.input != nil:
		return helpKeys{short: []key.Binding{with(k.Enter, "ok"), with(k.Back, "cancel")}}
	}

	var short, extra []key.Binding

	switch m.screen {
	case ScreenDiscover:
		short = []key.Binding{with(k.Enter, "scan / continue"), k.Edit, k.Add, k.Help, k.Quit}
		extra = []key.Binding{k.Up, k.Down, k.Media, k.Remove}
	case ScreenRoles:
		short = []key.Binding{k.Machine, k.Role, k.Gateway, with(k.Enter, "review"), k.Help}
		extra = []key.Binding{k.ControlPlane, k.Worker, k.Rename, k.Model, k.Disk, k.Up, k.Down, k.Back}
	case ScreenReview:
		short = []key.Binding{with(k.Enter, "apply"), k.Diff, with(k.Up, "scroll"), k.Back, k.Help, k.Quit}
		extra = []key.Binding{k.Down, k.PageUp, k.PageDown}
	case ScreenApply:
		short = []key.Binding{with(k.Enter, "bootstrap"), with(k.Back, "cancel apply"), k.Troubleshoot, k.Help, k.Quit}
		extra = progress
	case ScreenBootstrap:
		short = []key.Binding{k.Retry, k.Troubleshoot, k.Help, k.Quit}
		extra = append([]key.Binding{with(k.Back, "cancel apply")}, progress...)
	case ScreenKubeconfig:
		short = []key.Binding{k.Merge, k.Separate, k.Help, k.Quit}
		extra = []key.Binding{with(k.Up, "choose"), k.Down, with(k.Enter, "save as chosen"), k.Dashboard}
	case ScreenDashboard:
		short = []key.Binding{k.Tab, with(k.Enter, "why?"), k.Timeline, k.Filter, k.Help, k.Quit}
		extra = []key.Binding{k.Troubleshoot, k.MoveGateway, k.Up, k.Down, k.Left, k.Right, k.ShiftTab, with(k.Back, "clear filter")}
	case ScreenTroubleshoot:
		short = []key.Binding{with(k.Up, "board"), with(k.Tab, "details"), k.Filter, with(k.Back, "dashboard"), k.Help}
		extra = []key.Binding{k.Down, with(k.ShiftTab, "details"), k.PageUp, k.PageDown, k.Timeline, k.Dashboard, k.Quit}

		extra = append(extra, k.MoveGateway)

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
	case ScreenTimeline:
		short = []key.Binding{with(k.Up, "board"), with(k.Enter, "why?"), k.Filter, with(k.Back, "back"), k.Help}
		extra = []key.Binding{k.Down, k.PageUp, k.PageDown, k.Home, k.End, with(k.Troubleshoot, "why?"),
			with(k.Timeline, "dashboard"), k.Dashboard, k.Quit}
	case ScreenMedia:
		short = []key.Binding{with(k.Enter, "write"), k.Device, with(k.Up, "board"), k.Back, k.Again, k.Help}
		extra = []key.Binding{k.Down, k.Quit}

		if m.media.flashing {
			short, extra = []key.Binding{with(k.Back, "cancel the write"), k.Help}, nil
		}
	}

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
