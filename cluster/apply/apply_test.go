package apply

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

func testPlan(t *testing.T) *plan.Plan {
	t.Helper()

	p, err := plan.Parse([]byte(`
cluster: {name: lab, vip: 10.0.0.50}
boards:
  - {name: w, address: 10.0.0.9, model: rpi4, machine: worker, role: gateway}
  - {name: cp1, address: 10.0.0.1, model: rpi5, machine: controlplane, role: compute}
  - {name: cp2, address: 10.0.0.2, model: rpi5, machine: controlplane, role: compute}
`))
	if err != nil {
		t.Fatal(err)
	}

	return p
}

func TestBootstrapGoesToTheFirstControlPlaneNeverTheVIP(t *testing.T) {
	p := testPlan(t)

	b, err := BootstrapTarget(p)
	if err != nil || b.Name != "cp1" {
		t.Errorf("target %s %v", b.Name, err)
	}

	err = CheckBootstrapAddress(p, "10.0.0.50")
	if err == nil || !strings.Contains(err.Error(), "only comes up after etcd runs") || !strings.Contains(err.Error(), "cp1, 10.0.0.1") {
		t.Errorf("VIP: %v", err)
	}

	if err := CheckBootstrapAddress(p, "10.0.0.9"); err == nil || !strings.Contains(err.Error(), "a worker") {
		t.Errorf("worker: %v", err)
	}

	if err := CheckBootstrapAddress(p, "10.0.0.2"); err != nil {
		t.Errorf("second control plane: %v", err)
	}
}

func TestRetryStopsOnPermanentErrors(t *testing.T) {
	opts := Options{Attempts: 4, Backoff: 1}.withDefaults()
	none := func(probe.Event) {}

	calls := 0
	err := retry(context.Background(), opts, "cp1", "apply", none, func(context.Context, int) (bool, error) { calls++; return false, errors.New("refused") })

	if calls != 1 || err == nil || err.Error() != "refused" {
		t.Errorf("permanent: %d calls, %v", calls, err)
	}

	calls = 0
	err = retry(context.Background(), opts, "cp1", "apply", none, func(context.Context, int) (bool, error) { calls++; return true, errors.New("unavailable") })

	if calls != 4 || !strings.Contains(err.Error(), "gave up after 4 attempts: unavailable") {
		t.Errorf("transient: %d calls, %v", calls, err)
	}

	calls = 0
	err = retry(context.Background(), opts, "cp1", "apply", none, func(_ context.Context, a int) (bool, error) {
		calls++
		if a < 3 {
			return true, errors.New("unavailable")
		}

		return false, nil
	})

	if calls != 3 || err != nil {
		t.Errorf("recovers: %d calls, %v", calls, err)
	}
}

func TestBoardRefusesABadFileBeforeTheNetwork(t *testing.T) {
	p := testPlan(t)
	path := filepath.Join(t.TempDir(), "cp1.yaml")

	if err := os.WriteFile(path, []byte("version: v1alpha1\nmachine: {type: nonsense}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var events []probe.Event

	// Port 1 on a documentation address: reaching the network would hang or fail differently.
	err := Board(context.Background(), p.Boards[1], path, Options{Port: 1}, func(e probe.Event) { events = append(events, e) })
	if err == nil || !strings.Contains(err.Error(), "does not pass Talos validation") && !strings.Contains(err.Error(), "not a Talos config") {
		t.Errorf("err = %v", err)
	}

	if len(events) != 0 {
		t.Errorf("events for a config that never left: %v", events)
	}

	if err := Board(context.Background(), p.Boards[1], filepath.Join(t.TempDir(), "none.yaml"), Options{}, func(probe.Event) {}); err == nil || !strings.Contains(err.Error(), "liftoff gen") {
		t.Errorf("missing file: %v", err)
	}
}
