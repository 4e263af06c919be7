package board

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A card board (Spec.Card) is an SBC started from a factory disk image
// written to its SD card or eMMC: Talos finds its META partition, so
// Installed() is true (internal/app/machined/pkg/runtime/v1alpha1/
// v1alpha1_state.go, MachineState.Installed, talos v1.13.3), and the
// Install sequence has no phases for it (v1alpha1_sequencer.go, Install:
// only `!Installed() || IsInstallStaged()`). An applied config therefore
// boots on at once, with the card's extensions; the config's
// machine.install.image matters only to an upgrade.

// bootDisk is the disk a card board boots from: its first mmc device (an
// SD card, or a compute module's eMMC), else its first disk.
func (s Spec) bootDisk() string {
	for _, d := range s.Disks {
		if d.Transport == "mmc" {
			return d.Path
		}
	}

	if len(s.Disks) > 0 {
		return s.Disks[0].Path
	}

	return ""
}

// bootCardLocked is power-on from a card: the image is there already.
// ExtensionStatusController runs in every mode (controllers/runtime/
// extension_status.go reads the boot image's extensions.yaml), so even a
// maintenance-mode client can read what the card carries.
func (b *Board) bootCardLocked(card Image) {
	b.image, b.installed, b.installDisk = card, true, b.opts.Spec.bootDisk()

	if card.Version != "" {
		b.booted = card.Version
	}

	b.publishExtensionsLocked()
}

// bootInstalledLocked takes a maintenance-mode config on a board that is
// installed already: machined's Install sequence is empty and the Boot
// sequence runs next (internal/app/machined/main.go: Initialize, Install,
// Boot), so apid swaps its maintenance certificate for the config's and
// the board boots on, without an install or a reboot.
func (b *Board) bootInstalledLocked() {
	b.kmsg("[talos] install sequence: 0 phase(s)")
	b.kmsg("[talos] install sequence: done: 0s")

	b.afterLocked(0, func() {
		if srv := b.server; srv != nil {
			// The port closes now so the new apid can listen; calls in
			// flight (the ApplyConfiguration) still answer.
			b.server = nil
			srv.lis.Close() //nolint:errcheck
			go srv.stop()
		}

		err := b.serveLocked()
		b.setStageLocked("booting")
		b.bootOnLocked(err, 0)
	})
}

// Upgrade answers as Talos v1.13.3 does
// (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go,
// Upgrade): a board that is not installed refuses; the installer is
// pulled and validated before the answer, so an unknown schematic or an
// installer without the board's architecture fails the call itself; then
// the upgrade sequence runs in the background and the board reboots into
// the new image.
func (m *machineService) Upgrade(ctx context.Context, in *machineapi.UpgradeRequest) (*machineapi.UpgradeResponse, error) {
	b := m.b

	b.mu.Lock()
	installed := b.installed
	b.mu.Unlock()

	if !installed {
		return nil, status.Errorf(codes.FailedPrecondition, "Talos is not installed")
	}

	ref := in.GetImage()

	b.mu.Lock()
	b.kmsg("[talos] upgrade request received: staged %v, force %v, reboot mode %v", in.GetStage(), in.GetForce(), in.GetRebootMode().String())
	b.kmsg("[talos] validating %q", ref)
	b.mu.Unlock()

	img, err := b.validateInstaller(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("error validating installer image %q: %w", ref, err)
	}

	actor := actorID()

	b.mu.Lock()
	defer b.mu.Unlock()

	b.upgradeLocked(ref, img, in.GetRebootMode())

	return &machineapi.UpgradeResponse{Messages: []*machineapi.Upgrade{{Ack: "Upgrade request received", ActorId: actor}}}, nil
}

// validateInstaller is install.PullAndValidateInstallerImage (internal/
// pkg/install/pull.go): the pull gives up after one not-found retry
// (WithMaxNotFoundRetries(1)), and containerd unpacks only the board's
// platform from the installer's index.
func (b *Board) validateInstaller(ctx context.Context, ref string) (Image, error) {
	if hook := b.opts.Hooks.Pull; hook != nil {
		var err error

		for range 2 {
			if err = hook(ctx, ref); err == nil || !errors.Is(err, ErrNotFound) {
				break
			}
		}

		if err != nil {
			return Image{}, fmt.Errorf("failed to pull image %q: %w", ref, err)
		}
	}

	img, err := b.opts.Resolve(ref)
	if err != nil {
		return Image{}, fmt.Errorf("failed to pull image %q: %w", ref, err)
	}

	if img.Arch != "" && img.Arch != b.opts.Spec.Arch {
		// containerd's platform match over the image's index (core/images
		// Manifest): nothing for linux/<board arch>.
		return Image{}, fmt.Errorf("failed to pull image %q: no match for platform in manifest: %w", ref, ErrNotFound)
	}

	return img, nil
}

