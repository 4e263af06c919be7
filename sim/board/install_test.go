package board_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"

	"github.com/liftoff-lab/liftoff/sim/board"
)

// dmesgSays waits until the kernel log of a board in maintenance mode has
// a line with want.
func dmesgSays(t *testing.T, bd *board.Board, want string) {
	t.Helper()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	stream, err := insecureClient(t, bd).Dmesg(ctx, true, false)
	if err != nil {
		t.Fatal(err)
	}

	var seen strings.Builder

	for {
		data, err := stream.Recv()
		if err != nil {
			t.Fatalf("dmesg never said %q: %v\n%s", want, err, seen.String())
		}

		seen.Write(data.GetBytes())

		if strings.Contains(seen.String(), want) {
			return
		}
	}
}

// An installer the factory does not know fails the install as Talos's
// image pull does (retried, then given up), and the board reboots back
// into maintenance mode without the config instead of installing forever.
func TestUnknownInstallerFailsTheInstallAndRebootsToMaintenance(t *testing.T) {
	c := newCluster(t)
	bd := c.start(t, 22, nil)

	missing := "factory.talos.dev/metal-installer/" + schematic("nobody-posted-this") + ":" + talosVersion
	applyInsecure(t, bd, c.config(t, machine.TypeWorker, missing))

	waitMachine(t, bd, "installing", func(ms *runtime.MachineStatusSpec) bool { return ms.Stage == runtime.MachineStageInstalling })
	waitMachine(t, bd, "back in maintenance", func(ms *runtime.MachineStatusSpec) bool { return ms.Stage == runtime.MachineStageMaintenance })

	if bd.Config() != nil {
		t.Error("the config survived a failed install")
	}

	dmesgSays(t, bd, "rebooting in 10 seconds")
	dmesgSays(t, bd, `failed to pull image "`+missing+`"`)

	// It takes a config again, and one it can install gets it running.
	applyInsecure(t, bd, c.config(t, machine.TypeWorker, factoryInstaller("compute")))
	waitMachine(t, bd, "ready", readyRunning)
}

// A config naming a disk the board lacks fails at once, as Talos's install
// task does on the disk it cannot find.
func TestMissingInstallDiskFailsTheInstall(t *testing.T) {
	c := newCluster(t)
	bd := c.start(t, 23, nil)

	cfg := strings.ReplaceAll(string(c.config(t, machine.TypeWorker, factoryInstaller("compute"))), "disk: /dev/mmcblk0", "disk: /dev/nvme0n1")
	applyInsecure(t, bd, []byte(cfg))

	waitMachine(t, bd, "back in maintenance", func(ms *runtime.MachineStatusSpec) bool {
		return ms.Stage == runtime.MachineStageMaintenance && bd.Config() == nil
	})
	dmesgSays(t, bd, "lstat /dev/nvme0n1: no such file or directory")
}

// A worker whose control plane cannot issue its API certificate (another
// cluster's, or none yet) boots without an API and says why, as Talos's
// apid waits for trustd; once trustd answers, the API comes up and the
// board runs — it never stays down for good.
func TestWorkerWaitsForTrustdAndComesBack(t *testing.T) {
	c := newCluster(t)

	var issuing atomic.Bool

	bd := c.start(t, 24, func(o *board.Options) {
		o.Trustd = func(crt []byte) (*x509.PEMEncodedCertificateAndKey, bool) {
			return c.bundle.Certs.OS, issuing.Load() && string(crt) == string(c.bundle.Certs.OS.Crt)
		}
	})

	applyInsecure(t, bd, c.config(t, machine.TypeWorker, factoryInstaller("compute")))

	// Booting after its install: the report is taken under the board's
	// lock, after the boot step that found no certificate.
	waitMachine(t, bd, "booting", func(ms *runtime.MachineStatusSpec) bool { return ms.Stage == runtime.MachineStageBooting })

	if r := bd.Report(); !strings.Contains(r.Waiting, "failed to sign API server CSR") || !strings.Contains(r.Waiting, "connection refused") {
		t.Fatalf("a worker without trustd: %+v", r)
	}

	issuing.Store(true)
	waitMachine(t, bd, "ready", readyRunning)

	if w := bd.Report().Waiting; w != "" {
		t.Errorf("still waiting: %s", w)
	}
}
