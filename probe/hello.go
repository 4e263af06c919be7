package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// The two hello-worlds the baseline compares.
const (
	// SpinHelloImage is SpinKube's hello example; GET /hello answers SpinHelloText.
	SpinHelloImage = "ghcr.io/spinkube/containerd-shim-spin/examples/spin-rust-hello:v0.15.1"
	SpinHelloText  = "Hello world from Spin!"
	// ContainerHelloImage is a plain container answering the same path.
	ContainerHelloImage = "hashicorp/http-echo:1.0"
	ContainerHelloText  = "Hello world from a container!"

	helloNamespace = "liftoff-hello"
	managedBy      = "app.kubernetes.io/managed-by"
)

// Flavour is one of the two workloads.
type Flavour struct {
	Name    string // wasm | container
	Image   string
	Command []string
	Args    []string
	Text    string // the expected body
	Spin    bool
	// NodeSelector pins the pods, e.g. to one architecture.
	NodeSelector map[string]string
}

// The two hello-worlds: Spin's WebAssembly one, and the same answer from a
// container as the baseline it is compared with.
var (
	Spin      = Flavour{Name: "wasm", Image: SpinHelloImage, Command: []string{"/"}, Text: SpinHelloText, Spin: true}
	Container = Flavour{Name: "container", Image: ContainerHelloImage, Args: []string{"-listen=:80", "-text=" + ContainerHelloText}, Text: ContainerHelloText}
	Flavours  = []Flavour{Spin, Container}
)

// Dial opens a connection the way the operator's machine would: through
// the OS (and so tailscaled) on a real LAN, through the operator's tsnet
// node in the simulated lab.
type Dial func(ctx context.Context, network, addr string) (net.Conn, error)

// Fetcher GETs a path from a Service. Real clusters go through the API
// server's service proxy; the simulated lab can reach Services directly.
type Fetcher func(ctx context.Context, namespace, service, path string) (string, error)

// ProxyFetcher reaches a Service through the API server, which needs no
// route from the operator's machine into the cluster.
func ProxyFetcher(cs kubernetes.Interface) Fetcher {
	return func(ctx context.Context, ns, svc, path string) (string, error) {
		rc, err := cs.CoreV1().Services(ns).ProxyGet("http", svc, "80", path, nil).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close() //nolint:errcheck

		// A hello-world answers a line; a Service that streams is cut off.
		body, err := io.ReadAll(io.LimitReader(rc, 64<<10))

		return string(body), err
	}
}

// same compares an answer with the expected text; http-echo ends its body
// with a newline, Spin does not.
func same(body, want string) bool {
	return strings.TrimRight(body, "\r\n") == want
}

// HelloOptions tune the probe.
type HelloOptions struct {
	Requests int           // latency samples after the first answer; default 20
	Timeout  time.Duration // rollout + first answer; default 3m
	Keep     bool          // leave the workload running (the dashboard's live panel)
}

// HelloResult is one flavour's measurements.
type HelloResult struct {
	Flavour   string
	ColdStart time.Duration // apply → first right answer
	P50, P90  time.Duration
	P99       time.Duration
	Body      string
	Nodes     []string // where the pods ran
	Err       error
}

// RunHello deploys one flavour, waits for it, measures it and, unless Keep,
// removes what it created. Progress goes out as events.
func RunHello(ctx context.Context, cs kubernetes.Interface, fetch Fetcher, f Flavour, opts HelloOptions, emit func(Event)) (res HelloResult) {
	if opts.Requests == 0 {
		opts.Requests = 20
	}

	if opts.Timeout == 0 {
		opts.Timeout = 3 * time.Minute
	}

	res.Flavour = f.Name

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	start := time.Now()

	if err := deployHello(ctx, cs, f); err != nil {
		res.Err = err

		return res
	}

	if !opts.Keep {
		defer func() {
			if err := RemoveHello(cs, f); err != nil && res.Err == nil {
				res.Err = fmt.Errorf("cleaning up: %w", err)
			}
		}()
	}

	name := "hello-" + f.Name

	if err := waitAvailableOrRefused(ctx, cs, name, start); err != nil {
		res.Err = fmt.Errorf("%s never became available: %w%s", name, err, podTrouble(cs, name))

		return res
	}

	res.Nodes = podNodes(ctx, cs, name)

	// First right answer: a just-ready endpoint may still refuse for a moment.
	for {
		body, err := fetch(ctx, helloNamespace, name, "/hello")
		if err == nil && same(body, f.Text) {
			res.ColdStart, res.Body = time.Since(start), strings.TrimRight(body, "\r\n")

			break
		}

		if ctx.Err() != nil {
			res.Err = fmt.Errorf("no right answer from %s within %s (last: %q, %v)", name, opts.Timeout, body, err)

			return res
		}

		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}

	emit(Event{Time: time.Now(), Kind: Hello, Name: f.Name, Ready: true, Latency: res.ColdStart, Detail: res.Body})

	samples := make([]time.Duration, 0, opts.Requests)

	for range opts.Requests {
		t0 := time.Now()
		body, err := fetch(ctx, helloNamespace, name, "/hello")
		d := time.Since(t0)

		if err != nil || !same(body, f.Text) {
			res.Err = fmt.Errorf("wrong answer after the first: %q, %v", body, err)
			emit(Event{Time: time.Now(), Kind: Hello, Name: f.Name, Latency: d, Detail: res.Err.Error()})

			return res
		}

		samples = append(samples, d)
	}

	slices.Sort(samples)
	res.P50, res.P90, res.P99 = percentile(samples, 50), percentile(samples, 90), percentile(samples, 99)

	emit(Event{Time: time.Now(), Kind: Hello, Name: f.Name, Ready: true, Latency: res.P50, Detail: res.Body})

	return res
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}

	i := (len(sorted)*p + 99) / 100

	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// SpinRuntimeClass finds a RuntimeClass with the spin handler, or creates
