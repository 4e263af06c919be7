package probe

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func phases(tl Timeline) string {
	var out []string

	for _, s := range tl.Spans {
		d := s.Duration().Round(time.Second)

		if s.Open {
			out = append(out, fmt.Sprintf("%s %s…", s.Phase, d))
		} else {
			out = append(out, fmt.Sprintf("%s %s", s.Phase, d))
		}
	}

	return strings.Join(out, ", ")
}

// bringUp is one compute board from apply to Ready, second by second.
func bringUp(node string, t0 int) []Event {
	ev := func(s int, e Event) Event { e.Time, e.Node = at(t0+s), node; return e }

	return []Event{
		ev(0, Event{Kind: Planned, State: "worker", Name: "compute", Detail: "spin zfs"}),
		ev(0, Event{Kind: Reachable, Ready: true, Detail: "maintenance"}),
		ev(0, Event{Kind: Stage, State: "maintenance"}),
		ev(1, Event{Kind: Applied, Detail: "installer"}),
		ev(3, Event{Kind: Stage, State: "installing"}),
		ev(20, Event{Kind: Stage, State: "rebooting"}),
		ev(21, Event{Kind: Reachable, Detail: "nothing answers on the Talos port"}),
		ev(28, Event{Kind: Reachable, Ready: true, Detail: "mutual TLS"}),
		ev(29, Event{Kind: Stage, State: "booting"}),
		ev(29, Event{Kind: Extension, Name: "spin", State: "present"}),
		ev(29, Event{Kind: Extension, Name: "zfs", State: "present"}),
		ev(35, Event{Kind: Stage, State: "running"}),
		ev(35, Event{Kind: MachineReady, Detail: "nodeReady: node \"" + node + "\" status is not available yet"}),
		ev(45, Event{Kind: NodeReady, Ready: true, Detail: "KubeletReady"}),
		ev(47, Event{Kind: MachineReady, Ready: true}),
	}
}

func TestTimelineOfABringUp(t *testing.T) {
	n := fold(bringUp("pi", 0)...).Node("pi")
	tl := n.Timeline(at(100), 1)

	// Talos reports the machine ready only after its Node is Ready.
	if want := "apply 2s, install 17s, reboot 9s, boot 6s, node 10s, talos 2s, ready 53s…"; phases(tl) != want {
		t.Errorf("phases:\n got %s\nwant %s", phases(tl), want)
	}

	if !tl.Ready || tl.Start != at(1) || tl.End != at(47) {
		t.Errorf("ready %v from %v to %v", tl.Ready, tl.Start, tl.End)
	}

	if d, _ := n.ReadyAfter(); tl.End.Sub(tl.Start) != d {
		t.Errorf("the timeline's length %s is not the Ready timing %s", tl.End.Sub(tl.Start), d)
	}

	if len(tl.Reboots) != 1 || tl.Reboots[0] != at(20) {
		t.Errorf("reboots %v", tl.Reboots)
	}

	if len(tl.Outages) != 1 || !tl.Outages[0].Expected || tl.Outages[0].From != at(21) || tl.Outages[0].To != at(28) {
		t.Errorf("outages %+v", tl.Outages)
	}

	if p, d := tl.Slowest(); p != PhaseInstall || d != 17*time.Second {
		t.Errorf("slowest %s %s", p, d)
	}

	// Expectations come from the stage-budget table, shrunk by the lab's speed.
	if spent, want := tl.Total(PhaseInstall); spent != 17*time.Second || want != 90*time.Second {
		t.Errorf("install %s of %s expected", spent, want)
	}

	if _, want := n.Timeline(at(100), 10).Total(PhaseReboot); want != 4*time.Second {
		t.Errorf("reboot expected %s at speed 10, want 4s", want)
	}

	start, end, ok := n.TimelineBounds(at(100))
	if !ok || start != tl.Start || end != tl.End {
		t.Errorf("bounds %v %v %v, want the timeline's %v %v", start, end, ok, tl.Start, tl.End)
	}
}

func TestTimelineWhileGoing(t *testing.T) {
	n := fold(bringUp("pi", 0)[:7]...).Node("pi")
	tl := n.Timeline(at(24), 1)

	if want := "apply 2s, install 17s, reboot 4s…"; phases(tl) != want || tl.Ready || tl.End != at(24) {
		t.Errorf("phases %s ready %v end %v", phases(tl), tl.Ready, tl.End)
	}

	if o := tl.Outages; len(o) != 1 || !o[0].Open || o[0].To != at(24) {
		t.Errorf("outages %+v", o)
	}

	if tl.Current() != PhaseReboot {
		t.Errorf("current %s", tl.Current())
	}

	if _, end, _ := n.TimelineBounds(at(24)); end != at(24) {
		t.Errorf("bounds end %v, want now", end)
	}
}

