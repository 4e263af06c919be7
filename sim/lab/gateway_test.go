package lab

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// Issue 14's done-when for moving the gateway: on the happy lab,
// `liftoff check --include gateway-failover` moves the gateway from edge
// to another board with cluster/gateway (as the dashboard does), and then
// the other board is the only router, every board is Ready, the outage is
// measured and reported, and the whole suite passes on the lab it leaves.
func TestGatewayFailoverMovesTheRouteAndTheSuitePasses(t *testing.T) {
	toolpathtest.Need(t, "kube", "etcd")

	spec := DefaultSpec()
	spec.First = "127.0.140.11"

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	results, err := Check(ctx, CheckOptions{
		Lab:    Options{Spec: spec, Scenario: "happy", Speed: 100},
		Dir:    t.TempDir(),
		Settle: 2 * time.Second,
		Env: check.Env{ReadyBudget: 2 * time.Minute, Include: []string{"gateway-failover"},
			Hello: probe.HelloOptions{Requests: 5, Timeout: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}

	if testing.Verbose() {
		_ = check.WriteTable(os.Stdout, results)
	}

	if len(results) != len(check.All)+1 || results[0].Name != "gateway-failover" {
		var got []string
		for _, r := range results {
			got = append(got, r.Name)
		}

		t.Fatalf("ran %v; want gateway-failover first, then the ten", got)
	}

	for _, r := range results {
		if r.Status != check.Pass {
			t.Errorf("%s/%s: %s — %s %s %v", r.Suite, r.Name, r.Status, r.Summary, r.Why, r.Evidence)
		}
	}

	// The board the check picked: the first Ready worker that is not edge.
	moved := results[0]
	if !strings.Contains(moved.Summary, "from edge to pi-w-1") || !strings.Contains(moved.Summary, "could not reach the cluster for ") {
		t.Errorf("gateway-failover summary: %s", moved.Summary)
	}

	if !slices.ContainsFunc(moved.Evidence, func(e string) bool { return strings.HasPrefix(e, "the tailnet could not reach the cluster for ") }) {
		t.Errorf("the outage is not in the evidence: %v", moved.Evidence)
	}

	// single-gateway-only and extension-isolation ran on the moved lab:
	// they judged pi-w-1 the gateway.
	for _, r := range results[1:] {
		if r.Name == "subnet-router-config" && !strings.Contains(r.Summary, "advertises") {
			t.Errorf("subnet-router-config: %s", r.Summary)
		}
	}

}
