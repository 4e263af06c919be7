package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// pressable is every key a person might try, far more than the key map
// names, so a handler that reacts to a key the map forgot still shows.
func pressable() map[string]tea.KeyPressMsg {
	keys := map[string]tea.KeyPressMsg{
		"enter":     {Code: tea.KeyEnter},
		"esc":       {Code: tea.KeyEscape},
		"tab":       {Code: tea.KeyTab},
		"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift},
		"space":     {Code: tea.KeySpace, Text: " "},
		"up":        {Code: tea.KeyUp},
		"down":      {Code: tea.KeyDown},
		"left":      {Code: tea.KeyLeft},
		"right":     {Code: tea.KeyRight},
		"pgup":      {Code: tea.KeyPgUp},
		"pgdown":    {Code: tea.KeyPgDown},
		"home":      {Code: tea.KeyHome},
		"end":       {Code: tea.KeyEnd},
		"delete":    {Code: tea.KeyDelete},
		"backspace": {Code: tea.KeyBackspace},
		"ctrl+c":    {Code: 'c', Mod: tea.ModCtrl},
	}

	for _, r := range "abcdefghijklmnopqrstuvwxyzYN/?0123456789" {
		keys[string(r)] = tea.KeyPressMsg{Code: r, Text: string(r)}
	}

	return keys
}

// keyFixture is a model on one screen with boards to move between, so
// up and down both have somewhere to go.
func keyFixture(screen Screen) *Model {
	p := &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}}
	for i := range 4 {
		p.Boards = append(p.Boards, plan.Board{Name: "board-" + itoa(i), Address: "192.168.1." + itoa(20+i), Model: plan.RPi4, Machine: plan.Worker, Role: plan.Compute})
	}

	p.Boards[0].Machine = plan.ControlPlane
	p.Boards[3].Role = plan.Gateway
	p.Default()

	t0 := time.Date(2026, 5, 14, 9, 30, 0, 0, time.UTC)
	m := New(Options{Backend: nopBackend{}, Plan: p, Start: screen, Clock: func() time.Time { return t0.Add(20 * time.Minute) }})
	m.fold([]probe.Event{
		{Time: t0, Node: "board-1", Kind: probe.Applied},
		{Time: t0.Add(time.Second), Node: "board-1", Kind: probe.Stage, State: "installing"},
		{Time: t0.Add(2 * time.Second), Node: "board-2", Kind: probe.Reachable, Detail: "no route to host"},
	})

	for i := range 3 {
		m.discover.addFound("192.168.1."+itoa(20+i), "rpi4 arm64", false)
	}

	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.screen, m.focus, m.media.sel = screen, 1, 1
	m.discover.sel, m.roles.sel, m.kubeconfig.sel, m.review.scroll = 1, 1, 1, 1
	m.input = nil // discover opens on the scan target's prompt

	return m
}

// keyStates are the states a screen's conditional keys need: each key the
// help offers must act in at least one of them.
var keyStates = map[Screen][]func(m *Model){
	ScreenApply: {
		func(m *Model) { m.bringup.applying = true },
		func(m *Model) {
			t := m.now
			m.fold([]probe.Event{
				{Time: t, Node: "board-0", Kind: probe.Applied},
				{Time: t, Node: "board-0", Kind: probe.Stage, State: "running"},
				{Time: t, Node: "board-0", Kind: probe.Reachable, Ready: true},
			})
		},
	},
	ScreenBootstrap: {
		func(m *Model) { m.bringup.applying = true },
		func(m *Model) { m.bringup.bootErr = "etcd did not start" },
	},
	ScreenDashboard: {func(m *Model) { m.filter = "board" }},
	ScreenReview:    {func(m *Model) { m.Update(tea.WindowSizeMsg{Width: 60, Height: 10}) }},
	ScreenMedia: {func(m *Model) {
		m.media.info = &Media{Devices: []MediaDevice{{Path: "/dev/sdb", Name: "sdb"}, {Path: "/dev/sdc", Name: "sdc"}}}
	}},
}

