// Package netlab runs a benchmark in a network namespace of its own, where
// addresses can be made silent (packets dropped, as a powered-off board on
// a LAN does) rather than refused, as loopback answers. The benchmark's
// test binary re-executes itself inside a fresh namespace (CLONE_NEWNET);
// the namespace, its interfaces and addresses go away with that process,
// so nothing is left behind even if it crashes. Needs root and ip(8).
package netlab

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const childEnv = "LIFTOFF_NETLAB_CHILD"

// Silent is the subnet whose addresses drop packets: it is routed through
// one end of a veth pair to a gateway whose MAC nobody has (a permanent
// neighbour entry, so no ARP), and the other end drops frames not meant
// for it. An address of it added to lo (Up) answers like any local one.
const Silent = "10.77.0.0/24"

// Child tells whether this process is the re-executed benchmark, inside
// its namespace (set up by the time Child returns true).
func Child() bool { return os.Getenv(childEnv) != "" }

// Run runs the benchmark named bench (a top-level Benchmark function of
// this test binary) once in a new network namespace and returns what it
// reported with Report. It skips b when that cannot be done.
func Run(b *testing.B, bench string) map[string]float64 {
	b.Helper()

	if os.Geteuid() != 0 {
		b.Skip("netlab: needs root for a network namespace (CLONE_NEWNET); skipped")
	}

	if _, err := exec.LookPath("ip"); err != nil {
		b.Skip("netlab: needs ip(8) (iproute2) to set up the namespace; skipped")
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^"+bench+"$", "-test.benchtime=1x", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}

	var out bytes.Buffer

	cmd.Stdout, cmd.Stderr = &out, &out

	if err := cmd.Run(); err != nil {
		if bytes.Contains(out.Bytes(), []byte("netlab: setup:")) {
			b.Skipf("netlab: the namespace could not be set up; skipped:\n%s", out.String())
		}

		b.Fatalf("netlab: %s in its namespace: %v\n%s", bench, err, out.String())
	}

	res := map[string]float64{}
	sc := bufio.NewScanner(&out)

	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "netlab-result ")
		if !ok {
			continue
		}

		for kv := range strings.FieldsSeq(rest) {
			k, v, _ := strings.Cut(kv, "=")
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				res[k] = f
			}
		}
	}

	if len(res) == 0 {
		b.Fatalf("netlab: %s reported nothing:\n%s", bench, out.String())
	}

	return res
}

// Report hands results to the parent (Run's return value).
func Report(res map[string]float64) {
	var sb strings.Builder

	sb.WriteString("netlab-result")

	for k, v := range res {
		fmt.Fprintf(&sb, " %s=%g", k, v)
	}

	fmt.Println(sb.String())
}

// Setup makes the child's namespace: lo up, and Silent routed to a dummy
// interface. Call it first in the child; it fails b with "netlab: setup:".
func Setup(b *testing.B) {
	b.Helper()

	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "silent0", "type", "veth", "peer", "name", "silent1"},
		{"link", "set", "silent0", "up"},
		{"link", "set", "silent1", "up"},
		{"addr", "add", "10.78.0.1/24", "dev", "silent0"},
		{"neigh", "add", "10.78.0.2", "lladdr", "02:00:00:00:00:02", "dev", "silent0", "nud", "permanent"},
		{"route", "add", Silent, "via", "10.78.0.2"},
	} {
		if err := IP(args...); err != nil {
			b.Fatalf("netlab: setup: %v", err)
		}
	}
}

// Up makes addr (an address in Silent) answer: it becomes local, on lo.
func Up(addr string) error { return IP("addr", "replace", addr+"/32", "dev", "lo") }

// Down makes addr silent again.
func Down(addr string) error { return IP("addr", "del", addr+"/32", "dev", "lo") }

// IP runs ip(8) with args.
func IP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}

	return nil
}
