package board

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// The boot sequence, as Talos v1.13.3 runs it once a machine has its
// config (internal/app/machined/pkg/runtime/v1alpha1): extension services
// are loaded and started as soon as machined runs (controllers/runtime/
// extension_service.go), then the last phase, startEverything (9/9 on
// metal), runs the task startAllServices (v1alpha1_sequencer_tasks.go). It
// loads cri (and trustd, etcd on a control plane) and kubelet, then waits
// for every loaded service to be up, up to constants.BootTimeout, logging
// what it still waits for every 15 seconds. The machine stays in stage
// booting until it is done (controllers/runtime/machine_status.go). At
// BootTimeout the task fails, the boot sequence fails, and machined reboots
// the machine after a 10 second countdown (machined/main.go handle).

// bootSequence is one boot's startAllServices task.
type bootSequence struct {
	started time.Time
	// waitFor are the services loaded when the task began (system.Services
	// List: sorted by ID), each waited for to be up.
	waitFor []string
	done    bool
}

// The console's prefix for the task's lines (runTask's logger).
const startAllPrefix = "[talos] task startAllServices (1/1): "

// startAllLocked is the startEverything phase.
func (b *Board) startAllLocked() {
	b.kmsg("[talos] phase startEverything (9/9): 1 tasks(s)")
	b.kmsg("[talos] task startAllServices (1/1): starting")

	network := condition{desc: "network", met: func() bool { return true }}

	b.loadLocked(serviceSpec{id: "cri", checked: true, wait: []condition{network}, run: func(s *service) {
		s.running(`Process Process(["/bin/containerd" "--address" "/run/containerd/containerd.sock" "--config" "/etc/cri/containerd.toml"]) started with PID 2025`)
	}})

	if b.isControlPlane() {
		b.loadLocked(serviceSpec{id: "trustd", checked: true, wait: []condition{b.upCondition("containerd"), network}, run: func(s *service) {
			s.running("Started task trustd (PID 2101) for container trustd")
		}})

		// etcd's pre state waits for a bootstrap on a new cluster, and
		// says so every 30 s (services/etcd.go buildInitialCluster);
		// doBootstrapLocked lets it go on.
		// Its spec needs the node's addresses outside the cluster's CIDRs
		// (controllers/etcd/spec.go): with none, etcd waits for it.
		etcdSpec := condition{desc: "etcd spec", met: func() bool { return !b.noNodeIPLocked() }}
		b.loadLocked(serviceSpec{id: "etcd", checked: true, wait: []condition{b.upCondition("cri"), network, etcdSpec}, hold: b.etcdHoldLocked, run: func(s *service) {
			s.running("Started task etcd (PID 2150) for container etcd")
		}})
	}

	// kubelet is loaded, not started: KubeletServiceController starts it
	// once there is a KubeletSpec, which NodeIPController's node IP makes
	// (controllers/k8s/nodeip.go). With no routed address outside the pod
	// and service CIDRs it only warns, and kubelet stays Initialized: the
	// boot sequence waits for it until BootTimeout.
	if b.noNodeIPLocked() {
		b.loadOnlyLocked("kubelet", true)
		b.logLocked("controller-runtime", "k8s.NodeIPController: no suitable node IP found, please make sure .machine.kubelet.nodeIP filters and pod/service subnets are set up correctly")
	} else {
		b.loadKubeletLocked(network)
	}

	seq := &bootSequence{started: time.Now(), waitFor: slices.Sorted(maps.Keys(b.services))}
	b.seq = seq

	b.kmsg(startAllPrefix+"waiting for %d services", len(seq.waitFor))
	b.tickLocked(seq)

	b.afterLocked(b.bootTimeout(), func() {
		if b.seq == seq && !seq.done {
			b.bootTimedOutLocked(seq)
		}
	})

	b.bootProgressLocked()
}

// etcdHoldLocked keeps etcd in its pre state until a bootstrap, nagging.
func (b *Board) etcdHoldLocked() bool {
	if b.bootstrap {
		return false
	}

	s := b.services["etcd"]

	var nag func()

	nag = func() {
		if b.bootstrap || b.services["etcd"] != s {
			return
		}

		line := "etcd is waiting to join the cluster, if this node is the first node in the cluster, please run `talosctl bootstrap` against one of the following IPs:"
		b.kmsg("[talos] %s", line)
		b.kmsg("[talos] [%s]", b.address())
		b.logLocked("etcd", line+" ["+b.address()+"]")
		b.afterLocked(30*time.Second, nag)
	}

	nag()

	return true
}

