package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cosi-project/runtime/pkg/safe"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// bootIDPath is where the kernel says which boot this is; talosctl's
// tracker reads it to tell a reboot's new boot (talos v1.13.3
// cmd/talosctl/pkg/talos/action/tracker.go).
const bootIDPath = "/proc/sys/kernel/random/boot_id"

var (
	errSameBoot = errors.New("still on the boot before the upgrade (pulling, installing or rebooting)")
	errNotReady = errors.New("booted, not ready yet")
)

// Upgrade moves a board that runs this cluster's config (opts.Talosconfig
// is required) to installer: the Talos machine API's Upgrade, what
// `talosctl upgrade --image installer` does. Talos pulls and validates the
// installer before it answers, so an unknown schematic or an installer
// without the board's architecture is an error here and the board is
// untouched. Then it installs and reboots; Upgrade follows it, by its
// kernel boot_id as talosctl does, until the new boot runs and is ready.
// Progress and every wait are events for emit. Cancelling ctx stops the
// waiting, never Talos: once accepted, the board upgrades and reboots.
//
// It is the only way a board booted from a card gets its role's image:
// Talos does not install a config's installer on a board that is already
// installed (its Install sequence is empty then).
func Upgrade(ctx context.Context, b plan.Board, installer string, opts Options, emit func(probe.Event)) error {
	before, _, err := StartUpgrade(ctx, b, installer, opts, emit)
	if err != nil {
		return err
	}

	return WaitUpgraded(ctx, b, installer, before, opts, emit)
}

// StartUpgrade is Upgrade's one call: it reads the board's boot_id, then
// asks it once to upgrade to installer. before is that boot_id, for
// WaitUpgraded; sent tells whether the Upgrade call reached the board (a
// refusal did too, and changed nothing).
func StartUpgrade(ctx context.Context, b plan.Board, installer string, opts Options, emit func(probe.Event)) (before string, sent bool, err error) {
	opts = opts.withDefaults()
	tc := opts.Talosconfig

	if tc == nil {
		return "", false, errors.New("upgrade: no talosconfig: pass the cluster's talosconfig (liftoff gen writes it) to reach a configured board")
	}

	if installer == "" {
		return "", false, errors.New("upgrade: no installer image given: name the role's installer (liftoff images prints it)")
	}

	if err := Secure(ctx, b, tc, opts, "upgrade", emit, func(ctx context.Context, c *client.Client) (err error) {
		before, err = bootID(ctx, c)

		return err
	}); err != nil {
		return "", false, err
	}

	emit(note(b.Name, "upgrading", fmt.Sprintf("upgrade: %s pulls %s (talosctl upgrade -n %s --image %s)", b.Name, installer, b.Address, installer)))

	target := probe.Target{Node: b.Name, Endpoint: Endpoint(b, opts.Port), Talosconfig: tc}
	cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)

	// One call, never retried: talosctl upgrade sends it once. The legacy
	// MachineService.Upgrade, which Talos v1.13.3 still serves; talosctl
	// v1.13.3 tries LifecycleService.Upgrade first
	// (cmd/talosctl/cmd/talos/upgrade.go). Not staged, not forced.
	err = once(cctx, target, func(ctx context.Context, c *client.Client) error {
		sent = true
		_, err := c.UpgradeWithOptions(ctx, client.WithUpgradeImage(installer)) //nolint:staticcheck // the MachineService call talosctl v1.12 and v1.13 make

		return err
	})

	cancel()

	if err != nil {
		err = fmt.Errorf("upgrade: %s refused %s: %s (nothing changed on the board; is the schematic registered with the factory, and is it the board's architecture?)", b.Name, installer, probe.Words(err))
		emit(note(b.Name, "failed", err.Error()))

		return "", sent, err
	}

	emit(note(b.Name, "upgrading", "upgrade: accepted; installing, then rebooting into the new image"))

	return before, true, nil
}

