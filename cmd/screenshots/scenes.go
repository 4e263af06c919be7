package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/internal/shot"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
	"github.com/liftoff-lab/liftoff/sim/lab"
	"github.com/liftoff-lab/liftoff/ui"
)

// Shot is one rendered screen.
type Shot struct {
	Name string
	Text string // the plain-text frame, for review diffs
	PNG  []byte
}

// The sizes: a roomy terminal, and the one most laptops open with.
const (
	cols, rows           = 120, 36
	smallCols, smallRows = 80, 24
)

type recordings struct {
	boards     []labBoard // in plan order
	discovered []probe.Event
	happy      []probe.Event
	tailscale  []probe.Event
	check      []check.Result
	repaired   []probe.Event // the duplicate-hostname lab, its misnamed board repaired
	speed      float64       // the recorded lab's --speed: the timeline's expectations shrink by it
}

var labSpeed = regexp.MustCompile(`speed ×([0-9.]+)`)

// labBoard is one line of liftoff sim --headless's board list.
type labBoard struct {
	name, addr, machine, role string
}

func load(dir string) (*recordings, error) {
	r := &recordings{}

	lab, err := fileio.ReadFile(filepath.Join(dir, fixtureLab), fileio.Own)
	if err != nil {
		return nil, fmt.Errorf("%w (record the fixtures with make screenshot-fixtures)", err)
	}

	if m := labSpeed.FindSubmatch(lab); m != nil {
		r.speed, _ = strconv.ParseFloat(string(m[1]), 64)
	}

	if r.speed <= 0 {
		return nil, fmt.Errorf("%s does not say the lab's speed (\"speed ×20\"): run make screenshot-fixtures", fixtureLab)
	}

	sc := bufio.NewScanner(bytes.NewReader(lab))
	for sc.Scan() {
		if m := labLine.FindStringSubmatch(sc.Text()); m != nil {
			r.boards = append(r.boards, labBoard{name: m[1], addr: m[2], machine: m[5], role: m[6]})
		}
	}

	for file, into := range map[string]*[]probe.Event{fixtureDiscover: &r.discovered, fixtureHappy: &r.happy, fixtureTailscale: &r.tailscale, fixtureRepair: &r.repaired} {
		f, err := fileio.Open(filepath.Join(dir, file), fileio.Recording)
		if err != nil {
			return nil, err
		}

		*into, err = probe.ReadEvents(f)
		f.Close()

		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}

		if len(*into) == 0 {
			return nil, fmt.Errorf("%s has no events", file)
		}
	}

	data, err := fileio.ReadFile(filepath.Join(dir, fixtureCheck), fileio.Own)
	if err != nil {
		return nil, err
	}

	var report struct {
		Results []check.Result `json:"results"`
	}

	if err := json.Unmarshal(data, &report); err != nil {
		return nil, fmt.Errorf("%s: %w", fixtureCheck, err)
	}

	r.check = report.Results

	if len(r.boards) == 0 || len(r.check) == 0 {
		return nil, fmt.Errorf("the fixtures in %s are incomplete: run make screenshot-fixtures", dir)
	}

	return r, nil
}

// upTo is the events before the first for which stop is true.
func upTo(events []probe.Event, stop func(probe.Event) bool) []probe.Event {
	if i := slices.IndexFunc(events, stop); i >= 0 {
		return events[:i]
	}

	return events
}

// nth is a stop for upTo: the nth event (from 1) that matches.
func nth(n int, match func(probe.Event) bool) func(probe.Event) bool {
	seen := 0

	return func(e probe.Event) bool {
		if match(e) {
			seen++
		}

		return seen >= n
	}
}

func kind(k probe.Kind, state string) func(probe.Event) bool {
	return func(e probe.Event) bool { return e.Kind == k && (state == "" || e.State == state) }
}

func last(events []probe.Event) time.Time { return events[len(events)-1].Time }

// frame is one screen to draw.
type frame struct {
	name       string
	cols, rows int
	view       tea.View
	wrap       bool
}

