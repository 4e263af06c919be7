package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Two hundred boards at 80×24: the rows scroll to keep the selected board
// in view, every frame fits, and enter explains the selected one.
func TestTimelineScrollsTwoHundredBoards(t *testing.T) {
	p := benchPlan(200)
	stream := benchStream(p)
	end := stream[len(stream)-1].Time
	m := benchModel(p, stream[:len(stream)*2/3], end, 80, 24)
	m.onKey(tea.KeyPressMsg{Code: 'p', Text: "p"})

	frame := func() string {
		f := m.View().Content
		lines := strings.Split(f, "\n")

		if len(lines) > 24 {
			t.Fatalf("%d lines", len(lines))
		}

		for i, l := range lines {
			if ansi.StringWidth(l) > 80 {
				t.Fatalf("line %d is %d wide", i+1, ansi.StringWidth(l))
			}
		}

		return ansi.Strip(f)
	}

	f := frame()
	if !strings.Contains(f, "▸ pi-000") || !strings.Contains(f, "boards 1–") || strings.Contains(f, "pi-050") {
		t.Fatalf("first page:\n%s", f)
	}

	rows := strings.Count(f, " pi-")

	m.onKey(tea.KeyPressMsg{Code: tea.KeyEnd})

	f = frame()
	if !strings.Contains(f, "▸ pi-199") || strings.Contains(f, "pi-000") || !strings.Contains(f, "of 200") {
		t.Fatalf("last page:\n%s", f)
	}

	for range 5 {
		m.onKey(tea.KeyPressMsg{Code: tea.KeyUp})
	}

	if f = frame(); !strings.Contains(f, "▸ pi-194") || strings.Count(f, " pi-") != rows {
		t.Errorf("after five up, pi-194 is selected on a page of %d rows:\n%s", rows, f)
	}

	m.onKey(tea.KeyPressMsg{Code: tea.KeyEnter})

	if m.screen != ScreenTroubleshoot || !strings.Contains(frame(), "Why pi-194?") {
		t.Errorf("enter did not explain pi-194:\n%s", frame())
	}
}
