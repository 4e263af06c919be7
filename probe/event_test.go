package probe

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// One line per event for people: the same in headless output and in a
// support bundle's timeline.txt.
func TestEventString(t *testing.T) {
	at := time.Date(2026, 11, 30, 4, 5, 6, 7_000_000, time.UTC)

	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Time: at, Node: "pi-1", Kind: Service, Name: "ext-tailscale", State: "Waiting", Detail: "Waiting for extension service config"},
			"2026-11-30 04:05:06.007 pi-1     service       ext-tailscale Waiting not ready Waiting for extension service config"},
		{Event{Time: at, Kind: Hello, Name: "wasm", Ready: true, Latency: 1500 * time.Microsecond, Detail: "Hello from Spin"},
			"2026-11-30 04:05:06.007 –        hello         wasm in 1.5ms Hello from Spin"},
		{Event{Time: at, Node: "pi-2", Kind: Log, Count: 3, Detail: "EXT4-fs error"},
			"2026-11-30 04:05:06.007 pi-2     log           count=3 EXT4-fs error"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

// Unmet conditions travel as a list: a condition whose reason holds "; "
// stays whole. A recording made before the list kept them joined in
// Detail; the fold splits those, and only those.
func TestUnmetConditionsTravelAsAList(t *testing.T) {
	at := time.Date(2026, 11, 30, 4, 5, 6, 0, time.UTC)
	reason := "services: kubelet not healthy; waiting for the API server"

	for _, tc := range []struct {
		name string
		e    Event
		want []string
	}{
		{"the list", Event{Time: at, Node: "pi-1", Kind: MachineReady, Items: []string{reason, "nodename: waiting"}, Detail: reason + "; nodename: waiting"},
			[]string{reason, "nodename: waiting"}},
		{"an old recording", Event{Time: at, Node: "pi-1", Kind: MachineReady, Detail: "services: kubelet not healthy; nodename: waiting"},
			[]string{"services: kubelet not healthy", "nodename: waiting"}},
		{"ready", Event{Time: at, Node: "pi-1", Kind: MachineReady, Ready: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLab()
			l.Apply(tc.e)

			if got := l.Node("pi-1").Unmet; !slices.Equal(got, tc.want) {
				t.Errorf("unmet %q, want %q", got, tc.want)
			}
		})
	}

	// The list survives a recording.
	line, err := Event{Time: at, Kind: MachineReady, Items: []string{reason}}.MarshalLine()
	if err != nil {
		t.Fatal(err)
	}

	if !strings.Contains(string(line), `"items":["`+reason+`"]`) {
		t.Errorf("recorded as %s", line)
	}
}

// A Talos diagnostic's message and details travel as a list too: a detail
// holding "; " stays one piece of evidence, and an old recording's joined
// Detail is split as it was joined.
func TestDiagnosticPartsTravelAsAList(t *testing.T) {
	at := time.Date(2026, 11, 30, 4, 5, 6, 0, time.UTC)
	detail := "127.0.0.11 lies inside the pod CIDR 127.0.0.0/8; so does 127.0.0.12"

	for _, tc := range []struct {
		name string
		e    Event
		want []string
	}{
		{"the list", Event{Time: at, Node: "pi-1", Kind: TalosDiagnostic, Name: "address-overlap", Ready: true,
			Items: []string{"host and Kubernetes pod/service CIDR addresses overlap", detail}}, []string{"host and Kubernetes pod/service CIDR addresses overlap", detail}},
		{"an old recording", Event{Time: at, Node: "pi-1", Kind: TalosDiagnostic, Name: "address-overlap", Ready: true,
			Detail: "host and Kubernetes pod/service CIDR addresses overlap; 127.0.0.11 lies inside"}, []string{"host and Kubernetes pod/service CIDR addresses overlap", "127.0.0.11 lies inside"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLab()
			l.Apply(tc.e)

			n := l.Node("pi-1")
			if got := n.Diagnostics["address-overlap"]; !slices.Equal(got, tc.want) {
				t.Fatalf("diagnostic %q, want %q", got, tc.want)
			}

			causes, warnings := talosDiagnoses(n)
			all := append(causes, warnings...)

			if len(all) != 1 || !slices.Contains(all[0].Evidence, tc.want[1]) {
				t.Fatalf("the diagnosis's evidence does not hold the detail whole: %+v", all)
			}
		})
	}
}

// The Talos watch emits a resource's event only when it says something
// new: time aside, every field counts, the unmet conditions too.
func TestEventSameAs(t *testing.T) {
	a := Event{Time: time.Unix(1, 0), Node: "pi-1", Kind: MachineReady, Items: []string{"nodename: waiting"}}
	b := a
	b.Time = time.Unix(2, 0)

	if !a.SameAs(b) {
		t.Error("two events a second apart that say the same differ")
	}

	b.Items = []string{"nodename: waiting", "services: kubelet not healthy"}
	if a.SameAs(b) {
		t.Error("another unmet condition is not new")
	}

	last := map[string]Event{}
	if !changed(last, a) || changed(last, Event{Time: time.Unix(3, 0), Node: "pi-1", Kind: MachineReady, Items: []string{"nodename: waiting"}}) || !changed(last, b) {
		t.Error("changed: want new, same, new")
	}
}
