package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The preview of a move names both boards, both installers and the
// talosctl steps in order, shows the plan's and the configs' diffs with
// no secret in them, and answered no (or given a board it cannot take)
// changes nothing on disk.
func TestMoveGatewayPreviewChangesNothingUnconfirmed(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(testKey), 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "homelab")

	if text, err := run(t, "gen", "--plan", "../../examples/lab.yaml", "--out", out, "--tailscale-authkey-file", keyFile); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	planFile := filepath.Join(out, "lab.yaml")
	files := []string{planFile, filepath.Join(out, "pi-gw.yaml"), filepath.Join(out, "pi-w-1.yaml"), filepath.Join(out, "secrets.yaml")}
	before := map[string]string{}

	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}

		before[f] = string(data)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	args := []string{"move-gateway", "pi-w-1", "--plan", planFile, "--out", out, "--tailscale-authkey-file", keyFile}

	text, err := runIn(ctx, "n\n", args...)
	if err == nil || !strings.Contains(text, "nothing was changed") {
		t.Fatalf("answered no, it must not run: %v\n%s", err, text)
	}

	for _, want := range []string{
		"move the gateway from pi-gw (192.168.1.30) to pi-w-1 (192.168.1.21)",
		"1. talosctl apply-config -n 192.168.1.21",
		"2. talosctl upgrade -n 192.168.1.21 -e 192.168.1.21 --image factory.talos.dev/",
		"4. talosctl upgrade -n 192.168.1.30",
		"-    role: gateway", "+    role: gateway",
		"TS_AUTHKEY=<redacted>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the preview lacks %q:\n%s", want, text)
		}
	}

	if strings.Contains(text, testKey) {
		t.Error("the auth key was printed")
	}

	for _, bad := range [][]string{{"move-gateway", "pi-gw"}, {"move-gateway", "pi-nope"}} {
		text, err := runIn(ctx, "y\n", append(bad, "--plan", planFile, "--out", out, "--tailscale-authkey-file", keyFile)...)
		if err == nil || !strings.Contains(err.Error()+text, bad[1]) {
			t.Errorf("%v: want an error naming %s, got %v\n%s", bad, bad[1], err, text)
		}
	}

	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil || string(data) != before[f] {
			t.Errorf("%s changed though nothing was confirmed", f)
		}
	}
}