// Render makes every screenshot from the fixtures in dir.
func Render(dir string) ([]Shot, error) {
	r, err := load(dir)
	if err != nil {
		return nil, err
	}

	frames := r.wizard()
	frames = append(frames, r.media()...)
	frames = append(frames, r.watch()...)

	repairs, err := r.repair()
	if err != nil {
		return nil, err
	}

	frames = append(frames, repairs...)
	frames = append(frames, r.checkTable())

	out := make([]Shot, 0, len(frames))

	for _, f := range frames {
		s, err := draw(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}

		out = append(out, s)
	}

	return out, nil
}

func draw(f frame) (Shot, error) {
	o := shot.Options{Cols: f.cols, Rows: f.rows, Wrap: f.wrap}
	if f.view.BackgroundColor != nil {
		o.Background, o.Foreground = f.view.BackgroundColor, f.view.ForegroundColor
	}

	scr := shot.Parse(f.view.Content, o)

	b, err := scr.PNG()
	if err != nil {
		return Shot{}, err
	}

	return Shot{Name: f.name, Text: scr.Text(), PNG: b}, nil
}

// wizard walks the wizard as a person would, against the recorded lab:
// scan, roles (naming the boards as the lab's plan does, then trying a
// second gateway), review, apply.
func (r *recordings) wizard() []frame {
	be := &labBackend{discovered: r.discovered}

	var addrs []string
	for _, b := range r.boards {
		addrs = append(addrs, b.addr)
	}

	// The simulated lab's plan is on its loopback LAN, as liftoff sim makes it.
	start := &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}, Network: plan.Network{LAN: "127.0.0.0/8"}}
	d := newDriver(ui.Options{Backend: be, Target: strings.Join(addrs, ","), Cluster: "homelab", Plan: start}, cols, rows, last(r.discovered))
	be.d = d

	var out []frame

	snap := func(name string) { out = append(out, frame{name: name, cols: cols, rows: rows, view: d.frame()}) }

	d.keys("enter") // scan the lab's addresses
	snap("wizard-discover")

	d.keys("enter")

	gateway, other := -1, -1

	for i, b := range r.boards {
		// The wizard lists boards in scan (address) order, as the lab's plan does.
		d.keys("n", "ctrl+u", b.name, "enter")

		if b.machine == "controlplane" {
			d.keys("c")
		} else {
			d.keys("w")
		}

		switch {
		case b.role == "gateway":
			d.keys("g")
			gateway = i
		case other < 0 && b.machine != "controlplane":
			other = i
		}

		if i < len(r.boards)-1 {
			d.keys("down")
		}
	}

	// A second gateway is refused, with the reason.
	if gateway >= 0 && other >= 0 {
		for range len(r.boards) - 1 - other {
			d.keys("up")
		}

		d.keys("g")
	}

	snap("wizard-roles")

	d.keys("enter")
	snap("wizard-review")

	// Apply, and look while two boards are booting and the rest rebooting.
	be.applied = upTo(r.happy, nth(3, kind(probe.Stage, "booting")))
	d.now = last(be.applied)
	d.keys("enter")
	snap("wizard-apply")

	return out
}

// watch is the dashboard and the troubleshoot view as liftoff replay
// shows a recording.
func (r *recordings) watch() []frame {
	var out []frame

	watch := func(name string, events []probe.Event, c, rw int, theme ui.Theme, keys ...string) {
		d := newDriver(ui.Options{Theme: theme, Cluster: "homelab", Speed: r.speed}, c, rw, last(events))
		d.feed(events...)
		d.keys(keys...)
		out = append(out, frame{name: name, cols: c, rows: rw, view: d.frame()})
	}

	// Bootstrapped, Talos up everywhere, Kubernetes not Ready yet.
	bringUp := upTo(r.happy, kind(probe.NodeReady, ""))
	green := r.happy

	watch("dashboard-bringup", bringUp, cols, rows, ui.DefaultTheme())
	watch("dashboard-green", green, cols, rows, ui.DefaultTheme())
	watch("dashboard-green-high-contrast", green, cols, rows, ui.HighContrastTheme())
	watch("dashboard-bringup-80x24", bringUp, smallCols, smallRows, ui.DefaultTheme())
	watch("help", green, cols, rows, ui.DefaultTheme(), "?")
	watch("troubleshoot-tailscale-everywhere", r.tailscale, cols, rows, ui.DefaultTheme(), "t")

	// The bring-up as a picture: done, half-way at 80×24, and stuck.
	watch("timeline", green, cols, rows, ui.DefaultTheme(), "p")
	watch("timeline-bringup-80x24", upTo(r.happy, nth(3, kind(probe.Stage, "booting"))), smallCols, smallRows, ui.DefaultTheme(), "p")
	watch("timeline-tailscale-everywhere", r.tailscale, cols, rows, ui.HighContrastTheme(), "p")

	return out
}