// upgradePhases are the Upgrade sequence's phases (v1alpha1_sequencer.go,
// Upgrade) on a configured board that registers its Node; kexec only in
// the DEFAULT reboot mode. In maintenance mode it is MaintenanceUpgrade's.
func upgradePhases(maintenance bool, mode machineapi.UpgradeRequest_RebootMode) []string {
	var phases []string
	if !maintenance {
		phases = []string{"drain", "cleanup", "dbus", "stopServices", "unmount", "unmountBind", "unmountSystem", "volumeFinalize"}
	}

	phases = append(phases, "upgrade", "meta")
	if mode == machineapi.UpgradeRequest_DEFAULT {
		phases = append(phases, "kexec")
	}

	return append(phases, "stopEverything", "reboot")
}

// upgradeLocked runs the upgrade sequence: the node is drained and its
// services stopped, the installer writes the new image to the system disk
// (an install's time), and the board reboots into it; its extensions are
// the new image's from that boot on.
func (b *Board) upgradeLocked(ref string, img Image, mode machineapi.UpgradeRequest_RebootMode) {
	switch b.stage {
	case "running", "booting", "maintenance":
	default:
		// Another sequence holds the controller: runtime.ErrLocked, logged
		// by the handler's goroutine after the API answered.
		b.kmsg("[talos] upgrade failed: locked")

		return
	}

	phases := upgradePhases(b.cfg == nil, mode)
	total := len(phases)
	seq := "upgrade"

	if b.cfg == nil {
		seq = "maintenanceUpgrade"
	}

	b.kmsg("[talos] %s sequence: %d phase(s)", seq, total)

	b.seq = nil
	b.setStageLocked("upgrading")

	i := 0
	for ; phases[i] != "upgrade"; i++ {
		b.kmsg("[talos] phase %s (%d/%d): done", phases[i], i+1, total)

		if phases[i] == "stopServices" {
			b.stopServicesLocked()

			if b.opts.Hooks.Kubelet != nil {
				go b.opts.Hooks.Kubelet(b, false)
			}
		}
	}

	b.kmsg("[talos] phase upgrade (%d/%d): 1 tasks(s)", i+1, total)
	b.kmsg("[talos] task upgrade (1/1): starting")
	b.kmsg("[talos] performing upgrade via %q", ref)
	b.logLocked("installer", "pulling "+ref)

	if img.Overlay != "" {
		b.kmsg("running overlay installer %q", img.Overlay)
	}

	b.afterLocked(b.opts.Timing.Install, func() {
		b.image, b.installDisk, b.booted = img, b.opts.Spec.bootDisk(), img.Version
		b.kmsg("[talos] upgrade successful")
		b.kmsg("[talos] task upgrade (1/1): done")
		b.logLocked("installer", "upgrade to "+ref+" complete")

		for n := i + 1; n < total; n++ {
			b.kmsg("[talos] phase %s (%d/%d): done", phases[n], n+1, total)
		}

		b.rebootLocked(b.opts.Timing.Reboot)
	})
}

// volumes are the system partitions Talos locates on an installed board
// (VolumeStatus resources by label); only these may be wiped by label.
var volumes = []string{"EFI", "BOOT", "META", "STATE", "EPHEMERAL"}

