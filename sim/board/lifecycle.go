package board

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
)

// bootLoopLimit bounds how long a wrong-arch board keeps trying in the
// simulation (a real one loops forever; forever is not useful here).
const bootLoopLimit = 1000

// acceptLocked takes an applied config in maintenance mode and starts the
// install, as Talos does: apply, install, reboot.
func (b *Board) acceptLocked(cfg coreconfig.Provider, raw []byte) {
	b.cfg, b.cfgBytes = cfg, raw

	if b.opts.Hooks.Applied != nil {
		b.opts.Hooks.Applied(cfg)
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

	b.image = img
	b.logLocked("installer", fmt.Sprintf("pulling %s", installer))
	b.kmsg("installer: installing %s to %s", installer, cfg.Machine().Install().Disk())

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
		b.booted = img.Version
		b.logLocked("installer", "installation of "+installer+" complete")

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

	if b.staged != nil && b.installed {
		b.cfg, b.cfgBytes, b.staged, b.stagedBytes = b.staged, b.stagedBytes, nil, nil
	}
	b.setStageLocked("booting")
	b.serveBootLocked(0)
}

// bootServedLocked boots on once apid serves.
func (b *Board) bootServedLocked() {
	if b.cfg == nil || !b.installed {
		b.startMaintenanceServicesLocked()
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
	b.publishExtensionsLocked()
	b.startServicesLocked()

	b.afterLocked(b.opts.Timing.Boot, func() {
		b.setStageLocked("running")
		b.updateMachineStatusLocked()
	})
}

func (b *Board) isControlPlane() bool {
	return b.cfg != nil && b.cfg.Machine().Type() != machine.TypeWorker
}

// extensionServices are the extensions that run a service; the others
// (drbd, zfs, spin) only add files to the image.
var extensionServices = []string{"tailscale"}

// startMaintenanceServicesLocked runs what Talos runs while it waits for
// a config: apid serves the maintenance API, no kubelet or containerd.
func (b *Board) startMaintenanceServicesLocked() {
	for _, name := range []string{"apid", "machined", "udevd"} {
		b.serviceLocked(name).set("Running", true, "Health check successful")
	}
}

// startServicesLocked starts Talos's own services and the extensions'.
func (b *Board) startServicesLocked() {
	for _, name := range []string{"apid", "machined", "containerd", "trustd", "udevd"} {
		b.serviceLocked(name).set("Running", true, "Health check successful")
	}

	// Talos v1.13.3 picks the kubelet's node IP, and etcd's addresses,
	// among the routed host addresses outside the pod and service CIDRs
	// (controllers/k8s/nodeip.go, controllers/etcd/spec.go). With none
	// left, NodeIPController only warns, no KubeletSpec or etcd Spec is
	// made, and kubelet (loaded by StartAllServices, started by
	// KubeletServiceController) and etcd (waiting on "etcd spec") never
	// start: the address-overlap diagnostic is the symptom.
	if b.noNodeIPLocked() {
		b.serviceLocked("kubelet").set("Initialized", false, "Service initialized")
		b.logLocked("controller-runtime", "k8s.NodeIPController: no suitable node IP found, please make sure .machine.kubelet.nodeIP filters and pod/service subnets are set up correctly")

		if b.isControlPlane() {
			b.serviceLocked("etcd").set("Waiting", false, "Waiting for etcd spec")
		}

		b.startExtensionServicesLocked()
		b.updateMachineStatusLocked()

		return
	}

	b.serviceLocked("kubelet").set("Waiting", false, "Waiting for service \"cri\" to be \"up\"")

	b.afterLocked(b.opts.Timing.Service, func() {
		b.serviceLocked("kubelet").set("Running", true, "Health check successful")
		b.logLocked("kubelet", "kubelet started, registering node "+b.hostnameLocked())

		if b.opts.Hooks.Kubelet != nil {
			go b.opts.Hooks.Kubelet(b, true)
		}

		b.updateMachineStatusLocked()
	})

	if b.isControlPlane() {
		if b.bootstrap {
			b.serviceLocked("etcd").set("Running", true, "Health check successful")
		} else {
			b.serviceLocked("etcd").set("Preparing", false, "Running pre state")
			b.logLocked("etcd", "waiting for bootstrap: etcd has no data yet; call Bootstrap on this node")
		}
	}

	b.startExtensionServicesLocked()
	b.updateMachineStatusLocked()
}

func (b *Board) startExtensionServicesLocked() {
	for _, ext := range b.image.Extensions {
		if slices.Contains(extensionServices, ext) {
			b.startExtensionLocked("ext-" + ext)
		}
	}
}

func (b *Board) stopServicesLocked() {
	if ts := b.services["ext-tailscale"]; ts != nil && ts.state == "Running" && b.opts.Hooks.TailscaleDown != nil {
		go b.opts.Hooks.TailscaleDown(b)
	}

	for _, s := range b.services {
		s.set("Finished", false, "Service finished successfully")
	}

	b.publishServicesLocked()
}

// startExtensionLocked runs an extension service. tailscale is the one
// that matters: it needs its ExtensionServiceConfig and a good auth key,
// and without them it never becomes healthy — Talos waits and restarts it.
func (b *Board) startExtensionLocked(id string) {
	s := b.serviceLocked(id)

	key, cfgFound := b.tailscaleKeyLocked()

	switch {
	case !cfgFound:
		s.set("Waiting", false, "Waiting for extension service config")
		b.logLocked(id, "waiting for ExtensionServiceConfig tailscale (this node's config has none)")
		b.afterLocked(b.opts.Timing.Restart, func() {
			if _, found := b.tailscaleKeyLocked(); found {
				return // a config applied live since started it: one tailscaled, one login
			}

			s.restarts++
			s.event("Restarting", "Restarting service after its condition was not met")
			b.logLocked(id, fmt.Sprintf("service restarting (attempt %d): still no ExtensionServiceConfig tailscale", s.restarts))
			b.startExtensionLocked(id)
		})
	default:
		s.set("Waiting", false, "Waiting for tailscaled")
		b.logLocked(id, "tailscaled: starting")
		b.loginLocked(s, key)
	}

	b.updateMachineStatusLocked()
}

// loginLocked logs tailscaled in — through the Tailscale hook (the lab's
// tailnet) when there is one — and runs or fails the service by its answer.
// The login runs unlocked: it talks to a control server.
func (b *Board) loginLocked(s *service, key string) {
	epoch, env, hook := b.epoch, b.tailscaleEnvLocked(), b.opts.Hooks.Tailscale

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

		if b.epoch != epoch || b.ctx.Err() != nil {
			return
		}

		if err != nil {
			s.set("Failed", false, "Condition failed: "+err.Error())
			b.logLocked(s.id, "containerboot: tailscale up failed: "+err.Error())
			s.restarts++
			b.afterLocked(b.opts.Timing.Restart, func() {
				s.event("Restarting", "Restarting service after failure")
				b.startExtensionLocked(s.id)
			})
			b.updateMachineStatusLocked()

			return
		}

		s.setUnknown("Running", "Started task ext-tailscale")
		b.logLocked(s.id, "tailscaled: logged in; advertising routes "+b.tailscaleRoutesLocked())
		b.kmsg("tailscale0: link becomes ready")
		b.updateMachineStatusLocked()
	})
}

