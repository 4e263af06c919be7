package image

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// DefaultExtensions is the founding role → extension matrix. Only the
// gateway carries tailscale: one subnet router per cluster.
var DefaultExtensions = map[string][]string{
	plan.Compute: {"drbd", "spin", "zfs"},
	plan.Gateway: {"drbd", "spin", "tailscale", "zfs"},
}

// RaspberryPiOverlayImage carries both Raspberry Pi overlays (see
// plan.Overlay for which model gets which).
const RaspberryPiOverlayImage = "siderolabs/sbc-raspberrypi"

// Image is what one (role, board model) pair boots.
type Image struct {
	Role  string
	Model string
	// Models are all the plan's board models that boot this same image.
	Models     []string
	Arch       string
	Extensions []string // short names, sorted
	// Schematic and SchematicID are empty for custom (self-built) images.
	Schematic   *Schematic
	SchematicID string
	Installer   string
	// DiskImage is the factory's disk image URL (the SD card's image);
	// empty for custom images.
	DiskImage string
}

// Key names the matrix cell by what makes images differ: the role and the
// overlay (rpi_generic for Pi 4 / CM4, rpi_5 for Pi 5 / CM5) or else the
// architecture.
func (im Image) Key() string {
	if im.Schematic != nil && im.Schematic.Overlay.Name != "" {
		return im.Role + "-" + im.Schematic.Overlay.Name
	}

	return im.Role + "-" + im.Arch
}

// Has tells whether the image carries an extension.
func (im Image) Has(ext string) bool { return slices.Contains(im.Extensions, ext) }

// Extensions is the extension set of a role in this plan: the plan's
// override if any, else the default. Short names, sorted, deduplicated.
func Extensions(p *plan.Plan, role string) []string {
	src, ok := p.Images.Extensions[role]
	if !ok {
		src = DefaultExtensions[role]
	}

	out := make([]string, 0, len(src))
	for _, e := range src {
		out = append(out, plan.ShortExtension(e))
	}

	slices.Sort(out)

	return slices.Compact(out)
}

// officialName maps a plan's extension name to the factory's. Names that
// already carry an owner (someone/ext) are kept as written.
func officialName(name string) string {
	if strings.Contains(name, "/") {
		return name
	}

	return "siderolabs/" + name
}

// For computes the image a board of the plan boots.
func For(p *plan.Plan, b plan.Board) (Image, error) {
	return build(p, b.Role, b.Model)
}

func build(p *plan.Plan, role, model string) (Image, error) {
	im := Image{
		Role:       role,
		Model:      model,
		Models:     []string{model},
		Arch:       plan.Arch(model),
		Extensions: Extensions(p, role),
	}

	if p.Images.Custom != "" {
		ref, err := customRef(p.Images.Custom, p.Cluster.TalosVersion, role, im.Arch, model)
		if err != nil {
			return Image{}, err
		}

		im.Installer = ref

		return im, nil
	}

	s := &Schematic{}
	if o := plan.Overlay(model); o != "" {
		s.Overlay = Overlay{Image: RaspberryPiOverlayImage, Name: o}
	}

	// Extensions as the plan wrote them (full names kept), sorted so equal
	// sets give equal IDs: the factory hashes the list in the order given.
	src, ok := p.Images.Extensions[role]
	if !ok {
		src = DefaultExtensions[role]
	}

	for _, e := range src {
		s.Customization.SystemExtensions.OfficialExtensions = append(s.Customization.SystemExtensions.OfficialExtensions, officialName(strings.TrimSpace(e)))
	}

	slices.Sort(s.Customization.SystemExtensions.OfficialExtensions)
	s.Customization.SystemExtensions.OfficialExtensions = slices.Compact(s.Customization.SystemExtensions.OfficialExtensions)

	id, err := s.ID()
	if err != nil {
		return Image{}, err
	}

	im.Schematic = s
	im.SchematicID = id
	im.Installer = FactoryInstaller(p.Images.Factory, id, p.Cluster.TalosVersion)
	im.DiskImage = DiskImageURL(p.Images.Factory, id, p.Cluster.TalosVersion, im.Arch)

	return im, nil
}

// FactoryInstaller is the installer reference Image Factory serves for a
// schematic: the metal-installer form Talos prefers since 1.10. Factory
// images are multi-arch, so one reference serves arm64 and amd64. factory
// is images.factory: a host, or a URL whose host[:port] the reference names.
func FactoryInstaller(factory, schematicID, talosVersion string) string {
	return fmt.Sprintf("%s/metal-installer/%s:%s", plan.FactoryHost(factory), schematicID, talosVersion)
}

// DiskImageURL is the factory's raw disk image of a schematic for the
// metal platform — what a Raspberry Pi's SD card gets (Image Factory
// docs/api.md: GET /image/:schematic/:version/metal-<arch>.raw.xz).
func DiskImageURL(factory, schematicID, talosVersion, arch string) string {
	u, err := plan.FactoryURL(factory)
	if err != nil {
		return ""
	}

	return u.JoinPath("image", schematicID, talosVersion, "metal-"+arch+".raw.xz").String()
}

// TemplateData is what a custom installer template can use.
type TemplateData struct {
	Version string // Talos version, e.g. v1.13.3
	Role    string // compute or gateway
	Arch    string // arm64 or amd64
	Model   string // rpi4, rpi5, cm4, cm5, arm64, amd64
}

func customRef(tmpl, version, role, arch, model string) (string, error) {
	t, err := template.New("custom").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("images.custom: %w", err)
	}

	var buf bytes.Buffer
	if err := t.Execute(&buf, TemplateData{Version: version, Role: role, Arch: arch, Model: model}); err != nil {
		return "", fmt.Errorf("images.custom: %w (fields: .Version .Role .Arch .Model)", err)
	}

	return buf.String(), nil
}

// Matrix is every distinct image the plan's board models need, in both
// roles, so the table also shows what a role change would mean. Models that
// boot the same image (rpi4 and cm4; rpi5 and cm5) share one entry.
func Matrix(p *plan.Plan) ([]Image, error) {
	var out []Image

	for _, role := range []string{plan.Compute, plan.Gateway} {
		if role == plan.Gateway && p.Tailscale.Disabled {
			continue
		}

		for _, b := range p.Boards {
			im, err := build(p, role, b.Model)
			if err != nil {
				return nil, err
			}

			i := slices.IndexFunc(out, func(o Image) bool { return o.Installer == im.Installer })

			switch {
			case i < 0:
				out = append(out, im)
			case !slices.Contains(out[i].Models, b.Model):
				out[i].Models = append(out[i].Models, b.Model)
			}
		}
	}

	return out, nil
}