// bootTimeout is constants.BootTimeout unless the timing says otherwise.
func (b *Board) bootTimeout() time.Duration {
	if b.opts.Timing.BootTimeout > 0 {
		return b.opts.Timing.BootTimeout
	}

	return constants.BootTimeout
}

// tickLocked logs what the task waits for, then again every 15 seconds.
func (b *Board) tickLocked(seq *bootSequence) {
	if b.seq != seq || seq.done {
		return
	}

	if what := b.awaitedLocked(seq); what != "" {
		b.kmsg("%s%s", startAllPrefix, what)
	}

	b.afterLocked(15*time.Second, func() { b.tickLocked(seq) })
}

// awaitedLocked is the aggregate condition's text: the services not up yet.
func (b *Board) awaitedLocked(seq *bootSequence) string {
	var conds []condition
	for _, id := range seq.waitFor {
		conds = append(conds, b.upCondition(id))
	}

	return b.describe(conds, false)
}

// bootProgressLocked ends the task once every service it waits for is up:
// the boot sequence is done and the machine runs.
func (b *Board) bootProgressLocked() {
	seq := b.seq
	if seq == nil || seq.done || b.awaitedLocked(seq) != "" {
		return
	}

	seq.done = true
	took := b.boardTime(time.Since(seq.started))

	b.kmsg(startAllPrefix+"done, %s", took)
	b.kmsg("[talos] phase startEverything (9/9): done, %s", took)
	b.kmsg("[talos] boot sequence: done: %s", took)
	b.setStageLocked("running")
}

// bootTimedOutLocked is the task's deadline: one "context deadline
// exceeded" per service still not up, the sequence fails, and machined
// reboots the machine (a fatal sequence error reads as stage rebooting).
func (b *Board) bootTimedOutLocked(seq *bootSequence) {
	seq.done = true

	var errs []string

	for _, id := range seq.waitFor {
		if s := b.services[id]; s == nil || !s.up() {
			errs = append(errs, "context deadline exceeded")
		}
	}

	multi := fmt.Sprintf("%d errors occurred:", len(errs))
	if len(errs) == 1 {
		multi = "1 error occurred:"
	}

	b.kmsg(startAllPrefix+"failed: %s", multi)

	for _, e := range errs {
		b.kmsg("\t* %s", e)
	}

	b.kmsg("[talos] phase startEverything (9/9): failed")
	b.kmsg("[talos] boot sequence: failed")
	b.kmsg("[talos] error running phase 9 in boot sequence: task 1/1: failed, %s", multi)
	b.setStageLocked("rebooting")
	b.kmsg("[talos] rebooting in %d seconds", int(rebootCountdown/time.Second))
	b.x.stuck = "boot sequence failed: " + multi

	b.afterLocked(rebootCountdown, func() { b.rebootLocked(b.opts.Timing.Reboot) })
}

// boardTime is a wall-clock duration in the board's own time.
func (b *Board) boardTime(d time.Duration) time.Duration {
	return time.Duration(float64(d) * b.opts.Speed).Round(time.Millisecond)
}

// loadExtensionsLocked loads the services of the running image's
// extensions, from their manifests (plan.Extensions), as
// ExtensionServiceController does: each waits for containerd, the services
// it depends on, then its own conditions (system/services/extension.go
// Condition and DependsOn), and runs under its restart policy.
func (b *Board) loadExtensionsLocked() {
	for _, es := range plan.ServicesFor(b.image.Extensions) {
		wait := []condition{b.upCondition("containerd")}

		for _, d := range es.Services {
			wait = append(wait, b.upCondition(d))
		}

		for _, p := range es.Paths {
			wait = append(wait, condition{desc: fmt.Sprintf("file %q to exist", p), met: func() bool { return b.paths[p] }})
		}

		if len(es.Network) > 0 {
			wait = append(wait, condition{desc: "network", met: func() bool { return true }})
		}

		if es.Configuration {
			wait = append(wait, condition{desc: "extension service config", met: func() bool { return b.extensionConfigLocked(es.Name) != nil }})
		}

		b.loadLocked(serviceSpec{id: es.ID(), wait: wait, restart: es.Restart, run: func(s *service) { b.runExtensionLocked(s, es) }})
	}
}

