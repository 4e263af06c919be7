package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/liftoff-lab/liftoff/sim/board"
)

// Labs side by side: each lab holds a loopback block, its boards' addresses
// (port 50000) and its control plane's (6443) in one /24 of 127.0.0.0/8.
// Blocks never share a /24: a board that moved is looked for in its /24 by
// machine UUID, and two labs number their boards alike.

// InBlock is the spec moved to the /24 127.0.n.0, last octets kept.
func (s Spec) InBlock(n int) (Spec, error) {
	first, err := netip.ParseAddr(s.First)
	if err != nil || !first.Is4() || !first.IsLoopback() {
		return Spec{}, fmt.Errorf("sim spec: first address %q must be an IPv4 loopback address such as 127.0.0.11", s.First)
	}

	a := first.As4()
	a[2] = byte(n)
	s.First = netip.AddrFrom4(a).String()

	return s, nil
}

// Block says which addresses a spec takes: "127.0.0.11–14".
func (s Spec) Block() string {
	first, err := netip.ParseAddr(s.First)
	if err != nil || len(s.Boards) < 2 {
		return s.First
	}

	last := first
	for range len(s.Boards) - 1 {
		last = last.Next()
	}

	return fmt.Sprintf("%s–%d", first, last.As4()[3])
}

// free tells whether every port the spec's lab listens on at fixed
// addresses is free now: each board's apid, the first board's API server.
func (s Spec) free() bool {
	p, err := s.Plan()
	if err != nil {
		return false
	}

	var addrs []string

	for i, b := range p.Boards {
		addrs = append(addrs, net.JoinHostPort(b.Address, fmt.Sprint(board.Port)))

		if i == 0 {
			addrs = append(addrs, net.JoinHostPort(b.Address, "6443"))
		}
	}

	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return false
		}

		ln.Close() //nolint:errcheck
	}

	return true
}

// StartFree starts the lab on its spec's block, or, when something already
// listens there (another lab), on the next free /24 after it. Moved says
// where it went, "" when it kept its block.
func StartFree(ctx context.Context, opts Options) (l *Lab, moved string, err error) {
	if len(opts.Spec.Boards) == 0 {
		opts.Spec = DefaultSpec()
	}

	want := opts.Spec

	first, perr := netip.ParseAddr(want.First)
	if perr != nil || !first.Is4() {
		return nil, "", fmt.Errorf("sim spec: first address %q must be an IPv4 loopback address such as 127.0.0.11", want.First)
	}

	base := int(first.As4()[2])

	for i := range 255 {
		n := (base + i) % 256

		spec, err := want.InBlock(n)
		if err != nil {
			return nil, "", err
		}

		if !spec.free() {
			continue
		}

		opts.Spec = spec

		l, err := Start(ctx, opts)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue // taken since we looked
		}

		if err != nil {
			return nil, "", err
		}

		if i > 0 {
			moved = fmt.Sprintf("%s is in use (another simulated lab?): this lab runs on %s", want.Block(), spec.Block())
		}

		return l, moved, nil
	}

	return nil, "", fmt.Errorf("no free loopback block for a simulated lab from %s on: stop a lab (liftoff sim) or free the addresses", want.Block())
}
