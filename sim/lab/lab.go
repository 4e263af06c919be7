// Package lab is the simulated home lab: simulated Talos boards on loopback
// addresses, a real Kubernetes control plane started when the first control
// plane is bootstrapped, and a simulated kubelet per board — wired the way
// the real pieces are wired, so liftoff drives it with its ordinary code.
package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/crypto/x509"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"go.yaml.in/yaml/v4"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/sim/board"
	simfactory "github.com/liftoff-lab/liftoff/sim/factory"
	"github.com/liftoff-lab/liftoff/sim/kube"
	"github.com/liftoff-lab/liftoff/sim/tailnet"
)

// BoardSpec is one board of a simulated lab and what the plan makes of it.
type BoardSpec struct {
	Name    string `yaml:"name"`
	Model   string `yaml:"model"`
	Machine string `yaml:"machine"`
	Role    string `yaml:"role"`
	// Card is the role whose Image Factory disk image is written to the
	// board's SD card or eMMC ("role": its own role's): it boots that, and
	// applying a config installs nothing (sim/board upgrade.go). Empty:
	// it boots an ISO and installs its config's installer on apply — the
	// only way for an amd64 board.
	Card string `yaml:"card,omitempty"`
}

// Spec describes a simulated lab.
type Spec struct {
	Cluster string      `yaml:"cluster"`
	Profile string      `yaml:"profile,omitempty"` // cluster.profile of the plan
	First   string      `yaml:"first"`             // first board address; the rest follow
	Boards  []BoardSpec `yaml:"boards"`
}

// DefaultSpec is three Raspberry Pis and a small amd64 box as the gateway:
// a mixed lab, so multi-arch confidence has two architectures to check.
func DefaultSpec() Spec {
	return Spec{
		Cluster: "homelab",
		First:   "127.0.0.11",
		Boards: []BoardSpec{
			{Name: "pi-cp-1", Model: plan.RPi5, Machine: plan.ControlPlane, Role: plan.Compute},
			{Name: "pi-w-1", Model: plan.RPi4, Machine: plan.Worker, Role: plan.Compute},
			{Name: "pi-w-2", Model: plan.RPi4, Machine: plan.Worker, Role: plan.Compute},
			{Name: "edge", Model: plan.AMD64, Machine: plan.Worker, Role: plan.Gateway},
		},
	}
}

// Options tune a lab.
type Options struct {
	Spec     Spec
	Scenario string  // default "happy"
	Speed    float64 // divides board timings; 1 is real Raspberry Pi time
	// BootTimeout is how long a board's boot sequence waits for its
	// services before Talos reboots it; 0 is Talos's 70 minutes (divided
	// by Speed like every timing). Tests that judge a waiting board at
	// leisure make it longer.
	BootTimeout time.Duration
	Log         io.Writer
	// Kube are extra control plane options (tests shorten the grace period).
	Kube kube.Options
	// Faults, when set, replace the scenario's faults (tests inject lab
	// faults with it).
	Faults func(i int, b plan.Board) board.Faults
	// KeepCards leaves a card's image running: the bring-up does not
	// upgrade boards whose card runs another image than their config's
	// installer (what the lab looks like without liftoff's upgrade).
	KeepCards bool
}

