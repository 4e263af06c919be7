package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// pathFlags are the flags whose value is a path. A secret pasted into one
// (the key where its file belongs) is the mistake people make; it is
// refused by fileio.CheckPath, which never repeats the value.
var pathFlags = map[string]bool{
	"plan": true, "out": true, "dir": true, "spec": true, "record": true, "junit": true, "html": true, "events": true, "lab": true,
	"image":       true,
	"talosconfig": true, "kubeconfig": true, "tailscale-authkey-file": true, "tailscale-api-key-file": true,
	"to": true, "device": true, "cache": true,
}

// pathArgs annotates a command whose positional arguments are paths.
const pathArgs = "liftoff/path-args"

// checkInput refuses, before any work, every flag value and argument that
// looks like a secret: path flags by fileio.CheckPath (also key material
// without a recognisable prefix), the others by its unmistakable shapes.
// Nothing liftoff takes on its command line is a secret, and command
// lines end up in shell history, process lists and CI logs.
func checkInput(c *cobra.Command, args []string) error {
	var err error

	c.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || !f.Changed {
			return
		}

		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}

		for _, v := range values {
			if pathFlags[f.Name] {
				err = fileio.CheckPath("--"+f.Name, v)
			} else {
				err = fileio.CheckValue("--"+f.Name, v)
			}

			if err != nil {
				return
			}
		}
	})

	if err != nil {
		return usageError{err}
	}

	for i, a := range args {
		name := fmt.Sprintf("argument %d", i+1)

		if c.Annotations[pathArgs] != "" {
			err = fileio.CheckPath(name, a)
		} else {
			err = fileio.CheckValue(name, a)
		}

		if err != nil {
			return usageError{err}
		}
	}

	return nil
}

// checkOutputFile checks, before any work, a file a command writes at its
// end (a report, a recording, an archive): it can be created, and it is
// neither the plan nor one of the files liftoff owns in outDir.
func checkOutputFile(flag, path, planPath, outDir string) error {
	if path == "" {
		return nil
	}

	if same(path, planPath) {
		return usageError{fmt.Errorf("%s %s is the plan: liftoff never writes over it — choose another file", flag, path)}
	}

	if outDir != "" {
		owned := append([]string{}, plan.OwnedFiles...)

		if p, err := plan.Load(planPath); err == nil {
			for _, b := range p.Boards {
				owned = append(owned, plan.ConfigFile(b.Name))
			}
		}

		for _, name := range owned {
			if samePath(path, filepath.Join(outDir, name)) {
				return usageError{fmt.Errorf("%s %s is %s, a file liftoff writes in %s: choose another file", flag, path, name, outDir)}
			}
		}

		// In an output directory that is yet to be made: it will take files.
		if _, err := os.Stat(outDir); err != nil && samePath(filepath.Dir(path), outDir) {
			return nil
		}
	}

	if err := fileio.CheckOutput(flag, path); err != nil {
		return usageError{err}
	}

	return nil
}

// same tells whether two paths name one existing file.
func same(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}

	sb, err := os.Stat(b)

	return err == nil && os.SameFile(sa, sb)
}

// samePath tells whether two paths name the same place, existing or not.
func samePath(a, b string) bool {
	if same(a, b) {
		return true
	}

	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)

	return err1 == nil && err2 == nil && aa == bb
}
