// Package scratch is the simulated lab's temporary directories (the
// control plane's etcd data and certificates, the tailnet's state): each
// records the process that owns it, so the next start removes what a
// killed process left behind — and only that.
package scratch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// ownerFile holds "PID START": the owner's process ID and, on Linux, its
// start time, so a PID the kernel reused is not taken for the owner.
const ownerFile = ".liftoff-owner"

// Dir creates a directory in parent (os.TempDir() when empty) named
// prefix plus a random suffix, owned by this process.
func Dir(parent, prefix string) (string, error) {
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return "", err
	}

	pid := os.Getpid()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), fmt.Appendf(nil, "%d %s\n", pid, startTime(pid)), 0o600); err != nil {
		_ = os.RemoveAll(dir) //nolint:errcheck // just made

		return "", err
	}

	return dir, nil
}

// Sweep removes the directories in parent (os.TempDir() when empty) named
// prefix* whose owner process is gone, and returns them. A directory
// without an owner record (made by something else, or by an older
// liftoff) or whose owner lives is left alone.
func Sweep(parent, prefix string) []string {
	if parent == "" {
		parent = os.TempDir()
	}

	matches, _ := filepath.Glob(filepath.Join(parent, prefix+"*"))

	var removed []string

	for _, dir := range matches {
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() {
			continue
		}

		pid, start, ok := owner(dir)
		if !ok || alive(pid, start) {
			continue
		}

		if os.RemoveAll(dir) == nil {
			removed = append(removed, dir)
		}
	}

	return removed
}

func owner(dir string) (int, string, bool) {
	data, err := fileio.ReadFile(filepath.Join(dir, ownerFile), fileio.Kind{Name: "owner record", Max: 256})
	if err != nil {
		return 0, "", false
	}

	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, "", false
	}

	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 0 {
		return 0, "", false
	}

	start := ""
	if len(fields) > 1 {
		start = fields[1]
	}

	return pid, start, true
}

// alive tells whether the process that wrote an owner record still runs.
func alive(pid int, start string) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}

	now := startTime(pid)

	return start == "" || now == "" || now == start
}

// startTime is a process's start time in clock ticks since boot (field 22
// of /proc/PID/stat), "" where /proc is not there.
func startTime(pid int) string {
	data, err := fileio.ReadFile(fmt.Sprintf("/proc/%d/stat", pid), fileio.Kind{Name: "process status", Max: 4096})
	if err != nil {
		return ""
	}

	// The command name (field 2) may hold spaces; fields after its ")" are plain.
	s := string(data)

	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}

	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return ""
	}

	return fields[19] // field 22 overall: state is field 3, fields[0]
}
