package kube

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestChildDiesWithParent: a helper process starts a child the way the
// control plane does, then is SIGKILLed; Pdeathsig must take the child too.
func TestChildDiesWithParent(t *testing.T) {
	if os.Getenv("LIFTOFF_KUBE_HELPER") == "1" {
		c, err := startChild("sleeper", "/bin/sleep", []string{"300"}, t.TempDir(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}

		fmt.Println(c.pid())
		select {} // until killed
	}

	if _, err := os.Stat("/bin/sleep"); err != nil {
		t.Skip("no /bin/sleep")
	}

	helper := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithParent$")
	helper.Env = append(os.Environ(), "LIFTOFF_KUBE_HELPER=1")

	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}

	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}

	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}

	pid, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		t.Fatalf("helper said %q", line)
	}

	_ = helper.Process.Kill()
	_ = helper.Wait()

	// The orphan is reaped by init, not us: watch for it to vanish.
	deadline := time.Now().Add(10 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}

		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); len(b) > 0 && zombie(string(b)) {
			return // dead, waiting for init to reap it
		}

		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d outlived its parent", pid)
		}

		time.Sleep(delay)
	}
}

func zombie(stat string) bool {
	for i := len(stat) - 1; i > 0; i-- {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2] == 'Z'
		}
	}

	return false
}
