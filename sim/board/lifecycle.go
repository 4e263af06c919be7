package board

import (
	"errors"
	"fmt"
	"strings"
	"time"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	extensionsconfig "github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
)

// bootLoopLimit bounds how long a board that cannot boot its image keeps
// trying in the simulation (a real one loops forever; forever is not
// useful here).
const bootLoopLimit = 1000

// acceptLocked takes an applied config in maintenance mode and starts the
// install, as Talos does: apply, install, reboot.
func (b *Board) acceptLocked(cfg coreconfig.Provider, raw []byte) {
	b.cfg, b.cfgBytes = cfg, raw

	if b.opts.Hooks.Applied != nil {
		b.opts.Hooks.Applied(cfg)
	}

	if b.installed {
		b.bootInstalledLocked()

		return
	}

	b.setStageLocked("installing")

	// Talos's Install task: the disk first, then the installer's pull,
	// retried; a failure fails the install and the board reboots
	// (install.go, pull.go).
	if err := b.installDiskErrLocked(cfg); err != nil {
		b.installFailedLocked(err)

		return
	}

	installer := cfg.Machine().Install().Image()

	if b.opts.Hooks.Pull != nil {
		// The installer comes from its registry first (pull.go).
		b.pullLocked(installer, 0, func() { b.installLocked(cfg, installer) })

		return
	}

	b.installLocked(cfg, installer)
}

// installLocked runs the installer the board has pulled: it writes the
// image to the install disk and reboots into it.
func (b *Board) installLocked(cfg coreconfig.Provider, installer string) {
	img, err := b.opts.Resolve(installer)
	if err != nil {
		// Without a registry to ask (no Pull hook), the catalogue is it.
		b.installFailedLocked(fmt.Errorf("failed to pull image %q: %w", installer, err))

		return
	}

	b.image, b.installDisk = img, cfg.Machine().Install().Disk()
	b.logLocked("installer", fmt.Sprintf("pulling %s", installer))
	// What the console shows of an install (the install task, then the
	// installer's own output: cmd/installer/pkg/install/install.go).
	b.kmsg("[talos] task install (1/1): installing Talos to disk %s", b.installDisk)

	if img.Overlay != "" {
		b.kmsg("running overlay installer %q", img.Overlay)
	}

	install := b.opts.Timing.Install
	if b.opts.Faults.SlowDisk > 1 {
		install = time.Duration(float64(install) * b.opts.Faults.SlowDisk)
		b.kmsg("mmc0: timeout waiting for hardware interrupt (slow SD card)")
	}

	if b.opts.Faults.FreezeInstall {
		return // never finishes, and says nothing: what the lab's watchdog is for
	}

	if b.opts.Faults.PowerLossDuringInstall && !b.powerLost {
		b.afterLocked(install/2, func() {
			b.powerLost = true
			b.kmsg("installer: power lost at 50%%")
			b.cfg, b.cfgBytes, b.image = nil, nil, Image{}
			b.rebootLocked(b.opts.Timing.Reboot)
		})

		return
	}

	b.afterLocked(install, func() {
		b.installed = true
		b.ephemeral++
		b.booted = img.Version
		b.logLocked("installer", "installation of "+installer+" complete")
		b.kmsg("installation of %s complete", img.Version)

		if to := b.opts.Faults.MoveAfterInstall; to != "" && b.moved.Load() == nil {
			b.moved.Store(&to)
			b.kmsg("eth0: DHCP lease changed: %s", to)
		}

		b.rebootLocked(b.opts.Timing.Reboot)
	})
}

// rebootLocked takes the API down for d, then boots.
func (b *Board) rebootLocked(d time.Duration) {
	if f := b.opts.Faults.SlowReboot; f > 1 {
		d = time.Duration(float64(d) * f)
		b.kmsg("bootloader: waiting for the boot medium (slow reboot)")
	}

	b.epoch++
	b.setStageLocked("rebooting")
	b.stopServicesLocked()

	if b.opts.Hooks.Kubelet != nil {
		go b.opts.Hooks.Kubelet(b, false)
	}

	if srv := b.server; srv != nil {
		b.server = nil
		go srv.stop()
	}

	b.afterLocked(d, b.bootLocked)
}

