// Package plan is the lab plan: which boards exist, what each one becomes
// (machine type and image role) and the cluster's network. It is the one file
// (lab.yaml) the user writes by hand or the wizard writes for them.
package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/constants"
	"go.yaml.in/yaml/v4"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Machine types, as Talos names them.
const (
	ControlPlane = "controlplane"
	Worker       = "worker"
)

// Image roles: the founding design decision. Every board runs exactly one of
// these images; only the gateway carries tailscale.
const (
	Compute = "compute"
	Gateway = "gateway"
)

// Board models liftoff knows how to build images for. The compute modules
// (CM4, CM5, e.g. on a Turing Pi 2 carrier) boot the image of their Pi.
const (
	RPi4  = "rpi4"
	RPi5  = "rpi5"
	CM4   = "cm4"
	CM5   = "cm5"
	ARM64 = "arm64"
	AMD64 = "amd64"
)

// Models lists the accepted board models, for help and errors.
var Models = []string{RPi4, RPi5, CM4, CM5, ARM64, AMD64}

// Raspberry Pi overlays Talos v1.13.3 ships from siderolabs/sbc-raspberrypi
// v0.2.0 (its README: "Raspberry Pi generic (models before Pi 5), Raspberry
// Pi 5"). rpi_generic's firmware step removes the bcm2712 device trees, so a
// Pi 5 does not boot it; rpi_5 is the only one with them.
const (
	OverlayRPiGeneric = "rpi_generic"
	OverlayRPi5       = "rpi_5"
)

// Overlay is the Image Factory overlay a board model needs, "" for none.
func Overlay(model string) string {
	switch model {
	case RPi4, CM4:
		return OverlayRPiGeneric
	case RPi5, CM5:
		return OverlayRPi5
	}

	return ""
}

// Defaults. The pod and service CIDRs are Talos's own defaults.
const (
	DefaultTalosVersion      = "v1.13.3"
	DefaultKubernetesVersion = "v" + constants.DefaultKubernetesVersion
	DefaultPodCIDR           = "10.244.0.0/16"
	DefaultServiceCIDR       = "10.96.0.0/12"
	DefaultFactory           = "factory.talos.dev"
	DefaultAPIPort           = 6443
)

// Plan is lab.yaml.
type Plan struct {
	Cluster   Cluster   `yaml:"cluster"`
	Network   Network   `yaml:"network,omitempty"`
	Tailscale Tailscale `yaml:"tailscale,omitempty"`
	Images    Images    `yaml:"images,omitempty"`
	Boards    []Board   `yaml:"boards"`
}

// Cluster holds cluster-wide identity and versions.
type Cluster struct {
	Name              string `yaml:"name"`
	TalosVersion      string `yaml:"talosVersion,omitempty"`
	KubernetesVersion string `yaml:"kubernetesVersion,omitempty"`
	// Endpoint is the Kubernetes API URL: the VIP or the first control plane.
	// Empty means "derive it" (VIP if set, else first control plane).
	Endpoint string `yaml:"endpoint,omitempty"`
	// VIP is an optional layer-2 shared address for the control planes.
	VIP string `yaml:"vip,omitempty"`
	// AllowSchedulingOnControlPlanes lets small labs run pods on control planes.
	AllowSchedulingOnControlPlanes bool `yaml:"allowSchedulingOnControlPlanes,omitempty"`
	// Profile is what the cluster is made ready for: "" plain Talos, or
	// "cozystack" (see CozyStack).
	Profile string `yaml:"profile,omitempty"`
}

// Network is the cluster's address plan.
type Network struct {
	// LAN is the boards' own network; pod and service CIDRs must not overlap it.
	// Empty means "only check against the boards' addresses".
	LAN         string `yaml:"lan,omitempty"`
	PodCIDR     string `yaml:"podCIDR,omitempty"`
	ServiceCIDR string `yaml:"serviceCIDR,omitempty"`
}

// Tailscale configures the gateway's subnet router.
type Tailscale struct {
	// Disabled is the explicit "no tailscale" choice: then no board may be a gateway.
	Disabled bool `yaml:"disabled,omitempty"`
	// AuthKeyFile points at a file holding the auth key. The key itself never
	// lives in lab.yaml, which is meant to be shared and committed.
	AuthKeyFile string `yaml:"authKeyFile,omitempty"`
	// Hostname of the gateway on the tailnet; defaults to "<cluster>-gateway".
	Hostname string `yaml:"hostname,omitempty"`
	// ExtraArgs are passed as TS_EXTRA_ARGS (e.g. "--advertise-tags=tag:k8s").
	ExtraArgs string `yaml:"extraArgs,omitempty"`
	// Routes are advertised besides the pod and service CIDRs: the boards'
	// LAN, a load-balancer pool.
	Routes []string `yaml:"routes,omitempty"`
	// ExitNode makes the gateway an exit node too: only on purpose.
	ExitNode bool `yaml:"exitNode,omitempty"`
}

