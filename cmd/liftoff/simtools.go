package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/liftoff-lab/liftoff/internal/toolbuild"
	"github.com/liftoff-lab/liftoff/internal/toolpath"
	"github.com/liftoff-lab/liftoff/ui"
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

// toolsReporter is where the build's progress goes: the wizard's header
// (the channel, for ui.Options.Background), or lines on stderr headless.
func toolsReporter(ctx context.Context, headless bool, stderr io.Writer) (chan ui.Progress, func(toolbuild.Status)) {
	tools := make(chan ui.Progress, 64)
	if headless {
		return tools, printToolBuild(stderr)
	}

	return tools, func(st toolbuild.Status) {
		select {
		case tools <- toolsProgress(st):
		case <-ctx.Done():
		}
	}
}

// toolsProgress is a build status as the wizard's progress.
func toolsProgress(st toolbuild.Status) ui.Progress {
	return ui.Progress{Op: ui.OpTools, Step: st.Tool, Done: st.Done, Total: st.Total, Finished: st.Finished, Err: st.Err}
}

// printToolBuild reports a headless build in lines: each phase, then
// every tenth of the packages.
func printToolBuild(w io.Writer) func(toolbuild.Status) {
	var last toolbuild.Status

	return func(st toolbuild.Status) {
		tenth := func(s toolbuild.Status) int {
			if s.Total == 0 {
				return -1
			}

			return s.Done * 10 / s.Total
		}

		if st.Finished || st.Tool != last.Tool || st.Phase != last.Phase || tenth(st) != tenth(last) {
			fmt.Fprintln(w, st.String())
		}

		last = st
	}
}
