package main

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
)

// A closed terminal (SIGHUP) stops the lab as q does: liftoff cleans up
// and exits 0, rather than dying before its boards, control plane and
// build are stopped.
func TestHangupStopsTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulated lab")
	}

	toolpathtest.Need(t, "kube", "etcd")
	bin := buildLiftoff(t)
	dir := t.TempDir()

	sim := exec.Command(bin, "sim", "--headless", "--spec", smokeSpec(t, dir, "127.0.161.11"), "--dir", filepath.Join(dir, "lab"))

	out, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}

	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { _ = sim.Process.Kill() })

	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "running; ctrl+c stops the lab") {
			break
		}
	}

	if err := sim.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- sim.Wait() }()

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGHUP liftoff sim ended with %v, not a clean stop", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("liftoff sim still runs a minute after SIGHUP")
	}

	if c, err := net.DialTimeout("tcp", "127.0.161.11:50000", time.Second); err == nil {
		c.Close()
		t.Error("a board still answers after the hangup")
	}
}