func (b *Board) bootLocked() {
	b.boots++
	b.bootID = actorID()

	if b.staged != nil && b.installed {
		b.cfg, b.cfgBytes, b.staged, b.stagedBytes = b.staged, b.stagedBytes, nil, nil
	}

	// A card wiped whole (a Reset without labels) holds nothing to boot.
	if b.opts.Spec.Card != nil && !b.installed {
		b.kmsg("bootloader: no bootable partition on %s", b.opts.Spec.bootDisk())
		b.x.stuck = "nothing to boot on " + b.opts.Spec.bootDisk() + ": write the role's disk image to it again"

		return
	}

	// A Pi 5's bootloader may never hand over to Linux: then nothing
	// answers, and only its own console tells why.
	if !b.firmwareLocked() {
		return
	}

	// apid listens before the stage says booting: clients read the stage
	// through it.
	err := b.serveLocked()
	b.setStageLocked("booting")
	b.bootOnLocked(err, 0)
}

// bootServedLocked boots on once apid serves.
func (b *Board) bootServedLocked() {
	if b.cfg == nil || !b.installed {
		b.startMaintenanceServicesLocked()

		if b.installed {
			b.publishExtensionsLocked()
		}

		b.setStageLocked("maintenance")
		b.kmsg("talos: maintenance mode: waiting for a machine config")

		return
	}

	if b.image.Arch != "" && b.image.Arch != b.opts.Spec.Arch {
		b.kmsg("Run /init as init process")
		b.kmsg("Kernel panic - not syncing: /init: exec format error (image is %s, board is %s)", b.image.Arch, b.opts.Spec.Arch)
		b.kmsg("Rebooting in 10 seconds..")

		if b.boots < bootLoopLimit {
			b.afterLocked(b.opts.Timing.Boot/3, func() { b.rebootLocked(b.opts.Timing.Reboot / 4) })
		}

		return
	}

	b.kmsg("talos: booting %s, extensions: %s", b.booted, strings.Join(b.image.Extensions, " "))
	b.kmsg("[talos] boot sequence: 9 phase(s)")
	b.publishExtensionsLocked()
	b.startServicesLocked()

	// The earlier phases of the boot sequence, then startEverything.
	b.afterLocked(b.opts.Timing.Boot, b.startAllLocked)
}

func (b *Board) isControlPlane() bool {
	return b.cfg != nil && b.cfg.Machine().Type() != machine.TypeWorker
}

// startMaintenanceServicesLocked runs what Talos runs while it waits for
// a config: apid serves the maintenance API, no kubelet or containerd.
func (b *Board) startMaintenanceServicesLocked() {
	b.services = map[string]*service{}

	for _, name := range []string{"apid", "machined", "udevd"} {
		b.loadLocked(serviceSpec{id: name, checked: true, run: func(s *service) { s.running("Service started") }})
	}
}

// startServicesLocked is a configured boot until its last phase: machined,
// apid, containerd and udevd run, the config's kernel modules load, and
// the image's extension services are loaded and wait for what they need.
func (b *Board) startServicesLocked() {
	b.services = map[string]*service{}
	b.modules, b.paths = map[string]bool{}, map[string]bool{}
	b.seq = nil

	for _, name := range []string{"apid", "containerd", "machined", "udevd"} {
		b.loadLocked(serviceSpec{id: name, checked: true, run: func(s *service) { s.running("Service started") }})
	}

	b.loadModulesLocked()
	b.loadExtensionsLocked()
	b.servicesChangedLocked()
}

func (b *Board) stopServicesLocked() {
	if ts := b.services["ext-tailscale"]; ts != nil && ts.state == "Running" && b.opts.Hooks.TailscaleDown != nil {
		go b.opts.Hooks.TailscaleDown(b)
	}

	b.seq = nil

	for _, s := range b.services {
		s.wait = nil
		s.stopped("Finished", "Service finished successfully")
	}

	b.publishServicesLocked()
}