// Lab is a running simulated lab.
type Lab struct {
	opts     Options
	scenario Scenario
	plan     *plan.Plan
	catalog  *image.Catalog
	boards   []*board.Board

	mu       sync.Mutex
	cas      map[string]*x509.PEMEncodedCertificateAndKey // OS CAs with keys, by certificate
	cp       *kube.ControlPlane
	cpHost   *board.Board // the board the control plane runs on
	cpErr    error
	cpReady  chan struct{}
	kubelets map[string]*kube.Kubelet
	want     map[string]*board.Board  // boards whose kubelet should run
	routers  map[string]*tailnet.Node // tailscaled of each board that logged in, by address

	factory  *simfactory.Factory
	tailnet  *tailnet.Tailnet
	opMu     sync.Mutex
	operator *tailnet.Node

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start powers on every board in maintenance mode.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	if len(opts.Spec.Boards) == 0 {
		opts.Spec = DefaultSpec()
	}

	if opts.Scenario == "" {
		opts.Scenario = "happy"
	}

	if opts.Speed <= 0 {
		opts.Speed = 1
	}

	if opts.Log == nil {
		opts.Log = io.Discard
	}

	sc, err := Lookup(opts.Scenario)
	if err != nil {
		return nil, err
	}

	if sc.Spec != nil {
		opts.Spec = sc.Spec(opts.Spec)
	}

	p, err := opts.Spec.Plan()
	if err != nil {
		return nil, err
	}

	if sc.Plan != nil {
		sc.Plan(p)

		if err := p.Validate().Err(); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
	}

	l := &Lab{opts: opts, scenario: sc, plan: p,
		cpReady: make(chan struct{}), cas: map[string]*x509.PEMEncodedCertificateAndKey{}, kubelets: map[string]*kube.Kubelet{}, want: map[string]*board.Board{},
		routers: map[string]*tailnet.Node{}}
	l.ctx, l.cancel = context.WithCancel(ctx)

	// The lab's Image Factory, on the first board's address: the plan
	// points at it, bringup registers with it, boards pull from it.
	if l.factory, err = simfactory.Start(l.ctx, net.JoinHostPort(opts.Spec.First, FactoryPort)); err != nil {
		l.cancel()

		return nil, fmt.Errorf("%w (is the address free?)", err)
	}

	p.Images.Factory = l.factory.URL()

	matrix, err := image.Matrix(p)
	if err != nil {
		l.Close() //nolint:errcheck

		return nil, err
	}

	l.catalog = image.NewCatalog(matrix...)

	if err := l.startTailnet(); err != nil {
		l.factory.Close() //nolint:errcheck
		l.cancel()

		return nil, err
	}

	if sc.Images != nil {
		l.catalog.Add(sc.Images(p)...)
	}

	for i, b := range p.Boards {
		faults := board.Faults{}
		if sc.Faults != nil {
			faults = sc.Faults(i, b)
		}

		if opts.Faults != nil {
			faults = opts.Faults(i, b)
		}

		hw := hardware(i, b)
		if hw.Card, err = l.card(p, opts.Spec.Boards[i], b); err != nil {
			l.Close() //nolint:errcheck

			return nil, err
		}

		bd, err := board.Start(l.ctx, board.Options{
			Spec:    hw,
			Speed:   opts.Speed,
			Timing:  timing(opts.BootTimeout),
			Resolve: l.resolve,
			Faults:  faults,
			Trustd:  l.trustd,
			Lab:     l,
			Hooks: board.Hooks{
				Bootstrap:     l.bootstrap,
				Kubeconfig:    l.kubeconfig,
				Kubelet:       l.kubelet,
				Applied:       l.applied,
				Tailscale:     l.tailscaleUp,
				TailscaleDown: l.tailscaleDown,
				Pull:          l.pull,
			},
		})
		if err != nil {
			l.Close() //nolint:errcheck

			return nil, fmt.Errorf("starting %s on %s: %w (is the address free?)", b.Name, b.Address, err)
		}

		l.mu.Lock()
		l.boards = append(l.boards, bd)
		l.mu.Unlock()
	}

	return l, nil
}

// Plan is the plan the lab's boards follow (a copy).
func (l *Lab) Plan() *plan.Plan {
	data, _ := l.plan.Marshal()
	p, _ := plan.Parse(data)

	return p
}

// Scenario is the scenario the lab runs.
func (l *Lab) Scenario() Scenario { return l.scenario }

// Boards are the simulated boards in plan order.
func (l *Lab) Boards() []*board.Board { return l.boards }

// Catalog is what the simulated images hold.
func (l *Lab) Catalog() *image.Catalog { return l.catalog }

// FactoryPort is where the lab's Image Factory listens, on the first
// board's address: fixed, so a lab's installer references are the same
// every run (goldens, recordings).
const FactoryPort = "8080"

// Factory is the lab's Image Factory stand-in.
func (l *Lab) Factory() *simfactory.Factory { return l.factory }

// LoadSpec reads a sim spec file (YAML, the fields of Spec).
func LoadSpec(path string) (Spec, error) {
	data, err := fileio.ReadFile(path, fileio.SimSpec)
	if err != nil {
		return Spec{}, err
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)

	var s Spec
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%s: %w (fields: cluster, profile, first, boards: [{name, model, machine, role, card}])", path, err)
	}

	if s.First == "" {
		s.First = DefaultSpec().First
	}

	if _, err := s.Plan(); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}

	return s, nil
}