// WaitUpgraded follows an accepted upgrade, by the kernel's boot_id as
// talosctl does, until a new boot runs and is ready.
func WaitUpgraded(ctx context.Context, b plan.Board, installer, before string, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()

	if err := Secure(ctx, b, opts.Talosconfig, opts, "upgrade", emit, func(ctx context.Context, c *client.Client) error {
		id, err := bootID(ctx, c)
		if err != nil {
			return err
		}

		if id == before {
			return errSameBoot
		}

		ms, err := safe.StateGetByID[*runtime.MachineStatus](ctx, c.COSI, runtime.MachineStatusID)
		if err != nil {
			return err
		}

		if s := ms.TypedSpec(); s.Stage != runtime.MachineStageRunning || !s.Status.Ready {
			return fmt.Errorf("%w: stage %s", errNotReady, s.Stage)
		}

		return nil
	}); err != nil {
		return err
	}

	emit(note(b.Name, "done", "upgrade: "+b.Name+" runs "+installer+" and is ready"))

	return nil
}

// ResetOptions say what a Reset does, as talosctl reset's flags do.
type ResetOptions struct {
	// Graceful drains the node and leaves etcd first (--graceful).
	Graceful bool
	// Reboot reboots afterwards; without it the board shuts down and stays
	// off until someone powers it on (talosctl reset's default).
	Reboot bool
	// Wipe are the system partitions to wipe by label
	// (--system-labels-to-wipe): STATE holds the config, EPHEMERAL etcd's
	// and the pods' data. Empty wipes the whole system disk — on a board
	// booted from its SD card, the card's Talos too.
	Wipe []string
}

// StartOver is the reset a repair uses: graceful, STATE and EPHEMERAL
// only, then a reboot. The install stays (META, the boot partition), so the
// board comes back in maintenance mode running the same image, without its
// config.
var StartOver = ResetOptions{Graceful: true, Reboot: true, Wipe: []string{"STATE", "EPHEMERAL"}}

// Reset resets a board that runs this cluster's config (opts.Talosconfig is
// required) through the Talos machine API's Reset, as `talosctl reset`
// does with the same options. With Reboot it waits until the board answers
// in maintenance mode again. Cancelling ctx stops the waiting, never Talos.
func Reset(ctx context.Context, b plan.Board, r ResetOptions, opts Options, emit func(probe.Event)) error {
	if _, err := StartReset(ctx, b, r, opts, emit); err != nil {
		return err
	}

	if !r.Reboot {
		emit(note(b.Name, "done", "reset: "+b.Name+" wipes and shuts down; power it on to boot again"))

		return nil
	}

	if err := WaitMaintenance(ctx, b, opts, emit); err != nil {
		return err
	}

	emit(note(b.Name, "done", "reset: "+b.Name+" is in maintenance mode, waiting for a config"))

	return nil
}

// StartReset is Reset's one call; sent tells whether it reached the board.
func StartReset(ctx context.Context, b plan.Board, r ResetOptions, opts Options, emit func(probe.Event)) (sent bool, err error) {
	opts = opts.withDefaults()
	tc := opts.Talosconfig

	if tc == nil {
		return false, errors.New("reset: no talosconfig: pass the cluster's talosconfig (liftoff gen writes it) to reach a configured board")
	}

	// As talosctl reset --system-labels-to-wipe sends it: wipe mode left
	// at its default (all), which the labels narrow to those partitions
	// (talos v1.13.3 cmd/talosctl/cmd/talos/reset.go;
	// internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go).
	req := &machineapi.ResetRequest{Graceful: r.Graceful, Reboot: r.Reboot}
	for _, l := range r.Wipe {
		req.SystemPartitionsToWipe = append(req.SystemPartitionsToWipe, &machineapi.ResetPartitionSpec{Label: l, Wipe: true})
	}

	emit(note(b.Name, "resetting", fmt.Sprintf("reset: %s (%s)", b.Name, resetWords(r))))

	// One call: a refusal (an unknown label) must not be retried, and a
	// board that took it is already on its way down.
	cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	err = once(cctx, probe.Target{Node: b.Name, Endpoint: Endpoint(b, opts.Port), Talosconfig: tc}, func(ctx context.Context, c *client.Client) error {
		sent = true

		return c.ResetGeneric(ctx, req)
	})

	cancel()

	if err != nil {
		err = fmt.Errorf("reset: %s refused: %s (nothing changed on the board)", b.Name, probe.Words(err))
		emit(note(b.Name, "failed", err.Error()))

		return sent, err
	}

	if r.Reboot {
		emit(note(b.Name, "resetting", "reset: accepted; waiting for maintenance mode"))
	}

	return true, nil
}

