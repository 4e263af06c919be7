package toolpath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "liftoff-test-tool")

	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	t.Setenv("LIFTOFF_BIN", dir)

	if p, err := Find("liftoff-test-tool"); err != nil || p != tool {
		t.Errorf("via LIFTOFF_BIN: %s %v", p, err)
	}

	t.Setenv("LIFTOFF_BIN", "")
	t.Setenv("PATH", dir)

	if p, err := Find("liftoff-test-tool"); err != nil || p != tool {
		t.Errorf("via PATH: %s %v", p, err)
	}

	_, err := Find("talosctl-that-is-not-there")
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("missing: %v", err)
	}

	root, ok := Root()
	if !ok {
		t.Fatal("the liftoff checkout was not found from the package directory")
	}

	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.HasPrefix(string(b), module) {
		t.Errorf("root %s is not the liftoff module", root)
	}
}