// Reset answers as Talos v1.13.3 does (v1alpha1_server.go, Reset, and the
// Reset sequence in v1alpha1_sequencer.go): the request is checked first,
// then the sequence runs in the background. Wiping STATE (and EPHEMERAL)
// by label keeps the install — META stays, so the board comes back
// installed, in maintenance mode, its config gone; no labels wipes the
// whole system disk. Without Reboot the board shuts down and stays off.
func (m *machineService) Reset(ctx context.Context, in *machineapi.ResetRequest) (*machineapi.ResetResponse, error) {
	b := m.b

	if len(in.GetUserDisksToWipe()) > 0 {
		if in.GetMode() == machineapi.ResetRequest_SYSTEM_DISK {
			return nil, errors.New("reset failed: invalid input, wipe mode SYSTEM_DISK doesn't support UserDisksToWipe parameter")
		}

		for _, d := range in.GetUserDisksToWipe() {
			if !slices.ContainsFunc(b.opts.Spec.Disks, func(x Disk) bool { return x.Path == d }) {
				return nil, fmt.Errorf("reset user disk failed: device %s wasn't found", d)
			}

			b.mu.Lock()
			system := b.installed && d == b.installDisk
			b.mu.Unlock()

			if system {
				return nil, fmt.Errorf("reset user disk failed: device %s is the system disk", d)
			}
		}
	}

	var labels []string

	if parts := in.GetSystemPartitionsToWipe(); len(parts) > 0 {
		if in.GetMode() == machineapi.ResetRequest_USER_DISKS {
			return nil, errors.New("reset failed: invalid input, wipe mode USER_DISKS doesn't support SystemPartitionsToWipe parameter")
		}

		b.mu.Lock()
		installed := b.installed
		b.mu.Unlock()

		for _, p := range parts {
			if !slices.Contains(volumes, p.GetLabel()) {
				return nil, fmt.Errorf("failed to get volume status with label %q: resource VolumeStatuses.block.talos.dev(runtime/%s@undefined) doesn't exist", p.GetLabel(), p.GetLabel())
			}

			if !installed {
				return nil, fmt.Errorf("failed to reset: volume %q is not located", p.GetLabel())
			}

			if p.GetWipe() {
				labels = append(labels, p.GetLabel())
			}
		}
	}

	b.mu.Lock()
	b.kmsg("[talos] reset request received. actorID: %s", actorID())
	opts := resetOptions{graceful: in.GetGraceful(), reboot: in.GetReboot(), labels: labels,
		systemDisk: in.GetMode() != machineapi.ResetRequest_USER_DISKS && len(in.GetSystemPartitionsToWipe()) == 0}
	b.afterLocked(0, func() { b.resetLocked(opts) })
	b.mu.Unlock()

	return &machineapi.ResetResponse{Messages: []*machineapi.Reset{{ActorId: actorID()}}}, nil
}

type resetOptions struct {
	graceful, reboot bool
	labels           []string // system partitions wiped by label
	systemDisk       bool     // the whole system disk
}

// resetLocked is the Reset sequence: drain and leave etcd when graceful,
// stop everything, wipe, then reboot or shut down.
func (b *Board) resetLocked(o resetOptions) {
	if o.graceful {
		b.kmsg("[talos] phase drain: cordoning and draining the node")

		if b.isControlPlane() {
			b.kmsg("[talos] phase leave: leaving etcd")
		}
	}

	b.stopServicesLocked() // their Service resources go too
	b.services = map[string]*service{}
	b.setStageLocked("resetting")

	wiped := o.labels
	if o.systemDisk {
		wiped = volumes
	}

	for _, l := range wiped {
		b.kmsg("[talos] resetting partition %s", l)

		switch l {
		case "STATE":
			// The config lives on STATE.
			b.cfg, b.cfgBytes, b.staged, b.stagedBytes = nil, nil, nil, nil
		case "EPHEMERAL":
			// etcd's data directory lives on EPHEMERAL.
			b.bootstrap = false
			b.ephemeral++
		case "META":
			b.installed = false
		}
	}

	if o.systemDisk {
		b.ephemeral++
		b.image, b.installed, b.boots = Image{}, false, 0
		b.booted = b.opts.Spec.Booted
		b.clearExtensionsLocked()
	}

	if !o.reboot {
		// The Shutdown phase: the board powers off until someone powers it
		// on (PowerCycle).
		b.kmsg("[talos] shutting down")
		b.epoch++
		b.setStageLocked("shutting down")

		if srv := b.server; srv != nil {
			b.server = nil
			go srv.stop()
		}

		return
	}

	b.rebootLocked(b.opts.Timing.Reboot)
}

// actorID is a random UUID (v4), as machined gives every sequence request
// (and the kernel every boot, as its boot_id).
func actorID() string {
	var u [16]byte

	_, _ = rand.Read(u[:]) //nolint:errcheck // never fails
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80

	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// upgradeAllowed is how long an upgrade may take before the watchdog
// calls it stuck: an install's time plus the pull.
func (b *Board) upgradeAllowed() time.Duration {
	return b.opts.Timing.Install + b.opts.Timing.Reboot
}
