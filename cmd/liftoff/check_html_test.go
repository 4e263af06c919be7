package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/internal/browsertest"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// liftoff check --sim writes its HTML report beside the JSON and JUnit
// ones, for a lab that passes and for one that fails, and a real browser
// shows what the checks said, with the bring-up the check watched.
// The labs use 127.0.66.x and 127.0.67.x.
func TestCheckHTMLOnTheSimulatedLab(t *testing.T) {
	toolpathtest.Need(t, "kube", "etcd")
	chromium := browsertest.Chromium(t)

	for i, scenario := range []string{"happy", "tailscale-everywhere"} {
		t.Run(scenario, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "spec.yaml")

			if err := os.WriteFile(spec, []byte(`cluster: report
first: 127.0.`+strconv.Itoa(66+i)+`.11
boards:
  - {name: pi-cp-1, model: rpi5, machine: controlplane, role: compute}
  - {name: pi-w-1, model: rpi4, machine: worker, role: compute}
  - {name: edge, model: amd64, machine: worker, role: gateway}
`), 0o644); err != nil {
				t.Fatal(err)
			}

			html, junit := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.xml")

			out, err := runStdout(t, "check", "--sim", scenario, "--spec", spec, "--speed", "100",
				"--hello-timeout", "1m", "--requests", "5", "--json", "--junit", junit, "--html", html)

			switch {
			case scenario == "happy" && err != nil:
				t.Fatalf("%v\n%s", err, out)
			case scenario != "happy" && !errors.Is(err, errChecksFailed):
				t.Fatalf("want failed checks, got %v\n%s", err, out)
			}

			var report struct {
				Results []check.Result `json:"results"`
			}

			if err := json.Unmarshal([]byte(out), &report); err != nil || len(report.Results) == 0 {
				t.Fatalf("--json beside --html: %v\n%s", err, out)
			}

			x, err := os.ReadFile(junit)
			if err != nil || xml.Unmarshal(x, new(struct{})) != nil || !strings.Contains(string(x), "<testsuites") {
				t.Errorf("--junit beside --html: %v\n%s", err, x)
			}

			page, err := os.ReadFile(html)
			if err != nil {
				t.Fatal(err)
			}

			if !strings.Contains(string(page), "liftoff check --sim "+scenario) || !strings.Contains(string(page), `class="liftoff-timeline"`) {
				t.Errorf("the report lacks its title or its timeline")
			}

			// Every board of the happy lab answered throughout; the lab's
			// teardown after the checks is not part of the picture.
			if scenario == "happy" && strings.Contains(string(page), `class="outage"`) {
				t.Error("the happy lab's timeline shows an outage")
			}

			browsertest.CheckReport(t, chromium, html, report.Results, 3)
		})
	}
}

// A report path that cannot be written is refused before the lab starts.
func TestCheckHTMLPathIsCheckedFirst(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/nonexistent/dir/report.html", "its directory /nonexistent/dir does not exist"},
		{t.TempDir(), "is a directory: name a file"},
	} {
		_, err := run(t, "check", "--sim", "happy", "--html", tc.path)

		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--html %s: %v, want %q", tc.path, err, tc.want)
		}
	}
}

// runStdout executes liftoff in-process; stdout alone, so JSON parses.
func runStdout(t *testing.T, args ...string) (string, error) {
	t.Helper()

	var out, errOut strings.Builder

	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)

	err := root.ExecuteContext(t.Context())
	if testing.Verbose() {
		t.Log(errOut.String())
	}

	return out.String(), err
}
