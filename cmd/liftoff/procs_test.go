package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Process helpers for the benchmarks that run liftoff as a process of its
// own: its memory from /proc, its descendants, and waiting for them to end.

// procStatus is the kB figures of /proc/PID/status (VmRSS, VmHWM,
// RssAnon, RssFile …) and its thread count.
func procStatus(t testing.TB, pid int) map[string]uint64 {
	t.Helper()

	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading liftoff's status: %v", err)
	}

	st := map[string]uint64{}

	for l := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}

		if n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64); err == nil {
			st[k] = n
		}
	}

	return st
}

// proc is one running process, held by a pidfd so a reused pid cannot be
// mistaken for it.
type proc struct {
	pid  int
	name string
	fd   int
}

// descendants are the processes whose parent chain leads to pid, each
// opened as a pidfd (close them with closeProcs).
func descendants(t testing.TB, pid int) []proc {
	t.Helper()

	parent := map[int]int{}

	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}

	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}

		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // ended meanwhile
		}

		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		rest := b[bytes.LastIndexByte(b, ')')+1:]

		var state string
		var ppid int
		if _, err := fmt.Sscan(string(rest), &state, &ppid); err == nil {
			parent[p] = ppid
		}
	}

	var out []proc

	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q != pid {
				continue
			}

			fd, err := unix.PidfdOpen(p, 0)
			if err != nil {
				break // ended meanwhile
			}

			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			out = append(out, proc{pid: p, name: strings.TrimSpace(string(comm)), fd: fd})

			break
		}
	}

	return out
}

func closeProcs(ps []proc) {
	for _, p := range ps {
		_ = unix.Close(p.fd)
	}
}

// waitGone waits until every process has ended or the deadline passes; it
// returns those still running. A pidfd becomes readable when its process
// exits (pidfd_open(2)), so this waits on the kernel, not on a timer.
func waitGone(ps []proc, deadline time.Time) []proc {
	left := ps

	for len(left) > 0 {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			return left
		}

		fds := make([]unix.PollFd, len(left))
		for i, p := range left {
			fds[i] = unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN}
		}

		if _, err := unix.Poll(fds, int(min(ms, 1<<30))); err != nil && err != unix.EINTR {
			return left
		}

		var still []proc

		for i, p := range left {
			if fds[i].Revents == 0 {
				still = append(still, p)
			}
		}

		left = still
	}

	return nil
}

func pidOpen(t testing.TB, pid int) proc {
	t.Helper()

	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}

	return proc{pid: pid, name: "liftoff", fd: fd}
}

func names(ps []proc) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s (%d)", p.name, p.pid))
	}

	return strings.Join(s, ", ")
}
