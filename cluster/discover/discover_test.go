package discover

import (
	"context"
	"net"
	"strings"
	"testing"
)

func TestTargets(t *testing.T) {
	got, err := Targets("192.168.1.0/24")
	if err != nil || len(got) != 254 || got[0] != "192.168.1.1" || got[253] != "192.168.1.254" {
		t.Errorf("/24: %d targets, first %v, err %v", len(got), got[:1], err)
	}

	got, err = Targets("10.0.0.5, 10.0.0.6,10.0.0.0/31")
	if err != nil || strings.Join(got, " ") != "10.0.0.5 10.0.0.6 10.0.0.0 10.0.0.1" {
		t.Errorf("list: %v %v", got, err)
	}

	for spec, want := range map[string]string{
		"":               "nothing to scan",
		"10.0.0.0/8":     "too large",
		"10.0.0.300":     "not an IP address",
		"10.0.0.0/33":    "not a CIDR",
		"fd00::/120":     "too large",
		"192.168.1.1/24": "", // a host address with a mask scans its network
	} {
		_, err := Targets(spec)
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", spec, err)
			}

			continue
		}

		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", spec, err, want)
		}
	}
}

func TestScanSkipsWhatIsNotTalos(t *testing.T) {
	// Something listens but does not speak the Talos API: not a board.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}

			c.Close()
		}
	}()

	port := l.Addr().(*net.TCPAddr).Port

	var calls int

	boards, err := Scan(context.Background(), []string{"127.0.0.1", "127.0.0.2"}, Options{Port: port, Progress: func(done, total int, _ *Board) { calls++ }})
	if err != nil || len(boards) != 0 {
		t.Errorf("boards %v err %v", boards, err)
	}

	if calls != 2 {
		t.Errorf("progress called %d times for 2 targets", calls)
	}
}

func TestScanIsCancellable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	targets, _ := Targets("127.0.9.0/24")
	if _, err := Scan(ctx, targets, Options{Port: 1}); err == nil {
		t.Error("a cancelled scan returned no error")
	}
}

func TestModelGuess(t *testing.T) {
	for product, want := range map[string]string{
		"Raspberry Pi 5 Model B Rev 1.0":                         "rpi5",
		"raspberrypi Raspberry Pi 5 Model B Rev 1.1":             "rpi5",
		"Raspberry Pi 500 Rev 1.0":                               "rpi5",
		"Raspberry Pi 4 Model B Rev 1.4":                         "rpi4",
		"raspberrypi Raspberry Pi Compute Module 4 Rev 1.0":      "cm4",
		"Raspberry Pi Compute Module 4":                          "cm4",
		"raspberrypi Raspberry Pi Compute Module 5 Rev 1.0":      "cm5",
		"raspberrypi Raspberry Pi Compute Module 5 Lite Rev 1.0": "cm5",
		"raspberrypi rpi":                                        "rpi4",
		"":                                                       "arm64",
	} {
		if got := (Board{Product: product, Arch: "arm64"}).Model(); got != want {
			t.Errorf("%q → %s, want %s", product, got, want)
		}
	}

	if got := (Board{Arch: "amd64"}).Model(); got != "amd64" {
		t.Errorf("amd64 → %s", got)
	}
}
