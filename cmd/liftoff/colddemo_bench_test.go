package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
)

// BenchmarkColdDemo is issue 18's goal 1: `make demo` in a fresh clone
// with empty Go build and module caches, as on a fresh machine, until the
// wizard's first frame; then until the control plane liftoff sim builds
// behind it is done. Before, make demo built that control plane before
// the first frame, so "built" is also what the first frame used to cost.
// It takes many minutes and downloads every module, so it runs only when
// asked (make bench asks; BENCH_COLD= does not):
// LIFTOFF_BENCH_COLD=1 go test -run '^$' -bench ColdDemo ./cmd/liftoff
func BenchmarkColdDemo(b *testing.B) {
	if testing.Short() || os.Getenv("LIFTOFF_BENCH_COLD") == "" {
		b.Skip("a cold build of everything (~10 min on 2 cores): LIFTOFF_BENCH_COLD=1 runs it")
	}

	tmux := toolpathtest.Need(b, "tmux")[0]

	root, ok := toolpath.Root()
	if !ok {
		b.Skip("not in a liftoff checkout")
	}

	for b.Loop() {
		dir := b.TempDir()
		clone := filepath.Join(dir, "liftoff")

		if out, err := exec.Command("git", "clone", "-q", root, clone).CombinedOutput(); err != nil {
			b.Fatalf("git clone: %v\n%s", err, out)
		}

		// Module files are read-only: -modcacherw lets the temp dir go.
		env := fmt.Sprintf("GOCACHE=%s GOMODCACHE=%s GOFLAGS='-modcacherw -buildvcs=false' HOME=%s", filepath.Join(dir, "gocache"), filepath.Join(dir, "gomod"), dir)
		p := startPane(b, tmux, "cold", fmt.Sprintf("cd %s && exec env %s make demo DEMO_FLAGS='--dir %s'", clone, env, filepath.Join(dir, "lab")), 160, 40)
		p.wait = 60 * time.Minute
		start := time.Now()

		p.waitFor("Find the boards", "building kube")
		first := time.Since(start)
		make := p.pid()
		buildCPU := childCPU(b, make) // liftoff's build, waited for by make

		// The header's corner clears when the build is done (the status
		// line may be showing the scan's prompt instead of its notice).
		built := waitBuilt(b, p, clone, start)

		toolsCPU := childCPU(b, liftoffChild(b, make))

		p.keys("q")
		p.waitFor("simulated lab stopped")

		b.ReportMetric(first.Seconds(), "s-first-frame")
		b.ReportMetric(built.Seconds(), "s-control-plane-built")
		b.ReportMetric(first.Seconds()/built.Seconds(), "first-frame/before")
		b.ReportMetric(buildCPU.Seconds(), "cpu-s-liftoff-build")
		b.ReportMetric(toolsCPU.Seconds(), "cpu-s-control-plane-build")
	}
}

// childCPU is the CPU time of pid's children it has waited for
// (/proc/PID/stat cutime + cstime, in clock ticks of 1/100 s).
func childCPU(b *testing.B, pid int) time.Duration {
	b.Helper()

	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}

	// Fields after the command's closing parenthesis: state is the 3rd
	// field overall, cutime the 16th, cstime the 17th.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	cu, _ := strconv.Atoi(f[13])
	cs, _ := strconv.Atoi(f[14])

	return time.Duration(cu+cs) * 10 * time.Millisecond
}

// liftoffChild is the liftoff process make demo runs.
func liftoffChild(b *testing.B, parent int) int {
	b.Helper()

	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	if err != nil {
		b.Fatal(err)
	}

	for _, k := range strings.Fields(string(kids)) {
		pid, _ := strconv.Atoi(k)
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "liftoff" {
			return pid
		}
	}

	b.Fatalf("make demo (pid %d) runs no liftoff: children %q", parent, kids)

	return 0
}

// waitBuilt waits for the header to stop saying "building" with bin/kube
// and bin/etcd in place, and returns when that was (from start).
func waitBuilt(b *testing.B, p *pane, clone string, start time.Time) time.Duration {
	b.Helper()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	for range tick.C {
		header, _, _ := strings.Cut(p.run("capture-pane", "-p", "-t", "smoke"), "\n")

		_, kerr := os.Stat(filepath.Join(clone, "bin", "kube"))
		_, eerr := os.Stat(filepath.Join(clone, "bin", "etcd"))

		switch {
		case !strings.Contains(header, "building") && kerr == nil && eerr == nil:
			return time.Since(start)
		case time.Since(start) > p.wait:
			b.Fatalf("the control plane was not built within %s; the header: %s", p.wait, header)
		}
	}

	return 0
}