// wasmtime-spin-v2 scheduling onto nodes whose image has the extension.
func SpinRuntimeClass(ctx context.Context, cs kubernetes.Interface) (string, error) {
	list, err := cs.NodeV1().RuntimeClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing RuntimeClasses: %w", err)
	}

	for _, rc := range list.Items {
		if rc.Handler == plan.SpinRuntimeHandler {
			return rc.Name, nil
		}
	}

	rc := &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: plan.SpinRuntimeClass, Labels: map[string]string{managedBy: "liftoff"}},
		Handler:    plan.SpinRuntimeHandler,
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{plan.ExtensionLabel("spin"): "true"}},
	}

	if _, err := cs.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating RuntimeClass %s: %w", rc.Name, err)
	}

	return rc.Name, nil
}

func deployHello(ctx context.Context, cs kubernetes.Interface, f Flavour) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: helloNamespace, Labels: map[string]string{managedBy: "liftoff"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", helloNamespace, err)
	}

	name := "hello-" + f.Name
	labels := map[string]string{"app": name, managedBy: "liftoff"}

	pod := corev1.PodSpec{Containers: []corev1.Container{{
		Name: "hello", Image: f.Image, Command: f.Command, Args: f.Args,
		Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/hello", Port: intstr.FromInt32(80)},
		}},
	}}}

	pod.NodeSelector = f.NodeSelector

	if f.Spin {
		rc, err := SpinRuntimeClass(ctx, cs)
		if err != nil {
			return err
		}

		pod.RuntimeClassName = &rc
	}

	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: helloNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}

	if _, err := cs.AppsV1().Deployments(helloNamespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Deployment %s: %w", name, err)
	}

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: helloNamespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}},
		},
	}

	if _, err := cs.CoreV1().Services(helloNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Service %s: %w", name, err)
	}

	return nil
}

// waitAvailableOrRefused waits for the Deployment, but gives up at once
// when a node refuses the pod for good: a sandbox that cannot be created
// (no runtime for the RuntimeClass's handler) does not fix itself.
func waitAvailableOrRefused(ctx context.Context, cs kubernetes.Interface, name string, since time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	go func() {
		w, err := cs.CoreV1().Events(helloNamespace).Watch(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
		if err != nil {
			return
		}
		defer w.Stop()

		for ev := range w.ResultChan() {
			e, ok := ev.Object.(*corev1.Event)
			// Events outlive pods: only this deploy's count.
			fresh := ok && (e.LastTimestamp.Time.After(since.Add(-time.Second)) || e.EventTime.Time.After(since.Add(-time.Second)))
			if fresh && e.Reason == "FailedCreatePodSandBox" && strings.HasPrefix(e.InvolvedObject.Name, name+"-") {
				cancel(fmt.Errorf("node refused the pod: %s: %s", e.Reason, e.Message))

				return
			}
		}
	}()

	err := waitAvailable(ctx, cs, name)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}

	return err
}

// waitAvailable watches the Deployment until a replica is available.
func waitAvailable(ctx context.Context, cs kubernetes.Interface, name string) error {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()

	for ctx.Err() == nil {
		list, err := cs.AppsV1().Deployments(helloNamespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return err
		}

		if len(list.Items) == 1 && list.Items[0].Status.AvailableReplicas > 0 {
			return nil
		}

		w, err := cs.AppsV1().Deployments(helloNamespace).Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: list.ResourceVersion})
		if err != nil {
			return err
		}

		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && ev.Type != watch.Deleted && d.Status.AvailableReplicas > 0 {
				w.Stop()

				return nil
			}
		}
		// The watch ended (server timeout): list again and resume.
	}

	return ctx.Err()
}

