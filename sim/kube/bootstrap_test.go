package kube

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Talos's bootstrap manifests run to Ready on simulated kubelets: flannel
// and kube-proxy on every node, CoreDNS's two replicas, and the control
// plane's static pods as mirror pods. A node whose CNI never comes stays
// NotReady in the kubelet's words, and nothing but node agents lands on it.
func TestBootstrapManifestsRunToReady(t *testing.T) {
	needControlPlane(t)

	if err := shared.ApplyBootstrap(t.Context(), Bootstrap{
		Server: "https://127.0.0.1:7445", ClusterDomain: "cluster.local", PodCIDRs: []string{"10.244.0.0/16"}, DNSServiceIP: "10.96.0.10",
		CNI: "flannel", FlannelImage: "ghcr.io/siderolabs/flannel:v0.28.4", ProxyImage: "registry.k8s.io/kube-proxy:v1.36.1",
		CoreDNSImage: "registry.k8s.io/coredns/coredns:v1.14.2", Proxy: true, CoreDNS: true,
	}); err != nil {
		t.Fatal(err)
	}

	suffix := fmt.Sprint(time.Now().UnixNano() % 100000)
	cp, worker, bare := "boot-cp-"+suffix, "boot-w-"+suffix, "boot-nocni-"+suffix

	start := func(name string, agents []string, static []StaticPod) {
		startKubeletWith(t, KubeletOptions{NodeName: name, NetworkAgents: agents, StaticPods: static, K8sVersion: "v1.36.1"})
	}

	start(cp, []string{"flannel"}, []StaticPod{
		{Name: "kube-apiserver", Image: "registry.k8s.io/kube-apiserver:v1.36.1"},
		{Name: "kube-controller-manager", Image: "registry.k8s.io/kube-controller-manager:v1.36.1"},
		{Name: "kube-scheduler", Image: "registry.k8s.io/kube-scheduler:v1.36.1"},
	})
	start(worker, []string{"flannel"}, nil)
	start(bare, []string{"cilium"}, nil)

	podsOn := func(node string) ([]corev1.Pod, error) {
		list, err := sharedCS.CoreV1().Pods(metav1.NamespaceSystem).List(t.Context(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})

		return list.Items, err
	}

	ready := func(p corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return p.Status.Phase == corev1.PodRunning && c.Status == corev1.ConditionTrue
			}
		}

		return false
	}

	eventually(t, 90*time.Second, func() error {
		for node, want := range map[string][]string{
			cp:     {"kube-apiserver-" + cp, "kube-controller-manager-" + cp, "kube-scheduler-" + cp, "kube-flannel-", "kube-proxy-"},
			worker: {"kube-flannel-", "kube-proxy-"},
		} {
			pods, err := podsOn(node)
			if err != nil {
				return err
			}

			for _, w := range want {
				if !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return strings.HasPrefix(p.Name, w) && ready(p) }) {
					return fmt.Errorf("%s: no ready %s* among %d pods", node, w, len(pods))
				}
			}

			n, err := sharedCS.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
			if err != nil || readyCondition(n).Status != corev1.ConditionTrue {
				return fmt.Errorf("%s not Ready: %v %v", node, readyCondition(n), err)
			}
		}

		dns, err := sharedCS.CoreV1().Pods(metav1.NamespaceSystem).List(t.Context(), metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			return err
		}

		if n := len(slices.DeleteFunc(dns.Items, func(p corev1.Pod) bool { return !ready(p) })); n != 2 {
			return fmt.Errorf("%d CoreDNS pods ready, want 2", n)
		}

		return nil
	})

	mirror, err := sharedCS.CoreV1().Pods(metav1.NamespaceSystem).Get(t.Context(), "kube-apiserver-"+cp, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	if mirror.Annotations[mirrorAnnotation] == "" || mirror.Labels["k8s-app"] != "kube-apiserver" || mirror.Labels["tier"] != "control-plane" ||
		len(mirror.OwnerReferences) != 1 || mirror.OwnerReferences[0].Kind != "Node" {
		t.Errorf("mirror pod: %v %v %v", mirror.Annotations, mirror.Labels, mirror.OwnerReferences)
	}

	n, err := sharedCS.CoreV1().Nodes().Get(t.Context(), bare, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	if c := readyCondition(n); c.Status == corev1.ConditionTrue || !strings.Contains(c.Message, "cni plugin not initialized") {
		t.Errorf("a node without its CNI: %+v", c)
	}

	pods, err := podsOn(bare)
	if err != nil {
		t.Fatal(err)
	}

	for _, p := range pods {
		if p.Labels["k8s-app"] == "kube-dns" {
			t.Errorf("CoreDNS landed on a node whose network is not ready: %s (node taints %v, conditions %v)", p.Name, n.Spec.Taints, n.Status.Conditions)
		}
	}
}
