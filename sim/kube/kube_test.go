package kube

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

func TestControlPlaneServesClientGo(t *testing.T) {
	needControlPlane(t)

	cfg, err := clientcmd.Load(shared.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range cfg.Clusters {
		if !bytes.Equal(c.CertificateAuthorityData, bundle.Certs.K8s.Crt) {
			t.Error("kubeconfig CA is not the bundle's Kubernetes CA")
		}

		if c.Server != shared.Endpoint() {
			t.Errorf("server %s, want %s", c.Server, shared.Endpoint())
		}
	}

	nss, err := sharedCS.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var names []string
	for _, ns := range nss.Items {
		names = append(names, ns.Name)
	}

	for _, want := range []string{"default", "kube-system", "kube-node-lease"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("namespaces %v lack %s", names, want)
		}
	}

	// Secrets are encrypted at rest with the bundle's key; a round trip
	// through the API proves the provider config is accepted.
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"}, StringData: map[string]string{"k": "v"}}
	if _, err := sharedCS.CoreV1().Secrets("default").Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestNodeRegistersWithLabels(t *testing.T) {
	needControlPlane(t)

	k := startTestKubelet(t, "reg-1", "spin", "tailscale")
	<-k.Registered()

	n := until(t, 30*time.Second, nodeLW("reg-1"), func(n *corev1.Node) bool {
		return readyCondition(n).Status == corev1.ConditionTrue && n.Spec.PodCIDR != ""
	})

	for key, want := range map[string]string{
		"kubernetes.io/arch": "arm64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": "reg-1",
		plan.RoleLabel: "compute", plan.ExtensionLabel("spin"): "true", plan.ExtensionLabel("tailscale"): "true",
	} {
		if got := n.Labels[key]; got != want {
			t.Errorf("label %s = %q, want %q", key, got, want)
		}
	}

	if n.Status.NodeInfo.KubeletVersion != KubeletVersion || len(n.Status.RuntimeHandlers) != 2 {
		t.Errorf("node info %+v, handlers %v", n.Status.NodeInfo, n.Status.RuntimeHandlers)
	}

	until(t, 10*time.Second, cache.NewListWatchFromClient(sharedCS.CoordinationV1().RESTClient(), "leases", "kube-node-lease", fields.OneTermEqualSelector("metadata.name", "reg-1")),
		func(l *coordinationv1.Lease) bool {
			return l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == "reg-1" && len(l.OwnerReferences) == 1
		})
}

func TestControlPlaneNodeGetsRoleAndTaint(t *testing.T) {
	needControlPlane(t)

	name := "cp-1"
	nodeCfg, _ := shared.NodeKubeconfig(name)

	k, err := StartKubelet(t.Context(), KubeletOptions{
		NodeName: name, Address: testAddress(), ControlPlane: true, Role: "compute", Taints: []corev1.Taint{ControlPlaneTaint},
		Kubeconfig: nodeCfg, AdminKubeconfig: shared.Kubeconfig(), Network: shared.Network(),
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		k.Stop()
		_ = sharedCS.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})

	// The control-plane taint stays; the controller's not-ready taint of a
	// fresh node goes once it is Ready.
	until(t, 30*time.Second, nodeLW(name), func(n *corev1.Node) bool {
		_, role := n.Labels["node-role.kubernetes.io/control-plane"]

		return role && len(n.Spec.Taints) == 1 && n.Spec.Taints[0].MatchTaint(&ControlPlaneTaint)
	})
}

// TestNodeReadyTransitions powers a board off and on: the real node
// lifecycle controller marks it NotReady once the Lease goes stale.
func TestNodeReadyTransitions(t *testing.T) {
	needControlPlane(t)

	k := startTestKubelet(t, "flaky-1")
	until(t, 30*time.Second, nodeLW("flaky-1"), func(n *corev1.Node) bool { return readyCondition(n).Status == corev1.ConditionTrue })

	off := time.Now()
	k.SetHealthy(false)

	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	n := until(t, 60*time.Second, nodeLW("flaky-1"), func(n *corev1.Node) bool {
		return readyCondition(n).Status == corev1.ConditionUnknown && slices.ContainsFunc(n.Spec.Taints, func(x corev1.Taint) bool { return x.MatchTaint(&unreachable) })
	})
	c := readyCondition(n)
	t.Logf("NotReady after %s: %s: %s", time.Since(off).Round(100*time.Millisecond), c.Reason, c.Message)

	if c.Reason != "NodeStatusUnknown" {
		t.Errorf("reason %q, want NodeStatusUnknown (the node lifecycle controller's)", c.Reason)
	}

	on := time.Now()
	k.SetHealthy(true)

	until(t, 30*time.Second, nodeLW("flaky-1"), func(n *corev1.Node) bool {
		return readyCondition(n).Status == corev1.ConditionTrue && len(n.Spec.Taints) == 0
	})
	t.Logf("Ready and untainted again after %s", time.Since(on).Round(100*time.Millisecond))
}

// TestSpinOnlyOnSpinNodes: the real scheduler places a Spin Deployment
// only on nodes with the extension, and it answers over the Service.
func TestSpinOnlyOnSpinNodes(t *testing.T) {
	needControlPlane(t)

	startTestKubelet(t, "spin-1", "spin")
	startTestKubelet(t, "plain-1")
	until(t, 30*time.Second, nodeLW("spin-1"), func(n *corev1.Node) bool { return n.Labels[plan.ExtensionLabel("spin")] == "true" })

	ns := namespace(t, "t-spin")
	spinRuntimeClass(t, "wasmtime-spin-v2", true)

	rc := "wasmtime-spin-v2"
	helloApp(t, ns, "hello-wasm", 3, corev1.PodSpec{
		RuntimeClassName: &rc,
		NodeSelector:     map[string]string{plan.ExtensionLabel("spin"): "true"},
		Containers:       []corev1.Container{helloContainer(spinImage, []string{"/"}, nil)},
	})

	pods, err := sharedCS.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=hello-wasm"})
	if err != nil {
		t.Fatal(err)
	}

	for _, p := range pods.Items {
		if p.Spec.NodeName != "spin-1" && p.DeletionTimestamp == nil {
			t.Errorf("pod %s on %s, want spin-1", p.Name, p.Spec.NodeName)
		}

		if !strings.HasPrefix(p.Status.PodIP, "10.244.") {
			t.Errorf("pod IP %q outside the pod CIDR", p.Status.PodIP)
		}
	}

	net := shared.Network()

	eventually(t, 10*time.Second, func() error {
		body, err := net.Get(t.Context(), ns, "hello-wasm", "/hello")

		return expectBody(body, err, SpinHelloText)
	})

	// A plain HTTP client on the Service's loopback listener, as a probe.
	cip, addr, ok := net.Lookup(ns, "hello-wasm", 80)
	if !ok {
		t.Fatal("no loopback address for the Service")
	}

	resp, err := http.Get("http://" + addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	_ = resp.Body.Close()

	if buf.String() != SpinHelloText {
		t.Errorf("loopback %s (ClusterIP %s): %q", addr, cip, buf.String())
	}

	if got, ok := net.ServiceAddr(cip); !ok || got != addr {
		t.Errorf("ServiceAddr(%s) = %s, %v", cip, got, ok)
	}

	// Through the API server's service proxy, which reaches the pod via its
	// egress proxy onto the simulated network.
	eventually(t, 10*time.Second, func() error {
		b, err := sharedCS.CoreV1().Services(ns).ProxyGet("http", "hello-wasm", "80", "/hello", nil).DoRaw(t.Context())

		return expectBody(string(b), err, SpinHelloText)
	})

	if body, err := net.Get(t.Context(), ns, "hello-wasm", "/"); err == nil {
		t.Errorf("GET / answered %q; Spin routes only /hello", body)
	}
}

func TestContainerHello(t *testing.T) {
	needControlPlane(t)

	startTestKubelet(t, "plain-2")

	ns := namespace(t, "t-container")
	helloApp(t, ns, "hello-container", 1, corev1.PodSpec{
		Containers: []corev1.Container{helloContainer("hashicorp/http-echo:1.0", nil, []string{"-listen=:80", "-text=Hello world from a container!"})},
	})

	eventually(t, 10*time.Second, func() error {
		body, err := shared.Network().Get(t.Context(), ns, "hello-container", "/hello")

		return expectBody(body, err, "Hello world from a container!\n")
	})
}

// TestLabelsComeFromTheConfig: Talos applies machine.nodeLabels whatever
// the image holds. A board whose config labels it spin-capable while its
// image lacks spin keeps the label; the scheduler places a Spin pod there,
// and containerd refuses it.
func TestLabelsComeFromTheConfig(t *testing.T) {
	needControlPlane(t)

	startKubeletWith(t, KubeletOptions{NodeName: "nospin-1", Role: "compute", Extensions: []string{"drbd", "zfs"},
		Labels: map[string]string{plan.ExtensionLabel("spin"): "true", plan.ExtensionLabel("zfs"): "true"}})

	// Ready and untainted: the node controller lifts the not-ready taint a
	// new node starts with only after it reads the node Ready.
	n := until(t, 30*time.Second, nodeLW("nospin-1"), func(n *corev1.Node) bool {
		return readyCondition(n).Status == corev1.ConditionTrue && len(n.Spec.Taints) == 0 && n.Labels[plan.ExtensionLabel("spin")] == "true"
	})

	if _, ok := n.Labels[plan.ExtensionLabel("drbd")]; ok {
		t.Errorf("a label the config does not give, from the image: %v", n.Labels)
	}

	if len(n.Status.RuntimeHandlers) != 1 {
		t.Errorf("runtime handlers %v: the image has no spin", n.Status.RuntimeHandlers)
	}

	ns := namespace(t, "t-nospin")
	spinRuntimeClass(t, "wasmtime-spin-v2", true)

	rc := "wasmtime-spin-v2"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "spin-here", Namespace: ns},
		Spec: corev1.PodSpec{
			RuntimeClassName: &rc, NodeSelector: map[string]string{"kubernetes.io/hostname": "nospin-1"},
			Containers: []corev1.Container{{Name: "hello", Image: spinImage, Command: []string{"/"}}},
		},
	}

	if _, err := sharedCS.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	ev := until(t, 30*time.Second, cache.NewListWatchFromClient(sharedCS.CoreV1().RESTClient(), "events", ns, fields.OneTermEqualSelector("involvedObject.name", "spin-here")),
		func(e *corev1.Event) bool { return e.Type == corev1.EventTypeWarning })

	if ev.Reason != "FailedCreatePodSandBox" || !strings.Contains(ev.Message, `no runtime for "spin" is configured`) {
		t.Errorf("event %s: %s", ev.Reason, ev.Message)
	}
}