// tailscaleEnvLocked is the tailscale ExtensionServiceConfig's environment.
func (b *Board) tailscaleEnvLocked() []string {
	if b.cfg == nil {
		return nil
	}

	for _, e := range b.cfg.ExtensionServiceConfigs() {
		if e.Name() == "tailscale" {
			return e.Environment()
		}
	}

	return nil
}

func (b *Board) tailscaleKeyLocked() (string, bool) {
	if b.cfg == nil {
		return "", false
	}

	for _, e := range b.cfg.ExtensionServiceConfigs() {
		if e.Name() != "tailscale" {
			continue
		}

		for _, kv := range e.Environment() {
			if v, ok := strings.CutPrefix(kv, "TS_AUTHKEY="); ok {
				return v, true
			}
		}

		return "", true
	}

	return "", false
}

func (b *Board) tailscaleRoutesLocked() string {
	for _, e := range b.cfg.ExtensionServiceConfigs() {
		for _, kv := range e.Environment() {
			if v, ok := strings.CutPrefix(kv, "TS_ROUTES="); ok {
				return v
			}
		}
	}

	return "(none)"
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

	if b.noNodeIPLocked() {
		// etcd still waits for its spec: no control plane comes up.
		return
	}

	s := b.serviceLocked("etcd")
	b.afterLocked(b.opts.Timing.Service, func() {
		s.set("Running", true, "Health check successful")
		b.updateMachineStatusLocked()
	})

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

// resetLocked wipes the config and returns to maintenance mode.
func (b *Board) resetLocked() {
	b.cfg, b.cfgBytes, b.image = nil, nil, Image{}
	b.staged, b.stagedBytes = nil, nil
	b.installed, b.bootstrap, b.boots = false, false, 0
	b.booted = b.opts.Spec.Booted
	b.stopServicesLocked() // their Service resources go too
	b.services = map[string]*service{}
	b.clearExtensionsLocked()
	b.setStageLocked("resetting")
	b.rebootLocked(b.opts.Timing.Reboot)
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
