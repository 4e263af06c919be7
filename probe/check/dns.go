package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/liftoff-lab/liftoff/probe"
)

// clusterDNS judges CoreDNS as Talos deploys it (Deployment kube-system/
// coredns, pods k8s-app=kube-dns, two replicas): Talos's own health check
// waits for the same ("coredns to report ready"). Pending CoreDNS is among
// the most asked-about stuck states; the scheduler's event says why.
func clusterDNS(ctx context.Context, env *Env) Result {
	if env.Kube == nil {
		return skip("no Kubernetes API answered")
	}

	// CoreDNS waits, Pending, for the pod network a platform installed
	// next brings (cluster.profile: cozystack): so does this check.
	if len(nodesWhere(env, func(n *probe.Node) bool { return n.NodeReady })) == 0 {
		if r, ok := waiting(nodesWhere(env, func(n *probe.Node) bool { return n.Role != "" })); ok {
			return r
		}
	}

	deps, err := env.Kube.AppsV1().Deployments(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		return Result{Status: Fail, Summary: "cannot list kube-system's Deployments", Why: err.Error()}
	}

	if len(deps.Items) == 0 {
		return skip("no CoreDNS Deployment: the configs disable it (cluster.coreDNS.disabled), so cluster DNS is yours to run")
	}

	want := 1
	if r := deps.Items[0].Spec.Replicas; r != nil {
		want = int(*r)
	}

	// Talos's health check waits for CoreDNS too: a node that just became
	// Ready takes the scheduler a moment (its retry backoff). With no node
	// Ready there is nothing to wait for.
	wait := min(env.Hello.Timeout, 2*time.Minute)
	if len(nodesWhere(env, func(n *probe.Node) bool { return n.Role != "" && n.NodeReady })) == 0 {
		wait = 0
	}

	pods, err := readyPods(ctx, env, want, wait)
	if err != nil {
		return Result{Status: Fail, Summary: "cannot list CoreDNS's pods", Why: err.Error()}
	}

	var ready, nodes []string

	r := Result{Status: Fail}

	for _, p := range pods.Items {
		if podReady(p) {
			ready = append(ready, p.Name)
			nodes = append(nodes, p.Spec.NodeName)

			continue
		}

		line := fmt.Sprintf("%s: %s", p.Name, p.Status.Phase)
		if why := podWhy(ctx, env, p); why != "" {
			line += " — " + why

			if r.Why == "" {
				r.Why = why
			}
		}

		r.Evidence = append(r.Evidence, line)
	}

	if len(ready) >= want {
		slices.Sort(nodes)

		return pass("%d/%d CoreDNS pods Running and Ready (on %s)", len(ready), want, strings.Join(slices.Compact(nodes), ", "))
	}

	r.Summary = fmt.Sprintf("CoreDNS is not ready: %d/%d pods Ready", len(ready), want)

	// Why the nodes do not take it: the first diagnosis of each NotReady node.
	stuck := nodesWhere(env, func(n *probe.Node) bool { return n.Role != "" && !n.NodeReady })
	if len(stuck) > 0 {
		nodesR := failNodes(env, "", stuck)
		r.Evidence = append(r.Evidence, nodesR.Evidence...)
		r.Fix = nodesR.Fix

		if r.Why == "" {
			r.Why = nodesR.Why
		}
	}

	if r.Fix == "" {
		r.Fix = "kubectl -n kube-system describe pods -l k8s-app=kube-dns shows the pods' events; talosctl health waits for the same"
	}

	// The taints the scheduler would not tolerate.
	if list, err := env.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		for _, n := range list.Items {
			for _, t := range n.Spec.Taints {
				if t.Key != "node-role.kubernetes.io/control-plane" {
					r.Evidence = append(r.Evidence, fmt.Sprintf("node %s: taint %s:%s", n.Name, t.Key, t.Effect))
				}
			}
		}
	}

	return r
}

// readyPods lists CoreDNS's pods, waiting up to wait for want of them to
// be ready.
func readyPods(ctx context.Context, env *Env, want int, wait time.Duration) (*corev1.PodList, error) {
	deadline := time.Now().Add(wait)
	delay := 250 * time.Millisecond

	for {
		pods, err := env.Kube.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			return nil, err
		}

		n := 0
		for _, p := range pods.Items {
			if podReady(p) {
				n++
			}
		}

		if n >= want || time.Now().After(deadline) {
			return pods, nil
		}

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()

			return pods, nil
		case <-t.C:
		}

		delay = min(delay*2, 5*time.Second)
	}
}

func podReady(p corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
}

// podWhy is why a pod is not running: its latest warning event (the
// scheduler's FailedScheduling, the kubelet's sandbox errors) or its
// containers' waiting reasons.
func podWhy(ctx context.Context, env *Env, p corev1.Pod) string {
	events, err := env.Kube.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + p.Name,
	})
	if err == nil {
		var last *corev1.Event

		for i := range events.Items {
			e := &events.Items[i]
			if e.Type == corev1.EventTypeWarning && (last == nil || e.LastTimestamp.After(last.LastTimestamp.Time) || e.EventTime.After(last.EventTime.Time)) {
				last = e
			}
		}

		if last != nil {
			return last.Reason + ": " + strings.TrimSpace(last.Message)
		}
	}

	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue && c.Message != "" {
			return c.Reason + ": " + c.Message
		}
	}

	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			return w.Reason + ": " + w.Message
		}
	}

	return ""
}
