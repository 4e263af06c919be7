package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/internal/toolbuild"
)

// The simulated lab's bootstrap waits for the control plane's first build
// (liftoff sim started it behind the wizard): not before it is done, and
// with the build's reason when it failed.
func TestBootstrapWaitsForTheControlPlaneBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}

	// A checkout whose tool build waits for the test's word.
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "Makefile"), []byte(`
tool-deps-%:
	@echo a
bin/ok:
	@while [ ! -e release ]; do sleep 0.02; done
bin/broken:
	@echo "./main.go:1:1: expected 'package'" >&2; exit 1
`), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	side := simSide{build: toolbuild.Start(ctx, root, []string{"ok"}, io.Discard, nil)}

	// Still building: only giving up ends the wait.
	gaveUp, stop := context.WithCancel(context.Background())
	stop()

	if err := side.BeforeBootstrap(gaveUp); !errors.Is(err, context.Canceled) {
		t.Fatalf("the bootstrap went ahead of the build: %v", err)
	}

	if err := os.WriteFile(filepath.Join(root, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	if err := side.BeforeBootstrap(ctx); err != nil {
		t.Fatalf("after the build: %v", err)
	}

	broken := simSide{build: toolbuild.Start(ctx, root, []string{"broken"}, io.Discard, nil)}
	if err := broken.BeforeBootstrap(ctx); err == nil || !strings.Contains(err.Error(), "could not be built") || !strings.Contains(err.Error(), "expected 'package'") {
		t.Fatalf("a failed build: %v", err)
	}

	if err := (simSide{}).BeforeBootstrap(ctx); err != nil {
		t.Fatalf("nothing to build: %v", err)
	}
}

// Headless, the build is a few lines: each phase, then each tenth.
func TestHeadlessPrintsTheBuildInTenths(t *testing.T) {
	var out strings.Builder

	report := printToolBuild(&out)
	report(toolbuild.Status{Tool: "kube", Phase: "listing packages"})

	for done := range 101 {
		report(toolbuild.Status{Tool: "kube", Phase: "compiling", Done: done, Total: 100})
	}

	report(toolbuild.Status{Finished: true})

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// listing, 0/100, 10 … 100, built
	if len(lines) != 13 || !strings.Contains(lines[0], "listing packages") || !strings.Contains(lines[2], "10 of at most 100") || lines[12] != "the control plane is built" {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
}