// runExtensionLocked starts an extension's container. tailscale logs in
// (and exits when the login fails: its restart policy takes over);
// zfs-service imports the pools there are.
func (b *Board) runExtensionLocked(s *service, es plan.ExtensionService) {
	s.running(fmt.Sprintf("Started task %s (PID %d) for container %s", s.id, 3000+len(s.events), s.id))

	switch es.Name {
	case "tailscale":
		b.logLocked(s.id, "boot: starting tailscaled")
		b.loginLocked(s)
	case "zfs-service":
		// zfs-service/main.go runs `zpool import -fal`, then waits for a signal.
		b.logLocked(s.id, "no pools available to import")
	}
}

// Kernel modules. machine.kernel.modules becomes KernelModuleSpec resources
// (controllers/runtime/kernel_module_config.go), and KernelModuleSpec-
// Controller loads each with kmod (kernel_module_spec.go): a module no part
// of the image carries fails as "error loading module %q: module not
// found" (pmorjan/kmod ErrModuleNotFound), the controller fails, logs
// "controller failed" and is retried with exponential backoff (0.5 s ×1.5,
// at most 60 s: cosi-project/runtime rruntime, cenkalti/backoff defaults).
// Talos loads no extension module by itself.

// moduleDevices are the device nodes a module creates when it loads:
// OpenZFS registers the misc device "zfs" (module/os/linux/zfs/
// zfs_ioctl_os.c), which is the /dev/zfs zfs-service waits for.
var moduleDevices = map[string]string{"zfs": "/dev/zfs"}

// loadModulesLocked loads the config's modules; failures retry with the
// controller's backoff for as long as this boot lasts.
func (b *Board) loadModulesLocked() {
	b.loadModulesAfterLocked(500 * time.Millisecond)
}

func (b *Board) loadModulesAfterLocked(backoff time.Duration) {
	var errs []error

	for _, m := range b.configModules() {
		if b.modules[m.Name()] {
			continue
		}

		if !b.moduleInImage(m.Name()) {
			errs = append(errs, fmt.Errorf("error loading module %q: module not found", m.Name()))

			continue
		}

		b.modules[m.Name()] = true
		if dev, ok := moduleDevices[m.Name()]; ok {
			b.paths[dev] = true
		}
	}

	b.servicesChangedLocked()

	if err := errors.Join(errs...); err != nil {
		b.kmsg(`[talos] controller failed {"component": "controller-runtime", "controller": "runtime.KernelModuleSpecController", "error": %q}`, err.Error())
		b.afterLocked(backoff, func() { b.loadModulesAfterLocked(min(time.Duration(float64(backoff)*1.5), time.Minute)) })
	}
}

// moduleInImage: modules of an extension liftoff knows come only with that
// extension; any other module is taken to be in Talos's own kernel.
func (b *Board) moduleInImage(name string) bool {
	for ext, e := range plan.Extensions {
		for _, m := range e.Modules {
			if m.Name == name {
				return slices.ContainsFunc(b.image.Extensions, func(x string) bool { return plan.ShortExtension(x) == ext })
			}
		}
	}

	return true
}

// Raspberry Pi firmware. A Pi's EEPROM bootloader reads the boot
// partition the overlay's installer wrote (sbc-raspberrypi v0.2.0
// installers/). rpi_generic copies the raspberrypi/firmware boot files
// less every bcm2712* device tree (artifacts/raspberrypi-firmware/
// pkg.yaml: "At least now downstream Pi 5 dts are not compatible with
// mainline"), so a Pi 5 finds no device tree for itself: its bootloader
// refuses the partition with its OS check ("The installed operating system
// (OS) does not indicate support for Raspberry Pi 5", as reported in
// kairos-io/kairos#2010 and wellenvogel/avnav#437), tries its next boot
// mode and starts over. rpi_5 ships the Pi 5 device trees and the
// rpi_generic U-Boot, which has no PCIe or RP1 (USB) driver: a Pi 5 booting
// from NVMe or USB stops at the U-Boot splash screen with nothing more on
// its console and no network (sbc-raspberrypi PR #79: "hangs on the u-boot
// logo when booting from nvme"; maintainers: "Booting from NVMe is not
// possible yet"; issue #96).

// pi5 tells a Raspberry Pi 5 or CM5.
func (b *Board) pi5() bool {
	return b.opts.Spec.Model == plan.RPi5 || b.opts.Spec.Model == plan.CM5
}

