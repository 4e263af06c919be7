package lab

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// runScenario gives each scenario its own loopback range so tests can run
// side by side.
func runScenario(t *testing.T, name string, subnet int) []check.Result {
	t.Helper()
	toolpathtest.Need(t, "kube", "etcd")

	spec := DefaultSpec()
	spec.First = fmt.Sprintf("127.0.%d.11", subnet)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	results, err := Check(ctx, CheckOptions{
		Lab:    Options{Spec: spec, Scenario: name, Speed: 100},
		Dir:    t.TempDir(),
		Settle: 2 * time.Second,
		Env:    check.Env{ReadyBudget: 2 * time.Minute, Hello: probe.HelloOptions{Requests: 5, Timeout: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}

	if testing.Verbose() {
		_ = check.WriteTable(os.Stdout, results)
	}

	return results
}

func TestHappyLabPassesEveryBuiltCheck(t *testing.T) {
	t.Parallel()

	for _, r := range runScenario(t, "happy", 21) {
		switch {
		case r.Name == "traffic-flow":
			if r.Status != check.Skip {
				t.Errorf("traffic-flow without the tailnet: %s", r.Status)
			}
		case r.Status != check.Pass:
			t.Errorf("%s/%s: %s — %s %s %v", r.Suite, r.Name, r.Status, r.Summary, r.Why, r.Evidence)
		}
	}
}

func TestScenariosFailExactlyTheirChecks(t *testing.T) {
	t.Parallel()

	for i, name := range []string{"tailscale-everywhere", "no-authkey", "wrong-arch-image", "power-loss-during-install"} {
		t.Run(name, func(t *testing.T) {
			sc, _ := Lookup(name)

			for _, r := range runScenario(t, name, 22+i) {
				want := slices.Contains(sc.Fails, r.Name)

				switch {
				case want && r.Status != check.Fail:
					t.Errorf("%s should fail: %s — %s", r.Name, r.Status, r.Summary)
				case want && (r.Why == "" || r.Fix == ""):
					t.Errorf("%s fails without why/fix: %+v", r.Name, r)
				case !want && r.Status == check.Fail:
					t.Errorf("%s should not fail: %s %s", r.Name, r.Summary, r.Why)
				}
			}
		})
	}
}

func TestScenarioLookup(t *testing.T) {
	if _, err := Lookup("route-not-approved"); err == nil || !strings.Contains(err.Error(), "not available yet") {
		t.Errorf("unavailable: %v", err)
	}

	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "happy") {
		t.Errorf("unknown: %v", err)
	}
}

func TestLoadSpec(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/good.yaml"
	bad := dir + "/bad.yaml"

	if err := os.WriteFile(good, []byte("cluster: tiny\nboards:\n  - {name: a, model: rpi5, machine: controlplane, role: gateway}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	s, err := LoadSpec(good)
	if err != nil || len(s.Boards) != 1 || s.First != "127.0.0.11" {
		t.Errorf("%+v %v", s, err)
	}

	if err := os.WriteFile(bad, []byte("cluster: tiny\nboards:\n  - {name: a, model: rpi5, machine: worker, role: compute}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	if _, err := LoadSpec(bad); err == nil || !strings.Contains(err.Error(), "no control plane") {
		t.Errorf("a spec whose plan is invalid: %v", err)
	}
}
