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
	"github.com/liftoff-lab/liftoff/ui"
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

// The wizard's boot-media step on liftoff up's backend: the factory's
// image written to a card reader of a fake sysfs//dev tree, recorded, and
// the system disk refused.
func TestWizardMediaBackendWritesTheCard(t *testing.T) {
	sf, err := simfactory.Start(context.Background(), "127.0.62.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close() //nolint:errcheck

	root := t.TempDir()
	host := flash.Host{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev"), MountInfo: filepath.Join(root, "mountinfo"), Swaps: filepath.Join(root, "swaps")}

	files := map[string]string{
		"mountinfo":                  "1 0 8:0 / / rw - ext4 /dev/sda rw\n",
		"sys/block/sda/dev":          "8:0",
		"sys/block/sda/size":         "500000000",
		"sys/block/sda/removable":    "0",
		"sys/block/sdb/dev":          "8:16",
		"sys/block/sdb/size":         "62333952",
		"sys/block/sdb/removable":    "1",
		"sys/block/sdb/device/model": "SD/MMC Reader",
		"dev/sda":                    "",
		"dev/sdb":                    "",
	}

	for name, data := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}

		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	p, err := plan.Load("../../examples/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}

	p.Images.Factory = sf.URL()
	lab := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	be := &mediaBackend{backend: newBackend(ctx, nil, lab, false), host: host, cache: t.TempDir()}

	m, err := be.Media(p)
	if err != nil {
		t.Fatal(err)
	}

	refused := map[string]string{}
	for _, d := range m.Devices {
		refused[d.Name] = d.Refusal
	}

	if refused["sdb"] != "" || !strings.Contains(refused["sda"], "the system disk") {
		t.Fatalf("devices: %q", refused)
	}

	if f := strings.Join(m.Boards["pi-w-1"].Facts, "\n"); !strings.Contains(f, "overlay: rpi_generic") || !strings.Contains(f, "role: compute") {
		t.Errorf("pi-w-1's facts:\n%s", f)
	}

	var last ui.Progress

	carries, err := be.Flash(ctx, p, "pi-w-1", filepath.Join(host.Dev, "sdb"), func(pr ui.Progress) { last = pr })
	if err != nil || !strings.HasPrefix(carries, "compute image (") {
		t.Fatalf("flash ended with %q, %v (last report %+v)", carries, err, last)
	}

	if last.Op != ui.OpFlash || last.Node != "pi-w-1" || last.Total == 0 {
		t.Errorf("the last report is %+v, not the write's", last)
	}

	var pw plan.Board

	for _, b := range p.Boards {
		if b.Name == "pi-w-1" {
			pw = b
		}
	}

	im, _ := image.For(p, pw)
	want := fetchRaw(t, im.DiskImage)

	got, err := os.ReadFile(filepath.Join(host.Dev, "sdb"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the card holds %d bytes, not the image's %d (%v)", len(got), len(want), err)
	}

	if m, _ := be.Media(p); m.Boards["pi-w-1"].Carries == "" {
		t.Error("the written medium is not recorded for the wizard")
	}
}

// --image writes a self-built image, raw here, without asking any factory:
// the plan names an unreachable one.
func TestFlashOwnImageToFile(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte("my own talos "), 200_000)
	own := filepath.Join(dir, "mine.raw")

	if err := os.WriteFile(own, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	to := filepath.Join(dir, "card.raw")

	text, err := run(t, "flash", "pi-w-1", "--plan", "../../examples/lab.yaml", "--factory", "http://127.0.0.1:1", "--image", own,
		"--to", to, "--lab", t.TempDir(), "--cache", t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	if got, _ := os.ReadFile(to); !bytes.Equal(got, raw) {
		t.Errorf("wrote %d bytes, not the %d of the image", len(got), len(raw))
	}

	if !strings.Contains(text, "from: "+own) || !strings.Contains(text, "bootloader EEPROM") || strings.Contains(text, "registered") {
		t.Errorf("output:\n%s", text)
	}
}