// firmwareLocked runs a Pi 5's bootloader over what was installed; false
// means Linux never starts (the console says why, and nothing answers).
func (b *Board) firmwareLocked() bool {
	if !b.pi5() || !b.installed {
		return true
	}

	mode := map[string]string{"mmc": "SD (01)", "nvme": "NVME (06)", "usb": "USB-MSD (04)"}[b.installTransport()]
	if mode == "" {
		mode = "SD (01)"
	}

	b.kmsg("RPi: BOOTLOADER release (simulated) · board %s", b.opts.Spec.Product)
	b.kmsg("Boot mode: %s", mode)

	switch {
	case b.image.Overlay == plan.OverlayRPiGeneric:
		b.kmsg("The installed operating system (OS) does not indicate support for Raspberry Pi 5")
		b.kmsg("Update the OS or set os_check=0 in config.txt to skip this check.")
		b.kmsg("(boot partition written by overlay %q: its firmware files have no bcm2712 device tree)", b.image.Overlay)
		b.kmsg("Boot mode: RESTART (0f)")
		b.x.stuck = "the bootloader refuses the boot partition (no Raspberry Pi 5 support in overlay " + b.image.Overlay + ")"

		if b.boots < bootLoopLimit {
			b.afterLocked(b.opts.Timing.Reboot/4, func() { b.boots++; b.firmwareLocked() })
		}

		return false
	case b.installTransport() == "nvme" || b.installTransport() == "usb":
		b.kmsg("Read config.txt; loading u-boot.bin")
		b.kmsg("U-Boot 2026.01 (splash screen)")
		b.kmsg("(no further output: this U-Boot has no PCIe/RP1 driver and cannot read %s, where Talos was installed)", b.installDisk)
		b.x.stuck = "U-Boot cannot read " + b.installDisk + ", where Talos was installed"

		return false
	}

	return true
}

// installTransport is how the install disk is attached: mmc, nvme, usb.
func (b *Board) installTransport() string {
	for _, d := range b.opts.Spec.Disks {
		if d.Path == b.installDisk {
			return d.Transport
		}
	}

	switch {
	case strings.HasPrefix(b.installDisk, "/dev/nvme"):
		return "nvme"
	case strings.HasPrefix(b.installDisk, "/dev/sd"):
		return "usb"
	}

	return "mmc"
}

// liveApplyLocked takes a config on a configured machine without a
// reboot: its controllers follow the new config. Kernel modules newly
// listed load (KernelModuleSpecController), and an extension service whose
// ExtensionServiceConfig changed restarts (ExtensionServiceController
// handleRestart); one still waiting for it sees its condition met.
func (b *Board) liveApplyLocked(cfg coreconfig.Provider, data []byte) {
	before := map[string][]string{}

	for id := range b.services {
		if name, ok := strings.CutPrefix(id, "ext-"); ok {
			if e := b.extensionConfigLocked(name); e != nil {
				before[id] = e.Environment()
			}
		}
	}

	was := b.hostnameLocked()
	b.cfg, b.cfgBytes = cfg, data
	b.configResourcesLocked()

	if b.hostnameLocked() != was {
		b.renamedLocked(was)
	}

	if b.seq != nil || b.stage == "running" {
		b.loadModulesLocked()
	}

	for id, s := range b.services {
		name, ok := strings.CutPrefix(id, "ext-")
		if !ok || s.state != "Running" {
			continue
		}

		var now []string
		if e := b.extensionConfigLocked(name); e != nil {
			now = e.Environment()
		}

		// A service that had no config before this apply was waiting for
		// it and has just started with it: once is enough (a second start
		// would log tailscaled in twice).
		was, had := before[id]
		if had && !slices.Equal(was, now) {
			if id == "ext-tailscale" && b.opts.Hooks.TailscaleDown != nil {
				go b.opts.Hooks.TailscaleDown(b)
			}

			s.stopped("Finished", "Service finished successfully")
			s.set("Starting", "Starting service")
			s.run(s)
		}
	}

	b.servicesChangedLocked()
}

// loadKubeletLocked loads kubelet and starts it once cri is up.
func (b *Board) loadKubeletLocked(network condition) {
	b.loadLocked(serviceSpec{id: "kubelet", checked: true, wait: []condition{b.upCondition("cri"), network}, run: func(s *service) {
		b.afterLocked(b.opts.Timing.Service, func() {
			s.running("Started task kubelet (PID 2211) for container kubelet")
			b.logLocked("kubelet", "kubelet started, registering node "+b.hostnameLocked())

			if b.opts.Hooks.Kubelet != nil {
				go b.opts.Hooks.Kubelet(b, true)
			}
		})
	}})
}
