package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/sim/lab"
)

// BenchmarkUpMemory is issue 18's goal 4: the memory of liftoff up
// watching N simulated boards, the lab in another process (liftoff sim
// --headless), the dashboard in a real terminal (tmux). The wizard is
// walked from the plan's scan to apply, bootstrap and the kubeconfig, and
// the figures are read from /proc/PID/status once the header says every
// board is Ready and the hello-world answers. Then liftoff (built with
// -tags heapprofile) writes a heap profile; with $LIFTOFF_BENCH_PROFILES
// set it is kept there as up-heap-N.pprof. Goal: ≤ 80 MB RSS at 50
// boards. -short skips it.
func BenchmarkUpMemory(b *testing.B) {
	if testing.Short() {
		b.Skip("brings up 50 and 200 simulated boards: run without -short")
	}

	tools := toolpathtest.Need(b, "tmux", "kube", "etcd")
	bin := buildLiftoff(b, "-tags", "heapprofile")

	for _, c := range []struct {
		boards int
		first  string
		wait   time.Duration
	}{
		{50, "127.0.110.11", 5 * time.Minute},
		{200, "127.0.111.11", 15 * time.Minute},
	} {
		b.Run(fmt.Sprintf("boards=%d", c.boards), func(b *testing.B) {
			var m upMemory

			for b.Loop() {
				m = watchBoards(b, tools[0], bin, c.boards, c.first, c.wait)
			}

			mb := func(kb uint64) float64 { return float64(kb) / 1024 }

			b.ReportMetric(mb(m.status["VmRSS"]), "MB-RSS")
			b.ReportMetric(mb(m.status["VmHWM"]), "MB-peak-RSS")
			b.ReportMetric(mb(m.status["RssAnon"]), "MB-anon")
			b.ReportMetric(mb(m.status["RssFile"]), "MB-file")
			b.ReportMetric(float64(m.heapInuse)/(1<<20), "MB-heap-inuse")
			b.ReportMetric(float64(m.stackInuse)/(1<<20), "MB-stacks")
			b.ReportMetric(float64(m.status["Threads"]), "threads")
		})
	}
}

type upMemory struct {
	status                map[string]uint64 // /proc/PID/status at every board Ready
	heapInuse, stackInuse uint64            // runtime.MemStats after a GC
}

func watchBoards(b *testing.B, tmux, bin string, n int, first string, wait time.Duration) upMemory {
	ctx, cancel := context.WithTimeout(context.Background(), wait+2*time.Minute)
	defer cancel()

	dir := b.TempDir()
	spec := lab.Spec{Cluster: "mem", First: first}

	for i := range n {
		bs := lab.BoardSpec{Name: fmt.Sprintf("b%d", i), Model: plan.RPi4, Machine: plan.Worker, Role: plan.Compute}

		switch i {
		case 0:
			bs.Model, bs.Machine = plan.RPi5, plan.ControlPlane
		case n - 1:
			bs.Model, bs.Role = plan.AMD64, plan.Gateway
		}

		spec.Boards = append(spec.Boards, bs)
	}

	p, addrs, factory := startSim(ctx, b, bin, dir, spec)

	p.Images.Factory = factory
	for i := range p.Boards {
		p.Boards[i].Address = addrs[i]
	}

	data, err := p.Marshal()
	if err != nil {
		b.Fatal(err)
	}

	planFile, keyFile, prof := filepath.Join(dir, "plan.yaml"), filepath.Join(dir, "key"), filepath.Join(dir, "heap.pprof")

	if err := os.WriteFile(planFile, data, 0o644); err != nil {
		b.Fatal(err)
	}

	if err := os.WriteFile(keyFile, []byte(lab.SimAuthKey), 0o600); err != nil {
		b.Fatal(err)
	}

	cmd := fmt.Sprintf("exec env HOME=%s LIFTOFF_HEAPPROFILE=%s %s up --plan %s --out %s --tailscale-authkey-file %s",
		dir, prof, bin, planFile, filepath.Join(dir, "out"), keyFile)
	pn := startPane(b, tmux, fmt.Sprintf("mem%d", n), cmd, 200, 60)
	pn.wait = wait

	pn.waitFor("scan (CIDR or addresses)")
	pn.keys("Enter")
	pn.waitFor(fmt.Sprintf("✓ done: %d addresses tried", n))
	pn.keys("Enter")
	// The roles table of 200 boards hides the validity line below it.
	pn.waitFor("What does each board become?", "enter review")
	pn.keys("Enter")
	pn.waitFor("enter applies the configs")
	pn.keys("Enter")
	pn.waitFor(fmt.Sprintf("config %d/%d", n, n), "enter: bootstrap etcd")
	pn.keys("Enter")
	pn.waitFor("Where should the admin kubeconfig go?")
	pn.keys("s")
	pn.waitFor(fmt.Sprintf("%d/%d Ready", n, n), "wasm answers")

	pid := pn.pid()
	m := upMemory{status: procStatus(b, pid)}

	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		b.Fatal(err)
	}

	text := waitFile(ctx, b, prof+".txt")
	m.heapInuse, m.stackInuse = memStat(text, "HeapInuse"), memStat(text, "Stack")
	b.Logf("%d boards: %s; Go heap in use %d kB, idle %d kB (released %d kB), stacks %d kB", n, memSummary(m.status),
		m.heapInuse>>10, memStat(text, "HeapIdle")>>10, memStat(text, "HeapReleased")>>10, m.stackInuse>>10)

	if keep := os.Getenv("LIFTOFF_BENCH_PROFILES"); keep != "" {
		proto := waitFile(ctx, b, prof)
		if err := os.WriteFile(filepath.Join(keep, fmt.Sprintf("up-heap-%d.pprof", n)), []byte(proto), 0o644); err != nil {
			b.Error(err)
		}
	}

	self := pidOpen(b, pid)
	defer closeProcs([]proc{self})

	pn.keys("q")

	if still := waitGone([]proc{self}, time.Now().Add(time.Minute)); len(still) > 0 {
		b.Error("liftoff up did not exit within a minute of q")
	}

	return m
}