// TestSpinRefusedWithoutRuntime: a Spin pod that lands on a node without
// the extension fails the way containerd does, with evidence in events.
func TestSpinRefusedWithoutRuntime(t *testing.T) {
	needControlPlane(t)

	startTestKubelet(t, "plain-3")
	until(t, 30*time.Second, nodeLW("plain-3"), func(n *corev1.Node) bool { return readyCondition(n).Status == corev1.ConditionTrue })

	ns := namespace(t, "t-refuse")

	// A RuntimeClass without scheduling constraints lets pods land anywhere.
	spinRuntimeClass(t, "spin-anywhere", false)

	rc := "spin-anywhere"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName: "plain-3", RuntimeClassName: &rc,
			Containers: []corev1.Container{{Name: "hello", Image: spinImage, Command: []string{"/"}}},
		},
	}

	if _, err := sharedCS.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	ev := until(t, 30*time.Second, cache.NewListWatchFromClient(sharedCS.CoreV1().RESTClient(), "events", ns, fields.OneTermEqualSelector("involvedObject.name", "stuck")),
		func(e *corev1.Event) bool { return e.Type == corev1.EventTypeWarning })

	if ev.Reason != "FailedCreatePodSandBox" || !strings.Contains(ev.Message, `no runtime for "spin" is configured`) {
		t.Errorf("event %s: %s", ev.Reason, ev.Message)
	}

	p := until(t, 30*time.Second, podLW(ns), func(p *corev1.Pod) bool {
		return p.Name == "stuck" && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil
	})

	if p.Status.Phase != corev1.PodPending || p.Status.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" {
		t.Errorf("pod status %+v", p.Status)
	}

	// With the scheduling RuntimeClass, forcing the node fails admission.
	spinRuntimeClass(t, "wasmtime-spin-v2", true)

	rc2 := "wasmtime-spin-v2"
	forced := pod.DeepCopy()
	forced.Name, forced.Spec.RuntimeClassName = "forced", &rc2

	if _, err := sharedCS.CoreV1().Pods(ns).Create(t.Context(), forced, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	p = until(t, 30*time.Second, podLW(ns), func(p *corev1.Pod) bool { return p.Name == "forced" && p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "NodeAffinity" {
		t.Errorf("forced pod: %s: %s", p.Status.Reason, p.Status.Message)
	}
}

// TestStopLeavesNothing starts a second control plane and ends it by
// cancelling its context: no process, port or directory may remain.
func TestStopLeavesNothing(t *testing.T) {
	needControlPlane(t)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	cp, err := Start(ctx, Options{Secrets: bundle, Address: testAddress(), Port: -1, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}

	st := cp.Stats()
	t.Logf("second control plane: start-up %s, RSS %v", st.StartUp.Round(time.Millisecond), mib(st.RSS))

	if len(st.PIDs) != 4 {
		t.Fatalf("pids %v", st.PIDs)
	}

	cancel()
	_ = cp.Stop() // waits for the cancel-triggered stop to finish

	for name, pid := range st.PIDs {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists: %v", name, pid, err)
		}
	}

	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(cp.Endpoint(), "https://"), time.Second); err == nil {
		_ = c.Close()

		t.Error("API server port still open")
	}

	if _, err := os.Stat(cp.dir); !os.IsNotExist(err) {
		t.Errorf("work dir %s remains: %v", cp.dir, err)
	}
}

// TestPowerCycleRestartsPods: pods go dark with their board and answer
// again after it boots, restarted with a higher restart count.
func TestPowerCycleRestartsPods(t *testing.T) {
	needControlPlane(t)

	k := startTestKubelet(t, "cycle-1")

	ns := namespace(t, "t-cycle")
	helloApp(t, ns, "echo", 1, corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/hostname": "cycle-1"},
		Containers:   []corev1.Container{helloContainer("hashicorp/http-echo:1.0", nil, []string{"-listen=:80", "-text=up"})},
	})

	net := shared.Network()

	eventually(t, 10*time.Second, func() error {
		body, err := net.Get(t.Context(), ns, "echo", "/")

		return expectBody(body, err, "up\n")
	})

	k.SetHealthy(false)

	if body, err := net.Get(t.Context(), ns, "echo", "/"); err == nil {
		t.Fatalf("a powered-off board answered %q", body)
	}

	k.SetHealthy(true)

	eventually(t, 20*time.Second, func() error {
		body, err := net.Get(t.Context(), ns, "echo", "/")

		return expectBody(body, err, "up\n")
	})

	p := until(t, 10*time.Second, podLW(ns), func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	t.Logf("pod %s restarted, IP %s", p.Name, p.Status.PodIP)
}
