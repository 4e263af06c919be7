package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
	"github.com/liftoff-lab/liftoff/sim/lab"
)

// Fixture files under <out>/fixtures: what the simulated lab said, recorded
// once with liftoff itself. Screenshots are made from these alone.
const (
	fixtureLab       = "lab.txt"        // liftoff sim --headless: the boards, their addresses and plan
	fixtureDiscover  = "discover.jsonl" // the wizard's scan of those boards
	fixtureHappy     = "happy.jsonl"
	fixtureTailscale = "tailscale-everywhere.jsonl"
	fixtureCheck     = "check-happy.json" // liftoff check --sim happy --json
	// The duplicate-hostname lab, its misnamed board repaired: the
	// bring-up, the repair's steps and the board back to Ready.
	fixtureRepair = "repair-duplicate-hostname.jsonl"
)

// recordFixtures runs the simulated lab through bin/liftoff (it needs
// make tools) and writes the fixtures. Slow and live: run by hand with
// make screenshot-fixtures, never by make screenshots.
func recordFixtures(ctx context.Context, liftoff, dir string, speed float64, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "liftoff-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) //nolint:errcheck

	fmt.Fprintln(log, "scanning the simulated boards in maintenance mode…")

	if err := recordDiscovery(ctx, liftoff, dir, filepath.Join(tmp, "discover"), speed); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}

	for _, sc := range []struct {
		scenario, file string
		done           func([]probe.Event) bool
	}{
		{"happy", fixtureHappy, helloAnswered},
		{"tailscale-everywhere", fixtureTailscale, stuckLongEnough()},
	} {
		fmt.Fprintf(log, "recording the %s bring-up…\n", sc.scenario)

		err := recordBringUp(ctx, liftoff, sc.scenario, filepath.Join(dir, sc.file), filepath.Join(tmp, sc.scenario), speed, sc.done)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.scenario, err)
		}
	}

	if err := recordRepair(ctx, dir, speed, log); err != nil {
		return err
	}

	fmt.Fprintln(log, "running liftoff check --sim happy…")

	var out bytes.Buffer

	cmd := exec.CommandContext(ctx, liftoff, "check", "--sim", "happy", "--json")
	cmd.Stdout, cmd.Stderr = &out, log

	// Exit code 1 is a failing check: still a report worth showing.
	var exit *exec.ExitError
	if err := cmd.Run(); err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return fmt.Errorf("liftoff check: %w", err)
	}

	return os.WriteFile(filepath.Join(dir, fixtureCheck), out.Bytes(), 0o644)
}

// sim is a running `liftoff sim --headless` and its output lines.
type sim struct {
	cmd   *exec.Cmd
	lines chan string
}

func startSim(ctx context.Context, liftoff, work string, args ...string) (*sim, error) {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, err
	}

	args = append(args, "--dir", work)
	cmd := exec.CommandContext(ctx, liftoff, append([]string{"sim", "--headless"}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}

	if err := cmd.Start(); err != nil {
		return nil, err
	}

	s := &sim{cmd: cmd, lines: make(chan string, 4096)}

	go func() {
		defer close(s.lines)

		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()

	return s, nil
}

// waitLine returns the lines up to and including the first with prefix.
func (s *sim) waitLine(ctx context.Context, prefix string) ([]string, error) {
	var seen []string

	for {
		select {
		case <-ctx.Done():
			return seen, ctx.Err()
		case l, ok := <-s.lines:
			if !ok {
				return seen, fmt.Errorf("liftoff sim ended before printing %q: %v", prefix, s.cmd.Wait())
			}

			seen = append(seen, l)

			if strings.HasPrefix(l, prefix) {
				return seen, nil
			}
		}
	}
}

// stop interrupts the lab as ctrl+c does, so it shuts down cleanly.
func (s *sim) stop() error {
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		return err
	}

	go func() {
		for range s.lines { //nolint:revive // drain so the process never blocks on stdout
		}
	}()

	err := s.cmd.Wait()

	var exit *exec.ExitError
	if errors.As(err, &exit) && !exit.Exited() {
		return nil // ended by the signal
	}

	return err
}

var labLine = regexp.MustCompile(`^\s+(\S+)\s+(\S+):50000\s+(\S+)\s+(\S+)\s+planned: (\S+), (\S+)$`)

