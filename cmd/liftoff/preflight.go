package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/cluster/preflight"
	"github.com/liftoff-lab/liftoff/probe"
)

func newPreflightCmd() *cobra.Command {
	var (
		path, fac string
		port      int
		timeout   time.Duration
	)

	c := &cobra.Command{
		Use:   "preflight",
		Short: "Check the plan against the boards themselves, before apply",
		Long: `Asks every board of the plan, at its address in Talos maintenance mode,
what it is (CPU, model, disks, Talos version) and checks the plan against
it, after the plan's own validation:

  an image for another CPU (error), a Raspberry Pi planned as generic arm64
  or with the other Pi's overlay (error), an install disk the board lacks
  (error), an SD card as install disk while a USB/NVMe disk is free
  (warning; a Pi 5 keeps its SD card and uses the NVMe once Talos runs),
  a plan that installs elsewhere than the disk the board booted Talos from
  (warning), the bootloader EEPROM a Pi 4 or CM4 booting from USB/NVMe
  needs (warning), and version skew between the board's Talos, the plan's
  talosVersion and liftoff's own Talos machinery.

It also asks the Image Factory whether it knows each installer's schematic
(warning if not: liftoff images --register, or liftoff up, registers it).

Exit code 1 when there are errors; warnings alone exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := plan.Load(path)
			if err != nil {
				return err
			}

			if err := useFactory(p, fac); err != nil {
				return err
			}

			problems := p.Validate()
			if problems.Err() == nil {
				found, unanswered := inspectBoards(c.Context(), p, port, timeout)
				problems = append(problems, preflight.Check(p, found, unanswered, preflight.MachineryVersion())...)

				fctx, cancel := context.WithTimeout(c.Context(), 2*timeout)
				problems = append(problems, preflight.Schematics(fctx, p)...)

				cancel()
			}

			w := c.OutOrStdout()
			for _, warn := range problems.Warnings() {
				fmt.Fprintln(w, "warning:", warn)
			}

			if err := problems.Err(); err != nil {
				return err
			}

			fmt.Fprintf(w, "%s: %d boards checked against what they report (Talos machinery %s) — ok\n", path, len(p.Boards), preflight.MachineryVersion())

			return nil
		},
	}

	addPlanFlag(c, &path)
	c.Flags().IntVar(&port, "port", discover.TalosPort, "the boards' Talos API port")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for each board (twice that for the Image Factory)")
	addFactoryFlag(c, &fac)

	return c
}

// inspectBoards asks each board of the plan what it is, all at once; a
// board that does not answer is left out, with the reason (preflight fails
// on it).
func inspectBoards(ctx context.Context, p *plan.Plan, port int, timeout time.Duration) (map[string]discover.Board, map[string]string) {
	endpoints := map[string]string{}
	for _, b := range p.Boards {
		endpoints[b.Name] = net.JoinHostPort(b.Address, strconv.Itoa(port))
	}

	found, failed := discover.InspectEach(ctx, endpoints, timeout)

	unanswered := map[string]string{}
	for name, err := range failed {
		unanswered[name] = probe.Explain(err).Words
	}

	return found, unanswered
}
