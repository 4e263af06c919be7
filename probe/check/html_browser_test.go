package check_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/browsertest"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
	"github.com/liftoff-lab/liftoff/probe/svg"
)

const fixtures = "../../screenshots/fixtures/"

// The recorded lab's plan (fixtures/lab.txt): three compute boards, one gateway.
const fixturePlan = `
cluster: {name: homelab}
tailscale: {authKeyFile: /k}
boards:
  - {name: pi-cp-1, address: 127.0.0.11, model: rpi5, machine: controlplane, role: compute}
  - {name: pi-w-1, address: 127.0.0.12, model: rpi4, machine: worker, role: compute}
  - {name: pi-w-2, address: 127.0.0.13, model: rpi4, machine: worker, role: compute}
  - {name: edge, address: 127.0.0.14, model: amd64, machine: worker, role: gateway}
`

func recording(t *testing.T, name string) *probe.Lab {
	t.Helper()

	f, err := os.Open(fixtures + name + ".jsonl")
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

// The HTML report in a real browser: it renders, its console stays quiet,
// it fetches nothing, and what it shows is what the checks said — for the
// recorded happy lab's results, and for the checks run on the recorded
// tailscale-everywhere lab, which fail.
func TestHTMLReportInABrowser(t *testing.T) {
	chromium := browsertest.Chromium(t)

	happy := recording(t, "happy")

	var passed struct {
		Results []check.Result `json:"results"`
	}

	data, err := os.ReadFile(fixtures + "check-happy.json")
	if err != nil {
		t.Fatal(err)
	}

	if err := json.Unmarshal(data, &passed); err != nil {
		t.Fatal(err)
	}

	p, err := plan.Parse([]byte(fixturePlan))
	if err != nil {
		t.Fatal(err)
	}

	broken := recording(t, "tailscale-everywhere")
	env := &check.Env{Plan: p, Lab: broken, Now: broken.Last, ReadyBudget: 15 * time.Minute, NoTailscale: "the recording has no tailnet"}
	failed := check.Run(context.Background(), env, nil)

	if !check.Failed(failed) {
		t.Fatal("the tailscale-everywhere recording fails no check: this test would prove nothing about failures")
	}

	for _, tc := range []struct {
		name    string
		results []check.Result
		lab     *probe.Lab
	}{
		{"happy", passed.Results, happy},
		{"tailscale-everywhere", failed, broken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pic := svg.Timeline(tc.lab.Nodes, svg.Options{Now: tc.lab.Last, Speed: 20})
			path := filepath.Join(t.TempDir(), "report.html")

			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}

			if err := check.WriteHTML(f, tc.results, check.HTMLOptions{Title: "liftoff check --sim " + tc.name, Timeline: pic}); err != nil {
				t.Fatal(err)
			}

			f.Close()

			browsertest.CheckReport(t, chromium, path, tc.results, len(tc.lab.Nodes))
		})
	}
}
