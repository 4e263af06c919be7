package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/factory"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

func newImagesCmd() *cobra.Command {
	var (
		path, out, lab, fac string
		register            bool
	)

	c := &cobra.Command{
		Use:   "images",
		Short: "Show the role × board image matrix, register its schematics, print the disk image URLs",
		Long: `Prints, for every board model in the plan and each role, the extensions,
the Image Factory schematic ID and the installer reference the configs use;
then which board gets which image, and each board's disk image: the URL of
the raw image to write to its SD card (or whatever medium it boots from).

Raspberry Pis get their overlay: rpi4 and cm4 rpi_generic, rpi5 and cm5
rpi_5. A Pi 5 boots Talos only from its SD card or eMMC.

Image Factory serves an installer or a disk image only for a schematic that
was registered with it (POST /schematics); an unknown one is a 404, and a
board's install fails at its installer pull. --register registers every
schematic of the table and checks that the factory's ID is liftoff's. liftoff
up registers them too, before it applies anything. A schematic the factory
confirmed is remembered in --lab (` + factory.MemoryFile + `), so a rerun of
liftoff up without a network is not stopped by it.

--factory names a self-hosted Image Factory, as a host or a URL
(http://10.0.0.5:8080): schematics are registered at the URL, installer
references name its host and port, and disk image URLs start with it.

The schematics are written to --out as <role>-<overlay or arch>.schematic.yaml:
what --register posts, for a factory you register with by hand.

With images.custom set in the plan (self-built images, e.g. the CozyStack
build machinery), the template replaces Image Factory references: nothing is
registered and no schematics are written.`,
		Example: `  liftoff images --plan lab.yaml
  liftoff images --plan lab.yaml --register
  liftoff images --plan lab.yaml --register --factory http://10.0.0.5:8080`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadValid(c.ErrOrStderr(), path)
			if err != nil {
				return err
			}

			if err := useFactory(p, fac); err != nil {
				return err
			}

			matrix, err := image.Matrix(p)
			if err != nil {
				return err
			}

			if err := printImages(c.OutOrStdout(), p, matrix); err != nil {
				return err
			}

			if p.Images.Custom != "" {
				if register {
					fmt.Fprintln(c.OutOrStdout(), "\nnothing to register: images.custom names self-built images")
				}

				return nil
			}

			if err := writeSchematics(c.OutOrStdout(), out, matrix); err != nil {
				return err
			}

			if !register {
				fmt.Fprintf(c.OutOrStdout(), "not registered yet: liftoff images --register (or liftoff up, which registers before it applies)\n")

				return nil
			}

			return registerMatrix(c.Context(), c.OutOrStdout(), p, lab, matrix)
		},
	}

	addPlanFlag(c, &path)
	c.Flags().StringVarP(&out, "out", "o", "schematics", "directory for the schematic files")
	c.Flags().BoolVar(&register, "register", false, "register every schematic with the Image Factory")
	c.Flags().StringVar(&lab, "lab", "homelab", "the lab's output directory (liftoff up --out), where confirmed registrations are remembered")
	addFactoryFlag(c, &fac)

	return c
}

func printImages(out io.Writer, p *plan.Plan, matrix []image.Image) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ROLE\tMODELS\tARCH\tEXTENSIONS\tSCHEMATIC\tINSTALLER")

	for _, im := range matrix {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", im.Role, strings.Join(im.Models, ","), im.Arch, strings.Join(im.Extensions, " "), probe.OrDash(shortID(im.SchematicID)), im.Installer)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "BOARD\tMACHINE\tROLE\tIMAGE\tDISK IMAGE (write it to the board's SD card or boot disk)")

	for _, b := range p.Boards {
		im, err := image.For(p, b)
		if err != nil {
			return err
		}

		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", b.Name, b.Machine, b.Role, im.Key(), probe.OrDash(im.DiskImage))
	}

	return w.Flush()
}

func writeSchematics(out io.Writer, dir string, matrix []image.Image) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	for _, im := range matrix {
		data, err := im.Schematic.Marshal()
		if err != nil {
			return err
		}

		name := filepath.Join(dir, im.Key()+".schematic.yaml")
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "\nwrote %d schematics to %s/ (schematic IDs above are their SHA-256, as Image Factory computes them)\n", len(matrix), dir)

	return nil
}

// registerMatrix registers every schematic of the table, one line each.
func registerMatrix(ctx context.Context, out io.Writer, p *plan.Plan, dir string, matrix []image.Image) error {
	c, err := factory.New(p.Images.Factory)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "registering with %s:\n", c.URL())

	err = factory.Register(ctx, c, dir, matrix, func(st factory.Step) {
		fmt.Fprintf(out, "  %d/%d  %-22s %s  %s\n", st.Done, st.Total, st.Image, shortID(st.ID), st.Outcome)
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "the factory knows every schematic; remembered in %s\n", filepath.Join(dir, factory.MemoryFile))

	return nil
}

func addFactoryFlag(c *cobra.Command, f *string) {
	c.Flags().StringVar(f, "factory", "", "the Image Factory: a host, or a self-hosted one's URL such as http://10.0.0.5:8080 (default: the plan's images.factory, factory.talos.dev)")
}

// useFactory makes --factory the plan's images.factory.
func useFactory(p *plan.Plan, f string) error {
	if f == "" {
		return nil
	}

	if _, err := plan.FactoryURL(f); err != nil {
		return usageError{fmt.Errorf("--factory: %w", err)}
	}

	p.Images.Factory = f

	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}

	return id
}
