package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// bundle tests use 127.0.3.230–239.
const bundlePlan = `
cluster: {name: bundlecli}
network: {lan: 127.0.3.0/24}
boards:
  - {name: cp, address: 127.0.3.231, model: rpi5, machine: controlplane, role: compute}
  - {name: gone, address: 127.0.3.239, model: rpi4, machine: worker, role: compute}
tailscale: {disabled: true}
`

// entries lists an archive's files and reads one of them.
func entries(t *testing.T, path, want string) ([]string, string) {
	t.Helper()

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}

	tr := tar.NewReader(gz)

	var (
		names []string
		body  string
	)

	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, body
		}

		if err != nil {
			t.Fatal(err)
		}

		name := h.Name[strings.Index(h.Name, "/")+1:]
		names = append(names, name)

		if name == want {
			data, _ := io.ReadAll(tr)
			body = string(data)
		}
	}
}

func TestBundleHelpTeaches(t *testing.T) {
	out, err := run(t, "bundle", "--help")
	if err != nil {
		t.Fatal(err)
	}

	for _, want := range []string{"bundle NODE", "MISSING.txt", "--events", "redacted", "machine config is never", "timeline.txt", "dmesg.log", "Example"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestBundleRefusesUnknownNodesAndExistingFiles(t *testing.T) {
	planPath := writePlan(t, bundlePlan)
	dir := t.TempDir()
	target := filepath.Join(dir, "b.tar.gz")

	var ue usageError

	_, err := run(t, "bundle", "nope", "--plan", planPath, "--out", target)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "nope is not a board") || !strings.Contains(err.Error(), "cp, gone") {
		t.Errorf("unknown node: %v", err)
	}

	if _, err := run(t, "bundle", "--plan", planPath); !errors.As(err, &ue) || !strings.Contains(err.Error(), "one NODE") {
		t.Errorf("no node: %v", err)
	}

	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Error("a refused bundle left a file")
	}

	if err := os.WriteFile(target, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := run(t, "bundle", "cp", "--plan", planPath, "--out", target); !errors.As(err, &ue) || !strings.Contains(err.Error(), "does not overwrite") {
		t.Errorf("existing out: %v", err)
	}

	if data, _ := os.ReadFile(target); string(data) != "keep me" {
		t.Error("an existing file was overwritten")
	}
}

// A board that does not answer: the archive is written anyway, with the
// timeline and MISSING.txt; the error says what happened.
func TestBundleOfAnUnreachableNode(t *testing.T) {
	planPath := writePlan(t, bundlePlan)
	dir := t.TempDir()
	target := filepath.Join(dir, "gone.tar.gz")
	rec := filepath.Join(dir, "run.jsonl")

	var lines []byte

	for _, e := range []probe.Event{{Node: "gone", Kind: probe.Stage, State: "rebooting"}, {Node: "gone", Kind: probe.Reachable, Detail: "no answer"}} {
		l, _ := e.MarshalLine()
		lines = append(lines, l...)
	}

	if err := os.WriteFile(rec, lines, 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "bundle", "gone", "--plan", planPath, "--events", rec, "--out", target, "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "gone (127.0.3.239:50000) was not read") || !strings.Contains(err.Error(), "MISSING.txt") {
		t.Fatalf("err = %v\n%s", err, out)
	}

	if !strings.Contains(out, "missing dmesg: the Talos API at 127.0.3.239:50000 did not answer") || !strings.Contains(out, "connecting to gone") {
		t.Errorf("stderr:\n%s", out)
	}

	st, err := os.Stat(target)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v %v", st, err)
	}

	names, missing := entries(t, target, "MISSING.txt")
	if !strings.Contains(strings.Join(names, " "), "timeline.txt") || !strings.Contains(missing, "- services:") {
		t.Errorf("entries %v\n%s", names, missing)
	}
}

// A board in maintenance mode is read without a talosconfig.
func TestBundleOfAMaintenanceModeBoard(t *testing.T) {
	planPath := writePlan(t, bundlePlan)
	target := filepath.Join(t.TempDir(), "cp.tar.gz")

	bd, err := board.Start(context.Background(), board.Options{
		Spec: board.Spec{Name: "talos-cp", Address: "127.0.3.231", Model: "rpi5", Arch: "arm64", Product: "Raspberry Pi 5 Model B Rev 1.0",
			UUID: "uuid-cp", MAC: "dc:a6:32:00:05:31"},
		Resolve: func(string) (board.Image, error) { return board.Image{}, errors.New("no images here") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bd.Close()

	out, err := run(t, "bundle", "127.0.3.231", "--plan", planPath, "--out", target)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	if !strings.Contains(out, "warning: no talosconfig") || !strings.Contains(out, target) {
		t.Errorf("output:\n%s", out)
	}

	names, readme := entries(t, target, "README.txt")
	for _, want := range []string{"services.txt", "logs/apid.log", "dmesg.log", "resources/machinestatus.yaml", "MISSING.txt"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("no %s in %v", want, names)
		}
	}

	if !strings.Contains(readme, "maintenance mode") {
		t.Errorf("README:\n%s", readme)
	}
}
