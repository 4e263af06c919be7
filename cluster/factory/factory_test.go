package factory

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	simfactory "github.com/liftoff-lab/liftoff/sim/factory"
)

func matrix(t *testing.T, factory string) []image.Image {
	t.Helper()

	p, err := plan.Parse([]byte(`
cluster: {name: lab}
images: {factory: "` + factory + `"}
boards:
  - {name: pi-1, address: 192.168.1.11, model: rpi5, machine: controlplane, role: compute}
  - {name: pi-2, address: 192.168.1.12, model: cm4, machine: worker, role: gateway}
  - {name: nuc, address: 192.168.1.13, model: amd64, machine: worker, role: compute}
`))
	if err != nil {
		t.Fatal(err)
	}

	m, err := image.Matrix(p)
	if err != nil {
		t.Fatal(err)
	}

	return m
}

func TestRegisterRemembersWhatTheFactoryConfirmed(t *testing.T) {
	sf, err := simfactory.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	c, err := New(sf.URL())
	if err != nil {
		t.Fatal(err)
	}

	images := matrix(t, sf.URL())
	dir := t.TempDir()

	var steps []Step
	if err := Register(context.Background(), c, dir, images, func(s Step) { steps = append(steps, s) }); err != nil {
		t.Fatal(err)
	}

	if len(steps) != 6 || steps[5].Done != 6 || steps[5].Total != 6 {
		t.Fatalf("six schematics (two roles × three overlays/arches), steps %+v", steps)
	}

	for _, im := range images {
		known, err := c.Known(context.Background(), im.SchematicID)
		if err != nil || !known || !sf.Known(im.SchematicID) {
			t.Errorf("%s: known %v (%v)", im.Key(), known, err)
		}

		if !strings.HasPrefix(im.Installer, sf.Host()+"/metal-installer/") {
			t.Errorf("%s: installer %s does not name the factory's host", im.Key(), im.Installer)
		}
	}

	if known, err := c.Known(context.Background(), strings.Repeat("0", 64)); err != nil || known {
		t.Errorf("an unknown ID: %v %v", known, err)
	}

	info, err := os.Stat(filepath.Join(dir, MemoryFile))
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("memory file: %v %v", info, err)
	}

	// Offline: what the factory confirmed passes, and says so.
	sf.Close() //nolint:errcheck

	steps = nil
	if err := Register(context.Background(), c, dir, images[:1], func(s Step) { steps = append(steps, s) }); err != nil {
		t.Fatalf("an offline rerun of confirmed schematics: %v", err)
	}

	if len(steps) != 1 || !strings.HasPrefix(steps[0].Outcome, Remembered) {
		t.Errorf("steps %+v", steps)
	}

	// Offline and never confirmed: stopped, with what to do.
	other := matrix(t, sf.URL())[0]
	other.Schematic.Customization.ExtraKernelArgs = []string{"console=ttyAMA0"}
	other.SchematicID, _ = other.Schematic.ID()

	err = Register(context.Background(), c, dir, []image.Image{other}, func(Step) {})
	if err == nil || !IsUnreachable(err) || !strings.Contains(err.Error(), "nothing was applied") || !strings.Contains(err.Error(), "liftoff images --register") {
		t.Errorf("offline, unconfirmed: %v", err)
	}
}

func TestRegisterRefusals(t *testing.T) {
	answer := func(status int, body string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/schematics" || r.Header.Get("Content-Type") != "application/yaml" {
				t.Errorf("request %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			}

			w.WriteHeader(status)
			w.Write([]byte(body)) //nolint:errcheck
		}))
	}

	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"refused", "official extension \"siderolabs/zfz\" is not available", http.StatusBadRequest, "answered 400 Bad Request: official extension"},
		{"another ID", `{"id":"` + strings.Repeat("a", 64) + `"}`, http.StatusCreated, "gave schematic ID aaaa"},
		{"not a factory", `<html>`, http.StatusOK, "without a schematic ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := answer(tc.status, tc.body)
			defer srv.Close()

			c, _ := New(srv.URL)
			dir := t.TempDir()

			err := Register(context.Background(), c, dir, matrix(t, srv.URL)[:1], func(Step) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was applied") {
				t.Errorf("err = %v", err)
			}

			if _, err := os.Stat(filepath.Join(dir, MemoryFile)); err == nil {
				t.Error("a refused schematic was remembered")
			}
		})
	}
}

func TestCorruptMemoryIsNamed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, MemoryFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}

	c, _ := New("http://127.0.0.1:1")

	err := Register(context.Background(), c, dir, matrix(t, "factory.talos.dev")[:1], func(Step) {})
	if err == nil || !strings.Contains(err.Error(), MemoryFile) || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("err = %v", err)
	}
}

func TestCustomImagesAreNotRegistered(t *testing.T) {
	if got := Schematics([]image.Image{{Role: plan.Compute, Installer: "ghcr.io/me/talos:v1.13.3-compute"}}); len(got) != 0 {
		t.Errorf("a self-built image to register: %+v", got)
	}
}
