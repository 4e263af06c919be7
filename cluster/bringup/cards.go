package bringup

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config/configloader"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
)

// UpgradeCards upgrades every board that runs its config but not its
// config's installer to that installer, one after the other, each followed
// through its reboot to Ready. That is a Raspberry Pi whose SD card
// carries another image than its role's: Talos installs nothing on a board
// that is installed already (talos v1.13.3 v1alpha1_sequencer.go, Install:
// only when !Installed()), so the card's image runs until an upgrade. A
// board that does not answer with its config now is left to its own
// diagnosis; an installer without a schematic (plain, self-built) cannot
// be compared and is left alone.
func (r *Run) UpgradeCards(ctx context.Context) error {
	var errs []error

	for _, b := range r.Plan.Boards {
		if err := r.upgradeCard(ctx, b); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.Name, err))
		}
	}

	return errors.Join(errs...)
}

func (r *Run) upgradeCard(ctx context.Context, b plan.Board) error {
	data, err := fileio.ReadFile(filepath.Join(r.Dir, plan.ConfigFile(b.Name)), fileio.MachineConfig)
	if err != nil {
		return err
	}

	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		return err
	}

	installer := cfg.Machine().Install().Image()

	want := image.SchematicOf(installer)
	if want == "" {
		return nil
	}

	opts := r.opts.Apply
	opts.Talosconfig = r.Talosconfig

	running, err := apply.Running(ctx, b, opts)
	if err != nil || running == want {
		return nil //nolint:nilerr // not answering with its config: its own diagnosis says why
	}

	r.Stream.Emit(probe.Event{Time: time.Now(), Node: b.Name, Kind: probe.Log, Name: "liftoff", State: "upgrading",
		Detail: fmt.Sprintf("card: %s runs schematic %s, not its config's installer (%s): Talos installs nothing on a board booted from its card, so liftoff upgrades it to %s",
			b.Name, orNone(shortID(running)), shortID(want), installer)})

	return apply.Upgrade(ctx, b, installer, opts, r.Stream.Emit)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}

	return s
}
