// Command screenshots renders every main liftoff screen into PNG (and
// plain-text) files, and the bring-up into an animated GIF, from
// recordings of the simulated lab, with a fixed clock: the same bytes on
// every run, no lab and no network needed.
//
//	screenshots -out screenshots          # what make screenshots runs
//	screenshots -out screenshots -check   # fail if a committed one is stale
//	screenshots -out screenshots -fixtures -liftoff bin/liftoff   # re-record the lab (make screenshot-fixtures)
//	screenshots -out screenshots -fixtures -only repair           # re-record only the repair
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("out", "screenshots", "directory for NAME.png and NAME.txt; the recordings are in its fixtures/")
	check := flag.Bool("check", false, "write nothing: fail if a committed screenshot differs from what the fixtures give")
	fixtures := flag.Bool("fixtures", false, "re-record the fixtures from the simulated lab (needs make tools) instead of rendering")
	liftoff := flag.String("liftoff", "bin/liftoff", "with -fixtures: the liftoff binary to record with")
	speed := flag.Float64("speed", 20, "with -fixtures: how much faster than real boards the simulated lab runs")
	only := flag.String("only", "", "with -fixtures: re-record only this one (repair)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *fixtures && *only == "repair" {
		if err := recordRepair(ctx, filepath.Join(*out, "fixtures"), *speed, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "screenshots:", err)
			os.Exit(1)
		}

		return
	}

	if err := run(ctx, *out, *check, *fixtures, *liftoff, *speed); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string, check, fixtures bool, liftoff string, speed float64) error {
	fixtureDir := filepath.Join(out, "fixtures")

	if fixtures {
		return recordFixtures(ctx, liftoff, fixtureDir, speed, os.Stderr)
	}

	start := time.Now()

	shots, err := Render(fixtureDir)
	if err != nil {
		return err
	}

	anim, err := Animate(fixtureDir)
	if err != nil {
		return err
	}

	if check {
		if problems := append(Compare(out, shots), compareAnim(out, anim)...); len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, p)
			}

			return fmt.Errorf("%d screenshots are stale", len(problems))
		}

		fmt.Printf("%d screenshots up to date (%s)\n", len(shots), time.Since(start).Round(time.Millisecond))

		return nil
	}

	for _, s := range shots {
		if err := os.WriteFile(filepath.Join(out, s.Name+".png"), s.PNG, 0o644); err != nil {
			return err
		}

		if err := os.WriteFile(filepath.Join(out, s.Name+".txt"), []byte(s.Text), 0o644); err != nil {
			return err
		}
	}

	if err := writeAnim(out, anim); err != nil {
		return err
	}

	fmt.Printf("wrote %d screenshots and %s.gif (%d frames, %d KB) to %s (%s)\n", len(shots), anim.Name, len(anim.Frames), len(anim.GIF)/1024, out, time.Since(start).Round(time.Millisecond))

	return nil
}
