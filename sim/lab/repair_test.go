package lab

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// Issue 14's done-when: each scenario whose repair the lab serves, started,
// then repaired with the repair its diagnosis carries — run by
// cluster/repair as the troubleshoot view runs it — and then liftoff
// check passes in full. (Upgrade and reset wait for sim/board to serve
// Upgrade and Reset.)
func TestRepairsMakeTheLabPass(t *testing.T) {
	for i, tc := range []struct {
		scenario    string
		board       string
		kind        probe.RepairKind
		noBootstrap bool
	}{
		{"no-authkey", "edge", probe.RepairReapply, false},
		{"duplicate-hostname", "pi-w-2", probe.RepairReapply, false},
		{"route-not-approved", "edge", probe.RepairApprove, false},
		{"happy", "pi-cp-1", probe.RepairBootstrap, true},
	} {
		t.Run(tc.scenario+"/"+string(tc.kind), func(t *testing.T) {
			t.Parallel()
			toolpathtest.Need(t, "kube", "etcd")

			spec := DefaultSpec()
			spec.First = fmt.Sprintf("127.0.%d.11", 80+i)

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()

			var ran probe.Repair

			results, err := Check(ctx, CheckOptions{
				Lab:         Options{Spec: spec, Scenario: tc.scenario, Speed: 100},
				Dir:         t.TempDir(),
				Settle:      2 * time.Second,
				NoBootstrap: tc.noBootstrap,
				Env:         check.Env{ReadyBudget: 2 * time.Minute, Hello: probe.HelloOptions{Requests: 5, Timeout: time.Minute}},
				Repair: func(l *probe.Lab) (probe.Repair, error) {
					d, ok := probe.FirstRepair(l, l.Node(tc.board), time.Now())
					if !ok {
						return probe.Repair{}, fmt.Errorf("%s has no repair; its diagnoses: %+v", tc.board, probe.DiagnoseIn(l, l.Node(tc.board), time.Now()))
					}

					ran = *d.Repair

					return ran, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}

			if ran.Kind != tc.kind || ran.Node != tc.board {
				t.Errorf("ran %s on %s, want %s on %s", ran.Kind, ran.Node, tc.kind, tc.board)
			}

			if testing.Verbose() {
				_ = check.WriteTable(os.Stdout, results)
			}

			for _, r := range results {
				if r.Status != check.Pass {
					t.Errorf("%s/%s after the repair: %s — %s %s %v", r.Suite, r.Name, r.Status, r.Summary, r.Why, r.Evidence)
				}
			}
		})
	}
}
