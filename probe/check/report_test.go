package check

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

var sample = []Result{
	{Suite: "cluster-formation", Name: "compute-only-cluster", Status: Pass, Duration: 1500 * time.Millisecond, Summary: "3 nodes Ready"},
	{Suite: "cluster-formation", Name: "extension-isolation", Status: Fail, Duration: time.Second, Summary: "tailscale on 2 compute nodes",
		Why: "every node with tailscale is a subnet router", Evidence: []string{"pi-1: drbd spin tailscale zfs"}, Fix: "give pi-1 the compute image"},
	{Suite: "network-architecture", Name: "traffic-flow", Status: Skip, Summary: "needs the Tailscale probe"},
}

func TestTableExplainsFailures(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sample); err != nil {
		t.Fatal(err)
	}

	out := b.String()
	for _, want := range []string{"✗ FAIL", "why: every node with tailscale", "evidence: pi-1", "fix: give pi-1", "1 of 3 checks passed, 1 failed, 1 skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestJUnitIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, sample); err != nil {
		t.Fatal(err)
	}

	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}

	if doc.Tests != 3 || doc.Failures != 1 || doc.Skipped != 1 || len(doc.Suites) != 2 {
		t.Errorf("counts: %+v", doc)
	}

	cf := doc.Suites[0]
	if cf.Name != "cluster-formation" || cf.Time != "2.500" || cf.Cases[1].Failure == nil || !strings.Contains(cf.Cases[1].Failure.Body, "fix: give pi-1") {
		t.Errorf("suite: %+v", cf)
	}

	if doc.Suites[1].Cases[0].Skipped == nil {
		t.Error("skip not marked")
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sample); err != nil {
		t.Fatal(err)
	}

	var doc struct {
		Failed  int
		Results []Result
	}

	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || doc.Failed != 1 || doc.Results[1].Fix == "" {
		t.Errorf("%v %+v", err, doc)
	}

	if !Failed(sample) || Failed(sample[:1]) {
		t.Error("Failed")
	}
}

// Issue 18 goal 7: at the terminal's width a long summary wraps at word
// boundaries inside its own column; no line is wider than the terminal
// and no word is cut.
func TestTableFitsTheTerminal(t *testing.T) {
	long := append([]Result{}, sample...)
	long[0].Summary = "apply → Ready: pi-w-1 14s, edge 14s, pi-cp-1 14s, and the rest of a summary long enough to need three lines at eighty columns"
	long[1].Why = strings.Repeat("every node with tailscale is a subnet router; ", 4)

	var b bytes.Buffer
	if err := WriteTableWidth(&b, long, 80); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(b.String(), "\n")
	col := ansi.StringWidth(lines[0][:strings.Index(lines[0], "SUMMARY")])

	var summary []string

	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d is %d wide:\n%s", i, w, b.String())
		}

		switch {
		case strings.HasPrefix(l, "cluster-formation     compute-only-cluster"):
			summary = append(summary, ansi.Cut(l, col, ansi.StringWidth(l)))
		case len(summary) > 0 && strings.HasPrefix(l, strings.Repeat(" ", col)):
			summary = append(summary, strings.TrimSpace(l))
		case len(summary) > 0:
			break
		}

		if len(summary) > 0 && !strings.HasPrefix(lines[i+1], strings.Repeat(" ", col)) {
			break
		}
	}

	if len(summary) < 2 || strings.Join(summary, " ") != long[0].Summary {
		t.Errorf("the summary is not wrapped whole in its column: %q\n%s", summary, b.String())
	}

	// Without a width nothing wraps.
	b.Reset()

	if err := WriteTable(&b, long); err != nil || !strings.Contains(b.String(), long[0].Summary) {
		t.Errorf("unwrapped: %v\n%s", err, b.String())
	}
}