// Images overrides the image matrix.
type Images struct {
	// Factory is the Image Factory: a host (default factory.talos.dev,
	// spoken to over https) or, for a self-hosted one, a URL such as
	// http://10.0.0.5:8080. Installer references name its host[:port]; the
	// schematics are registered at the URL (see FactoryURL).
	Factory string `yaml:"factory,omitempty"`
	// Extensions overrides the extension set per role (compute, gateway).
	Extensions map[string][]string `yaml:"extensions,omitempty"`
	// Custom is an installer reference template for self-built images (e.g. the
	// CozyStack build machinery), such as "ghcr.io/me/talos:{{.Version}}-{{.Role}}".
	// When set, it replaces Image Factory installer references.
	Custom string `yaml:"custom,omitempty"`
}

// Board is one machine of the lab.
type Board struct {
	Name        string `yaml:"name"`
	Address     string `yaml:"address"`
	Model       string `yaml:"model"`
	InstallDisk string `yaml:"installDisk,omitempty"`
	Machine     string `yaml:"machine"`
	Role        string `yaml:"role"`
	// Link is the network interface the VIP is announced on (control planes only).
	Link string `yaml:"link,omitempty"`
}

// Load reads and parses a plan file, filling defaults. It does not validate.
func Load(path string) (*Plan, error) {
	data, err := fileio.ReadFile(path, fileio.Plan)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plan %s does not exist: write one (see examples/lab.yaml) or run `liftoff plan init %s`", path, path)
		}

		return nil, fmt.Errorf("reading the plan: %w", err)
	}

	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}

	return p, nil
}

// Parse decodes a plan strictly (unknown fields are errors, so typos surface)
// and fills defaults.
func Parse(data []byte) (*Plan, error) {
	if strings.TrimSpace(string(data)) == "" {
		return nil, errors.New("the plan is empty: it needs at least cluster.name and one board")
	}

	if err := refuseSecrets(data); err != nil {
		return nil, err
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)

	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("the plan is not valid YAML for liftoff: %s (fix the field named there; see examples/lab.yaml for every field)", cleanYAMLError(err))
	}

	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("the plan holds more than one YAML document: keep a single document in lab.yaml")
	}

	p.Default()

	return &p, nil
}

// refuseSecrets stops an auth key pasted into lab.yaml before it spreads:
// the plan is copied next to configs and is meant to be shareable.
func refuseSecrets(data []byte) error {
	if bytes.Contains(data, []byte("tskey-")) {
		return errors.New("the plan contains what looks like a Tailscale auth key (tskey-…): keep the key out of lab.yaml; put it in a file (mode 0600) and set tailscale.authKeyFile, or export TS_AUTHKEY")
	}

	return nil
}

func cleanYAMLError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// Default fills every field a user may leave out. It is idempotent.
func (p *Plan) Default() {
	if p.Cluster.TalosVersion == "" {
		p.Cluster.TalosVersion = DefaultTalosVersion
	}

	if p.Cluster.KubernetesVersion == "" {
		p.Cluster.KubernetesVersion = DefaultKubernetesVersion
	}

	if p.Network.PodCIDR == "" {
		p.Network.PodCIDR = DefaultPodCIDR
	}

	if p.Network.ServiceCIDR == "" {
		p.Network.ServiceCIDR = DefaultServiceCIDR
		if p.Cluster.Profile == ProfileCozyStack {
			p.Network.ServiceCIDR = CozyStack.ServiceCIDR
		}
	}

	if p.Cluster.Profile == ProfileCozyStack {
		// CozyStack runs workloads on its control planes (talm's preset).
		p.Cluster.AllowSchedulingOnControlPlanes = true
	}

	if p.Images.Factory == "" {
		p.Images.Factory = DefaultFactory
	}

	if p.Tailscale.Hostname == "" && p.Cluster.Name != "" {
		p.Tailscale.Hostname = p.Cluster.Name + "-gateway"
	}

	for i := range p.Boards {
		b := &p.Boards[i]

		b.Model = strings.ToLower(b.Model)
		b.Machine = strings.ToLower(b.Machine)
		b.Role = strings.ToLower(b.Role)

		if b.InstallDisk == "" {
			b.InstallDisk = DefaultInstallDisk(b.Model)
		}

		if b.Link == "" && IsRaspberryPi(b.Model) {
			// Talos names the Pi's onboard Ethernet end0.
			b.Link = "end0"
		}
	}
}