// repair is the troubleshoot view's repair: its preview on the
// tailscale-everywhere lab (prepared by liftoff's own code against the
// recorded lab's plan: the exact installer), and a misnamed board
// recovering, from the recorded repair.
func (r *recordings) repair() ([]frame, error) {
	spec := lab.DefaultSpec()

	p, err := spec.Plan()
	if err != nil {
		return nil, err
	}

	be := &labBackend{plan: p}
	d := newDriver(ui.Options{Backend: be, Plan: p, Start: ui.ScreenDashboard, Theme: ui.DefaultTheme(), Cluster: "homelab", Speed: r.speed}, cols, rows, last(r.tailscale))
	be.d = d
	d.feed(r.tailscale...)
	d.keys("t", "f")

	out := []frame{{name: "repair-preview", cols: cols, rows: rows, view: d.frame()}}

	// Recovering: the re-applied config taken live, the kubelet restarted
	// under the board's own name, its Node not Ready yet.
	started := false
	recovering := upTo(r.repaired, func(e probe.Event) bool {
		started = started || e.Kind == probe.RepairStep
		return started && e.Node == "pi-w-2" && e.Kind == probe.NodeReady && e.Ready
	})

	d = newDriver(ui.Options{Theme: ui.DefaultTheme(), Cluster: "homelab", Speed: r.speed}, cols, rows, last(recovering))
	d.feed(recovering...)

	return append(out, frame{name: "dashboard-repair-recovering", cols: cols, rows: rows, view: d.frame()}), nil
}

// checkTable is liftoff check's report for people, as a terminal shows it.
func (r *recordings) checkTable() frame {
	var b bytes.Buffer

	b.WriteString("$ liftoff check --sim happy\n")
	_ = check.WriteTable(&b, r.check) //nolint:errcheck // a bytes.Buffer does not fail

	return frame{name: "check", cols: cols, rows: rows, view: tea.NewView(b.String()), wrap: true}
}

// Compare checks the committed screenshots in dir against shots: the
// text exactly, the PNG by its pixels (so a new PNG encoder is no change).
func Compare(dir string, shots []Shot) []string {
	var problems []string

	made := map[string]bool{}

	for _, s := range shots {
		made[s.Name] = true

		if !same(dir, s) {
			problems = append(problems, fmt.Sprintf("screen %s changed: run make screenshots", s.Name))
		}
	}

	pngs, _ := filepath.Glob(filepath.Join(dir, "*.png")) //nolint:errcheck // the pattern is valid
	for _, p := range pngs {
		if name := strings.TrimSuffix(filepath.Base(p), ".png"); !made[name] {
			problems = append(problems, fmt.Sprintf("screen %s is not made any more: delete %s and its .txt", name, p))
		}
	}

	return problems
}

func same(dir string, s Shot) bool {
	text, err := fileio.ReadFile(filepath.Join(dir, s.Name+".txt"), fileio.Own)
	if err != nil || string(text) != s.Text {
		return false
	}

	committed, err := fileio.ReadFile(filepath.Join(dir, s.Name+".png"), fileio.Own)
	if err != nil {
		return false
	}

	if bytes.Equal(committed, s.PNG) {
		return true
	}

	a, errA := png.Decode(bytes.NewReader(committed))
	b, errB := png.Decode(bytes.NewReader(s.PNG))

	return errA == nil && errB == nil && samePixels(a, b)
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}

	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x, y).RGBA()

			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				return false
			}
		}
	}

	return true
}
