package discover_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/internal/netlab"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// BenchmarkScan24 is the wizard's discover step on a /24: four simulated
// boards in maintenance mode answer on 127.0.72.0/24, the other 250
// addresses refuse the connection (loopback answers RST at once, where a
// real LAN's empty addresses cost the dial timeout).
func BenchmarkScan24(b *testing.B) {
	hosts := []int{11, 57, 130, 200}

	for i, h := range hosts {
		bd, err := board.Start(context.Background(), board.Options{
			Spec: board.Spec{Name: fmt.Sprintf("talos-%d", h), Address: fmt.Sprintf("127.0.72.%d", h), Model: "rpi4", Arch: "arm64",
				Product: "Raspberry Pi 4 Model B Rev 1.4", UUID: fmt.Sprint("uuid-", h), MAC: fmt.Sprintf("dc:a6:32:00:72:%02x", i),
				Disks: []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Transport: "mmc"}, {Path: "/dev/sda", Size: 256e9, Transport: "usb"}}},
			Resolve: func(string) (board.Image, error) { return board.Image{}, nil },
		})
		if err != nil {
			b.Fatal(err)
		}

		b.Cleanup(func() { _ = bd.Close() })
	}

	targets, err := discover.Targets("127.0.72.0/24")
	if err != nil {
		b.Fatal(err)
	}

	var first time.Duration

	for b.Loop() {
		start := time.Now()
		first = 0

		found, err := discover.Scan(context.Background(), targets, discover.Options{Progress: func(_, _ int, f *discover.Board) {
			if f != nil && first == 0 {
				first = time.Since(start)
			}
		}})
		if err != nil {
			b.Fatal(err)
		}

		if len(found) != len(hosts) {
			b.Fatalf("found %d boards, want %d", len(found), len(hosts))
		}
	}

	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/scan")
	b.ReportMetric(float64(first.Microseconds())/1000, "ms-to-first-board")
	b.ReportMetric(float64(len(targets)), "addresses")
}

// BenchmarkScanSilent24 is the discover step on a real-looking /24, in a
// network namespace of its own (netlab; skipped without root): four
// simulated boards answer, five addresses refuse (up, nothing listening),
// and the other 245 drop packets, as empty addresses and powered-off
// boards on a LAN do. The scan is timed against one connect timeout
// (discover.Options.Timeout's default, 2 s), then nmap -Pn -p 50000 --open
// scans the same targets in the same namespace (make bench-setup installs
// Debian's nmap; without it that half is skipped with a line saying so).
func BenchmarkScanSilent24(b *testing.B) {
	if !netlab.Child() {
		res := netlab.Run(b, "BenchmarkScanSilent24")
		for k, v := range res {
			b.ReportMetric(v, k)
		}

		if res["nmap-s"] == 0 {
			b.Log("nmap not installed (make bench-setup installs it): the scan ran without the side-by-side")
		}

		return
	}

	netlab.Setup(b)

	hosts := []int{11, 57, 130, 200}

	for i, h := range hosts {
		addr := fmt.Sprintf("10.77.0.%d", h)
		if err := netlab.Up(addr); err != nil {
			b.Fatal(err)
		}

		bd, err := board.Start(context.Background(), board.Options{
			Spec: board.Spec{Name: fmt.Sprintf("talos-%d", h), Address: addr, Model: "rpi4", Arch: "arm64",
				Product: "Raspberry Pi 4 Model B Rev 1.4", UUID: fmt.Sprint("uuid-", h), MAC: fmt.Sprintf("dc:a6:32:00:77:%02x", i),
				Disks: []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Transport: "mmc"}}},
			Resolve: func(string) (board.Image, error) { return board.Image{}, nil },
		})
		if err != nil {
			b.Fatal(err)
		}

		b.Cleanup(func() { _ = bd.Close() })
	}

	for h := 2; h <= 6; h++ { // refuse: local, nothing listens
		if err := netlab.Up(fmt.Sprintf("10.77.0.%d", h)); err != nil {
			b.Fatal(err)
		}
	}

	targets, err := discover.Targets(netlab.Silent)
	if err != nil {
		b.Fatal(err)
	}

	const timeout = 2 * time.Second // discover.Options' default

	var scan, first time.Duration

	for b.Loop() {
		start := time.Now()

		found, err := discover.Scan(context.Background(), targets, discover.Options{Progress: func(_, _ int, f *discover.Board) {
			if f != nil && first == 0 {
				first = time.Since(start)
			}
		}})
		if err != nil {
			b.Fatal(err)
		}

		scan = time.Since(start)

		if len(found) != len(hosts) {
			b.Fatalf("found %d boards, want %d", len(found), len(hosts))
		}
	}

	res := map[string]float64{"scan-s": scan.Seconds(), "first-board-s": first.Seconds(),
		"timeouts": scan.Seconds() / timeout.Seconds(), "addresses": float64(len(targets))}

	if _, err := exec.LookPath("nmap"); err == nil {
		// -n: no reverse DNS, which the namespace has none of; the scan
		// itself is nmap's default (a SYN scan, as root).
		start := time.Now()

		out, err := exec.Command("nmap", "-n", "-Pn", "-p", "50000", "--open", netlab.Silent).CombinedOutput()
		if err != nil {
			b.Fatalf("nmap: %v\n%s", err, out)
		}

		res["nmap-s"] = time.Since(start).Seconds()
		res["nmap-open"] = float64(strings.Count(string(out), "50000/tcp open"))
		res["nmap/liftoff"] = res["nmap-s"] / scan.Seconds()
	}

	netlab.Report(res)
}
