package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v4"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/bundle"
)

// bundleFlags are liftoff bundle's flags.
type bundleFlags struct {
	planPath    string
	talosconfig string
	events      string
	labSpeed    float64
	out         string
	logLines    int
	timeout     time.Duration
}

func newBundleCmd() *cobra.Command {
	var f bundleFlags

	c := &cobra.Command{
		Use:   "bundle NODE",
		Short: "Gather one board's support bundle (a tar.gz to attach to an issue)",
		Long: `Gathers what explains a board's trouble into one archive (tar.gz, mode 0600):

  README.txt         what this is, how the board was read
  timeline.txt       the board's events from a recording (--events), and
  events.jsonl       the same as JSON lines (liftoff replay reads them)
  timeline.svg       the same as a picture: its bring-up phases on a time axis
  board.yaml         the board's entry in the plan
  version.txt        the Talos version it runs
  services.txt       every service: state, health, restarts, recent events
  logs/SERVICE.log   each service's last --log-lines lines
  dmesg.log          the kernel log (boot loops, power, SD card trouble)
  resources/*.yaml   machinestatus, extensionstatuses, members, nodename,
                     nodeaddresses, diagnostics (when Talos reports any)
  MISSING.txt        what could not be gathered, and why

NODE is a board's name (or address) in the plan. The board is read through
its Talos API with the talosconfig liftoff gen wrote (by default the one next
to the plan); a board still in maintenance mode is read without it.

Secrets are redacted (keys, tokens, Tailscale auth keys, private keys) and
the machine config is never included: the archive is safe to share.

A board that does not answer still gets a bundle — the timeline and plan
entry — and liftoff says what is missing; the exit code is then 1.
Progress goes to stderr; ctrl+c stops and writes what was gathered.`,
		Example: `  liftoff bundle pi-cp-1 --plan homelab/lab.yaml
  liftoff bundle pi-gw --events rehearsal.jsonl --out gw.tar.gz
  liftoff sim --record run.jsonl ...; liftoff bundle pi-w-1 --events run.jsonl`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("liftoff bundle takes one NODE, a board's name from the plan (see `%s --help`)", c.CommandPath())}
			}

			return nil
		},
		RunE: func(c *cobra.Command, args []string) error { return f.run(c, args[0]) },
	}

	addPlanFlag(c, &f.planPath)
	c.Flags().StringVar(&f.talosconfig, "talosconfig", "", "talosconfig for the board (default: the one liftoff gen wrote next to the plan)")
	c.Flags().StringVar(&f.events, "events", "", "a recorded event stream (liftoff sim --record) for the board's timeline")
	c.Flags().Float64Var(&f.labSpeed, "lab-speed", 1, "with --events: the recorded lab's --speed (a simulated lab's recording), so the timeline's usual stage times match it")
	c.Flags().StringVarP(&f.out, "out", "o", "", "the archive to write (default liftoff-bundle-NODE-TIME.tar.gz; never overwritten)")
	c.Flags().IntVar(&f.logLines, "log-lines", 200, "lines of each service's log to include")
	c.Flags().DurationVar(&f.timeout, "timeout", 15*time.Second, "how long each Talos API call may take")

	return c
}

// run gathers node's bundle into --out: the flags and the board checked
// before any work, then the archive, never over an existing file.
func (f *bundleFlags) run(c *cobra.Command, node string) error {
	stderr := c.ErrOrStderr()

	// Before any work: the archive's path must take a file.
	if err := checkOutputFile("--out", f.out, f.planPath, ""); err != nil {
		return err
	}

	opts, err := f.options(stderr, node)
	if err != nil {
		return err
	}

	out := f.out
	if out == "" {
		out = fmt.Sprintf("liftoff-bundle-%s-%s.tar.gz", opts.Node, time.Now().Format("20060102T150405"))
	}

	res, err := writeBundle(c.Context(), out, opts)
	if err != nil {
		return err
	}

	fmt.Fprintln(c.OutOrStdout(), out)

	for _, m := range res.Missing {
		fmt.Fprintf(stderr, "missing %s: %s\n", m.Part, m.Why)
	}

	switch {
	case c.Context().Err() != nil:
		return fmt.Errorf("interrupted: %s holds what was gathered until then (see MISSING.txt)", out)
	case !res.Reached:
		return fmt.Errorf("%s (%s) was not read — %s; %s holds the plan entry and timeline only (see MISSING.txt)", opts.Node, opts.Endpoint, res.Unreached, out)
	}

	if len(res.Missing) > 0 {
		fmt.Fprintf(stderr, "wrote %s without %d part(s), listed in its MISSING.txt\n", out, len(res.Missing))
	}

	return nil
}

