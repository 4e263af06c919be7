// Package discover finds boards waiting in Talos maintenance mode and reads
// what each one is, through the Talos API itself.
package discover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cosi-project/runtime/pkg/safe"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/resources/block"
	"github.com/siderolabs/talos/pkg/machinery/resources/hardware"
	"github.com/siderolabs/talos/pkg/machinery/resources/network"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// TalosPort is apid's port.
const TalosPort = 50000

// maxTargets bounds a scan: a /16 is a typo far more often than a lab.
const maxTargets = 4096

// Board is what a board in maintenance mode says about itself.
type Board struct {
	Address      string
	TalosVersion string
	Arch         string
	Stage        string // maintenance, running, …
	Product      string // manufacturer and product, e.g. "raspberrypi Raspberry Pi 5 Model B Rev 1.0"
	UUID         string
	MAC          string
	Disks        []Disk
	// SystemDisk is the disk holding Talos's META partition: the medium
	// the board booted from. Empty when the board does not say.
	SystemDisk string
	// Extensions and Schematic are what the booted image carries, from
	// its ExtensionStatus resources, which Talos publishes in maintenance
	// mode too (controllers/runtime/extension_status.go reads the boot
	// image) and lets a maintenance-mode reader list. On a Pi that booted
	// its SD card this is the card's image — what it keeps running after
	// apply, since Talos installs nothing on an installed board.
	// Schematic is the Image Factory's "schematic" pseudo-extension's
	// version ("" for an image without one).
	Extensions []string
	Schematic  string
}

// Disk is a block device a board could install to.
type Disk struct {
	Path      string
	Size      string
	Bytes     uint64
	Model     string
	Transport string // usb, nvme, mmc …
	Readonly  bool
}

// Model guesses liftoff's board model; the wizard lets the person correct it.
//
// On a Pi, Talos's SystemInformation is the SMBIOS table U-Boot builds: its
// manufacturer from the device tree's compatible ("raspberrypi") and its
// product from the device tree's model, which the Pi firmware sets from
// the board revision — "Raspberry Pi 5 Model B Rev 1.0", "Raspberry Pi
// Compute Module 4 Rev 1.0", "Raspberry Pi Compute Module 5 Rev 1.0" (and
// "… Compute Module 5 Lite …"), after Linux's bcm2711-rpi-cm4.dts and
// bcm2712-rpi-cm5.dtsi. An older U-Boot that takes sbc-raspberrypi's
// smbios overlay says only "raspberrypi rpi": a Pi, model unknown, guessed
// as the rpi_generic family.
func (b Board) Model() string {
	p := strings.ToLower(b.Product)

	switch {
	case strings.Contains(p, "compute module 5"):
		return plan.CM5
	case strings.Contains(p, "compute module 4"):
		return plan.CM4
	case strings.Contains(p, "raspberry pi 5"):
		return plan.RPi5 // the Pi 500 too: a BCM2712 board
	case strings.Contains(p, "raspberry pi"), strings.HasPrefix(p, "raspberrypi"):
		return plan.RPi4
	case b.Arch == "amd64":
		return plan.AMD64
	default:
		return plan.ARM64
	}
}

// Summary is one line for lists: model, arch, disks, MAC.
func (b Board) Summary() string {
	var disks []string
	for _, d := range b.Disks {
		disks = append(disks, fmt.Sprintf("%s %s", d.Path, d.Size))
	}

	return fmt.Sprintf("%s %s · %s · %s · %s", b.Model(), b.Arch, b.TalosVersion, strings.Join(disks, ", "), b.MAC)
}

// Targets parses what to scan: a CIDR, a comma-separated list of addresses,
// or both mixed ("192.168.1.0/24", "192.168.1.10,192.168.1.11").
func Targets(spec string) ([]string, error) {
	var out []string

	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}

		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (e.g. 192.168.1.0/24)", part)
			}

			p = p.Masked()
			if !p.Addr().Is4() || p.Bits() < 32-12 {
				return nil, fmt.Errorf("%s is too large to scan: give an IPv4 /20 or smaller, or list the addresses", p)
			}

			for a := p.Addr(); p.Contains(a); a = a.Next() {
				// Skip the network and broadcast addresses of real subnets.
				if p.Bits() <= 30 && (a == p.Addr() || !p.Contains(a.Next())) {
					continue
				}

				out = append(out, a.String())
			}

			continue
		}

		if _, err := netip.ParseAddr(part); err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", part)
		}

		out = append(out, part)
	}

	if len(out) == 0 {
		return nil, errors.New("nothing to scan: give a CIDR like 192.168.1.0/24 or addresses separated by commas")
	}

	if len(out) > maxTargets {
		return nil, fmt.Errorf("%d addresses is too many to scan (max %d)", len(out), maxTargets)
	}

	return slices.Compact(out), nil
}

// Options tune a scan.
type Options struct {
	Port        int           // default TalosPort
	Timeout     time.Duration // per connect; default 2s
	Concurrency int           // default 256, so a /24 takes about one timeout
	// Progress is called after each target, from scan goroutines (serialised).
	Progress func(done, total int, found *Board)
}