// startSim runs liftoff sim --headless on spec in a process of its own
// until the benchmark ends (SIGINT, as ctrl+c), and returns its plan with
// the addresses and factory it says it took (another lab may hold
// spec.First).
func startSim(ctx context.Context, b *testing.B, bin, dir string, spec lab.Spec) (*plan.Plan, []string, string) {
	b.Helper()

	data := fmt.Sprintf("cluster: %s\nfirst: %s\nboards:\n", spec.Cluster, spec.First)
	for _, bs := range spec.Boards {
		data += fmt.Sprintf("  - {name: %s, model: %s, machine: %s, role: %s}\n", bs.Name, bs.Model, bs.Machine, bs.Role)
	}

	specFile := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(specFile, []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}

	p, err := spec.Plan()
	if err != nil {
		b.Fatal(err)
	}

	sim := exec.Command(bin, "sim", "--headless", "--spec", specFile, "--speed", "50", "--dir", filepath.Join(dir, "sim"))
	sim.Env = append(os.Environ(), "HOME="+dir)

	// Its kubelets log through klog to stderr: kept aside, not in bench.txt.
	stderr, err := os.Create(filepath.Join(dir, "sim.stderr"))
	if err != nil {
		b.Fatal(err)
	}

	sim.Stderr = stderr

	out, err := sim.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}

	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}

	// What the sim's close costs is BenchmarkSimQuit's business; here it
	// is said, and the sim killed (its control plane dies with it:
	// Pdeathsig) if it takes more than three minutes.
	b.Cleanup(func() {
		t0 := time.Now()
		_ = sim.Process.Signal(os.Interrupt)

		done := make(chan struct{})
		go func() { _ = sim.Wait(); close(done) }()

		select {
		case <-done:
			b.Logf("liftoff sim with %d boards stopped %.1f s after SIGINT", len(spec.Boards), time.Since(t0).Seconds())
		case <-time.After(3 * time.Minute):
			_ = sim.Process.Kill()
			<-done
			b.Logf("liftoff sim with %d boards did not stop within 3 minutes of SIGINT: killed", len(spec.Boards))
		}

		_ = stderr.Close()
	})

	addr := regexp.MustCompile(`^\s+(\S+)\s+([0-9.]+):50000\s`)
	fact := regexp.MustCompile(`^\s+factory\s+(\S+)\s`)
	byName := map[string]string{}

	var factory string

	lines := make(chan string)
	go func() {
		defer close(lines)

		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
			}
		}
	}()

	for {
		var l string
		var ok bool

		select {
		case <-ctx.Done():
			b.Fatal("liftoff sim never said it was running")
		case l, ok = <-lines:
		}

		if !ok {
			b.Fatal("liftoff sim ended before it was running")
		}

		if m := addr.FindStringSubmatch(l); m != nil {
			byName[m[1]] = m[2]
		} else if m := fact.FindStringSubmatch(l); m != nil {
			factory = m[1]
		} else if strings.HasPrefix(l, "running;") {
			break
		}
	}

	// The rest of its output is not read: drain it so it never blocks.
	go func() {
		for range lines {
		}
	}()

	addrs := make([]string, len(p.Boards))
	for i, pb := range p.Boards {
		if addrs[i] = byName[pb.Name]; addrs[i] == "" {
			b.Fatalf("liftoff sim did not say where %s is", pb.Name)
		}
	}

	return p, addrs, factory
}

// waitFile waits for a file liftoff writes whole (renamed into place).
// There is no notification for it short of inotify, so this looks again
// on a short tick.
func waitFile(ctx context.Context, b *testing.B, path string) string {
	b.Helper()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()

	for {
		if data, err := os.ReadFile(path); err == nil {
			return string(data)
		}

		select {
		case <-ctx.Done():
			b.Fatalf("%s never appeared", path)
		case <-tick.C:
		}
	}
}

// memStat is one runtime.MemStats figure from a heap profile's text form
// ("# HeapInuse = 123"; "# Stack = 123 / 456" is in use / from the OS).
func memStat(text, name string) uint64 {
	_, v, ok := strings.Cut(text, "\n# "+name+" = ")
	if !ok {
		return 0
	}

	v, _, _ = strings.Cut(v, "\n")
	v, _, _ = strings.Cut(v, " ")
	n, _ := strconv.ParseUint(v, 10, 64)

	return n
}

func memSummary(st map[string]uint64) string {
	return fmt.Sprintf("VmRSS %d kB (anon %d, file %d), VmHWM %d kB, %d threads",
		st["VmRSS"], st["RssAnon"], st["RssFile"], st["VmHWM"], st["Threads"])
}
