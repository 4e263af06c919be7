// Package toolpath finds the test peers `make tools` builds (talosctl,
// kube, etcd): in $LIFTOFF_BIN, in bin/ of the liftoff checkout, or on PATH.
package toolpath

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

const module = "module github.com/liftoff-lab/liftoff\n"

// what each tool is, for the error that explains how to get it.
var about = map[string]string{
	"talosctl": "the official talosctl v1.12.6, ~3 min the first time",
	"kube":     "kube-apiserver, controller-manager and scheduler v1.37.2, ~5 min the first time",
	"etcd":     "etcd v3.6.16, ~1 min the first time",
}

// Find returns the path of a tool, or an error that says how to build it.
func Find(name string) (string, error) {
	if dir := os.Getenv("LIFTOFF_BIN"); dir != "" {
		if p := filepath.Join(dir, name); isFile(p) {
			return p, nil
		}
	}

	if root, ok := Root(); ok {
		if p := filepath.Join(root, "bin", name); isFile(p) {
			return p, nil
		}
	}

	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}

	what := about[name]
	if what == "" {
		what = name
	}

	return "", fmt.Errorf("%s not found in bin/ or PATH: run `make tools` in the liftoff checkout (builds %s)", name, what)
}

// Root is the liftoff checkout containing the working directory.
func Root() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}

	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte(module)) {
			return dir, true
		}

		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}

		dir = parent
	}
}

// Required tells whether tests must fail, not skip, without a tool (CI).
func Required() bool { return os.Getenv("LIFTOFF_REQUIRE_TOOLS") != "" }

func isFile(p string) bool {
	st, err := os.Stat(p)

	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
