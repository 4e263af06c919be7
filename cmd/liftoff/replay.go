package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/ui"
)

func newReplayCmd() *cobra.Command {
	var (
		speed    float64
		labSpeed float64
		theme    string
	)

	c := &cobra.Command{
		Use:         "replay FILE",
		Annotations: map[string]string{pathArgs: "FILE"},
		Short:       "Replay a recorded session on the dashboard",
		Long: `Plays back an event stream recorded with liftoff sim --record, on the same
dashboard, at any speed: the demo that survives a dead venue network, and
the bug report that carries the exact session.`,
		Example: `  liftoff sim --record rehearsal.jsonl
  liftoff replay rehearsal.jsonl --speed 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			th, err := ui.ThemeByName(theme)
			if err != nil {
				return usageError{err}
			}

			f, err := fileio.Open(args[0], fileio.Recording)
			if err != nil {
				return err
			}

			events, err := probe.ReadEvents(f)
			f.Close()

			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}

			if len(events) == 0 {
				return fmt.Errorf("%s has no events: record one with liftoff sim --record FILE", args[0])
			}

			ctx, cancel := context.WithCancel(c.Context())
			defer cancel()

			err = ui.Run(ctx, ui.Options{Events: probe.Played(ctx, events, speed), Theme: th, Speed: labSpeed})

			return err
		},
	}

	c.Flags().Float64Var(&speed, "speed", 1, "playback speed (0: everything at once)")
	c.Flags().Float64Var(&labSpeed, "lab-speed", 1, "the recorded lab's --speed (a simulated lab's recording), so the timeline's usual stage times match it")
	c.Flags().StringVar(&theme, "theme", "default", "dashboard theme: "+strings.Join(ui.Themes, ", "))

	return c
}
