package probe

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cosi-project/runtime/pkg/state"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"
)

func TestTranslateMachineStatus(t *testing.T) {
	ms := runtime.NewMachineStatus()
	ms.TypedSpec().Stage = runtime.MachineStageRunning
	ms.TypedSpec().Status.UnmetConditions = []runtime.UnmetCondition{{Name: "services", Reason: "ext-tailscale not running"}}

	evs := translate("gw", state.Event{Type: state.Updated, Resource: ms})
	if len(evs) != 2 || evs[0].State != "running" || evs[1].Ready || evs[1].Detail != "services: ext-tailscale not running" {
		t.Errorf("%+v", evs)
	}
}

// Talos v1.13's MachineStatusController runs no readiness checks outside
// booting/running, so an installing machine reads ready with no conditions.
func TestReadyOnlyCountsWhenRunning(t *testing.T) {
	ms := runtime.NewMachineStatus()
	ms.TypedSpec().Stage = runtime.MachineStageInstalling
	ms.TypedSpec().Status.Ready = true

	evs := translate("w", state.Event{Type: state.Updated, Resource: ms})
	if evs[1].Ready {
		t.Errorf("installing counted as ready: %+v", evs)
	}

	ms.TypedSpec().Stage = runtime.MachineStageRunning
	if evs = translate("w", state.Event{Type: state.Updated, Resource: ms}); !evs[1].Ready {
		t.Errorf("running and ready not ready: %+v", evs)
	}
}

// The services condition as Talos words it: "<id> not running" and
// "<id> not healthy", comma-separated.
func TestUnhealthyReadsTalosWording(t *testing.T) {
	ms := runtime.NewMachineStatus()
	ms.TypedSpec().Status.UnmetConditions = []runtime.UnmetCondition{
		{Name: "network", Reason: "waiting on: address"},
		{Name: "services", Reason: "ext-tailscale not running, kubelet not healthy, etcd not running"},
	}

	got := strings.Join(unhealthy(ms), " ")
	if got != "ext-tailscale kubelet etcd" {
		t.Errorf("unhealthy = %q", got)
	}
}

func TestTranslateExtensionAndService(t *testing.T) {
	x := runtime.NewExtensionStatus(runtime.NamespaceName, "2")
	x.TypedSpec().Metadata.Name = "tailscale"
	x.TypedSpec().Metadata.Version = "1.88.3"

	evs := translate("gw", state.Event{Type: state.Created, Resource: x})
	if len(evs) != 1 || evs[0].Name != "tailscale" || evs[0].State != "present" || evs[0].Detail != "1.88.3" {
		t.Errorf("extension: %+v", evs)
	}

	svc := v1alpha1.NewService("ext-tailscale")
	svc.TypedSpec().Running = true
	svc.TypedSpec().Unknown = true // extension services have no health check

	evs = translate("gw", state.Event{Type: state.Updated, Resource: svc})
	if len(evs) != 1 || !evs[0].Ready || evs[0].State != "Running" {
		t.Errorf("running with unknown health counts as up: %+v", evs)
	}

	evs = translate("gw", state.Event{Type: state.Destroyed, Resource: svc})
	if evs[0].Ready || evs[0].State != "Stopped" {
		t.Errorf("destroyed: %+v", evs)
	}
}

func TestReasonIsActionable(t *testing.T) {
	for err, want := range map[error]string{
		errors.New("dial tcp 127.0.0.11:50000: connect: connection refused"):   "booting or rebooting",
		errors.New("context deadline exceeded"):                                "powered off",
		errors.New("x509: certificate signed by unknown authority"):            "talosconfig matches secrets.yaml",
		errors.New("transport: authentication handshake failed: remote error"): "talosconfig matches secrets.yaml",
	} {
		if got := Words(err); !strings.Contains(got, want) {
			t.Errorf("%v → %q", err, got)
		}
	}
}

func TestChangedPassesOnlyChanges(t *testing.T) {
	last := map[string]Event{}
	at := time.Now()

	steps := []struct {
		e    Event
		want bool
	}{
		{Event{Time: at, Kind: Stage, State: "running"}, true},
		{Event{Time: at.Add(time.Second), Kind: Stage, State: "running"}, false},
		{Event{Time: at, Kind: Service, Name: "etcd", State: "Preparing"}, true},
		{Event{Time: at, Kind: Service, Name: "kubelet", State: "Preparing"}, true},
		{Event{Time: at, Kind: Service, Name: "etcd", State: "Running", Ready: true}, true},
		{Event{Time: at, Kind: Stage, State: "rebooting"}, true},
		{Event{Time: at, Kind: Stage, State: "running"}, true},
	}

	for i, s := range steps {
		if got := changed(last, s.e); got != s.want {
			t.Errorf("step %d (%s %s %s): changed = %v", i, s.e.Kind, s.e.Name, s.e.State, got)
		}
	}
}

func TestTranslateNodename(t *testing.T) {
	nn := k8s.NewNodename(k8s.NamespaceName, k8s.NodenameID)
	nn.TypedSpec().Nodename = "pi-w-1"

	evs := translate("pi-w-2", state.Event{Type: state.Created, Resource: nn})
	if len(evs) != 1 || evs[0].Kind != Hostname || evs[0].Name != "pi-w-1" || evs[0].Node != "pi-w-2" {
		t.Errorf("%+v", evs)
	}

	if evs = translate("pi-w-2", state.Event{Type: state.Destroyed, Resource: nn}); evs[0].Name != "" {
		t.Errorf("destroyed: %+v", evs)
	}
}
