package probe

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeClient builds a client-go clientset from kubeconfig bytes (what the
// Talos Kubeconfig call returns).
func KubeClient(kubeconfig []byte) (kubernetes.Interface, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}

	cfg.Timeout = 10 * time.Second

	return kubernetes.NewForConfig(cfg)
}

// WatchNodes follows every Node's Ready condition with an informer (a
// watch that re-lists and reconnects by itself) and emits NodeReady events
// when a node's readiness or its reason changes. Node names are the boards'
// hostnames, which are the plan's board names.
func WatchNodes(ctx context.Context, cs kubernetes.Interface, emit func(Event)) error {
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().Nodes().Informer()

	last := map[string]string{}

	report := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return
		}

		ready, reason := nodeReady(n)

		key := fmt.Sprint(ready, reason)
		if last[n.Name] == key {
			return
		}

		last[n.Name] = key
		emit(Event{Time: time.Now(), Node: n.Name, Kind: NodeReady, Ready: ready, Detail: reason})
	}

	// Handlers run on the informer's single goroutine, so last needs no lock.
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    report,
		UpdateFunc: func(_, obj any) { report(obj) },
		DeleteFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok {
				delete(last, n.Name)
				emit(Event{Time: time.Now(), Node: n.Name, Kind: NodeReady, Detail: "Node object deleted"})
			}
		},
	}); err != nil {
		return err
	}

	inf.Run(ctx.Done())

	return nil
}

// NodeSnapshot lists the Nodes once and reports each one's readiness.
func NodeSnapshot(ctx context.Context, cs kubernetes.Interface) ([]Event, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}

	out := make([]Event, 0, len(nodes.Items))

	for i := range nodes.Items {
		ready, reason := nodeReady(&nodes.Items[i])
		out = append(out, Event{Time: time.Now(), Node: nodes.Items[i].Name, Kind: NodeReady, Ready: ready, Detail: reason})
	}

	return out, nil
}

// nodeReady reads the Ready condition the kubelet (or, when it goes silent,
// the node lifecycle controller) maintains.
func nodeReady(n *corev1.Node) (bool, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			reason := c.Reason
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				reason += ": " + c.Message
			}

			return c.Status == corev1.ConditionTrue, reason
		}
	}

	return false, "no Ready condition yet"
}
