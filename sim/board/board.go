// Package board is one simulated Talos board: it serves the real Talos gRPC
// API (machine service and COSI state) on its own loopback address, goes
// through maintenance → installing → rebooting → booting → running like a
// Raspberry Pi would, and fails the ways real boards fail.
package board

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cosi-project/runtime/pkg/state"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
)

// Port is apid's port.
const Port = 50000

// Spec is the hardware.
type Spec struct {
	Name    string // what the board calls itself before it has a config
	Address string // loopback address, e.g. 127.0.0.11
	Model   string // rpi4, rpi5, cm4, cm5, arm64, amd64
	Arch    string
	Product string // SystemInformation: "Raspberry Pi 5 Model B Rev 1.0"
	UUID    string
	MAC     string
	Disks   []Disk
	// Booted is the Talos version it boots in maintenance mode.
	Booted string
	// Card is the disk image written to its SD card or eMMC (an SBC's only
	// way to start Talos): the board is installed from power-on and boots
	// it; nil boots an ISO and installs on apply (upgrade.go).
	Card *Image
}

// Disk is a block device of the board.
type Disk struct {
	Path      string
	Size      uint64
	Model     string
	Transport string
}

// Timing is how long each stage takes at speed 1.
type Timing struct {
	Install time.Duration
	Reboot  time.Duration
	Boot    time.Duration
	// Service is how long a service takes to come up.
	Service time.Duration
	// Restart is the wait between restarts of a failing service (the
	// restart runner's interval: 5 s in Talos v1.13.3).
	Restart time.Duration
	// BootTimeout is how long the boot sequence waits for its services
	// before it fails and the machine reboots; 0 is Talos's own
	// (constants.BootTimeout, 70 minutes).
	BootTimeout time.Duration
}

// PiTiming is a Raspberry Pi 4 installing to a decent SD card.
var PiTiming = Timing{Install: 90 * time.Second, Reboot: 40 * time.Second, Boot: 30 * time.Second, Service: 5 * time.Second, Restart: 5 * time.Second}

// Image is what an installer reference holds.
type Image struct {
	Arch        string
	Extensions  []string
	SchematicID string
	Version     string
	// Overlay is the board overlay the image was built with (rpi_generic,
	// rpi_5), "" for none or not known (a self-built image).
	Overlay string
}

// Resolver identifies an installer reference (the simulated image factory).
// The board knows no roles: what an image holds is the resolver's answer.
type Resolver func(installer string) (Image, error)

// ImageResolver is Resolver under the name the brief gave it.
type ImageResolver = Resolver

// Faults are injected failures.
type Faults struct {
	// PowerLossDuringInstall: the board loses power halfway through its
	// first install and comes back in maintenance mode.
	PowerLossDuringInstall bool
	// SlowDisk multiplies the install time (a slow SD card).
	SlowDisk float64
	// SlowReboot multiplies every reboot's time: the API stays away much
	// longer than the caller expects.
	SlowReboot float64
	// DropDuringApply: the first N ApplyConfiguration calls in maintenance
	// mode are cut before the board reads the config — every connection
	// resets and the port closes — and the API comes back after DropFor,
	// still in maintenance mode.
	DropDuringApply int
	// DropAfterApply: the first config is taken, then the connection is cut
	// before the answer, so the caller cannot tell it took. The API stays
	// away until the board has installed and rebooted, as Talos's does.
	DropAfterApply bool
	// DropFor is how long a DropDuringApply outage lasts (default 5s).
	DropFor time.Duration
	// StallAPI: the first N unary API calls (Version included) are accepted
	// — TCP and TLS — but never answered; the caller's deadline ends them.
	StallAPI int
	// MoveAfterInstall: after its install the board comes back at this
	// address instead (a new DHCP lease).
	MoveAfterInstall string
	// FreezeInstall: the install never ends and nothing says why — not a
	// Talos behaviour but a lab fault, for the lab's watchdog to catch.
	FreezeInstall bool
}

