package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/image"
)

func newImagesCmd() *cobra.Command {
	var (
		path string
		out  string
	)

	c := &cobra.Command{
		Use:   "images",
		Short: "Show the role × board image matrix and write the schematics",
		Long: `Prints, for every board model in the plan and each role, the extensions,
the Image Factory schematic ID and the installer reference the configs use,
then which boards get which image.

The schematics are written to --out as <role>-<overlay or arch>.schematic.yaml. Give
one to Image Factory to get the same ID back:
  curl -X POST --data-binary @gateway-rpi_generic.schematic.yaml https://factory.talos.dev/schematics

With images.custom set in the plan (self-built images, e.g. the CozyStack
build machinery), the template replaces Image Factory references and no
schematics are written.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadValid(c.ErrOrStderr(), path)
			if err != nil {
				return err
			}

			matrix, err := image.Matrix(p)
			if err != nil {
				return err
			}

			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ROLE\tMODELS\tARCH\tEXTENSIONS\tSCHEMATIC\tINSTALLER")

			for _, im := range matrix {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", im.Role, strings.Join(im.Models, ","), im.Arch, strings.Join(im.Extensions, " "), orDash(shortID(im.SchematicID)), im.Installer)
			}

			fmt.Fprintln(w)
			fmt.Fprintln(w, "BOARD\tMACHINE\tROLE\tIMAGE")

			for _, b := range p.Boards {
				im, err := image.For(p, b)
				if err != nil {
					return err
				}

				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", b.Name, b.Machine, b.Role, im.Key())
			}

			if err := w.Flush(); err != nil {
				return err
			}

			if p.Images.Custom != "" {
				return nil
			}

			return writeSchematics(c, out, matrix)
		},
	}

	addPlanFlag(c, &path)
	c.Flags().StringVarP(&out, "out", "o", "schematics", "directory for the schematic files")

	return c
}

func writeSchematics(c *cobra.Command, dir string, matrix []image.Image) error {
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

	fmt.Fprintf(c.OutOrStdout(), "\nwrote %d schematics to %s/ (schematic IDs above are their SHA-256, as Image Factory computes them)\n", len(matrix), dir)

	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}

	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}

	return s
}
