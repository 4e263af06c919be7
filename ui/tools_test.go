package ui_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/ui"
)

// The control plane's first build runs behind the wizard: its corner of the
// header says how far it is, and its end or failure is said once.
func TestToolsBuildShowsInTheHeaderUntilDone(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC) }
	m := ui.New(ui.Options{Plan: &plan.Plan{Cluster: plan.Cluster{Name: "homelab"}}, Start: ui.ScreenDiscover, Clock: now})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})

	header := func() string {
		first, _, _ := strings.Cut(ansi.Strip(m.View().Content), "\n")

		return first
	}

	if h := header(); strings.Contains(h, "building") {
		t.Fatalf("no build yet, header %q", h)
	}

	m.Update(ui.Progress{Op: ui.OpTools, Step: "kube"})
	if h := header(); !strings.Contains(h, "building kube…") {
		t.Fatalf("listing: header %q", h)
	}

	m.Update(ui.Progress{Op: ui.OpTools, Step: "kube", Done: 812, Total: 2443})
	if h := header(); !strings.Contains(h, "building kube 33%") {
		t.Fatalf("compiling: header %q", h)
	}

	m.Update(ui.Progress{Op: ui.OpTools, Finished: true})
	if h, all := header(), ansi.Strip(m.View().Content); strings.Contains(h, "building") || !strings.Contains(all, "the control plane is built") {
		t.Fatalf("done: header %q, screen:\n%s", h, all)
	}

	m.Update(ui.Progress{Op: ui.OpTools, Finished: true, Err: errors.New("building etcd: ./x.go:1: syntax error")})
	if all := ansi.Strip(m.View().Content); !strings.Contains(all, "building etcd: ./x.go:1: syntax error") {
		t.Fatalf("failure not said:\n%s", all)
	}
}