// Plan turns a spec into the plan a person would write for it.
func (s Spec) Plan() (*plan.Plan, error) {
	first, err := netip.ParseAddr(s.First)
	if err != nil || !first.IsLoopback() {
		return nil, fmt.Errorf("sim spec: first address %q must be a loopback address such as 127.0.0.11", s.First)
	}

	var b strings.Builder

	fmt.Fprintf(&b, "cluster: {name: %s, profile: %q}\nnetwork: {lan: 127.0.0.0/8}\nboards:\n", s.Cluster, s.Profile)

	addr := first
	for _, bs := range s.Boards {
		fmt.Fprintf(&b, "  - {name: %s, address: %s, model: %s, machine: %s, role: %s}\n", bs.Name, addr, bs.Model, bs.Machine, bs.Role)
		addr = addr.Next()
	}

	p, err := plan.Parse([]byte(b.String()))
	if err != nil {
		return nil, err
	}

	if err := p.Validate().Err(); err != nil {
		return nil, fmt.Errorf("sim spec: %w", err)
	}

	return p, nil
}

// timing is a Raspberry Pi's, with the boot sequence's timeout.
func timing(bootTimeout time.Duration) board.Timing {
	t := board.PiTiming
	t.BootTimeout = bootTimeout

	return t
}

// hardware makes a board's identity from its plan entry. Pis boot from an
// SD card (eMMC on a compute module); a Pi 4 has a USB SSD beside it, a Pi 5
// or CM5 an NVMe drive on its PCIe connector (an M.2 HAT, or the carrier).
func hardware(i int, b plan.Board) board.Spec {
	product := map[string]string{
		plan.RPi4: "Raspberry Pi 4 Model B Rev 1.4", plan.RPi5: "Raspberry Pi 5 Model B Rev 1.0",
		plan.CM4: "Raspberry Pi Compute Module 4 Rev 1.0", plan.CM5: "Raspberry Pi Compute Module 5 Rev 1.0",
		plan.ARM64: "Generic ARM64 board", plan.AMD64: "Intel NUC 11",
	}[b.Model]

	var disks []board.Disk

	switch b.Model {
	case plan.RPi4:
		disks = []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Model: "SD32G", Transport: "mmc"}, {Path: "/dev/sda", Size: 256e9, Model: "USB SSD", Transport: "usb"}}
	case plan.RPi5:
		disks = []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Model: "SD32G", Transport: "mmc"}, {Path: "/dev/nvme0n1", Size: 256e9, Model: "NVMe SSD", Transport: "nvme"}}
	case plan.CM4:
		disks = []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Model: "eMMC 32G", Transport: "mmc"}, {Path: "/dev/sda", Size: 256e9, Model: "USB SSD", Transport: "usb"}}
	case plan.CM5:
		disks = []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Model: "eMMC 32G", Transport: "mmc"}, {Path: "/dev/nvme0n1", Size: 256e9, Model: "NVMe SSD", Transport: "nvme"}}
	default:
		disks = []board.Disk{{Path: "/dev/sda", Size: 512e9, Model: "SATA SSD", Transport: "sata"}}
	}

	return board.Spec{
		Name:    fmt.Sprintf("talos-%03d", i+1),
		Address: b.Address,
		Model:   b.Model,
		Arch:    plan.Arch(b.Model),
		Product: product,
		UUID:    fmt.Sprintf("4c4c4544-0000-1000-8000-%012d", i+1),
		MAC:     fmt.Sprintf("dc:a6:32:00:01:%02x", i+1),
		Disks:   disks,
	}
}

// pull asks the lab's factory for an installer, as a board's containerd
// resolver does: a HEAD of its manifest. The factory answers 404 for a
// schematic nobody registered, which containerd reports as
// "failed to resolve reference …: …: not found". Installers of other
// registries (a scenario's self-built images) are the catalogue's to know.
func (l *Lab) pull(ctx context.Context, ref string) error {
	rest, ours := strings.CutPrefix(ref, l.factory.Host()+"/")
	if !ours {
		return nil
	}

	i := strings.LastIndex(rest, ":")
	if i <= 0 {
		return fmt.Errorf("failed to parse image reference %q", ref)
	}

	repo, tag := rest[:i], rest[i+1:]

	url := l.factory.URL() + "/v2/" + repo + "/manifests/" + tag

	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return err
	}

	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to resolve reference %q: %w", ref, err)
	}

	resp.Body.Close() //nolint:errcheck

	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("failed to resolve reference %q: %s: %w", ref, ref, board.ErrNotFound)
	}

	return fmt.Errorf("failed to resolve reference %q: unexpected status from HEAD request to %s: %s", ref, url, resp.Status)
}

