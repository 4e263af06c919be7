package svg

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
)

func recorded(t *testing.T, name string) *probe.Lab {
	t.Helper()

	f, err := os.Open("../../screenshots/fixtures/" + name + ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	events, err := probe.ReadEvents(f)
	if err != nil {
		t.Fatal(err)
	}

	return probe.Fold(events)
}

// wellFormed parses the picture as XML, as a browser's SVG parser would.
func wellFormed(t *testing.T, b []byte) {
	t.Helper()

	d := xml.NewDecoder(bytes.NewReader(b))

	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}

		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b)
		}
	}
}

func TestTimelineOfTheRecordedLab(t *testing.T) {
	l := recorded(t, "tailscale-everywhere")
	b := Timeline(l.Nodes, Options{Now: l.Last, Speed: 20})
	wellFormed(t, b)

	s := string(b)

	for _, n := range l.Nodes {
		if !strings.Contains(s, `data-board="`+n.Name+`"`) {
			t.Errorf("no row for %s", n.Name)
		}
	}

	// Every board installs, reboots and boots; the compute boards never
	// finish booting (tailscale everywhere: their boot sequence waits for
	// ext-tailscale, which waits for a config), and the gateway waits for
	// its Node and is ready.
	for phase, want := range map[string]int{"install": 4, "reboot": 4, "boot": 4, "node": 1, "talos": 0} {
		if got := strings.Count(s, `data-phase="`+phase+`"`); got != want {
			t.Errorf("%d %s segments, want %d", got, phase, want)
		}
	}

	if got := strings.Count(s, `class="expected"`); got != 12 {
		t.Errorf("%d expectations drawn, want one per install, reboot and boot (12)", got)
	}

	for _, want := range []string{"boot, still going", "boot should have ended here", "✓ Node Ready", "until Talos ready", "reboot (API down)", "usual time of the stage", "<title", "<desc"} {
		if !strings.Contains(s, want) {
			t.Errorf("the picture lacks %q", want)
		}
	}

	// Self-contained: nothing to fetch, nothing to run.
	for _, bad := range []string{"<script", "href=", "src=", "@import", "url(http", "<image"} {
		if strings.Contains(s, bad) {
			t.Errorf("the picture holds %q", bad)
		}
	}

	if again := Timeline(l.Nodes, Options{Now: l.Last, Speed: 20}); !bytes.Equal(b, again) {
		t.Error("the same lab drew two different pictures")
	}
}

// Names come from plans and recordings: they are escaped.
func TestTimelineEscapes(t *testing.T) {
	t0 := time.Date(2026, 5, 14, 9, 30, 0, 0, time.UTC)
	l := probe.NewLab()
	l.Apply(probe.Event{Time: t0, Node: `<b>"pi"&`, Kind: probe.Applied})
	l.Apply(probe.Event{Time: t0.Add(time.Second), Node: `<b>"pi"&`, Kind: probe.Stage, State: "installing"})

	b := Timeline(l.Nodes, Options{Now: t0.Add(30 * time.Second), Title: "a <title>"})
	wellFormed(t, b)

	if bytes.Contains(b, []byte(`<b>"pi"`)) || !bytes.Contains(b, []byte("&lt;b&gt;&#34;pi&#34;&amp;")) {
		t.Errorf("the name is not escaped:\n%s", b)
	}
}

// A board liftoff never saw applied has nothing to draw, and says so.
func TestTimelineWithoutABringUp(t *testing.T) {
	l := probe.NewLab()
	l.Apply(probe.Event{Time: time.Now(), Node: "pi", Kind: probe.Stage, State: "running"})

	b := Timeline(l.Nodes, Options{Now: time.Now()})
	wellFormed(t, b)

	if !bytes.Contains(b, []byte("No board was given its config while liftoff watched")) {
		t.Errorf("no explanation:\n%s", b)
	}
}
