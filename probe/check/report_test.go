package check

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"
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