// resolve is what a pulled installer holds: liftoff's own catalogue of the
// schematics it computed, plus what the scenario adds.
func (l *Lab) resolve(ref string) (board.Image, error) { return board.CatalogResolver(l.catalog)(ref) }

// card is the image on a board's SD card, nil for none (an ISO boot).
func (l *Lab) card(p *plan.Plan, bs BoardSpec, b plan.Board) (*board.Image, error) {
	role := bs.Card
	if role == "" {
		return nil, nil //nolint:nilnil // no card
	}

	if b.Model == plan.AMD64 {
		return nil, fmt.Errorf("sim spec: %s is an amd64 board: it boots an ISO, not a card (drop its card field)", b.Name)
	}

	if role == "role" {
		role = b.Role
	}

	if role != plan.Compute && role != plan.Gateway {
		return nil, fmt.Errorf("sim spec: %s's card %q: want role, compute or gateway", b.Name, bs.Card)
	}

	b.Role = role

	im, err := image.For(p, b)
	if err != nil {
		return nil, err
	}

	img, err := l.resolve(im.Installer)
	if err != nil {
		return nil, fmt.Errorf("%s's card: %w", b.Name, err)
	}

	return &img, nil
}

// applied remembers the OS CA of every control plane config: what trustd
// signs worker certificates with. Boards call it with their lock held, so
// it touches only the lab's own state.
func (l *Lab) applied(cfg coreconfig.Provider) {
	ca := cfg.Machine().Security().IssuingCA()
	if ca == nil || len(ca.Key) == 0 {
		return
	}

	l.mu.Lock()
	defer l.mu.Unlock()

	l.cas[string(ca.Crt)] = ca
}

// trustd issues worker certificates from a control plane's OS CA, as the
// control planes' trustd does.
func (l *Lab) trustd(crt []byte) (*x509.PEMEncodedCertificateAndKey, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()

	ca, ok := l.cas[string(crt)]

	return ca, ok
}

// bootstrap starts the control plane on the board that was bootstrapped,
// from the secrets in its own config, as a control plane does.
func (l *Lab) bootstrap(ctx context.Context, b *board.Board) error {
	cfg := b.Config()
	if cfg == nil {
		return errors.New("no config")
	}

	bundle := secrets.NewBundleFromConfig(secrets.NewClock(), cfg)

	opts := l.opts.Kube
	if opts.StopGrace == 0 {
		// The lab's cluster is thrown away on close: waiting 5 s per
		// process for a graceful shutdown only delays quitting the demo.
		opts.StopGrace = time.Second
	}

	opts.Secrets = bundle
	opts.ClusterName = cfg.Cluster().Name()
	opts.Address = b.Spec().Address
	opts.PodCIDR = strings.Join(cfg.Cluster().Network().PodCIDRs(), ",")
	opts.ServiceCIDR = strings.Join(cfg.Cluster().Network().ServiceCIDRs(), ",")
	opts.Log = l.opts.Log
	opts.NodeName = b.Hostname()

	cp, err := kube.Start(l.ctx, opts)
	if err == nil {
		// What Talos's manifest controller applies once the API answers.
		err = cp.ApplyBootstrap(l.ctx, bootstrapManifests(cfg))
	}

	l.mu.Lock()
	l.cp, l.cpHost, l.cpErr = cp, b, err
	close(l.cpReady)
	pending := make([]*board.Board, 0, len(l.want))

	for _, w := range l.want {
		pending = append(pending, w)
	}
	l.mu.Unlock()

	if err != nil {
		return err
	}

	for _, w := range pending {
		l.kubelet(w, true)
	}

	return nil
}

func (l *Lab) kubeconfig() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()

	select {
	case <-l.cpReady:
	default:
		return nil, errors.New("the Kubernetes control plane is still starting")
	}

	if l.cpErr != nil {
		return nil, l.cpErr
	}

	return l.cp.Kubeconfig(), nil
}

