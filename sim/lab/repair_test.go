package lab

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// Issue 14's done-when: each scenario that has a repair, started, then
// repaired with the repairs its diagnoses carry — one board at a time,
// run by cluster/repair as the troubleshoot view runs them, until no
// board has one — and then liftoff check passes in full.
func TestRepairsMakeTheLabPass(t *testing.T) {
	for i, tc := range []struct {
		scenario    string
		keepCards   bool
		noBootstrap bool
		// first, when set, is the repair the operator asks for before
		// the diagnoses' own (liftoff fix BOARD --reset).
		first *probe.Repair
		want  []string // kind@board, in the order they ran
	}{
		{scenario: "no-authkey", want: []string{"re-apply@edge"}},
		{scenario: "duplicate-hostname", want: []string{"re-apply@pi-w-2"}},
		{scenario: "route-not-approved", want: []string{"approve@edge"}},
		{scenario: "happy", noBootstrap: true, want: []string{"bootstrap@pi-cp-1"}},
		// Every compute board carries tailscale: one upgrade each.
		{scenario: "tailscale-everywhere", want: []string{"upgrade@pi-cp-1", "upgrade@pi-w-1", "upgrade@pi-w-2"}},
		{scenario: "plain-installer", want: []string{"upgrade@pi-cp-1", "upgrade@pi-w-1", "upgrade@pi-w-2", "upgrade@edge"}},
		{scenario: "spin-less-image", want: []string{"upgrade@pi-cp-1", "upgrade@pi-w-1", "upgrade@pi-w-2", "upgrade@edge"}},
		// Without the bring-up's own card upgrade, the gateway (the last
		// Pi) runs its card's compute image until its repair upgrades it.
		{scenario: "card-wrong-image", keepCards: true, want: []string{"upgrade@pi-w-2"}},
		{scenario: "power-loss-during-install", want: []string{"re-apply@pi-w-1"}},
		// Every config lacks the zfs module: Talos loads it live.
		{scenario: "zfs-module-missing", want: []string{"re-apply@pi-cp-1", "re-apply@pi-w-1", "re-apply@pi-w-2", "re-apply@edge"}},
		// The gateway's install failed on an unregistered schematic and it
		// came back in maintenance mode: liftoff gen's config installs.
		{scenario: "schematic-not-registered", want: []string{"re-apply@edge"}},
		// Reset, then the re-apply its maintenance mode asks for.
		{scenario: "happy", first: new(probe.ResetRepair("pi-w-1")), want: []string{"reset@pi-w-1", "re-apply@pi-w-1"}},
	} {
		name := tc.scenario
		if tc.first != nil {
			name += ",then-" + string(tc.first.Kind)
		}

		t.Run(name, func(t *testing.T) {
			t.Parallel()
			toolpathtest.Need(t, "kube", "etcd")

			spec := DefaultSpec()
			spec.First = fmt.Sprintf("127.0.%d.11", 120+i)

			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()

			var ran []string

			first := tc.first

			results, err := Check(ctx, CheckOptions{
				Lab:         Options{Spec: spec, Scenario: tc.scenario, Speed: 100, KeepCards: tc.keepCards},
				Dir:         t.TempDir(),
				Settle:      2 * time.Second,
				Timeout:     7 * time.Minute,
				NoBootstrap: tc.noBootstrap,
				Env:         check.Env{ReadyBudget: 2 * time.Minute, Hello: probe.HelloOptions{Requests: 5, Timeout: time.Minute}},
				Repair: func(l *probe.Lab) (probe.Repair, error) {
					if first != nil {
						r := *first
						first = nil

						return r, nil
					}

					return NextRepair(l)
				},
				Ran: func(r probe.Repair) { ran = append(ran, string(r.Kind)+"@"+r.Node) },
			})
			if err != nil {
				t.Fatalf("%v (repairs run: %v)", err, ran)
			}

			if !slices.Equal(ran, tc.want) {
				t.Errorf("ran %v, want %v", ran, tc.want)
			}

			if testing.Verbose() {
				_ = check.WriteTable(os.Stdout, results)
			}

			for _, r := range results {
				if r.Status != check.Pass {
					t.Errorf("%s/%s after the repairs: %s — %s %s %v", r.Suite, r.Name, r.Status, r.Summary, r.Why, r.Evidence)
				}
			}
		})
	}
}
