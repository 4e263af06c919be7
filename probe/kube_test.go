package probe

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The fake clientset serves real watch semantics to the informer, so this
// checks the translation from Node conditions to events, in order.
func TestWatchNodesEmitsReadyTransitions(t *testing.T) {
	cs := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 16)

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = WatchNodes(ctx, cs, func(e Event) { events <- e })
	}()

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "pi-1"}}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "container runtime network not ready"}}

	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if e := <-events; e.Ready || e.Node != "pi-1" || e.Detail != "KubeletNotReady: container runtime network not ready" {
		t.Errorf("first event %+v", e)
	}

	node.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	if e := <-events; !e.Ready || e.Kind != NodeReady {
		t.Errorf("second event %+v", e)
	}

	node.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	if e := <-events; e.Ready || e.Detail != "NodeStatusUnknown: Kubelet stopped posting node status." {
		t.Errorf("third event %+v", e)
	}

	cancel()
	<-done
}