// Power lost mid-install: the board comes back in maintenance mode, is
// given its config again and gets there. The picture keeps both attempts.
func TestTimelineOfAPowerLoss(t *testing.T) {
	ev := func(s int, e Event) Event { e.Time, e.Node = at(s), "pi"; return e }
	events := []Event{
		ev(0, Event{Kind: Stage, State: "maintenance"}),
		ev(1, Event{Kind: Applied}),
		ev(2, Event{Kind: Stage, State: "installing"}),
		ev(10, Event{Kind: Stage, State: "rebooting"}),
		ev(15, Event{Kind: Stage, State: "booting"}),
		ev(17, Event{Kind: Stage, State: "maintenance"}),
		ev(30, Event{Kind: Applied}),
		ev(31, Event{Kind: Stage, State: "installing"}),
		ev(50, Event{Kind: Stage, State: "rebooting"}),
		ev(55, Event{Kind: Stage, State: "booting"}),
		ev(60, Event{Kind: Stage, State: "running"}),
	}
	tl := fold(events...).Node("pi").Timeline(at(70), 1)

	if want := "apply 1s, install 8s, reboot 5s, boot 2s, maintenance 13s, apply 1s, install 19s, reboot 5s, boot 5s, node 10s…"; phases(tl) != want {
		t.Errorf("phases:\n got %s\nwant %s", phases(tl), want)
	}

	if len(tl.Reboots) != 2 {
		t.Errorf("reboots %v, want both", tl.Reboots)
	}

	if spent, _ := tl.Total(PhaseInstall); spent != 27*time.Second {
		t.Errorf("install total %s", spent)
	}
}

// The board reports installing a moment before the apply call returns, as
// the recorded lab does: the install starts at the apply.
func TestTimelineInstallingBeforeApplied(t *testing.T) {
	ev := func(s int, e Event) Event { e.Time, e.Node = at(s), "pi"; return e }
	tl := fold(ev(5, Event{Kind: Stage, State: "installing"}), ev(6, Event{Kind: Applied}), ev(20, Event{Kind: Stage, State: "rebooting"})).
		Node("pi").Timeline(at(25), 1)

	if want := "install 14s, reboot 5s…"; phases(tl) != want || tl.Start != at(6) {
		t.Errorf("phases %s from %v", phases(tl), tl.Start)
	}
}

// An outage on a running board is not a reboot: it is marked unexpected.
func TestTimelineUnexpectedOutage(t *testing.T) {
	events := bringUp("pi", 0)
	events = append(events,
		Event{Time: at(60), Node: "pi", Kind: Reachable, Detail: "no route to host"},
		Event{Time: at(66), Node: "pi", Kind: Reachable, Ready: true})
	tl := fold(events...).Node("pi").Timeline(at(70), 1)

	if len(tl.Outages) != 2 || tl.Outages[1].Expected || tl.Outages[1].Why != "no route to host" || tl.Outages[1].Duration() != 6*time.Second {
		t.Errorf("outages %+v", tl.Outages)
	}
}

// A boot loop of a thousand boots keeps the marks bounded, and the start.
func TestTimelineMarksAreBounded(t *testing.T) {
	l := fold(Event{Time: at(0), Node: "pi", Kind: Applied})
	for i := range 1000 {
		l.Apply(Event{Time: at(1 + 2*i), Node: "pi", Kind: Stage, State: "rebooting"})
		l.Apply(Event{Time: at(2 + 2*i), Node: "pi", Kind: Stage, State: "booting"})
	}

	n := l.Node("pi")
	if len(n.Marks) > marksKeep || n.MarksDropped == 0 {
		t.Fatalf("%d marks, %d dropped", len(n.Marks), n.MarksDropped)
	}

	tl := n.Timeline(at(2001), 1)
	if tl.Start != at(0) || tl.Dropped != n.MarksDropped || tl.Current() != PhaseBoot {
		t.Errorf("start %v dropped %d current %s", tl.Start, tl.Dropped, tl.Current())
	}
}

func TestNoTimelineWithoutApply(t *testing.T) {
	n := fold(Event{Time: at(0), Node: "pi", Kind: Stage, State: "running"}).Node("pi")
	if tl := n.Timeline(at(5), 1); tl.Start.IsZero() == false || len(tl.Spans) != 0 {
		t.Errorf("a board never applied while watched has a timeline: %+v", tl)
	}

	if _, _, ok := n.TimelineBounds(at(5)); ok {
		t.Error("bounds without an apply")
	}
}

// The recorded happy lab: every board goes through every phase in order.
func TestTimelineOfTheRecordedLab(t *testing.T) {
	f, err := os.Open("../screenshots/fixtures/happy.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	events, err := ReadEvents(f)
	if err != nil {
		t.Fatal(err)
	}

	l := fold(events...)
	order := map[Phase]int{}

	for i, p := range Phases {
		order[p] = i
	}

	for _, n := range l.Nodes {
		tl := n.Timeline(l.Last, 20)
		if !tl.Ready || len(tl.Reboots) != 1 {
			t.Errorf("%s: ready %v, reboots %v: %s", n.Name, tl.Ready, tl.Reboots, phases(tl))
		}

		for i := 1; i < len(tl.Spans); i++ {
			if order[tl.Spans[i].Phase] <= order[tl.Spans[i-1].Phase] {
				t.Errorf("%s: phases out of order: %s", n.Name, phases(tl))
			}
		}

		if d, _ := n.ReadyAfter(); tl.End.Sub(tl.Start) != d {
			t.Errorf("%s: timeline %s, Ready timing %s", n.Name, tl.End.Sub(tl.Start), d)
		}
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		most int
		want time.Duration
	}{
		{3 * time.Second, 5, time.Second},
		{40 * time.Second, 5, 10 * time.Second},
		{90 * time.Second, 4, 30 * time.Second},
		{20 * time.Minute, 5, 5 * time.Minute},
		{30 * time.Hour, 5, 8 * time.Hour},
	} {
		if got := Ticks(tc.d, tc.most); got != tc.want {
			t.Errorf("Ticks(%s, %d) = %s, want %s", tc.d, tc.most, got, tc.want)
		}
	}
}
