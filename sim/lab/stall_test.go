package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/state"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// startPrepared starts a lab of the default spec on 127.0.subnet.0/24 and
// prepares its bring-up; both end with the test.
func startPrepared(ctx context.Context, t *testing.T, subnet int, opts Options) (*Lab, *Run) {
	t.Helper()

	opts.Spec = DefaultSpec()
	opts.Spec.First = fmt.Sprintf("127.0.%d.11", subnet)

	if opts.Speed == 0 {
		opts.Speed = 100
	}

	l, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { _ = l.Close() })

	run, err := l.Prepare(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}

	return l, run
}

// events folds a run's stream into a picture and keeps every event, for
// the test to wait on.
type events struct {
	mu      sync.Mutex
	cond    *sync.Cond
	all     []probe.Event
	picture *probe.Lab
}

func follow(ctx context.Context, run *Run) *events {
	e := &events{picture: probe.NewLab()}
	e.cond = sync.NewCond(&e.mu)

	go func() {
		for {
			select {
			case <-ctx.Done():
				e.mu.Lock()
				e.cond.Broadcast()
				e.mu.Unlock()

				return
			case ev := <-run.Stream.Events():
				e.mu.Lock()
				e.all = append(e.all, ev)
				e.picture.Apply(ev)
				e.cond.Broadcast()
				e.mu.Unlock()
			}
		}
	}()

	return e
}

// wait blocks until an event satisfies ok, or ctx ends.
func (e *events) wait(ctx context.Context, t *testing.T, what string, ok func(probe.Event) bool) probe.Event {
	t.Helper()

	e.mu.Lock()
	defer e.mu.Unlock()

	for seen := 0; ; {
		for ; seen < len(e.all); seen++ {
			if ok(e.all[seen]) {
				return e.all[seen]
			}
		}

		if ctx.Err() != nil {
			t.Fatalf("never saw %s", what)
		}

		e.cond.Wait()
	}
}

// waitStage waits on a board's own state until it reaches stage.
func waitStage(ctx context.Context, t *testing.T, b *board.Board, stage runtime.MachineStage) {
	t.Helper()

	_, err := b.State().WatchFor(ctx, runtime.NewMachineStatus().Metadata(), state.WithCondition(func(r resource.Resource) (bool, error) {
		ms, ok := r.(*runtime.MachineStatus)

		return ok && ms.TypedSpec().Stage == stage, nil
	}))
	if err != nil {
		t.Fatalf("%s never reached %s (now %s): %v", b.Spec().Name, stage, b.Stage(), err)
	}
}

