package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/sim/board"
	simfactory "github.com/liftoff-lab/liftoff/sim/factory"
)

// A simulated Raspberry Pi 4 in maintenance mode on 127.0.61.21, with an SD
// card and a USB SSD.
func startPi(t *testing.T) {
	t.Helper()

	b, err := board.Start(context.Background(), board.Options{
		Spec: board.Spec{Name: "talos-pf", Address: "127.0.61.21", Model: plan.RPi4, Arch: "arm64",
			Product: "Raspberry Pi 4 Model B Rev 1.4", UUID: "uuid-pf", MAC: "dc:a6:32:00:61:21",
			Disks: []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Model: "SD32G", Transport: "mmc"}, {Path: "/dev/sda", Size: 256e9, Model: "USB SSD", Transport: "usb"}}},
		Resolve: func(string) (board.Image, error) { return board.Image{}, errors.New("preflight applies nothing") },
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { _ = b.Close() })
}

func preflightPlan(model string) string {
	return `
cluster: {name: pf}
network: {lan: 127.0.61.0/24}
tailscale: {disabled: true}
boards:
  - {name: pi-1, address: 127.0.61.21, model: ` + model + `, machine: controlplane, role: compute}
`
}

// gone adds a board nothing answers for.
const gone = "  - {name: gone, address: 127.0.61.22, model: rpi4, machine: worker, role: compute}\n"

func TestPreflightAgainstASimulatedBoard(t *testing.T) {
	startPi(t)

	sf, err := simfactory.Start(context.Background(), "127.0.61.1:0")
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { sf.Close() }) //nolint:errcheck

	planFile := writePlan(t, preflightPlan("rpi4"))

	out, err := run(t, "preflight", "--plan", planFile, "--timeout", time.Second.String(), "--factory", sf.URL())
	if err != nil {
		t.Fatalf("warnings alone failed: %v\n%s", err, out)
	}

	for _, want := range []string{
		"warning: board pi-1: Talos would install to /dev/mmcblk0 (an SD card), while /dev/sda (256 GB usb USB SSD) is free",
		"set boards[0].installDisk: /dev/sda",
		"warning: board pi-1: the image factory " + sf.URL() + " does not know schematic 02bcc41b32f1 (compute-rpi_generic) yet",
		"liftoff images --register",
		"1 boards checked against what they report",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Registered, the factory knows it: no more warning.
	if out, err := run(t, "images", "--plan", planFile, "--register", "--factory", sf.URL(), "--out", t.TempDir(), "--lab", t.TempDir()); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	out, _ = run(t, "preflight", "--plan", planFile, "--timeout", time.Second.String(), "--factory", sf.URL())
	if strings.Contains(out, "does not know schematic") {
		t.Errorf("a registered schematic is still unknown:\n%s", out)
	}

	// Issue 21 item 8: a board that does not answer fails preflight, with
	// the reason; nothing says ok.
	out, err = run(t, "preflight", "--plan", writePlan(t, preflightPlan("rpi4")+gone), "--timeout", time.Second.String())
	if err == nil || !strings.Contains(err.Error(), "board gone: no board answered at 127.0.61.22") ||
		!strings.Contains(err.Error(), "nothing answers on the port yet") || strings.Contains(out, "— ok") {
		t.Errorf("an unanswered board: %v\n%s", err, out)
	}

	out, err = run(t, "preflight", "--plan", writePlan(t, preflightPlan("amd64")), "--timeout", time.Second.String(), "--factory", sf.URL())

	var invalid *plan.InvalidError
	if !errors.As(err, &invalid) || len(invalid.Problems) != 1 {
		t.Fatalf("want one error, got %v\n%s", err, out)
	}

	if got := invalid.Problems[0].String(); !strings.Contains(got, "board pi-1: the plan's model amd64 means an amd64 image, but the board is arm64") ||
		!strings.Contains(got, "set boards[0].model to rpi4") {
		t.Errorf("arch error: %s", got)
	}
}

func TestPreflightStopsAtAnInvalidPlan(t *testing.T) {
	_, err := run(t, "preflight", "--plan", writePlan(t, "cluster: {name: pf}\nboards: []\n"))
	if err == nil || !strings.Contains(err.Error(), "the plan has no boards") {
		t.Errorf("err = %v", err)
	}
}