// Hooks connect a board to the simulated Kubernetes side. All optional.
type Hooks struct {
	// Bootstrap starts the control plane (called once, in its own goroutine).
	Bootstrap func(ctx context.Context, b *Board) error
	// Kubeconfig returns the admin kubeconfig once the control plane runs.
	Kubeconfig func() ([]byte, error)
	// Kubelet reports whether this board's kubelet runs (on power loss, false).
	Kubelet func(b *Board, running bool)
	// Applied is told of every accepted config. It runs with the board's
	// lock held: it must not call back into the board.
	Applied func(cfg coreconfig.Provider)
	// Tailscale logs the board's tailscaled in with the tailscale
	// ExtensionServiceConfig's environment (TS_AUTHKEY, TS_ROUTES …); an
	// error fails the service as a refused login does. nil: any
	// well-formed key logs in. It must not call back into the board.
	Tailscale func(ctx context.Context, b *Board, env []string) error
	// TailscaleDown is told that the board's tailscaled stopped (reboot,
	// power loss, close).
	TailscaleDown func(b *Board)
	// Pull asks the installer's registry for it before the install, as
	// Talos's installer pull does; an error wrapping ErrNotFound is a
	// registry's 404. nil: every installer the Resolver knows pulls. It
	// runs without the board's lock and must not call back into the board.
	Pull func(ctx context.Context, installer string) error
}

// Options configure a board.
type Options struct {
	Spec    Spec
	Timing  Timing
	Speed   float64 // divides every duration; 1 is real time
	Resolve Resolver
	Faults  Faults
	Hooks   Hooks
	// Trustd issues certificates for boards whose config lacks the CA key.
	Trustd Trustd
	// Lab is the lab around the board (peers, etcd, pods); nil: alone.
	Lab      Lab
	Port     int // default Port
	Listener func(network, addr string) (net.Listener, error)
}

// Board is one running simulated board.
type Board struct {
	opts  Options
	moved atomic.Pointer[string] // the address it answers at, once it moved

	mu       sync.Mutex
	stage    string
	cfg      coreconfig.Provider
	cfgBytes []byte
	// staged is a config applied with STAGED or REBOOT: it takes over at
	// the next boot.
	staged      coreconfig.Provider
	stagedBytes []byte
	image       Image
	installDisk string // where the image was installed
	installed   bool
	booted      string // Talos version running
	boots       int
	bootID      string // the kernel's random boot_id, new every boot
	rollback    int    // counts applies: a TRY's rollback fires only if none came since
	bootstrap   bool
	// ephemeral counts the EPHEMERAL partitions the board had: a new one
	// with each install and each reset that wipes it. What lives on /var
	// (etcd's data, an extension's state such as tailscale's) lives as
	// long as it.
	ephemeral   int
	nodeSeen    bool // the Kubernetes Node exists (Talos: NodeStatus)
	nodeReady   bool
	powerLost   bool // a fault already fired
	drops       int  // DropDuringApply faults fired
	droppedOnce bool // DropAfterApply fired
	stalls      int  // StallAPI faults fired
	services    map[string]*service
	// evaluating and dirty guard the re-evaluation of what waits on
	// services (servicesChangedLocked).
	evaluating, dirty bool
	seq               *bootSequence       // this boot's startAllServices task
	modules           map[string]bool     // kernel modules loaded
	paths             map[string]bool     // device nodes they created
	logs              map[string][]string // by source: service id or "installer"
	dmesg             []string
	subs              map[chan string]string // log followers by service id

	st     state.State
	server *server
	x      extra // the APIs' bookkeeping (resources.go)
	api    []served

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// epoch changes on every reboot/reset; lifecycle goroutines of an old
	// epoch stop.
	epoch int
}

// Start powers a board on in maintenance mode.
func Start(ctx context.Context, opts Options) (*Board, error) {
	if opts.Speed <= 0 {
		opts.Speed = 1
	}

	if opts.Timing == (Timing{}) {
		opts.Timing = PiTiming
	}

	if opts.Port == 0 {
		opts.Port = Port
	}

	if opts.Listener == nil {
		opts.Listener = net.Listen
	}

	if opts.Spec.Booted == "" {
		opts.Spec.Booted = "v1.13.3"
	}

	if opts.Resolve == nil {
		return nil, errors.New("board: a Resolver is required to know what an installer holds")
	}

	b := &Board{opts: opts, services: map[string]*service{}, modules: map[string]bool{}, paths: map[string]bool{},
		logs: map[string][]string{}, subs: map[chan string]string{}}
	b.ctx, b.cancel = context.WithCancel(ctx)
	b.booted = opts.Spec.Booted
	b.bootID = actorID()

	st, err := newState(b.ctx, opts.Spec)
	if err != nil {
		return nil, err
	}

	b.st = st
	b.api = b.newAPIs()

	b.kmsg("Booting Linux on physical CPU 0x0000000000 [%s]", opts.Spec.Product)
	b.kmsg("talos: maintenance mode: waiting for a machine config on %s:%d", opts.Spec.Address, opts.Port)

	b.mu.Lock()
	defer b.mu.Unlock()

	if opts.Spec.Card != nil {
		b.bootCardLocked(*opts.Spec.Card)
	}

	b.startMaintenanceServicesLocked()
	b.setStageLocked("maintenance")

	if err := b.serveLocked(); err != nil {
		b.cancel()

		return nil, err
	}

	return b, nil
}

