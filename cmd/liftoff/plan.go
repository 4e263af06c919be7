package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/examples"
)

const defaultPlan = "lab.yaml"

func addPlanFlag(c *cobra.Command, path *string) {
	c.Flags().StringVarP(path, "plan", "p", defaultPlan, "the lab plan file (liftoff plan init writes an example)")
}

func newPlanCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "plan",
		Short: "Write and check the lab plan (lab.yaml)",
		Long: `The plan says which boards exist and what each becomes: its address,
board model (rpi4, rpi5, cm4, cm5, arm64, amd64), install disk, machine type
(controlplane or worker) and image role (compute or gateway), plus the
cluster's name, versions and network (pod and service CIDRs).`,
	}

	c.AddCommand(newPlanInitCmd(), newPlanValidateCmd())

	return c
}

func newPlanInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "init [FILE]",
		Annotations: map[string]string{pathArgs: "FILE"},
		Short:       "Write an example plan to edit (never overwrites)",
		Args:        cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := defaultPlan
			if len(args) == 1 {
				path = args[0]
			}

			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists; liftoff will not overwrite it — edit it, or name another file", path)
			}

			if err != nil {
				return err
			}

			if _, err := f.Write(examples.Lab); err != nil {
				f.Close()

				return err
			}

			if err := f.Close(); err != nil {
				return err
			}

			fmt.Fprintf(c.OutOrStdout(), "wrote %s — set your boards' addresses, models and roles (a Pi 5 or CM5 installs to its SD card or eMMC), then: liftoff plan validate --plan %s\n", path, path)

			return nil
		},
	}
}

func newPlanValidateCmd() *cobra.Command {
	var path string

	c := &cobra.Command{
		Use:   "validate",
		Short: "Check the plan: one clear error per mistake, with the fix",
		Long: `Checks every rule liftoff knows before anything touches a board:
exactly one gateway (or tailscale.disabled: true), at least one control
plane (an even number is a warning), unique names and addresses, valid and
non-overlapping CIDRs that stay clear of the LAN and of Tailscale's
100.64.0.0/10 and fd7a:115c:a1e0::/48, supported versions.

Exit code 1 when there are errors; warnings alone exit 0.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadValid(c.OutOrStdout(), path)
			if err != nil {
				return err
			}

			gw := "no gateway (tailscale disabled)"
			if b, ok := p.Gateway(); ok {
				gw = "gateway " + b.Name
			}

			fmt.Fprintf(c.OutOrStdout(), "%s: cluster %s, %d boards, %d control plane(s), %s — ok\n",
				path, p.Cluster.Name, len(p.Boards), len(p.ControlPlanes()), gw)

			return nil
		},
	}

	addPlanFlag(c, &path)

	return c
}

// loadValid loads a plan, prints its warnings and fails on its errors.
func loadValid(w io.Writer, path string) (*plan.Plan, error) {
	p, err := plan.Load(path)
	if err != nil {
		return nil, err
	}

	return p, validate(w, path, p)
}

// validate prints a loaded plan's warnings and fails on its errors.
func validate(w io.Writer, path string, p *plan.Plan) error {
	problems := p.Validate()
	for _, warn := range problems.Warnings() {
		fmt.Fprintln(w, "warning:", warn)
	}

	if err := problems.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}

	return nil
}
