package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/liftoff-lab/liftoff/cluster/flash"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	simfactory "github.com/liftoff-lab/liftoff/sim/factory"
)

// The factory stand-in serves the gateway's disk image; flash --to writes
// it to a file, and the file is the image, byte for byte.
func TestFlashToFileFromTheFactory(t *testing.T) {
	sf, err := simfactory.Start(context.Background(), "127.0.62.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close() //nolint:errcheck

	lab, cache := t.TempDir(), t.TempDir()
	to := filepath.Join(t.TempDir(), "pi-gw.raw")
	args := []string{"flash", "pi-gw", "--plan", "../../examples/lab.yaml", "--factory", sf.URL(), "--lab", lab, "--cache", cache, "--to", to}

	text, err := run(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	p, err := plan.Load("../../examples/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}

	p.Images.Factory = sf.URL()

	var gw plan.Board

	for _, b := range p.Boards {
		if b.Name == "pi-gw" {
			gw = b
		}
	}

	im, err := image.For(p, gw)
	if err != nil {
		t.Fatal(err)
	}

	if !sf.Known(im.SchematicID) {
		t.Error("flash did not register the board's schematic")
	}

	want := fetchRaw(t, im.DiskImage)

	got, err := os.ReadFile(to)
	if err != nil {
		t.Fatal(err)
	}

	if !bytes.Equal(got, want) {
		t.Fatalf("the written file (%d bytes) is not the factory's image (%d bytes)", len(got), len(want))
	}

	for _, w := range []string{
		"role: gateway", "talos: v1.13.3", "overlay: rpi_5 (siderolabs/sbc-raspberrypi)", "extensions: drbd spin tailscale zfs",
		"schematic: " + im.SchematicID, "downloaded " + im.DiskImage, "write ", "verify ", "100%", "written and verified",
		"pi-gw's medium carries the gateway image", "only from its SD card", "maintenance mode",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}

	cards, err := flash.Cards(lab)
	if err != nil {
		t.Fatal(err)
	}

	if c := cards["pi-gw"]; c.Role != plan.Gateway || c.SchematicID != im.SchematicID || c.Overlay != "rpi_5" || c.Image != im.DiskImage || len(c.SHA256) != 64 {
		t.Errorf("recorded %+v", c)
	}

	// Again: the file exists, so --yes is needed; the image comes from the
	// cache, checked against its record.
	if text, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("an existing --to file was overwritten without --yes: %v\n%s", err, text)
	}

	text, err = run(t, append(args, "--yes")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	if !strings.Contains(text, "checked") || strings.Contains(text, "downloaded ") {
		t.Errorf("the second flash did not reuse the checked cache:\n%s", text)
	}
}

func TestFlashRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"flash", "nosuch", "--to", "x.raw"}, `no board "nosuch"`},
		{[]string{"flash", "pi-gw", "--to", "x.raw", "--device", "/dev/sdz"}, "--device and --to"},
		{[]string{"flash", "pi-gw", "--yes"}, "--yes needs an explicit --device"},
		{[]string{"flash", "pi-gw", "--to", "../../examples/lab.yaml"}, "is the plan"},
		{[]string{"flash", "pi-gw", "--device", "/dev/null"}, "not a block device this machine knows"},
	} {
		text, err := run(t, append(tc.args, "--plan", "../../examples/lab.yaml", "--lab", t.TempDir(), "--cache", t.TempDir())...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q\n%s", tc.args, err, tc.want, text)
		}
	}
}

func fetchRaw(t *testing.T, url string) []byte {
	t.Helper()

	resp, err := http.Get(url) //nolint:noctx,gosec // the test's own loopback factory
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck

	r, err := xz.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}

	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}

	return raw
}
