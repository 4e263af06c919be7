package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
)

// BenchmarkSimQuit is issue 18's goal 6: q in liftoff sim, after the
// bring-up (every board Ready, the control plane and the hello-worlds
// running), returns the shell within 2 s with every process it started
// gone. liftoff runs in tmux, walked through the wizard as the smoke test
// does; its descendants (bin/kube's API server, controllers and etcd) are
// held by pidfds before q, so the timing is the kernel's, not a poll's.
// One walk is the measurement; -short skips it.
func BenchmarkSimQuit(b *testing.B) {
	if testing.Short() {
		b.Skip("brings a simulated lab up in a real terminal: run without -short")
	}

	tools := toolpathtest.Need(b, "tmux", "kube", "etcd")
	bin := buildLiftoff(b)

	var exit, gone time.Duration
	var started, left int

	for b.Loop() {
		exit, gone, started, left = quitAfterBringUp(b, tools[0], bin)
	}

	b.ReportMetric(exit.Seconds(), "s-exit")
	b.ReportMetric(gone.Seconds(), "s-all-gone")
	b.ReportMetric(float64(started), "procs-started")
	b.ReportMetric(float64(left), "procs-left")
}

func quitAfterBringUp(b *testing.B, tmux, bin string) (exit, gone time.Duration, started, left int) {
	dir := b.TempDir()
	spec := smokeSpec(b, dir, "127.0.112.11")
	// exec: the pane's process is liftoff itself.
	cmd := fmt.Sprintf("exec env HOME=%s %s sim --spec %s --speed 50 --dir %s", dir, bin, spec, filepath.Join(dir, "lab"))
	p := startPane(b, tmux, "quit", cmd, 120, 36)

	walkToApply(p)
	bootstrap(p, "running 2/3")
	p.waitFor("3/3 Ready", "wasm answers", "kubeconfig saved to")

	self := pidOpen(b, p.pid())
	kids := descendants(b, self.pid)

	defer closeProcs(append(kids, self))

	if len(kids) == 0 {
		b.Fatal("liftoff sim has no child processes after the bring-up: where is the control plane?")
	}

	b.Logf("before q: %s", names(kids))

	t0 := time.Now()

	p.keys("q")

	if still := waitGone([]proc{self}, t0.Add(time.Minute)); len(still) > 0 {
		b.Fatal("liftoff did not exit within a minute of q")
	}

	exit = time.Since(t0)

	still := waitGone(kids, time.Now().Add(30*time.Second))
	gone = time.Since(t0)

	if len(still) > 0 {
		b.Errorf("still running 30 s after liftoff exited: %s", names(still))
	}

	return exit, gone, len(kids), len(still)
}