// loginLocked logs tailscaled in — through the Tailscale hook (the lab's
// tailnet) when there is one — while its container runs. A refused login
// ends the container (containerboot exits), and the restart policy takes
// over. The login runs unlocked: it talks to a control server.
func (b *Board) loginLocked(s *service) {
	epoch, env, hook := b.epoch, b.tailscaleEnvLocked(), b.opts.Hooks.Tailscale
	key := envValue(env, "TS_AUTHKEY")

	b.wg.Go(func() {
		t := time.NewTimer(b.scaled(b.opts.Timing.Service))
		defer t.Stop()

		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}

		var err error

		switch {
		case hook != nil:
			err = hook(b.ctx, b, env)
		case !validAuthKey(key):
			err = errors.New("backend error: invalid key: API key does not exist")
		}

		b.mu.Lock()
		defer b.mu.Unlock()

		if b.epoch != epoch || b.ctx.Err() != nil || b.services[s.id] != s || s.state != "Running" {
			return
		}

		if err != nil {
			last := "containerboot: tailscale up failed: " + err.Error()
			b.logLocked(s.id, last)
			b.exitedLocked(s, fmt.Errorf("task %q failed: exit code 1 (last log %q)", s.id, last))

			return
		}

		b.logLocked(s.id, "tailscaled: logged in; advertising routes "+orNone(envValue(env, "TS_ROUTES")))
		b.kmsg("tailscale0: link becomes ready")
	})
}

// tailscaleEnvLocked is the tailscale ExtensionServiceConfig's environment.
func (b *Board) tailscaleEnvLocked() []string {
	if e := b.extensionConfigLocked("tailscale"); e != nil {
		return e.Environment()
	}

	return nil
}

// extensionConfigLocked is the config's ExtensionServiceConfig document for
// an extension service (by its manifest name), nil without one.
func (b *Board) extensionConfigLocked(name string) extensionsconfig.ExtensionServiceConfig {
	if b.cfg == nil {
		return nil
	}

	for _, e := range b.cfg.ExtensionServiceConfigs() {
		if e.Name() == name {
			return e
		}
	}

	return nil
}

// configModules are the config's machine.kernel.modules.
func (b *Board) configModules() []extensionsconfig.KernelModule {
	if b.cfg == nil || b.cfg.Machine() == nil {
		return nil
	}

	return b.cfg.Machine().Kernel().Modules()
}

// envValue is one variable of an environment.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}

	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}

	return s
}

// validAuthKey is the simulated control server's judgement: a key of the
// right shape that is not marked as revoked.
func validAuthKey(key string) bool {
	return strings.HasPrefix(key, "tskey-") && !strings.Contains(key, "invalid") && !strings.Contains(key, "expired")
}

// doBootstrapLocked marks etcd bootstrapped and starts the control plane.
func (b *Board) doBootstrapLocked() {
	b.bootstrap = true
	b.logLocked("etcd", "bootstrap requested: starting etcd with a new cluster")

	// etcd's pre state ends: its runner starts.
	if s := b.services["etcd"]; s != nil && s.state == "Preparing" && s.wait == nil {
		b.afterLocked(b.opts.Timing.Service, s.resume)
	}

	if b.opts.Hooks.Bootstrap != nil {
		b.wg.Go(func() {
			if err := b.opts.Hooks.Bootstrap(b.ctx, b); err != nil {
				b.mu.Lock()
				b.logLocked("etcd", "control plane failed to start: "+err.Error())
				b.mu.Unlock()
			}
		})
	}
}

// renamedLocked follows a hostname changed live, as Talos v1.13.3 does: the
// Nodename changes, so the KubeletSpec's --hostname-override does, and the
// kubelet service controller stops the kubelet, drops client certificates
// issued to the old name and starts it again, registering the new Node
// (internal/app/machined/pkg/controllers/k8s/kubelet_service.go).
func (b *Board) renamedLocked(was string) {
	name := b.hostnameLocked()

	b.publishNetworkLocked()
	b.publishMachineLocked()
	b.updateNodenameLocked()
	b.logLocked("kubelet", "kubelet client certificate does not match expected nodename "+name+" (was "+was+"), removing; restarting kubelet")
	b.nodeSeen, b.nodeReady = false, false

	if b.opts.Hooks.Kubelet != nil {
		go b.opts.Hooks.Kubelet(b, true)
	}
}