// resetWords say what a reset does, in talosctl reset's flag names.
func resetWords(r ResetOptions) string {
	words := []string{fmt.Sprintf("graceful %v", r.Graceful), fmt.Sprintf("reboot %v", r.Reboot)}
	if len(r.Wipe) > 0 {
		words = append(words, "system labels to wipe: "+strings.Join(r.Wipe, " "))
	} else {
		words = append(words, "the whole system disk")
	}

	return strings.Join(words, ", ")
}

// WaitMaintenance waits until the board answers without its config.
func WaitMaintenance(ctx context.Context, b plan.Board, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()
	target := probe.Target{Node: b.Name, Endpoint: Endpoint(b, opts.Port), Talosconfig: opts.Talosconfig}
	bo := backoff{next: opts.Backoff, most: opts.MaxBackoff}
	start := time.Now()

	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
		c, secure, err := probe.Connect(cctx, target)

		cancel()

		if err == nil {
			c.Close() //nolint:errcheck

			if !secure {
				return nil
			}

			err = errors.New("still running its config")
		}

		wait := bo.step()

		e := note(b.Name, "waiting", fmt.Sprintf("reset: waiting for %s (attempt %d, %s so far), next try in %s: %s", b.Name, attempt, roughly(time.Since(start)), wait, probe.Words(err)))
		e.Count = attempt
		emit(e)

		if sleep(ctx, wait) != nil {
			return fmt.Errorf("%s: %w", b.Name, stopped(ctx, "reset", err))
		}
	}
}

// bootID reads the kernel's boot_id.
func bootID(ctx context.Context, c *client.Client) (string, error) {
	r, err := c.Read(ctx, bootIDPath)
	if err != nil {
		return "", err
	}
	defer r.Close() //nolint:errcheck

	// A boot_id is a 36-character UUID and a newline.
	data, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return "", err
	}

	return strings.TrimSpace(string(data)), nil
}

// Running is the schematic ID of the image a configured board runs (its
// "schematic" ExtensionStatus, which Image Factory images carry: image-
// factory internal/artifacts/schematic.go), "" for an image without one;
// one attempt, bounded by opts.CallTimeout.
func Running(ctx context.Context, b plan.Board, opts Options) (string, error) {
	opts = opts.withDefaults()

	ctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	defer cancel()

	var id string

	err := once(ctx, probe.Target{Node: b.Name, Endpoint: Endpoint(b, opts.Port), Talosconfig: opts.Talosconfig}, func(ctx context.Context, c *client.Client) error {
		list, err := safe.StateListAll[*runtime.ExtensionStatus](ctx, c.COSI)
		if err != nil {
			return err
		}

		for x := range list.All() {
			if m := x.TypedSpec().Metadata; m.Name == "schematic" {
				id = m.Version
			}
		}

		return nil
	})

	return id, err
}

// Live applies a new config to a board that runs this cluster's config
// (opts.Talosconfig is required), in mode auto: Talos applies live what it
// can and reboots only for what it cannot (talos v1.13.3
// internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go,
// ApplyConfiguration) — what `talosctl apply-config --mode auto` does.
// One call, never retried: a board that took it runs it. It tells whether
// the board reboots for it.
func Live(ctx context.Context, b plan.Board, data []byte, opts Options, emit func(probe.Event)) (reboots bool, err error) {
	opts = opts.withDefaults()
	if opts.Talosconfig == nil {
		return false, errors.New("apply: no talosconfig: pass the cluster's talosconfig (liftoff gen writes it) to reach a configured board")
	}

	cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	defer cancel()

	err = once(cctx, probe.Target{Node: b.Name, Endpoint: Endpoint(b, opts.Port), Talosconfig: opts.Talosconfig}, func(ctx context.Context, c *client.Client) error {
		resp, err := c.ApplyConfiguration(ctx, &machineapi.ApplyConfigurationRequest{Data: data, Mode: machineapi.ApplyConfigurationRequest_AUTO})
		if err != nil {
			return err
		}

		for _, m := range resp.GetMessages() {
			reboots = reboots || m.GetMode() == machineapi.ApplyConfigurationRequest_REBOOT
			if msg := strings.TrimSpace(m.GetModeDetails()); msg != "" {
				emit(note(b.Name, "applied", "apply: "+b.Name+": "+msg))
			}
		}

		return nil
	})
	if err != nil {
		return false, fmt.Errorf("apply: %s refused its config: %s", b.Name, probe.Words(err))
	}

	return reboots, nil
}
