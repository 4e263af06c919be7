package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
)

// The real-terminal smoke test: liftoff sim in tmux, driven with keys, read
// back from the pane — what a person at the keyboard sees, escape codes,
// alternate screen and all.
func TestTmuxSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a whole simulated lab in a real terminal")
	}

	tools := toolpathtest.Need(t, "tmux", "kube", "etcd")
	bin := buildLiftoff(t)

	t.Run("happy walk to the Spin hello-world", func(t *testing.T) {
		p := newPane(t, tools[0], bin, "127.0.51.11", "happy")

		walkToApply(p)
		// The control plane boots until etcd runs: its boot sequence
		// waits for etcd, and etcd for the bootstrap.
		bootstrap(p, "running 2/3")
		p.waitFor("3/3 Ready", "wasm answers", `"Hello world from Spin!"`, "kubeconfig saved to")

		p.keys("?")
		p.waitFor("Keys on this screen", "? or esc closes this help")
		// Not esc: esc then q, sent together, reads as alt+q in a terminal.
		p.keys("?")
		p.waitFor("tab next panel")
		p.keys("q")
		p.waitFor("simulated lab stopped", "liftoff-exit=0")

		if c, err := net.DialTimeout("tcp", "127.0.51.11:50000", time.Second); err == nil {
			c.Close()
			t.Error("a board still answers after liftoff quit")
		}
	})

	t.Run("tailscale-everywhere says who is stuck and the fix", func(t *testing.T) {
		p := newPane(t, tools[0], bin, "127.0.52.11", "tailscale-everywhere")

		walkToApply(p)
		p.waitFor("booting: ext-tailscale waits")
		p.keys("t")
		p.waitFor("ext-tailscale waits for its config on a compute node", "has the gateway image but no tailscale config", "give pi-1 the compute image")
		p.keys("q") // nothing in flight: quits without asking
		p.waitFor("simulated lab stopped", "liftoff-exit=0")
	})

	// Issue 14: a repair from the troubleshoot view, with the keyboard.
	// The gateway's config lacks its tailscale ExtensionServiceConfig; f
	// previews the re-apply (its diff), y runs it, and the gateway is
	// Ready without a reboot.
	t.Run("no-authkey repaired from the troubleshoot view", func(t *testing.T) {
		p := newPane(t, tools[0], bin, "127.0.53.11", "no-authkey")

		walkToApply(p)
		// The control plane waits for etcd, the gateway for its config:
		// only the worker runs when the bootstrap is offered.
		bootstrap(p, "running 1/3")
		p.waitFor("kubeconfig saved to")
		p.keys("t")
		p.waitFor("Why pi-1?")
		// The gateway is the last board: down twice reaches it.
		p.keys("Down", "Down")
		p.waitFor("the gateway's ext-tailscale waits for its config")
		p.keys("f")
		p.waitFor("Repair: re-apply", "Diff against", "y runs it on")
		p.keys("y")
		p.waitFor("repair done:", "is Ready")
		p.keys("q")
		p.waitFor("simulated lab stopped", "liftoff-exit=0")
	})
}

// walkToApply scans, makes the last board the gateway, reviews and applies.
func walkToApply(p *pane) {
	p.waitFor("scan (CIDR or addresses)")
	p.keys("Enter")
	p.waitFor("Boards (3)", "scan    ✓ done")
	p.keys("Enter")
	p.waitFor("What does each board become?")
	p.keys("Down", "Down", "g")
	p.waitFor("✓ the plan is valid")
	p.keys("Enter")
	// The review registers the schematics with the lab's factory first.
	p.waitFor("Review: what each board gets", "schematic", "enter applies the configs")
	p.keys("Enter")
}

// bootstrap waits for the bootstrap to be offered with the boards
// running says, bootstraps and saves the kubeconfig where it offers.
func bootstrap(p *pane, running string) {
	p.waitFor(running, "enter: bootstrap etcd")
	p.keys("Enter")
	p.waitFor("Where should the admin kubeconfig go?")
	p.keys("s")
}

func buildLiftoff(t testing.TB, flags ...string) string {
	t.Helper()

	bin := filepath.Join(t.TempDir(), "liftoff")
	if out, err := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("building liftoff: %v\n%s", err, out)
	}

	return bin
}

// pane is one tmux session on a server of its own, so the test never
// touches the person's tmux.
type pane struct {
	t      testing.TB
	tmux   string
	socket string
	wait   time.Duration // how long waitFor waits; 3 minutes when 0
}

// smokeSpec is a three-board lab whose first board is at first.
func smokeSpec(t testing.TB, dir, first string) string {
	t.Helper()

	spec := filepath.Join(dir, "spec.yaml")

	if err := os.WriteFile(spec, []byte(`cluster: smoke
first: `+first+`
boards:
  - {name: pi-cp-1, model: rpi5, machine: controlplane, role: compute}
  - {name: pi-w-1, model: rpi4, machine: worker, role: compute}
  - {name: edge, model: amd64, machine: worker, role: gateway}
`), 0o644); err != nil {
		t.Fatal(err)
	}

	return spec
}

func newPane(t *testing.T, tmux, bin, first, scenario string) *pane {
	t.Helper()

	dir := t.TempDir()
	spec := smokeSpec(t, dir, first)
	cmd := fmt.Sprintf("HOME=%s %s sim --spec %s --scenario %s --speed 50 --dir %s; echo liftoff-exit=$?; sleep 600",
		dir, bin, spec, scenario, filepath.Join(dir, "lab"))

	return startPane(t, tmux, scenario, cmd, 120, 36)
}

// startPane runs cmd (a shell command line) in a new tmux server of its
// own, in a w×h window; the test's cleanup kills that server.
func startPane(t testing.TB, tmux, name, cmd string, w, h int) *pane {
	t.Helper()

	p := &pane{t: t, tmux: tmux, socket: fmt.Sprintf("liftoff-smoke-%d-%s", os.Getpid(), name)}

	p.run("new-session", "-d", "-s", "smoke", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), cmd)
	t.Cleanup(func() { _ = exec.Command(p.tmux, "-L", p.socket, "kill-server").Run() })

	return p
}

// pid is the process the pane runs: liftoff itself when the command
// exec'd it.
func (p *pane) pid() int {
	p.t.Helper()

	var pid int
	if _, err := fmt.Sscan(p.run("display-message", "-p", "-t", "smoke", "#{pane_pid}"), &pid); err != nil {
		p.t.Fatalf("the pane's pid: %v", err)
	}

	return pid
}

func (p *pane) run(args ...string) string {
	p.t.Helper()

	out, err := exec.Command(p.tmux, append([]string{"-L", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	return string(out)
}

func (p *pane) keys(keys ...string) {
	p.t.Helper()

	for _, k := range keys {
		p.run("send-keys", "-t", "smoke", k)
	}
}

// waitFor reads the pane until every text is on it. tmux has no change
// notification for pane contents, so this re-reads on a short tick.
func (p *pane) waitFor(texts ...string) string {
	p.t.Helper()

	wait := p.wait
	if wait == 0 {
		wait = 3 * time.Minute
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()

	var screen string

	for {
		screen = p.run("capture-pane", "-p", "-t", "smoke")

		missing := ""
		for _, s := range texts {
			if !strings.Contains(screen, s) {
				missing = s

				break
			}
		}

		if missing == "" {
			return screen
		}

		select {
		case <-ctx.Done():
			p.t.Fatalf("the pane never showed %q; it shows:\n%s", missing, screen)
		case <-tick.C:
		}
	}
}