// A key that does something on a screen is in that screen's help, and a
// key the help offers does something there: pressed on a fresh model, it
// changes the frame or starts a command.
func TestEveryKeyIsInHelp(t *testing.T) {
	screens := map[Screen]string{
		ScreenDiscover: "discover", ScreenRoles: "roles", ScreenReview: "review", ScreenApply: "apply",
		ScreenBootstrap: "bootstrap", ScreenKubeconfig: "kubeconfig", ScreenDashboard: "dashboard",
		ScreenTroubleshoot: "troubleshoot", ScreenTimeline: "timeline", ScreenMedia: "media",
	}

	// Help keys that act only in a state keyStates does not make.
	conditional := map[Screen][]string{
		ScreenRoles:        {"i"},                            // disks discovery saw
		ScreenTroubleshoot: {"x", "pgup", "pgdown", "space"}, // a repair running; details taller than the pane
	}

	for screen, name := range screens {
		t.Run(name, func(t *testing.T) {
			helped, acts := map[string]bool{}, map[string]bool{}

			for _, state := range append([]func(*Model){func(*Model) {}}, keyStates[screen]...) {
				fixture := func() *Model { m := keyFixture(screen); state(m); return m }

				here := map[string]bool{}
				for _, row := range fixture().screenKeys().FullHelp() {
					for _, b := range row {
						for _, k := range b.Keys() {
							here[k], helped[k] = true, true
						}
					}
				}

				for name, k := range pressable() {
					if k.String() != name {
						t.Fatalf("key %q reads as %q", name, k.String())
					}

					m := fixture()
					before := m.frame()

					if cmd := m.onKey(k); cmd == nil && m.frame() == before {
						continue
					}

					acts[name] = true

					if !here[name] {
						t.Errorf("%s acts on the %s screen but its help does not list it", name, screenName(screen))
					}
				}
			}

			for k := range helped {
				if !acts[k] && !slices.Contains(conditional[screen], k) {
					t.Errorf("the %s screen's help lists %s, which does nothing there", screenName(screen), k)
				}
			}
		})
	}
}

func screenName(s Screen) string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}

	return strings.ToLower([]string{"dashboard", "troubleshoot", "timeline", "media"}[s-ScreenDashboard])
}

// On-screen text names a key by its binding's first help key.
func TestKeyName(t *testing.T) {
	k := newKeys()
	for b, want := range map[*key.Binding]string{&k.Remove: "x", &k.Filter: "/", &k.PageDown: "pgdn", &k.Up: "↑", &k.Enter: "enter"} {
		if got := keyName(*b); got != want {
			t.Errorf("keyName(%q) = %q, want %q", b.Help().Key, got, want)
		}
	}
}

// Text that tells which key to press follows the key map: rebound, the
// screen names the new key and no longer the old one.
func TestReboundKeysAreNamed(t *testing.T) {
	rebind := func(b *key.Binding, k string) { *b = key.NewBinding(key.WithKeys(k), key.WithHelp(k, b.Help().Desc)) }

	m := keyFixture(ScreenDiscover)
	rebind(&m.keys.Enter, "ctrl+j")
	rebind(&m.keys.Add, "+")
	rebind(&m.keys.Remove, "-")

	frame := ansiStrip(m.frame())
	if want := "ctrl+j: give them roles · +: add a board the scan missed · -: leave one out"; !strings.Contains(frame, want) {
		t.Errorf("discover does not say %q:\n%s", want, frame)
	}

	m = keyFixture(ScreenBootstrap)
	m.bringup.bootErr = "etcd did not start"
	rebind(&m.keys.Retry, "R")

	if frame := ansiStrip(m.frame()); !strings.Contains(frame, "bootstrap failed — R retries") || strings.Contains(frame, "— r retries") {
		t.Errorf("bootstrap does not name its rebound retry key:\n%s", frame)
	}

	m = keyFixture(ScreenReview)
	rebind(&m.keys.Yes, "o")
	rebind(&m.keys.No, "0")
	m.ask("Sure?", func() tea.Cmd { return nil })

	if frame := ansiStrip(m.frame()); !strings.Contains(frame, "? Sure?  o yes  0 no") {
		t.Errorf("the question does not name its rebound keys:\n%s", frame)
	}
}
