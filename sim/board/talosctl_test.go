package board_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
)

// talosctl runs the official talosctl and returns its output.
func talosctl(t *testing.T) func(args ...string) string {
	t.Helper()

	bin := toolpathtest.Need(t, "talosctl")[0]

	return func(args ...string) string {
		t.Helper()

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("talosctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}

		return string(out)
	}
}

// The official talosctl, unmodified, against a simulated board: the same
// commands a person types.
func TestOfficialTalosctl(t *testing.T) {
	run := talosctl(t)

	f := setup(t)
	bd := f.start(t, "w1", nil)
	addr := strings.Split(bd.Endpoint(), ":")[0]

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

	// The modules its config lists, as Talos publishes them.
	mods := run("get", "kernelmodulespecs", "--talosconfig", tc, "-n", addr, "-e", addr)
	for _, want := range []string{"KernelModuleSpec", "drbd", "drbd_transport_tcp", "zfs"} {
		if !strings.Contains(mods, want) {
			t.Errorf("get kernelmodulespecs lacks %s:\n%s", want, mods)
		}
	}
}

// What a person sees with talosctl on a compute board given the gateway's
// image (tailscale-everywhere): the machine booting, ext-tailscale Waiting
// for its config, and the boot sequence saying what it waits for.
func TestOfficialTalosctlShowsTheWait(t *testing.T) {
	run := talosctl(t)

	f := setup(t)
	bd := f.start(t, "w2", longBoot)
	addr := strings.Split(bd.Endpoint(), ":")[0]

	gw, _ := f.plan.Board("gw")
	gwImage, _ := image.For(f.plan, gw)
	path := filepath.Join(f.dir, "w2-gateway-image.yaml")
	writeWithInstaller(t, filepath.Join(f.dir, "w2.yaml"), path, gwImage.Installer)

	run("apply-config", "-n", addr, "-e", addr, "--insecure", "--file", path)
	watch(t, f, "w2", func(n *probe.Node) bool { return n.BootWait == `service "ext-tailscale" to be "up"` })

	tc := filepath.Join(f.dir, config.TalosconfigFile)
	at := []string{"--talosconfig", tc, "-n", addr, "-e", addr}

	svcs := run(append([]string{"services"}, at...)...)

	var line string

	for l := range strings.SplitSeq(svcs, "\n") {
		if strings.Contains(l, "ext-tailscale") {
			line = l
		}
	}

	if !strings.Contains(line, "Waiting") || !strings.Contains(line, "Waiting for extension service config") {
		t.Errorf("services shows ext-tailscale as %q:\n%s", line, svcs)
	}

	if out := run(append([]string{"get", "machinestatus"}, at...)...); !strings.Contains(out, "booting") {
		t.Errorf("get machinestatus:\n%s", out)
	}

	if out := run(append([]string{"dmesg"}, at...)...); !strings.Contains(out, `[talos] task startAllServices (1/1): service "ext-tailscale" to be "up"`) {
		t.Errorf("dmesg does not show what the boot sequence waits for:\n%s", out)
	}

	if out := run(append([]string{"get", "services"}, at...)...); strings.Contains(out, "ext-tailscale") {
		t.Errorf("a Service resource for a service that does not run:\n%s", out)
	}
}