// options are what bundle.Write needs for node: its plan entry, how to
// reach it, and the recording when one is given.
func (f *bundleFlags) options(stderr io.Writer, node string) (bundle.Options, error) {
	p, err := plan.Load(f.planPath)
	if err != nil {
		return bundle.Options{}, err
	}

	b, ok := findBoard(p, node)
	if !ok {
		var names []string
		for _, b := range p.Boards {
			names = append(names, b.Name)
		}

		return bundle.Options{}, usageError{fmt.Errorf("%s is not a board in %s (boards: %s)", node, f.planPath, strings.Join(names, ", "))}
	}

	opts := bundle.Options{Node: b.Name, Endpoint: apply.Endpoint(b, 0), LogLines: f.logLines, CallTimeout: f.timeout, Version: version,
		Progress: func(s string) { fmt.Fprintf(stderr, "bundle %s: %s…\n", b.Name, s) }}

	if opts.Board, err = yaml.Marshal(b); err != nil {
		return opts, err
	}

	if opts.Talosconfig, err = openTalosconfig(f.talosconfig, f.planPath); err != nil {
		return opts, err
	}

	if opts.Talosconfig == nil {
		fmt.Fprintf(stderr, "warning: no talosconfig (%s next to the plan, or --talosconfig): only a board in maintenance mode can be read\n", config.TalosconfigFile)
	}

	if f.events != "" {
		if opts.Events, err = readRecording(f.events); err != nil {
			return opts, err
		}

		opts.EventsFrom, opts.Speed = f.events, f.labSpeed
	}

	return opts, nil
}

// writeBundle writes the archive to a new file (never over an existing
// one: it may be another board's bundle) and removes a half-written one.
func writeBundle(ctx context.Context, out string, opts bundle.Options) (*bundle.Result, error) {
	file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, usageError{fmt.Errorf("%s already exists; liftoff does not overwrite it — choose another --out", out)}
	}

	if err != nil {
		return nil, err
	}

	res, err := bundle.Write(ctx, file, opts)
	if cerr := file.Close(); err == nil {
		err = cerr
	}

	if err != nil {
		os.Remove(out) //nolint:errcheck // a half-written archive helps nobody

		return res, fmt.Errorf("writing %s: %w", out, err)
	}

	return res, nil
}

func findBoard(p *plan.Plan, node string) (plan.Board, bool) {
	for _, b := range p.Boards {
		if b.Name == node || b.Address == node {
			return b, true
		}
	}

	return plan.Board{}, false
}

// openTalosconfig opens the given talosconfig, or the one gen wrote next to
// the plan; nil when neither is there.
func openTalosconfig(path, planPath string) (*clientconfig.Config, error) {
	if path == "" {
		path = filepath.Join(filepath.Dir(planPath), config.TalosconfigFile)
		if _, err := os.Stat(path); err != nil {
			return nil, nil //nolint:nilnil // no talosconfig: maintenance mode only
		}
	}

	tc, err := config.OpenTalosconfig(path)
	if err != nil {
		return nil, fmt.Errorf("reading talosconfig %s: %w", path, err)
	}

	return tc, nil
}

func readRecording(path string) ([]probe.Event, error) {
	f, err := fileio.Open(path, fileio.Recording)
	if err != nil {
		return nil, fmt.Errorf("--events: %w", err)
	}
	defer f.Close() //nolint:errcheck

	evs, err := probe.ReadEvents(f)
	if err != nil {
		return nil, fmt.Errorf("--events %s is not a liftoff recording: %w", path, err)
	}

	if evs == nil {
		evs = []probe.Event{}
	}

	return evs, nil
}
