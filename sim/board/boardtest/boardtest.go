// Package boardtest is the fixture tests share to run simulated boards
// against configs liftoff generated: a plan through liftoff gen (secrets
// bundle, configs, talosconfig), its image matrix, and boards started
// from the plan's boards that resolve those images and sign with that
// bundle.
package boardtest

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/siderolabs/crypto/x509"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"go.yaml.in/yaml/v4"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// Lab is a plan liftoff gen wrote out, and what its boards need.
type Lab struct {
	Plan        *plan.Plan
	Bundle      *secrets.Bundle
	Dir         string // gen's output: secrets.yaml, NAME.yaml, talosconfig
	Talosconfig *clientconfig.Config
	Catalog     *image.Catalog
	// Disks every board started here has (default: one 32 GB SD card).
	Disks []board.Disk
}

// New parses planYAML and generates its configs into a temp dir, as
// liftoff gen does (authKey for a gateway's Tailscale config).
func New(t testing.TB, planYAML, authKey string) *Lab {
	t.Helper()

	p, err := plan.Parse([]byte(planYAML))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if _, err := config.Write(dir, p, config.WriteOptions{AuthKey: authKey}); err != nil {
		t.Fatal(err)
	}

	data, err := fileio.ReadFile(filepath.Join(dir, config.SecretsFile), fileio.Secrets)
	if err != nil {
		t.Fatal(err)
	}

	bundle := &secrets.Bundle{Clock: secrets.NewClock()}
	if err := yaml.Unmarshal(data, bundle); err != nil {
		t.Fatal(err)
	}

	tc, err := config.OpenTalosconfig(filepath.Join(dir, config.TalosconfigFile))
	if err != nil {
		t.Fatal(err)
	}

	m, err := image.Matrix(p)
	if err != nil {
		t.Fatal(err)
	}

	return &Lab{Plan: p, Bundle: bundle, Dir: dir, Talosconfig: tc, Catalog: image.NewCatalog(m...),
		Disks: []board.Disk{{Path: "/dev/mmcblk0", Size: 32e9, Transport: "mmc"}}}
}

// Board is the plan's board of that name (the zero Board if none).
func (l *Lab) Board(name string) plan.Board {
	b, _ := l.Plan.Board(name)

	return b
}

// Config is the path of the config gen wrote for the board.
func (l *Lab) Config(name string) string { return filepath.Join(l.Dir, name+".yaml") }

// Resolve is what a board finds at an installer reference: the image the
// plan's matrix made for it, or Talos's pull error for any other.
func (l *Lab) Resolve(ref string) (board.Image, error) { return board.CatalogResolver(l.Catalog)(ref) }

// Options are a simulated board for the plan's board: at its address, in
// maintenance mode, fast (×2000), resolving the plan's images and signing
// with the lab's bundle. Its MAC comes from its address, so boards of
// different packages' tests never share one.
func (l *Lab) Options(name string) board.Options {
	b := l.Board(name)

	mac := "dc:a6:32:00:00:00"
	if a, err := netip.ParseAddr(b.Address); err == nil && a.Is4() {
		o := a.As4()
		mac = fmt.Sprintf("dc:a6:32:%02x:%02x:%02x", o[1], o[2], o[3])
	}

	return board.Options{
		Spec: board.Spec{Name: "talos-" + name, Address: b.Address, Model: b.Model, Arch: plan.Arch(b.Model),
			Product: "Raspberry Pi 4 Model B Rev 1.4", UUID: "uuid-" + name, MAC: mac, Disks: l.Disks},
		Speed:   2000,
		Resolve: l.Resolve,
		Trustd: func(crt []byte) (*x509.PEMEncodedCertificateAndKey, bool) {
			return l.Bundle.Certs.OS, string(crt) == string(l.Bundle.Certs.OS.Crt)
		},
	}
}

// Start powers the board on (Options, then mutate) and closes it when the
// test ends.
func (l *Lab) Start(t testing.TB, name string, mutate func(*board.Options)) *board.Board {
	t.Helper()

	opts := l.Options(name)
	if mutate != nil {
		mutate(&opts)
	}

	bd, err := board.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { _ = bd.Close() })

	return bd
}
