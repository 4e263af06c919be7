package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Issue 21 item 14: everything the simulated lab listens on is bound to
// loopback, except what tsnet gives no way to bind elsewhere (tailscale.com
// v1.102.5): per tsnet node, magicsock's UDP sockets (udp4, udp6) and
// peerapi's TCP listener, on all addresses. A lab with one tsnet node (the
// operator's laptop) has no other wildcard socket. Linux only (/proc).
func TestTheLabListensOnLoopback(t *testing.T) {
	if _, err := os.Stat("/proc/self/net/tcp"); err != nil {
		t.Skip("needs /proc")
	}

	spec := DefaultSpec()
	spec.First = "127.0.41.11"

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	l, err := Start(ctx, Options{Spec: spec, Speed: 100})
	if err != nil {
		t.Fatal(err)
	}

	defer l.Close() //nolint:errcheck

	if _, err := l.Operator(ctx); err != nil {
		t.Fatal(err)
	}

	mine := socketInodes(t)
	wild := map[string]int{}

	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		for _, s := range sockets(t, proto) {
			if !mine[s.inode] || strings.HasPrefix(proto, "tcp") && s.state != "0A" {
				continue
			}

			if s.local == "00000000" || s.local == "00000000000000000000000000000000" {
				wild[strings.TrimSuffix(proto, "6")]++
			}
		}
	}

	if wild["tcp"] > 1 || wild["udp"] > 2 {
		t.Errorf("wildcard sockets beyond tsnet's (1 TCP, 2 UDP per node): %v", wild)
	}
}

type socket struct{ local, state, inode string }

func sockets(t *testing.T, proto string) []socket {
	t.Helper()

	f, err := os.Open("/proc/self/net/" + proto)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var out []socket

	sc := bufio.NewScanner(f)
	sc.Scan() // header

	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}

		addr, _, _ := strings.Cut(fields[1], ":")
		out = append(out, socket{local: addr, state: fields[3], inode: fields[9]})
	}

	return out
}

// socketInodes are the sockets this process holds open.
func socketInodes(t *testing.T) map[string]bool {
	t.Helper()

	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}

	out := map[string]bool{}

	for _, e := range entries {
		link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%s", e.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			out[strings.TrimSuffix(inode, "]")] = true
		}
	}

	return out
}
