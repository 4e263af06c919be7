package kube

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

const spinImage = SpinHelloRepository + ":v0.15.1"

// startTestKubelet runs a kubelet on the shared control plane and removes
// its Node afterwards. Its image has the extensions, and its config labels
// them as liftoff's configs do.
func startTestKubelet(t testing.TB, name string, extensions ...string) *Kubelet {
	t.Helper()

	labels := map[string]string{}
	for _, e := range extensions {
		labels[plan.ExtensionLabel(e)] = "true"
	}

	return startKubeletWith(t, KubeletOptions{NodeName: name, Role: "compute", Extensions: extensions, Labels: labels})
}

// startKubeletWith runs a kubelet with these options (identity, network and
// logging filled in) on the shared control plane and removes its Node
// afterwards.
func startKubeletWith(t testing.TB, opts KubeletOptions) *Kubelet {
	t.Helper()

	nodeCfg, err := shared.NodeKubeconfig(opts.NodeName)
	if err != nil {
		t.Fatal(err)
	}

	opts.Address, opts.Kubeconfig, opts.AdminKubeconfig, opts.Network = testAddress(), nodeCfg, shared.Kubeconfig(), shared.Network()
	opts.HeartbeatInterval, opts.Log = time.Second, testWriter{t}

	k, err := StartKubelet(sharedCtx, opts)
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		k.Stop()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		_ = sharedCS.CoreV1().Nodes().Delete(ctx, opts.NodeName, metav1.DeleteOptions{})
	})

	return k
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))

	return len(p), nil
}

// until watches objects of one kind (list, then watch, resuming on its own)
// until cond holds for one of them.
func until[T runtime.Object](t testing.TB, timeout time.Duration, lw cache.ListerWatcher, cond func(T) bool) T {
	t.Helper()

	ctx, cancel := context.WithTimeout(sharedCtx, timeout)
	defer cancel()

	var zero, got T

	_, err := watchtools.UntilWithSync(ctx, lw, zero, nil, func(ev watch.Event) (bool, error) {
		o, ok := ev.Object.(T)
		if ok && ev.Type != watch.Deleted && cond(o) {
			got = o

			return true, nil
		}

		return false, nil
	})
	if err != nil {
		t.Fatalf("waiting for %T: %v", zero, err)
	}

	return got
}

func nodeLW(name string) cache.ListerWatcher {
	return cache.NewListWatchFromClient(sharedCS.CoreV1().RESTClient(), "nodes", "", fields.OneTermEqualSelector("metadata.name", name))
}

func podLW(ns string) cache.ListerWatcher {
	return cache.NewListWatchFromClient(sharedCS.CoreV1().RESTClient(), "pods", ns, fields.Everything())
}

func readyCondition(n *corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}

	return corev1.NodeCondition{}
}

func namespace(t testing.TB, name string) string {
	t.Helper()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := sharedCS.CoreV1().Namespaces().Create(sharedCtx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	return name
}

func spinRuntimeClass(t testing.TB, name string, scheduled bool) {
	t.Helper()

	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Handler: "spin"}
	if scheduled {
		rc.Scheduling = &nodev1.Scheduling{NodeSelector: map[string]string{plan.ExtensionLabel("spin"): "true"}}
	}

	if _, err := sharedCS.NodeV1().RuntimeClasses().Create(sharedCtx, rc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// helloApp deploys a hello Deployment and its Service on port 80.
func helloApp(t testing.TB, ns, name string, replicas int32, spec corev1.PodSpec) {
	t.Helper()

	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}

	if _, err := sharedCS.AppsV1().Deployments(ns).Create(sharedCtx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}},
	}

	if _, err := sharedCS.CoreV1().Services(ns).Create(sharedCtx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	until(t, 60*time.Second, cache.NewListWatchFromClient(sharedCS.AppsV1().RESTClient(), "deployments", ns, fields.OneTermEqualSelector("metadata.name", name)),
		func(d *appsv1.Deployment) bool { return d.Status.AvailableReplicas == replicas })
}

func helloContainer(image string, command, args []string) corev1.Container {
	return corev1.Container{
		Name: "hello", Image: image, Command: command, Args: args,
		Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/hello", Port: intstr.FromInt32(80)},
		}},
	}
}

// eventually retries fn with backoff: for answers that depend on the
// Service proxy having seen the newest EndpointSlice.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()

	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond

	for {
		err := fn()
		if err == nil {
			return
		}

		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}

		time.Sleep(delay)
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func expectBody(got string, err error, want string) error {
	if err != nil {
		return err
	}

	if got != want {
		return fmt.Errorf("body %q, want %q", got, want)
	}

	return nil
}
