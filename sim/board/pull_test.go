package board_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// An installer its registry does not have fails the install as Talos's
// does: six not-found attempts, the install sequence fails, the board
// reboots and is back in maintenance mode without the config.
func TestInstallerNotFoundFailsTheInstall(t *testing.T) {
	f := setup(t)

	var calls atomic.Int32

	bd := f.start(t, "w1", func(o *board.Options) {
		o.Hooks.Pull = func(_ context.Context, ref string) error {
			calls.Add(1)

			return fmt.Errorf("failed to resolve reference %q: %s: %w", ref, ref, board.ErrNotFound)
		}
	})
	b, _ := f.plan.Board("w1")

	var rebooted bool

	// Watched from before the apply: at ×2000 the failed install and its
	// reboot take milliseconds, less than a loaded machine takes to connect.
	n := watchAround(t, f, "w1", func() {
		if err := apply.Board(context.Background(), b, filepath.Join(f.dir, "w1.yaml"), apply.Options{}, func(probe.Event) {}); err != nil {
			t.Error(err)
		}
	}, func(n *probe.Node) bool {
		rebooted = rebooted || n.Stage == "rebooting"

		return rebooted && n.Stage == "maintenance" &&
			slices.ContainsFunc(n.Logs["dmesg"], func(l string) bool { return strings.Contains(l, "rebooting in 10 seconds") })
	})

	if got := calls.Load(); got != 6 {
		t.Errorf("pull attempts %d, want 6 (Talos gives up after 5 not-found retries)", got)
	}

	dmesg := strings.Join(n.Logs["dmesg"], "\n")
	for _, want := range []string{`[talos] pulling "`, "[talos] retrying error: failed to pull image", ": not found",
		"task install (1/1): failed: 1 error(s) occurred: failed to pull image", "install sequence: failed"} {
		if !strings.Contains(dmesg, want) {
			t.Errorf("console lacks %q:\n%s", want, dmesg)
		}
	}

	if strings.Count(dmesg, "retrying error") != 1 {
		t.Errorf("go-retry logs a repeated error once:\n%s", dmesg)
	}

	if bd.Config() != nil {
		t.Error("the config survived the reboot; it lived in RAM")
	}
}

// A pull that finds the installer on a later attempt installs as usual.
func TestInstallerFoundOnRetryInstalls(t *testing.T) {
	f := setup(t)

	var calls atomic.Int32

	f.start(t, "w1", func(o *board.Options) {
		o.Hooks.Pull = func(_ context.Context, ref string) error {
			if calls.Add(1) < 3 {
				return fmt.Errorf("failed to resolve reference %q: %s: %w", ref, ref, board.ErrNotFound)
			}

			return nil
		}
	})
	b, _ := f.plan.Board("w1")

	if err := apply.Board(context.Background(), b, filepath.Join(f.dir, "w1.yaml"), apply.Options{}, func(probe.Event) {}); err != nil {
		t.Fatal(err)
	}

	watch(t, f, "w1", func(n *probe.Node) bool { return n.MachineReady })

	if got := calls.Load(); got != 3 {
		t.Errorf("pull attempts %d, want 3", got)
	}
}
