package board_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// newer is a second compute image (another schematic), what an upgrade
// moves a board to.
var newer = factoryInstaller("compute-newer")

func withNewer(ref string) (board.Image, error) {
	if ref == newer {
		return board.Image{Arch: "arm64", Extensions: []string{"drbd", "spin", "zfs"}, SchematicID: schematic("compute-newer"), Version: talosVersion}, nil
	}

	return tableResolver(ref)
}

// card starts a board from an SD card that carries the image of ref.
func card(ref string) func(*board.Options) {
	return func(o *board.Options) {
		img, _ := withNewer(ref)
		o.Spec.Card = &img
		o.Resolve = withNewer
	}
}

// readyCard is a card board (compute image) that took a compute worker
// config and runs, ready.
func readyCard(t *testing.T, c *cluster, n int) *board.Board {
	t.Helper()

	bd := c.start(t, n, card(factoryInstaller("compute")))
	applyInsecure(t, bd, c.config(t, machine.TypeWorker, factoryInstaller("compute")))
	waitMachine(t, bd, "ready", readyRunning)

	return bd
}

// A Pi booted from a factory disk image is installed: applying a config
// does not install the config's installer (Talos's Install sequence is
// empty for an installed machine) — it boots on, with the card's
// extensions, which a maintenance-mode client could read beforehand.
func TestCardBoardBootsOnWithTheCardsImage(t *testing.T) {
	c := newCluster(t)
	bd := c.start(t, 40, card(factoryInstaller("compute")))

	names, id := extensionNames(t, insecureClient(t, bd))
	if !slices.Equal(names, []string{"drbd", "spin", "zfs"}) || id != schematic("compute") {
		t.Fatalf("maintenance mode shows the card's extensions %v, schematic %s", names, id)
	}

	// What liftoff's discovery learns of the card before apply.
	if d, err := discover.Inspect(t.Context(), bd.Endpoint()); err != nil || d.Schematic != schematic("compute") || !slices.Equal(d.Extensions, []string{"drbd", "zfs", "spin"}) {
		t.Errorf("discovery of a card board: %+v %v", d, err)
	}

	// The config names the gateway's installer: Talos does not pull it.
	applyInsecure(t, bd, c.config(t, machine.TypeWorker, factoryInstaller("gateway")))
	waitMachine(t, bd, "ready", readyRunning)

	names, id = extensionNames(t, secureClient(t, bd, c.tc))
	if slices.Contains(names, "tailscale") || id != schematic("compute") {
		t.Errorf("after apply the board runs %v (schematic %s), not the card's compute image", names, id)
	}

	console := strings.Join(bd.Console(), "\n")
	if strings.Contains(console, "installing Talos to disk") || strings.Contains(console, "stage installing") || strings.Contains(console, "stage rebooting") {
		t.Errorf("a card board installed or rebooted on apply:\n%s", console)
	}
}

// Upgrade pulls the installer, installs it, reboots, and the new image's
// extensions are there after the reboot, as Talos's upgrade sequence does.
func TestUpgradeRebootsIntoTheNewImage(t *testing.T) {
	c := newCluster(t)
	bd := readyCard(t, c, 41)

	resp, err := secureClient(t, bd, c.tc).UpgradeWithOptions(t.Context(), client.WithUpgradeImage(newer)) //nolint:staticcheck // what talosctl v1.12/v1.13 call
	if err != nil {
		t.Fatal(err)
	}

	if m := resp.GetMessages(); len(m) != 1 || m[0].GetAck() != "Upgrade request received" || m[0].GetActorId() == "" {
		t.Errorf("upgrade answer: %v", resp)
	}

	// The stage is upgrading from the answer on (set before it); the
	// console says when the install is done and the reboot begins.
	if err := bd.WaitConsole(t.Context(), "upgrade successful"); err != nil {
		t.Fatal(err)
	}

	waitMachine(t, bd, "ready again", readyRunning)

	if _, id := extensionNames(t, secureClient(t, bd, c.tc)); id != schematic("compute-newer") {
		t.Errorf("after the upgrade the schematic is %s", id)
	}

	console := strings.Join(bd.Console(), "\n")
	for _, want := range []string{"upgrade request received: staged false, force false, reboot mode DEFAULT", `performing upgrade via "` + newer + `"`, "upgrade successful", "stage rebooting"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
}

// The upgrade's pull and validation happen before Talos answers: an
// unknown installer or one without the board's architecture fails the
// call, and the board keeps running. A maintenance-mode caller may not
// upgrade at all.
func TestUpgradeRefusals(t *testing.T) {
	c := newCluster(t)
	bd := readyCard(t, c, 42)

	cl := secureClient(t, bd, c.tc)

	for ref, want := range map[string]string{
		factoryInstaller("nobody-posted-this"):            "failed to pull image",
		"ghcr.io/example/installer-amd64:" + talosVersion: "no match for platform in manifest",
	} {
		_, err := cl.UpgradeWithOptions(t.Context(), client.WithUpgradeImage(ref)) //nolint:staticcheck
		if err == nil || !strings.Contains(err.Error(), `error validating installer image "`+ref+`"`) || !strings.Contains(err.Error(), want) {
			t.Errorf("upgrade to %s: %v, want %q", ref, err, want)
		}
	}

	if got := bd.Stage(); got != "running" {
		t.Errorf("after refused upgrades the board is %s", got)
	}

	iso := c.start(t, 43, nil)

	_, err := insecureClient(t, iso).UpgradeWithOptions(t.Context(), client.WithUpgradeImage(newer)) //nolint:staticcheck
	// A maintenance-mode caller is a reader (pkg/grpc/middleware/authz
	// injector.go: admin only for SideroLink peers) and Upgrade wants
	// admin (machined.go's rules): refused before the handler's "Talos is
	// not installed".
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("upgrade of a board in maintenance mode: %v", err)
	}
}

