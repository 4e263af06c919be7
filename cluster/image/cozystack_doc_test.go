package image

import (
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// docs/images.md's worked template: one image per role and board family.
const workedTemplate = `ghcr.io/OWNER/talos:{{.Version}}-{{.Role}}-{{if or (eq .Model "rpi5") (eq .Model "cm5")}}rpi_5{{else if or (eq .Model "rpi4") (eq .Model "cm4")}}rpi_generic{{else}}{{.Arch}}{{end}}`

func TestWorkedCustomTemplate(t *testing.T) {
	p, err := plan.Parse([]byte(`
cluster: {name: lab}
network: {lan: 192.168.1.0/24}
tailscale: {authKeyFile: /k}
images:
  custom: '` + workedTemplate + `'
boards:
  - {name: a, address: 192.168.1.11, model: rpi5, machine: controlplane, role: compute}
  - {name: b, address: 192.168.1.12, model: cm4, machine: worker, role: compute}
  - {name: c, address: 192.168.1.13, model: rpi4, machine: worker, role: gateway}
  - {name: d, address: 192.168.1.14, model: amd64, machine: worker, role: compute}
`))
	if err != nil {
		t.Fatal(err)
	}

	if ps := p.Validate(); len(ps) != 0 {
		t.Fatalf("the worked template has problems: %v", ps)
	}

	for name, want := range map[string]string{
		"a": "ghcr.io/OWNER/talos:v1.13.3-compute-rpi_5",
		"b": "ghcr.io/OWNER/talos:v1.13.3-compute-rpi_generic",
		"c": "ghcr.io/OWNER/talos:v1.13.3-gateway-rpi_generic",
		"d": "ghcr.io/OWNER/talos:v1.13.3-compute-amd64",
	} {
		b, _ := p.Board(name)

		im, err := For(p, b)
		if err != nil || im.Installer != want {
			t.Errorf("%s: %s %v, want %s", name, im.Installer, err, want)
		}
	}
}
