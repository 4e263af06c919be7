package toolpath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// executable writes a stub tool into dir and returns its path.
func executable(t *testing.T, dir, name string) string {
	t.Helper()

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	return p
}

// outside moves the test out of the liftoff checkout, with an empty PATH and
// no LIFTOFF_BIN, so only what the subtest sets up can be found.
func outside(t *testing.T) string {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("LIFTOFF_BIN", "")
	t.Setenv("PATH", "")

	return dir
}

func TestFind(t *testing.T) {
	t.Run("LIFTOFF_BIN", func(t *testing.T) {
		dir := outside(t)
		want := executable(t, filepath.Join(dir, "tools"), "talosctl")
		executable(t, filepath.Join(dir, "path"), "talosctl")
		t.Setenv("LIFTOFF_BIN", filepath.Join(dir, "tools"))
		t.Setenv("PATH", filepath.Join(dir, "path"))

		if p, err := Find("talosctl"); err != nil || p != want {
			t.Errorf("Find = %q, %v; want %q", p, err, want)
		}
	})

	t.Run("checkout bin", func(t *testing.T) {
		dir := outside(t)
		gomod := module + "\n\ngo 1.26\n"
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
			t.Fatal(err)
		}

		// A hack/ module on the way up is not the checkout.
		sub := filepath.Join(dir, "hack", "kube")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}

		if err := os.WriteFile(filepath.Join(sub, "go.mod"), []byte(module+"/hack/kube\n"), 0o644); err != nil {
			t.Fatal(err)
		}

		want := executable(t, filepath.Join(dir, "bin"), "kube")
		t.Chdir(sub)

		if p, err := Find("kube"); err != nil || p != want {
			t.Errorf("Find = %q, %v; want %q", p, err, want)
		}
	})

	t.Run("PATH", func(t *testing.T) {
		dir := outside(t)
		want := executable(t, dir, "etcd")
		t.Setenv("PATH", dir)

		if p, err := Find("etcd"); err != nil || p != want {
			t.Errorf("Find = %q, %v; want %q", p, err, want)
		}
	})

	t.Run("missing", func(t *testing.T) {
		outside(t)

		_, err := Find("talosctl")
		if err == nil {
			t.Fatal("found a talosctl that is not there")
		}

		want := `talosctl not found in bin/ or PATH: run "make tools" (builds talosctl v1.12.6 from its Go module, ~4 min the first time)`
		if err.Error() != want {
			t.Errorf("error\n%s\nwant\n%s", err, want)
		}

		for _, tool := range []string{"kube", "etcd", "something-else"} {
			if _, err := Find(tool); err == nil || !strings.Contains(err.Error(), `run "make tools"`) {
				t.Errorf("%s: %v does not name the fix", tool, err)
			}
		}

		if _, err := Find("tmux"); err == nil || !strings.Contains(err.Error(), "apt-get install tmux") {
			t.Errorf("tmux is not built here; the error should say how to install it: %v", err)
		}
	})

	t.Run("not executable", func(t *testing.T) {
		dir := outside(t)
		if err := os.WriteFile(filepath.Join(dir, "talosctl"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}

		t.Setenv("LIFTOFF_BIN", dir)

		if p, err := Find("talosctl"); err == nil {
			t.Errorf("found %s, which is not executable", p)
		}
	})
}

func TestRoot(t *testing.T) {
	root, ok := Root()
	if !ok {
		t.Fatal("the liftoff checkout was not found from the package directory")
	}

	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !isLiftoff(b) {
		t.Errorf("root %s is not the liftoff module", root)
	}

	outside(t)

	if dir, ok := Root(); ok {
		t.Errorf("Root outside any checkout = %s", dir)
	}
}
