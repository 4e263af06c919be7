// Package toolpath finds the test peers `make tools` builds (talosctl,
// kube, etcd): in $LIFTOFF_BIN, in bin/ of the liftoff checkout, or on PATH.
package toolpath

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

const module = "module github.com/liftoff-lab/liftoff"

// How each tool is built, for the error that says how to get it; the times
// are the first build on 2 cores (docs/tools.md).
var about = map[string]string{
	"talosctl": "builds talosctl v1.12.6 from its Go module, ~4 min the first time",
	"kube":     "builds kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 from the k8s.io/kubernetes Go module, ~6 min the first time",
	"etcd":     "builds etcd v3.6.16 from its Go module, ~1 min the first time",
}

// Tools liftoff does not build: how to install them instead.
var install = map[string]string{
	"tmux": "install it: apt-get install tmux (the real-terminal smoke test drives liftoff sim in it)",
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

	where := "bin/ or PATH"
	if dir := os.Getenv("LIFTOFF_BIN"); dir != "" {
		where = "$LIFTOFF_BIN (" + dir + "), bin/ or PATH"
	}

	if how, ok := install[name]; ok {
		return "", fmt.Errorf("%s not found in %s: %s", name, where, how)
	}

	how := about[name]
	if how == "" {
		how = "builds the test peers into bin/"
	}

	return "", fmt.Errorf("%s not found in %s: run \"make tools\" (%s)", name, where, how)
}

// Root is the liftoff checkout containing the working directory.
func Root() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}

	for {
		if b, err := fileio.ReadFile(filepath.Join(dir, "go.mod"), fileio.Own); err == nil && isLiftoff(b) {
			return dir, true
		}

		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}

		dir = parent
	}
}

// isLiftoff tells whether a go.mod is liftoff's: its first line names the
// module (hack/*'s modules are github.com/liftoff-lab/liftoff/hack/...).
func isLiftoff(gomod []byte) bool {
	first, _, _ := bytes.Cut(gomod, []byte("\n"))

	return string(bytes.TrimSpace(first)) == module
}

// Required tells whether tests must fail, not skip, without a tool (CI).
func Required() bool { return os.Getenv("LIFTOFF_REQUIRE_TOOLS") != "" }

func isFile(p string) bool {
	st, err := os.Stat(p)

	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