// The stall of issue 19: a board configured by another cluster's config
// before liftoff's apply reaches it. Before, the control plane stayed
// "installing" and the workers "rebooting" forever with nothing saying
// why. Now: an image this factory does not know fails its install and the
// board comes back to maintenance (liftoff then applies its own), a control
// plane running another cluster's config is named with the fix, the
// workers boot and wait for its trustd as Talos's do, nothing trips the
// lab's watchdog — and once the control plane is reset, the lab comes up.
func TestABoardOfAnotherClusterIsNamedAndTheLabMovesOn(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	spec := DefaultSpec()
	spec.First = "127.0.35.11"

	l, err := Start(ctx, Options{Spec: spec, Speed: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// The other liftoff: its own secrets for the same boards, and for
	// pi-w-1 an image of its own plan this lab's factory never saw.
	theirs := t.TempDir()
	other := l.Plan()

	if _, err := config.Write(theirs, other, config.WriteOptions{AuthKey: SimAuthKey}); err != nil {
		t.Fatal(err)
	}

	unknown := "factory.talos.dev/metal-installer/" + strings.Repeat("0f", 32) + ":v1.13.3"
	if err := setInstaller(filepath.Join(theirs, other.Boards[1].Name+".yaml"), unknown); err != nil {
		t.Fatal(err)
	}

	for _, i := range []int{0, 1} {
		data, err := os.ReadFile(filepath.Join(theirs, other.Boards[i].Name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}

		c, err := client.New(ctx, client.WithEndpoints(l.Boards()[i].Endpoint()), client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // maintenance mode
		if err != nil {
			t.Fatal(err)
		}

		if _, err := c.ApplyConfiguration(ctx, &machineapi.ApplyConfigurationRequest{Data: data, Mode: machineapi.ApplyConfigurationRequest_AUTO}); err != nil {
			t.Fatal(err)
		}

		c.Close() //nolint:errcheck
	}

	run, err := l.Prepare(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}

	ev := follow(ctx, run)

	err = run.Apply(ctx)
	if !errors.Is(err, probe.ErrForeign) {
		t.Fatalf("apply: %v; want the control plane named as another cluster's", err)
	}

	for _, want := range []string{"pi-cp-1 belongs to another cluster", "is not this cluster's", "talosctl reset -n", "--graceful=false --reboot", "leave it out of the plan"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}

	if strings.Count(err.Error(), "belongs to another cluster") != 1 {
		t.Errorf("only the control plane is another cluster's: %v", err)
	}

	ev.wait(ctx, t, "the failed note on the dashboard", func(e probe.Event) bool {
		return e.Node == "pi-cp-1" && e.Kind == probe.Log && e.State == "failed" && strings.Contains(e.Detail, "belongs to another cluster")
	})

	// pi-w-1's foreign image failed its install as Talos's does, and back
	// in maintenance it took liftoff's config instead.
	if strings.Contains(err.Error(), "pi-w-1") {
		t.Errorf("pi-w-1 should have come back and taken liftoff's config: %v", err)
	}

	ev.wait(ctx, t, "pi-w-1's failed install in its kernel log", func(e probe.Event) bool {
		return e.Node == "pi-w-1" && e.Kind == probe.Log && e.Name == "dmesg" && strings.Contains(e.Detail, "rebooting in 10 seconds")
	})

	ours, err := os.ReadFile(filepath.Join(run.Dir, "pi-w-1.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	if w1 := l.Boards()[1].Config(); w1 == nil || !strings.Contains(string(ours), w1.Machine().Security().Token()) {
		t.Error("pi-w-1 does not run liftoff's config")
	}

	cpCfg := l.Boards()[0].Config()
	if cpCfg == nil || cpCfg.Cluster().Name() != "homelab" || l.Boards()[0].Stage() != "running" {
		t.Fatalf("the control plane should run the other cluster's config: stage %s", l.Boards()[0].Stage())
	}

	// Every worker came back from its reboot, booting and waiting for the
	// control plane's trustd, which answers with another cluster's CA.
	for _, w := range l.Boards()[1:] {
		for {
			// Read under the board's lock, after the boot step that set it:
			// a maintenance boot passes through booting without a wait.
			waitStage(ctx, t, w, runtime.MachineStageBooting)

			if r := w.Report(); r.Stage == "booting" && r.Waiting != "" {
				if !strings.Contains(r.Waiting, "another cluster's CA") {
					t.Errorf("%s: %+v", w.Spec().Name, r)
				}

				break
			}

			if ctx.Err() != nil {
				t.Fatalf("%s never waited for trustd: %+v", w.Spec().Name, w.Report())
			}
		}
	}

	ev.mu.Lock()
	for _, e := range ev.all {
		if e.Kind == probe.LabFault {
			t.Errorf("the watchdog blamed the lab for Talos's own wait: %+v", e)
		}
	}
	ev.mu.Unlock()

	// The fix the error gives: reset the control plane with its cluster's
	// talosconfig, then apply again.
	tc, err := config.OpenTalosconfig(filepath.Join(theirs, config.TalosconfigFile))
	if err != nil {
		t.Fatal(err)
	}

	c, err := client.New(ctx, client.WithConfig(tc), client.WithEndpoints(l.Boards()[0].Endpoint()))
	if err != nil {
		t.Fatal(err)
	}

	if err := c.Reset(ctx, false, true); err != nil {
		t.Fatal(err)
	}

	c.Close() //nolint:errcheck

	waitStage(ctx, t, l.Boards()[0], runtime.MachineStageMaintenance)

	if err := run.Apply(ctx); err != nil {
		t.Fatalf("apply after the reset: %v", err)
	}

	for _, b := range l.Boards() {
		waitStage(ctx, t, b, runtime.MachineStageRunning)
	}
}

// A board the simulation stalls on (an install that never ends and says
// nothing) is reported by the lab's watchdog as a lab fault: an event the
// dashboard's feed shows and a diagnosis troubleshoot explains.
func TestTheWatchdogReportsAStalledBoard(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	_, run := startPrepared(ctx, t, 36, Options{Faults: func(i int, _ plan.Board) board.Faults {
		return board.Faults{FreezeInstall: i == 2}
	}})

	ev := follow(ctx, run)

	go func() { _ = run.Apply(ctx) }()

	fault := ev.wait(ctx, t, "a lab fault", func(e probe.Event) bool { return e.Kind == probe.LabFault })

	if fault.Node != "pi-w-2" || fault.State != "installing" || !strings.Contains(fault.Detail, "stopped moving") {
		t.Errorf("fault: %+v", fault)
	}

	ev.mu.Lock()
	diagnoses := probe.Diagnose(ev.picture.Node("pi-w-2"), time.Now())
	ev.mu.Unlock()

	if len(diagnoses) == 0 || !strings.Contains(diagnoses[0].Title, "the simulated lab stalled on pi-w-2") || !strings.Contains(diagnoses[0].Why, "not of the plan") {
		t.Errorf("diagnoses: %+v", diagnoses)
	}
}
