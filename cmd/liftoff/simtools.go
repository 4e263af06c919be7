package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/liftoff-lab/liftoff/internal/toolbuild"
	"github.com/liftoff-lab/liftoff/internal/toolpath"
)

// controlPlaneTools are what the simulated lab's control plane runs.
var controlPlaneTools = []string{"kube", "etcd"}

// missingTools returns the control plane's tools not built yet, and the
// checkout that can build them ("" when it cannot: then the error says how).
func missingTools() (missing []string, root string, err error) {
	var errs []error

	for _, tool := range controlPlaneTools {
		if _, ferr := toolpath.Find(tool); ferr != nil {
			missing = append(missing, tool)
			errs = append(errs, ferr)
		}
	}

	if len(missing) == 0 {
		return nil, "", nil
	}

	root, ok := toolpath.Root()
	if _, merr := exec.LookPath("make"); !ok || merr != nil {
		return missing, "", errors.Join(errs...)
	}

	return missing, root, nil
}

// buildTools starts the missing tools' build (nil when none is missing):
// the wizard runs meanwhile, and the bootstrap waits for it (simSide).
func buildTools(ctx context.Context, missing []string, root string, log io.Writer, report func(toolbuild.Status)) *toolbuild.Build {
	if len(missing) == 0 {
		return nil
	}

	fmt.Fprintf(log, "building %v in %s (make %v), the first time only\n", missing, root, missing)

	return toolbuild.Start(ctx, root, missing, log, report)
}
