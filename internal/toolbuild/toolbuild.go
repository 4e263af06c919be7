// Package toolbuild builds the simulated lab's control plane (bin/kube,
// bin/etcd) in the background, so the first `make demo` on a fresh machine
// opens the wizard before that ~6-minute build is done: discovery, roles,
// review and apply need no control plane; only the bootstrap waits for it.
//
// The build is the checkout's own `make bin/kube bin/etcd` (hack/tools.mk
// stays the one place that says how a tool is built), run with `go build
// -v` so each package compiled is one line counted as progress.
package toolbuild

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Status is one step of a build: which tool, what it is doing, how far.
type Status struct {
	Tool  string
	Phase string // "listing packages", "compiling"
	// Done packages compiled of at most Total (Total 0: not known yet).
	// Packages already in the build cache are not compiled again, so a
	// build can finish below Total.
	Done, Total int
	Started     time.Time
	// Finished: every tool is built (Err nil) or the build failed.
	Finished bool
	Err      error
}

func (s Status) String() string {
	switch {
	case s.Finished && s.Err != nil:
		return "the control plane's build failed: " + s.Err.Error()
	case s.Finished:
		return "the control plane is built"
	case s.Total > 0:
		return fmt.Sprintf("building %s: %d of at most %d packages compiled (%s)", s.Tool, s.Done, s.Total, time.Since(s.Started).Round(time.Second))
	default:
		return fmt.Sprintf("building %s: %s (%s)", s.Tool, s.Phase, time.Since(s.Started).Round(time.Second))
	}
}

// Build is a build running in the background.
type Build struct {
	done chan struct{}
	err  error
}

// runner runs make in the checkout and hands over its output line by line
// (runMake; a parameter so a test can watch what make says).
type runner func(ctx context.Context, root string, args []string, line func(string)) error

// Start builds tools (e.g. "kube", "etcd") in root, one after the other,
// calling report with each change (from the build's goroutine). Log gets
// the build's whole output. Cancelling ctx stops the build.
func Start(ctx context.Context, root string, tools []string, log io.Writer, report func(Status)) *Build {
	return start(ctx, root, tools, log, report, runMake)
}

func start(ctx context.Context, root string, tools []string, log io.Writer, report func(Status), run runner) *Build {
	b := &Build{done: make(chan struct{})}

	go func() {
		defer close(b.done)

		b.err = build(ctx, root, tools, log, report, run)
		say(report, Status{Finished: true, Err: b.err})
	}()

	return b
}

func build(ctx context.Context, root string, tools []string, log io.Writer, report func(Status), run runner) error {
	for _, tool := range tools {
		st := Status{Tool: tool, Phase: "listing packages", Started: time.Now()}
		say(report, st)

		// The packages its build compiles at most (fetching the modules
		// first on a fresh machine: that is most of this phase).
		total := 0
		if err := run(ctx, root, []string{"-s", "tool-deps-" + tool}, func(line string) {
			fmt.Fprintln(log, line)

			if !strings.HasPrefix(line, "go: ") {
				total++
			}
		}); err != nil {
			return fmt.Errorf("listing %s's packages: %w", tool, err)
		}

		st.Phase, st.Total = "compiling", total
		say(report, st)

		if err := run(ctx, root, []string{"-s", "TOOLS_BUILD_FLAGS=-v", "bin/" + tool}, func(line string) {
			fmt.Fprintln(log, line)

			if !strings.HasPrefix(line, "go: ") && !strings.HasPrefix(line, "building ") {
				st.Done++
				say(report, st)
			}
		}); err != nil {
			return fmt.Errorf("building %s: %w (the whole output is in the lab's log)", tool, err)
		}
	}

	return nil
}

func say(report func(Status), st Status) {
	if report != nil {
		report(st)
	}
}

// Wait returns when the build is over (its error) or ctx is done.
func (b *Build) Wait(ctx context.Context) error {
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runMake runs make in root; both output streams are read line by line
// (go build -v writes the packages to stderr).
func runMake(ctx context.Context, root string, args []string, line func(string)) error {
	argv := append([]string{"make", "--no-print-directory", "-C", root}, args...)
	// Niced: the compilers take what the dashboard leaves, so a frame is
	// never late for them (coreutils' nice; without it, as is).
	if _, err := exec.LookPath("nice"); err == nil {
		argv = append([]string{"nice", "-n", "10"}, argv...)
	}

	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Its own process group, killed whole: make's go build and compilers
	// must not outlive a cancelled build (quitting the demo leaves nothing);
	// make dies with liftoff too, should liftoff be killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw

	var why string // go's last word, for the error (make's own lines are not)

	scanned := make(chan struct{})

	go func() {
		defer close(scanned)

		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			text := sc.Text()
			if !strings.HasPrefix(text, "make: ") && !strings.HasPrefix(text, "make[") {
				why = text
			}

			line(text)
		}
	}()

	err := cmd.Run()
	pw.Close() //nolint:errcheck // closing a pipe's writer cannot fail
	<-scanned

	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && why != "":
		return fmt.Errorf("%s (%w)", strings.TrimSpace(why), err)
	}

	return err
}
