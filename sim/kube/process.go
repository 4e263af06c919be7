package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// child is one control-plane process. Its output goes to a log file so a
// failure can quote the last lines without flooding the caller's log.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{} // closed when the process has exited
	err     error         // exit status, valid after done

	mu       sync.Mutex
	stopping bool
}

func startChild(name, bin string, args []string, dir string, progress io.Writer) (*child, error) {
	logPath := filepath.Join(dir, name+".log")

	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group, so a terminal's Ctrl-C reaches only us and we stop
		// the children in order; Pdeathsig kills them if we die first.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}

	if err := cmd.Start(); err != nil {
		_ = f.Close()

		return nil, fmt.Errorf("starting %s: %w", name, err)
	}

	c := &child{name: name, cmd: cmd, logPath: logPath, logFile: f, done: make(chan struct{})}

	go func() {
		c.err = cmd.Wait()
		_ = f.Close()

		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()

		if !stopping {
			fmt.Fprintf(progress, "kube: %s (pid %d) exited unexpectedly: %v\n%s", name, cmd.Process.Pid, c.err, c.tail(20))
		}

		close(c.done)
	}()

	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks politely, then insists after grace.
func (c *child) stop(grace time.Duration) {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()

	if c.exited() {
		return
	}

	_ = c.cmd.Process.Signal(syscall.SIGTERM)

	t := time.NewTimer(grace)
	defer t.Stop()

	select {
	case <-c.done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// tail is the last n lines of the child's log, indented for error messages.
func (c *child) tail(n int) string {
	b, err := fileio.ReadFile(c.logPath, fileio.Own)
	if err != nil {
		return ""
	}

	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]

	var out bytes.Buffer
	for _, l := range lines {
		out.WriteString("    | " + l + "\n")
	}

	return out.String()
}

// rss is the resident set size of a process in bytes, from /proc.
func rss(pid int) (uint64, error) {
	b, err := fileio.ReadFile(fmt.Sprintf("/proc/%d/status", pid), fileio.Own)
	if err != nil {
		return 0, err
	}

	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)

			return kb * 1024, err
		}
	}

	return 0, errors.New("no VmRSS")
}