func podNodes(ctx context.Context, cs kubernetes.Interface, app string) []string {
	pods, err := cs.CoreV1().Pods(helloNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil
	}

	var nodes []string
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" && !slices.Contains(nodes, p.Spec.NodeName) {
			nodes = append(nodes, p.Spec.NodeName)
		}
	}

	return nodes
}

// podTrouble says why pods of an app are not running, from their status and
// events: the evidence for "no runtime for spin is configured".
func podTrouble(cs kubernetes.Interface, app string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pods, err := cs.CoreV1().Pods(helloNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil || len(pods.Items) == 0 {
		return " (no pods were created)"
	}

	var why []string

	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
				why = append(why, fmt.Sprintf("pod %s not scheduled: %s", p.Name, c.Message))
			}
		}

		for _, s := range p.Status.ContainerStatuses {
			if w := s.State.Waiting; w != nil && w.Reason != "" {
				why = append(why, fmt.Sprintf("pod %s on %s: %s: %s", p.Name, p.Spec.NodeName, w.Reason, w.Message))
			}
		}

		evs, err := cs.CoreV1().Events(helloNamespace).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", p.Name).String()})
		if err == nil {
			for _, e := range evs.Items {
				if e.Type == corev1.EventTypeWarning {
					why = append(why, fmt.Sprintf("pod %s: %s: %s", p.Name, e.Reason, e.Message))
				}
			}
		}
	}

	if len(why) == 0 {
		return ""
	}

	return "; " + strings.Join(slices.Compact(why), "; ")
}

// RemoveHello deletes one flavour's workload (its Deployment and
// Service), even after ctx ended; the namespace stays for the next.
func RemoveHello(cs kubernetes.Interface, f Flavour) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	name := "hello-" + f.Name
	policy := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy}

	return errors.Join(
		ignoreNotFound(cs.AppsV1().Deployments(helloNamespace).Delete(ctx, name, opts)),
		ignoreNotFound(cs.CoreV1().Services(helloNamespace).Delete(ctx, name, opts)),
	)
}

// RemoveHelloAndWait removes one flavour's workload and waits until its
// Deployment is gone, so the next hello-world of the same name is a new
// one and not the old one on its way out.
func RemoveHelloAndWait(ctx context.Context, cs kubernetes.Interface, f Flavour) error {
	if err := RemoveHello(cs, f); err != nil {
		return err
	}

	sel := fields.OneTermEqualSelector("metadata.name", "hello-"+f.Name).String()

	for ctx.Err() == nil {
		list, err := cs.AppsV1().Deployments(helloNamespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return err
		}

		if len(list.Items) == 0 {
			return nil
		}

		w, err := cs.AppsV1().Deployments(helloNamespace).Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: list.ResourceVersion})
		if err != nil {
			return err
		}

		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				w.Stop()

				return nil
			}
		}
	}

	return ctx.Err()
}

// CleanupHello removes the namespace and the RuntimeClass liftoff created,
// and nothing it did not create.
func CleanupHello(ctx context.Context, cs kubernetes.Interface) error {
	var errs []error

	if ns, err := cs.CoreV1().Namespaces().Get(ctx, helloNamespace, metav1.GetOptions{}); err == nil && ns.Labels[managedBy] == "liftoff" {
		errs = append(errs, ignoreNotFound(cs.CoreV1().Namespaces().Delete(ctx, helloNamespace, metav1.DeleteOptions{})))
	}

	if rc, err := cs.NodeV1().RuntimeClasses().Get(ctx, plan.SpinRuntimeClass, metav1.GetOptions{}); err == nil && rc.Labels[managedBy] == "liftoff" {
		errs = append(errs, ignoreNotFound(cs.NodeV1().RuntimeClasses().Delete(ctx, rc.Name, metav1.DeleteOptions{})))
	}

	return errors.Join(errs...)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}

	return err
}

// HelloAddr is a hello-world Service's ClusterIP:port: where traffic
// through the Tailscale route goes.
func HelloAddr(ctx context.Context, cs kubernetes.Interface, f Flavour) (string, error) {
	svc, err := cs.CoreV1().Services(helloNamespace).Get(ctx, "hello-"+f.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("the %s hello-world Service: %w", f.Name, err)
	}

	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
		return "", fmt.Errorf("the %s hello-world Service has no ClusterIP", f.Name)
	}

	return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))), nil
}
