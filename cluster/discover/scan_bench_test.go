package discover_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/discover"
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
