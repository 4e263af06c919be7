package probe

import (
	"strings"
	"testing"
	"time"
)

func at(s int) time.Time { return time.Date(2026, 11, 22, 12, 0, s, 0, time.UTC) }

func TestLabFoldsAGatewayBringUp(t *testing.T) {
	l := NewLab()

	for _, e := range []Event{
		{Time: at(0), Node: "gw", Kind: Planned, State: "worker", Name: "gateway", Detail: "drbd spin tailscale zfs"},
		{Time: at(1), Node: "gw", Kind: Applied, Detail: "factory.talos.dev/metal-installer/x:v1.13.3"},
		{Time: at(2), Node: "gw", Kind: Stage, State: "installing"},
		{Time: at(40), Node: "gw", Kind: Stage, State: "running"},
		{Time: at(41), Node: "gw", Kind: Reachable, Ready: true},
		{Time: at(42), Node: "gw", Kind: Extension, Name: "tailscale", State: "present"},
		{Time: at(42), Node: "gw", Kind: Extension, Name: "zfs", State: "present"},
		{Time: at(43), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Waiting", Count: 3},
		{Time: at(44), Node: "gw", Kind: MachineReady, Detail: "services not healthy: ext-tailscale"},
	} {
		l.Apply(e)
	}

	n := l.Node("gw")

	if n.Extensions["zfs"].ActiveAt != at(42) {
		t.Errorf("zfs active at %v, want when it appeared on a running node", n.Extensions["zfs"].ActiveAt)
	}

	if !n.Extensions["tailscale"].ActiveAt.IsZero() {
		t.Error("tailscale counted active while ext-tailscale is not up")
	}

	if got := n.Missing(); len(got) != 2 || got[0] != "drbd" || got[1] != "spin" {
		t.Errorf("missing = %v", got)
	}

	if n.MachineReady || len(n.Unmet) != 1 || n.Services["ext-tailscale"].Restarts != 3 {
		t.Errorf("machine ready %v unmet %v", n.MachineReady, n.Unmet)
	}

	if n.APIBackAt != at(41) {
		t.Errorf("API back at %v", n.APIBackAt)
	}

	l.Apply(Event{Time: at(50), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Running", Ready: true})
	l.Apply(Event{Time: at(51), Node: "gw", Kind: MachineReady, Ready: true})
	l.Apply(Event{Time: at(61), Node: "gw", Kind: NodeReady, Ready: true})

	if n.Extensions["tailscale"].ActiveAt != at(50) {
		t.Errorf("tailscale active at %v", n.Extensions["tailscale"].ActiveAt)
	}

	if d, ok := n.ReadyAfter(); !ok || d != 60*time.Second {
		t.Errorf("ready after %v %v", d, ok)
	}

	// A later NotReady clears Ready but keeps the first Ready time.
	l.Apply(Event{Time: at(70), Node: "gw", Kind: NodeReady, Detail: "NodeStatusUnknown"})

	if n.NodeReady || n.NodeReadyAt != at(61) || n.NodeReason != "NodeStatusUnknown" {
		t.Errorf("after NotReady: %v %v %q", n.NodeReady, n.NodeReadyAt, n.NodeReason)
	}
}

func TestUnexpectedExtension(t *testing.T) {
	l := NewLab()
	l.Apply(Event{Time: at(0), Node: "c1", Kind: Planned, Name: "compute", Detail: "drbd spin zfs"})

	for _, x := range []string{"drbd", "spin", "zfs", "tailscale"} {
		l.Apply(Event{Time: at(1), Node: "c1", Kind: Extension, Name: x, State: "present"})
	}

	n := l.Node("c1")
	if got := n.Unexpected(); len(got) != 1 || got[0] != "tailscale" {
		t.Errorf("unexpected = %v", got)
	}

	if len(n.Missing()) != 0 {
		t.Errorf("missing = %v", n.Missing())
	}
}

func TestLogsAreBounded(t *testing.T) {
	l := NewLab()
	for i := range 2 * logKeep {
		l.Apply(Event{Time: at(i), Node: "n", Kind: Log, Name: "ext-tailscale", Detail: string(rune('a' + i%26))})
	}

	if got := len(l.Node("n").Logs["ext-tailscale"]); got != logKeep {
		t.Errorf("kept %d lines", got)
	}
}

func TestLabKnowsWhoSharesANodeName(t *testing.T) {
	l := NewLab()

	for _, e := range []Event{
		{Time: at(1), Node: "a", Kind: Hostname, Name: "a", Detail: "Talos Nodename resource"},
		{Time: at(1), Node: "b", Kind: Hostname, Name: "a", Detail: "Talos Nodename resource"},
		{Time: at(1), Node: "c", Kind: MachineReady, Detail: `services: kubelet not healthy; nodeReady: node "a" is not ready`},
		{Time: at(2), Node: "d", Kind: Hostname, Name: "d"},
	} {
		l.Apply(e)
	}

	for name, want := range map[string]string{"a": "b c", "b": "a c", "c": "a b", "d": ""} {
		if got := strings.Join(l.Node(name).SameHostname, " "); got != want {
			t.Errorf("%s shares its name with %q, want %q", name, got, want)
		}
	}

	if got := l.Node("c").HostnameFrom; got != `Talos: nodeReady: node "a" is not ready` {
		t.Errorf("evidence = %q", got)
	}

	// The Nodename resource going away (a reset) clears the name.
	l.Apply(Event{Time: at(3), Node: "b", Kind: Hostname})

	if got := strings.Join(l.Node("a").SameHostname, " "); got != "c" {
		t.Errorf("after b's reset a shares with %q", got)
	}
}