// DefaultInstallDisk is where Talos goes when the plan does not say: the SD
// card on a Pi (the medium it boots from; a compute module's eMMC sits on
// the same interface, so it is /dev/mmcblk0 too), the first disk elsewhere.
func DefaultInstallDisk(model string) string {
	if IsRaspberryPi(model) {
		return "/dev/mmcblk0"
	}

	return "/dev/sda"
}

// IsRaspberryPi tells whether a model needs a Raspberry Pi overlay.
func IsRaspberryPi(model string) bool {
	return Overlay(model) != ""
}

// BootsOnlyFromMMC tells whether a model's official overlay boots only from
// the SD card or eMMC: the Pi 5 and CM5. The rpi_5 overlay of
// sbc-raspberrypi v0.2.0 chain-loads the rpi_generic U-Boot, which has no
// PCIe or RP1 support, and the Pi 5's NVMe (PCIe) and USB (behind RP1) are
// out of its reach (sbc-raspberrypi issue #96, PR #97; "Booting from NVMe
// is not possible yet", a maintainer in PR #79). Talos can use such a disk
// once it runs.
func BootsOnlyFromMMC(model string) bool {
	return Overlay(model) == OverlayRPi5
}

// IsMMC tells whether a device path is an SD card or eMMC.
func IsMMC(dev string) bool { return strings.HasPrefix(dev, "/dev/mmcblk") }

// Arch is the CPU architecture of a board model.
func Arch(model string) string {
	if model == AMD64 {
		return "amd64"
	}

	return "arm64"
}

// Gateway returns the gateway board, if there is one.
func (p *Plan) Gateway() (Board, bool) {
	for _, b := range p.Boards {
		if b.Role == Gateway {
			return b, true
		}
	}

	return Board{}, false
}

// ControlPlanes returns the control plane boards in plan order.
func (p *Plan) ControlPlanes() []Board {
	var out []Board

	for _, b := range p.Boards {
		if b.Machine == ControlPlane {
			out = append(out, b)
		}
	}

	return out
}

// Board finds a board by name.
func (p *Plan) Board(name string) (Board, bool) {
	for _, b := range p.Boards {
		if b.Name == name {
			return b, true
		}
	}

	return Board{}, false
}

// EndpointURL is the Kubernetes API endpoint the configs use: the explicit
// one, else the VIP, else the first control plane.
func (p *Plan) EndpointURL() string {
	switch {
	case p.Cluster.Endpoint != "":
		return p.Cluster.Endpoint
	case p.Cluster.VIP != "":
		return fmt.Sprintf("https://%s:%d", p.Cluster.VIP, DefaultAPIPort)
	}

	if cps := p.ControlPlanes(); len(cps) > 0 {
		return fmt.Sprintf("https://%s:%d", bracketIPv6(cps[0].Address), DefaultAPIPort)
	}

	return ""
}

func bracketIPv6(addr string) string {
	if strings.Contains(addr, ":") {
		return "[" + addr + "]"
	}

	return addr
}

// Marshal writes the plan back as YAML (what the wizard saves).
func (p *Plan) Marshal() ([]byte, error) {
	var buf bytes.Buffer

	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)

	if err := enc.Encode(p); err != nil {
		return nil, err
	}

	if err := enc.Close(); err != nil {
		return nil, err
	}

	return buf.Bytes(), nil
}

// FactoryURL is where the Image Factory's HTTP API answers for images.factory:
// a bare host[:port] is spoken to over https, as factory.talos.dev is; a
// URL keeps its scheme. A path is refused: the factory's routes (/schematics,
// /image/…, /v2/…) hang off its root, and an installer reference cannot
// carry a path prefix the factory would understand.
func FactoryURL(factory string) (*url.URL, error) {
	raw := strings.TrimSpace(factory)
	if raw == "" {
		raw = DefaultFactory
	}

	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}

	u, err := url.Parse(raw)

	switch {
	case err != nil:
		return nil, fmt.Errorf("image factory %q is neither a host nor a URL: %w", factory, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("image factory %q: the scheme must be http or https", factory)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("image factory %q has no host", factory)
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil:
		return nil, fmt.Errorf("image factory %q has a path, query or credentials: give only scheme, host and port", factory)
	}

	u.Path = ""

	return u, nil
}

// FactoryHost is the registry host[:port] installer references name for
// images.factory: the URL's host and port without its scheme (OCI
// references carry none). Talos pulls from it over https unless the
// machine config's registry mirrors say otherwise.
func FactoryHost(factory string) string {
	u, err := FactoryURL(factory)
	if err != nil {
		return factory
	}

	return u.Host
}