// Endpoint is host:port of the board's API.
func (b *Board) Endpoint() string {
	return net.JoinHostPort(b.address(), fmt.Sprint(b.opts.Port))
}

// address is where the board answers: the spec's address until it moved.
func (b *Board) address() string {
	if a := b.moved.Load(); a != nil {
		return *a
	}

	return b.opts.Spec.Address
}

// Spec is the board's hardware.
func (b *Board) Spec() Spec { return b.opts.Spec }

// Stage is the current machine stage.
func (b *Board) Stage() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.stage
}

// Config is the applied machine config, nil in maintenance mode.
func (b *Board) Config() coreconfig.Provider {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.cfg
}

// Hostname is the configured hostname, or the spec's name.
func (b *Board) Hostname() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.hostnameLocked()
}

func (b *Board) hostnameLocked() string {
	if b.cfg != nil {
		if h := b.cfg.NetworkHostnameConfig(); h != nil && h.Hostname() != "" {
			return h.Hostname()
		}
	}

	return b.opts.Spec.Name
}

// Extensions of the image that booted: a kubelet has its runtimes.
func (b *Board) Extensions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return append([]string(nil), b.image.Extensions...)
}

// Console is what the board's console shows: the kernel log with
// machined's lines, and before Linux the bootloader's — what a person
// reads on its screen when the API does not answer.
func (b *Board) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return slices.Clone(b.dmesg)
}

// WaitConsole waits until the console shows a line that contains s.
func (b *Board) WaitConsole(ctx context.Context, s string) error {
	lines, ch := b.subscribe("dmesg", -1)
	defer b.unsubscribe(ch)

	if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, s) }) {
		return nil
	}

	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the console never said %q: %w", s, ctx.Err())
		case l := <-ch:
			if strings.Contains(l, s) {
				return nil
			}
		}
	}
}

// Ephemeral is which EPHEMERAL partition the board runs on: it changes
// when an install formats one or a reset wipes it, never on a reboot or
// an upgrade (talos v1.13.3 v1alpha1_sequencer.go: the Upgrade sequence
// unmounts EPHEMERAL and wipes nothing).
func (b *Board) Ephemeral() int {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.ephemeral
}

// Installed tells whether an image was installed (its install finished).
func (b *Board) Installed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.installed
}

// State is the board's COSI state (read it in tests; the API serves it).
func (b *Board) State() state.State { return b.st }

// Close powers the board off for good: no goroutine, listener or
// connection survives it.
func (b *Board) Close() error {
	b.cancel()

	b.mu.Lock()
	srv := b.server
	b.server = nil
	b.epoch++
	b.mu.Unlock()

	if srv != nil {
		srv.stop()
	}

	b.wg.Wait()

	return nil
}

// SetNodeStatus is what Talos's NodeStatus resource says of this board's
// Kubernetes Node: whether it exists yet, and whether it is Ready. Talos
// holds the machine not ready until it is (MachineStatus's nodeReady check).
func (b *Board) SetNodeStatus(seen, ready bool) {
	b.mu.Lock()
	defer b.mu.Unlock()

	b.nodeSeen, b.nodeReady = seen, ready
	b.updateMachineStatusLocked()
}

// PowerCycle simulates pulling the plug and putting it back: the API goes
// away, kubelet stops, and the board boots again from what is installed.
func (b *Board) PowerCycle() {
	b.mu.Lock()
	defer b.mu.Unlock()

	b.kmsg("power lost")
	b.rebootLocked(b.opts.Timing.Reboot)
}

func (b *Board) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / b.opts.Speed)
}

// after runs f after d (scaled) unless the board rebooted or closed since;
// f runs with the lock held.
func (b *Board) afterLocked(d time.Duration, f func()) {
	epoch := b.epoch

	b.wg.Go(func() {
		t := time.NewTimer(b.scaled(d))
		defer t.Stop()

		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}

		b.mu.Lock()
		defer b.mu.Unlock()

		if b.epoch == epoch && b.ctx.Err() == nil {
			f()
		}
	})
}
