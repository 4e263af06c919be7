package probe

import (
	"context"
	"testing"
	"time"

	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}

	if percentile(s, 50) != 50*time.Millisecond || percentile(s, 99) != 99*time.Millisecond || percentile(s, 90) != 90*time.Millisecond {
		t.Errorf("p50 %v p90 %v p99 %v", percentile(s, 50), percentile(s, 90), percentile(s, 99))
	}

	if percentile(s[:1], 99) != time.Millisecond || percentile(nil, 50) != 0 {
		t.Error("small samples")
	}
}

func TestSpinRuntimeClassReusesAnExistingHandler(t *testing.T) {
	cs := fake.NewClientset(&nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "spin-by-hand"}, Handler: "spin"})

	name, err := SpinRuntimeClass(context.Background(), cs)
	if err != nil || name != "spin-by-hand" {
		t.Errorf("%s %v", name, err)
	}

	// And does not clean up what it did not create.
	if err := CleanupHello(context.Background(), cs); err != nil {
		t.Fatal(err)
	}

	if _, err := cs.NodeV1().RuntimeClasses().Get(context.Background(), "spin-by-hand", metav1.GetOptions{}); err != nil {
		t.Error("cleanup removed a RuntimeClass liftoff did not create")
	}
}

func TestSpinRuntimeClassCreatedSchedulesOnSpinNodes(t *testing.T) {
	cs := fake.NewClientset()

	name, err := SpinRuntimeClass(context.Background(), cs)
	if err != nil || name != "wasmtime-spin-v2" {
		t.Fatalf("%s %v", name, err)
	}

	rc, _ := cs.NodeV1().RuntimeClasses().Get(context.Background(), name, metav1.GetOptions{})
	if rc.Handler != "spin" || rc.Scheduling.NodeSelector["extensions.liftoff.dev/spin"] != "true" {
		t.Errorf("%+v", rc)
	}

	if err := CleanupHello(context.Background(), cs); err != nil {
		t.Fatal(err)
	}

	if _, err := cs.NodeV1().RuntimeClasses().Get(context.Background(), name, metav1.GetOptions{}); err == nil {
		t.Error("cleanup left liftoff's RuntimeClass")
	}
}
