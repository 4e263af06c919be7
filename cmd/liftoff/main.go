// Command liftoff takes Raspberry Pi / ARM64 boards from Talos maintenance
// mode to a Kubernetes cluster with one Tailscale gateway.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// SIGHUP too: a closed terminal must stop the lab as q does (its
	// boards, control plane and build), not kill liftoff before its cleanup.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	root := newRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		// The last guard: no error shows a secret it was handed.
		fmt.Fprintln(os.Stderr, "error:", fileio.Redact(err.Error()))

		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}

		os.Exit(1)
	}
}

// usageError marks mistakes in how liftoff was called (exit code 2).
type usageError struct{ error }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "liftoff",
		Short: "Bring a home lab of Talos boards up to a Kubernetes cluster, live",
		Long: `liftoff takes boards booted into Talos Linux maintenance mode to a working
Kubernetes cluster that answers a Spin WebAssembly hello-world through a
Tailscale subnet route.

Every board gets one of two images:
  compute   extensions drbd zfs spin
  gateway   extensions drbd zfs spin tailscale — exactly one board, the
            cluster's single Tailscale subnet router for the pod and
            service CIDRs

The flow:
  liftoff sim                        rehearse everything on a simulated lab
  liftoff plan init lab.yaml         write an example plan to edit
  liftoff plan validate              check it (one clear error per mistake)
  liftoff images                     see the image each role/board gets
  liftoff flash BOARD --device /dev/sdX
                                     write a board's role image to its SD card
  liftoff up --out ./homelab         the wizard and dashboard on your boards
  liftoff check                      the acceptance tests, for people and CI
  liftoff fix NODE                   diagnose one board, run its repair, wait
                                     until it is Ready

  liftoff gen --out ./homelab        only the files (configs, secrets,
                                     talosconfig) for talosctl by hand`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}

	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// A flag error quotes the value it could not parse.
		return usageError{fmt.Errorf("%s (see `%s --help`)", fileio.Redact(err.Error()), c.CommandPath())}
	})

	root.PersistentPreRunE = checkInput

	root.AddCommand(newPlanCmd(), newImagesCmd(), newGenCmd(), newUpCmd(), newCheckCmd(), newPreflightCmd(), newSimCmd(), newReplayCmd(), newBundleCmd(), newFixCmd(), newMoveGatewayCmd(), newFlashCmd())

	return root
}