// Scan probes every target concurrently and inspects the ones that answer
// on the Talos port. Boards come back in target order.
func Scan(ctx context.Context, targets []string, opts Options) ([]Board, error) {
	if opts.Port == 0 {
		opts.Port = TalosPort
	}

	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}

	if opts.Concurrency == 0 {
		opts.Concurrency = 256
	}

	var (
		mu      sync.Mutex
		done    int
		results = make([]*Board, len(targets))
		sem     = make(chan struct{}, opts.Concurrency)
		wg      sync.WaitGroup
	)

	for i, addr := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()

			return nil, ctx.Err()
		}

		wg.Go(func() {
			defer func() { <-sem }()

			b := probe(ctx, addr, opts)

			mu.Lock()
			defer mu.Unlock()

			results[i] = b
			done++

			if opts.Progress != nil {
				opts.Progress(done, len(targets), b)
			}
		})
	}

	wg.Wait()

	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var out []Board

	for _, b := range results {
		if b != nil {
			out = append(out, *b)
		}
	}

	return out, nil
}

func probe(ctx context.Context, addr string, opts Options) *Board {
	endpoint := net.JoinHostPort(addr, fmt.Sprint(opts.Port))

	d := net.Dialer{Timeout: opts.Timeout}

	conn, err := d.DialContext(ctx, "tcp", endpoint)
	if err != nil {
		return nil
	}

	conn.Close()

	ictx, cancel := context.WithTimeout(ctx, 3*opts.Timeout)
	defer cancel()

	b, err := Inspect(ictx, endpoint)
	if err != nil {
		return nil
	}

	return &b
}

// Inspect reads what a board is. In maintenance mode the board has no
// client CA yet, so the connection is TLS without verification, as talosctl
// --insecure does; nothing secret is sent.
func Inspect(ctx context.Context, endpoint string) (Board, error) {
	c, err := client.New(ctx,
		client.WithEndpoints(endpoint),
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}), //nolint:gosec // maintenance mode has no CA to verify
	)
	if err != nil {
		return Board{}, err
	}
	defer c.Close() //nolint:errcheck

	host, _, _ := net.SplitHostPort(endpoint)
	b := Board{Address: host}

	v, err := c.Version(ctx)
	if err != nil {
		return Board{}, fmt.Errorf("%s: Talos API did not answer Version: %w", endpoint, err)
	}

	for _, m := range v.GetMessages() {
		b.TalosVersion = m.GetVersion().GetTag()
		b.Arch = m.GetVersion().GetArch()
	}

	// The rest is best effort: an older or stranger board still gets listed.
	if ms, err := safe.StateGetByID[*runtime.MachineStatus](ctx, c.COSI, runtime.MachineStatusID); err == nil {
		b.Stage = ms.TypedSpec().Stage.String()
	}

	if si, err := safe.StateGetByID[*hardware.SystemInformation](ctx, c.COSI, hardware.SystemInformationID); err == nil {
		s := si.TypedSpec()
		b.Product = strings.TrimSpace(s.Manufacturer + " " + s.ProductName)
		b.UUID = s.UUID
	}

	if disks, err := safe.StateListAll[*block.Disk](ctx, c.COSI); err == nil {
		for d := range disks.All() {
			s := d.TypedSpec()
			if s.CDROM {
				continue
			}

			b.Disks = append(b.Disks, Disk{Path: s.DevPath, Size: s.PrettySize, Bytes: s.Size, Model: s.Model, Transport: s.Transport, Readonly: s.Readonly})
		}
	}

	if sd, err := safe.StateGetByID[*block.SystemDisk](ctx, c.COSI, block.SystemDiskID); err == nil {
		b.SystemDisk = sd.TypedSpec().DevPath
	}

	if exts, err := safe.StateListAll[*runtime.ExtensionStatus](ctx, c.COSI); err == nil {
		for x := range exts.All() {
			if m := x.TypedSpec().Metadata; m.Name == "schematic" {
				b.Schematic = m.Version
			} else {
				b.Extensions = append(b.Extensions, m.Name)
			}
		}
	}

	if links, err := safe.StateListAll[*network.LinkStatus](ctx, c.COSI); err == nil {
		for l := range links.All() {
			if l.TypedSpec().Physical() {
				b.MAC = l.TypedSpec().PermanentAddr.String()
				if b.MAC == "" {
					b.MAC = l.TypedSpec().HardwareAddr.String()
				}

				break
			}
		}
	}

	return b, nil
}

// InspectEach asks every named endpoint what it is, all at once, each
// within timeout: what each one said, or why it did not answer.
func InspectEach(ctx context.Context, endpoints map[string]string, timeout time.Duration) (map[string]Board, map[string]error) {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		found  = map[string]Board{}
		failed = map[string]error{}
	)

	for name, endpoint := range endpoints {
		wg.Go(func() {
			ictx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()

			b, err := Inspect(ictx, endpoint)

			mu.Lock()
			defer mu.Unlock()

			if err != nil {
				failed[name] = err

				return
			}

			found[name] = b
		})
	}

	wg.Wait()

	return found, failed
}
