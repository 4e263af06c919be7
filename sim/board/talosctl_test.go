package board_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
)

// The official talosctl, unmodified, against a simulated board: the same
// commands a person types.
func TestOfficialTalosctl(t *testing.T) {
	talosctl := toolpathtest.Need(t, "talosctl")[0]

	f := setup(t)
	bd := f.start(t, "w1", nil)
	addr := strings.Split(bd.Endpoint(), ":")[0]

	run := func(args ...string) string {
		t.Helper()

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		out, err := exec.CommandContext(ctx, talosctl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("talosctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}

		return string(out)
	}

	if out := run("version", "-n", addr, "-e", addr, "--insecure"); !strings.Contains(out, "Tag:         v1.13.3") {
		t.Errorf("version in maintenance mode:\n%s", out)
	}

	if out := run("apply-config", "-n", addr, "-e", addr, "--insecure", "--file", filepath.Join(f.dir, "w1.yaml")); strings.Contains(out, "error") {
		t.Errorf("apply-config:\n%s", out)
	}

	watch(t, f, "w1", func(n *probe.Node) bool { return n.MachineReady && len(n.Extensions) == 3 })

	tc := filepath.Join(f.dir, config.TalosconfigFile)

	exts := run("get", "extensions", "--talosconfig", tc, "-n", addr, "-e", addr)
	for _, want := range []string{"drbd", "spin", "zfs", "schematic"} {
		if !strings.Contains(exts, want) {
			t.Errorf("get extensions lacks %s:\n%s", want, exts)
		}
	}

	if strings.Contains(exts, "tailscale") {
		t.Errorf("a compute board lists tailscale:\n%s", exts)
	}

	if out := run("get", "machinestatus", "--talosconfig", tc, "-n", addr, "-e", addr); !strings.Contains(out, "running") || !strings.Contains(out, "true") {
		t.Errorf("get machinestatus:\n%s", out)
	}

	if out := run("logs", "kubelet", "--talosconfig", tc, "-n", addr, "-e", addr); !strings.Contains(out, "kubelet started") {
		t.Errorf("logs kubelet:\n%s", out)
	}

	if out := run("services", "--talosconfig", tc, "-n", addr, "-e", addr); !strings.Contains(out, "kubelet") {
		t.Errorf("services:\n%s", out)
	}
}