func recordDiscovery(ctx context.Context, liftoff, dir, work string, speed float64) error {
	s, err := startSim(ctx, liftoff, work, "--scenario", "happy", "--speed", fmt.Sprint(speed))
	if err != nil {
		return err
	}

	lines, err := s.waitLine(ctx, "running;")
	if err != nil {
		_ = s.stop()

		return err
	}

	var addrs []string

	for _, l := range lines {
		if m := labLine.FindStringSubmatch(l); m != nil {
			addrs = append(addrs, m[2])
		}
	}

	boards, err := discover.Scan(ctx, addrs, discover.Options{Timeout: 5 * time.Second})

	var events []probe.Event
	for _, b := range boards {
		events = append(events, probe.Event{Time: time.Now().UTC(), Node: b.Address, Kind: probe.Discovered, Detail: b.Summary()})
	}

	if stopErr := s.stop(); err == nil {
		err = stopErr
	}

	if err != nil {
		return err
	}

	if len(events) != len(addrs) {
		return fmt.Errorf("found %d of the %d boards", len(events), len(addrs))
	}

	if err := os.WriteFile(filepath.Join(dir, fixtureLab), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}

	return writeEvents(filepath.Join(dir, fixtureDiscover), events)
}

func writeEvents(path string, events []probe.Event) error {
	var b bytes.Buffer

	rec := probe.NewRecorder(&b)
	for _, e := range events {
		rec.Record(e)
	}

	if rec.Err() != nil {
		return rec.Err()
	}

	return os.WriteFile(path, b.Bytes(), 0o644)
}

// recordBringUp runs liftoff sim --headless --up --record until done says
// the recording shows enough.
func recordBringUp(ctx context.Context, liftoff, scenario, file, work string, speed float64, done func([]probe.Event) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	s, err := startSim(ctx, liftoff, work, "--up", "--scenario", scenario, "--speed", fmt.Sprint(speed), "--record", file)
	if err != nil {
		return err
	}

	go func() {
		for range s.lines { //nolint:revive // the event log is in the recording
		}
	}()

	// The lab runs until interrupted; poll the recording for the moment to stop.
	t := time.NewTicker(time.Second)
	defer t.Stop()

	for {
		select {
		case <-ctx.Done():
			_ = s.stop()

			return fmt.Errorf("the recording never showed what the screenshots need: %w", ctx.Err())
		case <-t.C:
		}

		f, err := fileio.Open(file, fileio.Recording)
		if err != nil {
			continue
		}

		events, err := probe.ReadEvents(f)
		f.Close()

		if err == nil && done(events) {
			return s.stop()
		}
	}
}

// helloAnswered: both hello-worlds have answered right a few times.
func helloAnswered(events []probe.Event) bool {
	ok := map[string]int{}

	for _, e := range events {
		if e.Kind == probe.Hello && e.Ready {
			ok[e.Name]++
		}
	}

	return ok["wasm"] >= 4 && ok["container"] >= 4
}

// stuckLongEnough: Kubernetes is up and the compute boards have been
// waiting on ext-tailscale a while, long enough to show it.
func stuckLongEnough() func([]probe.Event) bool {
	var since time.Time

	return func(events []probe.Event) bool {
		if since.IsZero() && slices.ContainsFunc(events, func(e probe.Event) bool { return e.Kind == probe.NodeReady }) {
			since = time.Now()
		}

		return !since.IsZero() && time.Since(since) > 5*time.Second
	}
}

// recordRepair records the duplicate-hostname lab while its misnamed
// board's repair runs, with liftoff's own code in process (lab.Check: the
// bring-up, cluster/repair, then the cluster-formation checks), on a block
// of its own.
func recordRepair(ctx context.Context, dir string, speed float64, log io.Writer) error {
	fmt.Fprintln(log, "recording the duplicate-hostname lab and pi-w-2's repair…")

	spec, err := lab.DefaultSpec().InBlock(100)
	if err != nil {
		return err
	}

	work, err := os.MkdirTemp("", "liftoff-screenshots-repair-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work) //nolint:errcheck

	var rec bytes.Buffer

	results, err := lab.Check(ctx, lab.CheckOptions{
		Lab: lab.Options{Spec: spec, Scenario: "duplicate-hostname", Speed: speed}, Dir: work, Record: &rec, Notes: log,
		Only: []string{"cluster-formation"},
		Repair: func(l *probe.Lab) (probe.Repair, error) {
			d, ok := probe.FirstRepair(l, l.Node("pi-w-2"), time.Now())
			if !ok {
				return probe.Repair{}, errors.New("pi-w-2 has no repair to record")
			}

			return *d.Repair, nil
		},
	})
	if err != nil {
		return err
	}

	if check.Failed(results) {
		return errors.New("the repaired lab still fails a check: not worth a screenshot")
	}

	return os.WriteFile(filepath.Join(dir, fixtureRepair), rec.Bytes(), 0o644)
}