// Reset wiping STATE and EPHEMERAL keeps the install: the board comes back
// in maintenance mode, its config gone, the card's image still there. An
// unknown label is refused before anything changes; without reboot the
// board shuts down.
func TestResetOptions(t *testing.T) {
	c := newCluster(t)
	bd := readyCard(t, c, 44)

	cl := secureClient(t, bd, c.tc)

	err := cl.ResetGeneric(t.Context(), &machineapi.ResetRequest{Reboot: true, SystemPartitionsToWipe: []*machineapi.ResetPartitionSpec{{Label: "DATA", Wipe: true}}})
	if err == nil || !strings.Contains(err.Error(), `failed to get volume status with label "DATA"`) {
		t.Errorf("reset of an unknown label: %v", err)
	}

	if bd.Config() == nil || bd.Stage() != "running" {
		t.Fatalf("a refused reset changed the board: %s", bd.Stage())
	}

	err = cl.ResetGeneric(t.Context(), &machineapi.ResetRequest{Graceful: true, Reboot: true, SystemPartitionsToWipe: []*machineapi.ResetPartitionSpec{
		{Label: "STATE", Wipe: true}, {Label: "EPHEMERAL", Wipe: true},
	}})
	if err != nil {
		t.Fatal(err)
	}

	waitMachine(t, bd, "resetting", func(ms *runtime.MachineStatusSpec) bool { return ms.Stage != runtime.MachineStageRunning })
	waitMachine(t, bd, "maintenance", func(ms *runtime.MachineStatusSpec) bool { return ms.Stage == runtime.MachineStageMaintenance })

	if bd.Config() != nil || !bd.Installed() {
		t.Errorf("after a STATE/EPHEMERAL reset: config %v, installed %v", bd.Config() != nil, bd.Installed())
	}

	if names, _ := extensionNames(t, insecureClient(t, bd)); !slices.Equal(names, []string{"drbd", "spin", "zfs"}) {
		t.Errorf("the card's extensions after the reset: %v", names)
	}

	// Apply again: it boots on without an install, and then shuts down on
	// a reset without reboot.
	applyInsecure(t, bd, c.config(t, machine.TypeWorker, factoryInstaller("compute")))
	waitMachine(t, bd, "ready", readyRunning)

	if err := secureClient(t, bd, c.tc).Reset(t.Context(), false, false); err != nil {
		t.Fatal(err)
	}

	waitMachine(t, bd, "shut down", func(ms *runtime.MachineStatusSpec) bool { return ms.Stage == runtime.MachineStageShuttingDown })
}

// The official talosctl upgrades a simulated board (without --wait: the
// board serves no Events stream for talosctl's tracker).
func TestOfficialTalosctlUpgrade(t *testing.T) {
	run := talosctl(t)

	f := setup(t)
	bd := f.start(t, "w1", nil)
	addr := strings.Split(bd.Endpoint(), ":")[0]
	tc := filepath.Join(f.dir, config.TalosconfigFile)

	run("apply-config", "-n", addr, "-e", addr, "--insecure", "--file", filepath.Join(f.dir, "w1.yaml"))
	watch(t, f, "w1", func(n *probe.Node) bool { return n.MachineReady })

	gw, _ := f.plan.Board("gw")

	im, err := image.For(f.plan, gw)
	if err != nil {
		t.Fatal(err)
	}

	installer := im.Installer
	if out := run("upgrade", "--talosconfig", tc, "-n", addr, "-e", addr, "--image", installer, "--wait=false"); !strings.Contains(out, "Upgrade request received") {
		t.Errorf("talosctl upgrade:\n%s", out)
	}

	// At ×2000 the upgrade is over in moments: its console says it ran
	// (a watch started now would see only where the board is).
	if err := bd.WaitConsole(t.Context(), "upgrade successful"); err != nil {
		t.Fatal(err)
	}

	watch(t, f, "w1", func(n *probe.Node) bool { return n.Extensions["tailscale"] != nil })

	if exts := run("get", "extensions", "--talosconfig", tc, "-n", addr, "-e", addr); !strings.Contains(exts, "tailscale") {
		t.Errorf("after talosctl upgrade to the gateway image:\n%s", exts)
	}
}

// TRY applies a config live and rolls it back after its timeout, as
// Talos's RollbackToConfigAfter does.
func TestApplyTryRollsBack(t *testing.T) {
	c := newCluster(t)
	bd := readyCard(t, c, 45)

	modules := func() int { return len(bd.Config().Machine().Kernel().Modules()) }
	before := modules()

	resp, err := secureClient(t, bd, c.tc).ApplyConfiguration(t.Context(), &machineapi.ApplyConfigurationRequest{
		Data: c.configModules(t, machine.TypeWorker, factoryInstaller("compute"), []string{"drbd", "zfs", "nbd"}),
		Mode: machineapi.ApplyConfigurationRequest_TRY, TryModeTimeout: durationpb.New(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}

	if d := resp.GetMessages()[0].GetModeDetails(); !strings.Contains(d, "will be automatically reverted back in 1m0s") {
		t.Errorf("try mode details: %q", d)
	}

	if err := bd.WaitConsole(t.Context(), "rolling back the configuration"); err != nil {
		t.Fatal(err)
	}

	if got := modules(); got != before {
		t.Errorf("after the rollback the config lists %d modules, want %d", got, before)
	}
}
