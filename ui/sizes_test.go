package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
)

// Every screen fits every size, from a cramped split pane to a projector,
// and survives sizes too small to be useful.
func TestEveryScreenFits(t *testing.T) {
	p := &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}}
	for i := range 9 {
		role := plan.Compute
		if i == 3 {
			role = plan.Gateway
		}

		p.Boards = append(p.Boards, plan.Board{Name: "board-" + itoa(i), Address: "192.168.1." + itoa(20+i), Model: plan.RPi4, Machine: plan.Worker, Role: role})
	}

	p.Boards[0].Machine = plan.ControlPlane
	p.Default()

	t0 := time.Date(2026, 5, 14, 9, 30, 0, 0, time.UTC)
	events := []probe.Event{
		{Time: t0, Node: "board-1", Kind: probe.Applied},
		{Time: t0.Add(time.Second), Node: "board-1", Kind: probe.Stage, State: "installing"},
		{Time: t0.Add(2 * time.Second), Node: "board-2", Kind: probe.Reachable, Detail: "no route to host"},
		{Time: t0.Add(3 * time.Second), Node: "board-3", Kind: probe.Log, Name: "dmesg", Detail: strings.Repeat("very long kernel line ", 20)},
		{Time: t0.Add(4 * time.Second), Kind: probe.Hello, Name: "wasm", Detail: strings.Repeat("x", 300)},
	}

	for _, screen := range []Screen{ScreenDiscover, ScreenRoles, ScreenReview, ScreenApply, ScreenBootstrap, ScreenKubeconfig, ScreenDashboard, ScreenTroubleshoot, ScreenTimeline} {
		for _, size := range [][2]int{{20, 5}, {60, 16}, {80, 24}, {100, 30}, {250, 70}} {
			m := New(Options{Backend: nopBackend{}, Plan: p, Start: screen, Clock: func() time.Time { return t0.Add(20 * time.Minute) }})
			m.fold(events)
			m.discover.addFound("192.168.1.99", strings.Repeat("summary ", 30), false)
			m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			m.screen = screen

			frame := m.View().Content

			lines := strings.Split(frame, "\n")

			if len(lines) > size[1] {
				t.Errorf("screen %d at %dx%d: %d lines", screen, size[0], size[1], len(lines))
			}

			for i, l := range lines {
				if w := ansi.StringWidth(l); w > size[0] {
					t.Errorf("screen %d at %dx%d: line %d is %d wide", screen, size[0], size[1], i+1, w)
				}
			}
		}
	}
}

type nopBackend struct{}

func (nopBackend) Discover(context.Context, string, func(Progress)) error { return nil }
func (nopBackend) Apply(context.Context, *plan.Plan) error                { return nil }
func (nopBackend) Bootstrap(context.Context, *plan.Plan) error            { return nil }
func (nopBackend) SavePlan(*plan.Plan) error                              { return nil }
func (nopBackend) SaveKubeconfig(bool) (string, error)                    { return "", nil }
func (nopBackend) Preview(context.Context, *plan.Plan) ([]config.Preview, error) {
	return nil, nil
}
func (nopBackend) Preflight(context.Context, *plan.Plan) plan.Problems        { return nil }
func (nopBackend) Register(context.Context, *plan.Plan, func(Progress)) error { return nil }
func (nopBackend) PrepareRepair(context.Context, probe.Repair) (*repair.Job, error) {
	return nil, errors.New("no backend")
}
func (nopBackend) Repair(context.Context, *repair.Job) error { return nil }
func (nopBackend) PrepareMove(context.Context, string) (*gateway.Move, error) {
	return nil, errors.New("no backend")
}
func (nopBackend) MoveGateway(context.Context, *gateway.Move) error { return nil }

// Boards answer a scan in any order; the list stays in address order, and
// a board added by hand lands where it belongs.
func TestFoundStaysInAddressOrder(t *testing.T) {
	m := New(Options{})
	for _, a := range []string{"192.168.1.20", "192.168.1.3", "10.0.0.9", "192.168.1.100"} {
		m.discover.addFound(a, "", false)
	}

	if i := m.discover.addFound("192.168.1.4", "", true); i != 2 {
		t.Errorf("192.168.1.4 went to %d, want 2", i)
	}

	var got []string
	for _, f := range m.discover.found {
		got = append(got, f.addr)
	}

	if want := "10.0.0.9 192.168.1.3 192.168.1.4 192.168.1.20 192.168.1.100"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}
