package image

import (
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

func testPlan(t *testing.T, extra string) *plan.Plan {
	t.Helper()

	p, err := plan.Parse([]byte(`
cluster: {name: lab}
` + extra + `
boards:
  - {name: pi-1, address: 192.168.1.11, model: rpi5, machine: controlplane, role: compute}
  - {name: pi-2, address: 192.168.1.12, model: rpi4, machine: worker, role: gateway}
  - {name: nuc, address: 192.168.1.13, model: amd64, machine: worker, role: compute}
`))
	if err != nil {
		t.Fatal(err)
	}

	return p
}

func TestRolesGetTheirExtensions(t *testing.T) {
	p := testPlan(t, "")

	compute, err := For(p, p.Boards[0])
	if err != nil {
		t.Fatal(err)
	}

	gateway, err := For(p, p.Boards[1])
	if err != nil {
		t.Fatal(err)
	}

	if got := strings.Join(compute.Extensions, " "); got != "drbd spin zfs" {
		t.Errorf("compute extensions = %q", got)
	}

	if got := strings.Join(gateway.Extensions, " "); got != "drbd spin tailscale zfs" {
		t.Errorf("gateway extensions = %q", got)
	}

	if compute.Has("tailscale") {
		t.Error("compute image carries tailscale")
	}

	// Pi 5 (compute here) needs rpi_5; rpi_generic drops its device trees.
	if compute.Schematic.Overlay.Name != "rpi_5" || gateway.Schematic.Overlay.Name != "rpi_generic" || gateway.Schematic.Overlay.Image != "siderolabs/sbc-raspberrypi" {
		t.Errorf("overlays: rpi5 %q, rpi4 %q; want rpi_5 and rpi_generic", compute.Schematic.Overlay.Name, gateway.Schematic.Overlay.Name)
	}

	nuc, _ := For(p, p.Boards[2])
	if nuc.Schematic.Overlay.Name != "" || nuc.Arch != "amd64" {
		t.Errorf("amd64 board: overlay %q arch %s", nuc.Schematic.Overlay.Name, nuc.Arch)
	}

	if compute.SchematicID == gateway.SchematicID || compute.SchematicID == nuc.SchematicID {
		t.Error("different images share a schematic ID")
	}

	want := "factory.talos.dev/metal-installer/" + gateway.SchematicID + ":v1.13.3"
	if gateway.Installer != want {
		t.Errorf("installer = %s, want %s", gateway.Installer, want)
	}
}

func TestSchematicIDIgnoresListOrder(t *testing.T) {
	a := testPlan(t, "images: {extensions: {compute: [zfs, drbd, spin]}}")
	b := testPlan(t, "images: {extensions: {compute: [siderolabs/spin, drbd, zfs]}}")

	ia, _ := For(a, a.Boards[0])
	ib, _ := For(b, b.Boards[0])

	if ia.SchematicID != ib.SchematicID {
		t.Errorf("same set, different IDs: %s vs %s", ia.SchematicID, ib.SchematicID)
	}

	def := testPlan(t, "")
	idef, _ := For(def, def.Boards[0])

	if ia.SchematicID != idef.SchematicID {
		t.Error("an override equal to the default changed the ID")
	}
}

func TestCustomTemplate(t *testing.T) {
	p := testPlan(t, `images: {custom: "ghcr.io/me/talos:{{.Version}}-{{.Role}}"}`)

	for i, want := range []string{"ghcr.io/me/talos:v1.13.3-compute", "ghcr.io/me/talos:v1.13.3-gateway"} {
		im, err := For(p, p.Boards[i])
		if err != nil {
			t.Fatal(err)
		}

		if im.Installer != want || im.SchematicID != "" {
			t.Errorf("board %d: %s (schematic %q), want %s", i, im.Installer, im.SchematicID, want)
		}
	}

	bad := testPlan(t, `images: {custom: "ghcr.io/me/talos:{{.Flavour}}-{{.Role}}"}`)
	if _, err := For(bad, bad.Boards[0]); err == nil || !strings.Contains(err.Error(), ".Version .Role") {
		t.Errorf("unknown template field: err = %v", err)
	}
}

func TestMatrixCoversRolesPerModel(t *testing.T) {
	p := testPlan(t, "")

	m, err := Matrix(p)
	if err != nil {
		t.Fatal(err)
	}

	var keys []string
	for _, im := range m {
		keys = append(keys, im.Key())
	}

	if got := strings.Join(keys, " "); got != "compute-rpi_5 compute-rpi_generic compute-amd64 gateway-rpi_5 gateway-rpi_generic gateway-amd64" {
		t.Errorf("matrix = %s", got)
	}

	// A compute module boots its Pi's image: one entry each.
	p.Boards = append(p.Boards, plan.Board{Name: "cm-1", Address: "192.168.1.14", Model: plan.CM5, Machine: plan.Worker, Role: plan.Compute},
		plan.Board{Name: "cm-2", Address: "192.168.1.15", Model: plan.CM4, Machine: plan.Worker, Role: plan.Compute})

	m, err = Matrix(p)
	if err != nil {
		t.Fatal(err)
	}

	if got := strings.Join(m[0].Models, ",") + " " + strings.Join(m[1].Models, ","); got != "rpi5,cm5 rpi4,cm4" {
		t.Errorf("models sharing the Pi images: %s", got)
	}

	p.Tailscale.Disabled = true

	m, _ = Matrix(p)
	for _, im := range m {
		if im.Role == plan.Gateway {
			t.Error("matrix lists a gateway image with tailscale disabled")
		}
	}
}

func TestCatalogResolve(t *testing.T) {
	p := testPlan(t, "")
	m, _ := Matrix(p)
	c := NewCatalog(m...)

	gw, _ := For(p, p.Boards[1])

	for _, ref := range []string{
		gw.Installer,
		"factory.talos.dev/installer/" + gw.SchematicID + ":v1.13.3",
		"factory.talos.dev/metal-installer-secureboot/" + gw.SchematicID + ":v1.13.3",
	} {
		r, err := c.Resolve(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}

		if !r.Image.Has("tailscale") || r.Version != "v1.13.3" {
			t.Errorf("%s resolved to %+v", ref, r)
		}
	}

	r, err := c.Resolve("ghcr.io/siderolabs/installer:v1.13.3")
	if err != nil || !r.Plain || len(r.Image.Extensions) != 0 {
		t.Errorf("plain installer: %+v, %v", r, err)
	}

	if _, err := c.Resolve("factory.talos.dev/metal-installer/" + strings.Repeat("a", 64) + ":v1.13.3"); err == nil {
		t.Error("unknown schematic resolved")
	}

	if _, err := c.Resolve("docker.io/library/nginx:latest"); err == nil {
		t.Error("a non-installer image resolved")
	}
}