// ControlPlane waits for the control plane (after bootstrap).
func (l *Lab) ControlPlane(ctx context.Context) (*kube.ControlPlane, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.cpReady:
	}

	l.mu.Lock()
	defer l.mu.Unlock()

	return l.cp, l.cpErr
}

// kubelet follows a board's Talos side: kubelet runs while the board runs.
// Lock order: board state is read before the lab's lock is taken, because
// boards call into the lab with their own lock held.
func (l *Lab) kubelet(b *board.Board, running bool) {
	addr, name, cfg, exts := b.Spec().Address, b.Hostname(), b.Config(), b.Extensions()

	l.mu.Lock()
	defer l.mu.Unlock()

	if l.ctx.Err() != nil {
		return
	}

	if !running {
		delete(l.want, addr)

		if kl, ok := l.kubelets[addr]; ok {
			kl.SetHealthy(false)
		}

		return
	}

	l.want[addr] = b

	if l.cp == nil || cfg == nil {
		return // started when the control plane is up
	}

	if b == l.cpHost {
		// Talos reports the static pods its kubelet runs; the board is
		// told outside the lab's lock (lock order: board, then lab).
		l.wg.Go(func() { b.SetStaticPods(true) })
	}

	if kl, ok := l.kubelets[addr]; ok {
		if kl.NodeName() == name && slices.Equal(kl.Extensions(), exts) {
			kl.SetHealthy(true)

			return
		}

		// Renamed: the kubelet starts again under its new Node name.
		// Upgraded into an image with other extensions: containerd's
		// runtimes are the new image's (an extension's containerd config
		// part, e.g. spin's runtime handler, comes with the image:
		// siderolabs/extensions v1.13.3 container-runtime/spin/10-spin.part),
		// so the kubelet
		// starts again with them.
		kl.Stop()
		delete(l.kubelets, addr)
	}

	nodeCfg, err := l.cp.NodeKubeconfig(name)
	if err != nil {
		fmt.Fprintf(l.opts.Log, "kubelet %s: %v\n", name, err)

		return
	}

	labels := cfg.Machine().NodeLabels()

	var (
		static  []kube.StaticPod
		version string
	)

	if b == l.cpHost {
		static, version = staticPods(cfg)
	}

	kl, err := kube.StartKubelet(l.ctx, kube.KubeletOptions{
		NodeName: name, Address: addr, Arch: b.Spec().Arch,
		ControlPlane: cfg.Machine().Type().IsControlPlane(), Role: labels["liftoff.dev/role"],
		Extensions: exts, Labels: labels,
		Kubeconfig: nodeCfg, AdminKubeconfig: l.cp.Kubeconfig(), Network: l.cp.Network(), Log: l.opts.Log,
		NodeReady:     func(ready bool) { b.SetNodeStatus(true, ready) },
		NetworkAgents: networkAgents(cfg), StaticPods: static, K8sVersion: version,
	})
	if err != nil {
		fmt.Fprintf(l.opts.Log, "kubelet %s: %v\n", name, err)

		return
	}

	l.kubelets[addr] = kl
}

// Close stops everything: kubelets, control plane, boards.
func (l *Lab) Close() error {
	l.cancel()

	l.mu.Lock()
	kls := l.kubelets
	l.kubelets = map[string]*kube.Kubelet{}
	cp := l.cp
	l.mu.Unlock()

	// In parallel: each waits for its session's calls to the API server
	// to end, which one after another took minutes with 200 boards.
	var kwg sync.WaitGroup
	for _, kl := range kls {
		kwg.Go(kl.Stop)
	}
	kwg.Wait()

	var errs []error

	if cp != nil {
		errs = append(errs, cp.Stop())
	}

	// Each board waits up to 200 ms for its open calls (a watch is one):
	// one after another, that was 10 s for 50 boards.
	berrs := make([]error, len(l.boards))

	var wg sync.WaitGroup
	for i, b := range l.boards {
		wg.Go(func() { berrs[i] = b.Close() })
	}
	wg.Wait()

	errs = append(errs, berrs...)

	errs = append(errs, l.closeTailnet())

	if l.factory != nil {
		errs = append(errs, l.factory.Close())
	}

	l.wg.Wait()

	return errors.Join(errs...)
}
