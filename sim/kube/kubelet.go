package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	nodelisters "k8s.io/client-go/listers/node/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// KubeletVersion is what simulated nodes report.
const KubeletVersion = "v1.37.2"

// ControlPlaneTaint keeps ordinary pods off control-plane nodes unless the
// cluster allows scheduling on them.
var ControlPlaneTaint = corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}

// KubeletOptions describe one board's kubelet.
type KubeletOptions struct {
	// NodeName is the board's hostname; Address its IP (the node's InternalIP).
	NodeName, Address string
	// Arch is the kubernetes.io/arch label; default arm64 (a Raspberry Pi).
	Arch string
	// ControlPlane adds node-role.kubernetes.io/control-plane.
	ControlPlane bool
	// Role is liftoff.dev/role: compute or gateway.
	Role string
	// Extensions in the board's image give the node their containerd
	// runtimes: "spin" adds the spin runtime handler. They label nothing.
	Extensions []string
	// Labels and Taints are the ones Talos applies from the machine config
	// (machine.nodeLabels, machine.nodeTaints; ControlPlaneTaint unless
	// scheduling on control planes is allowed): whatever the image holds,
	// a node keeps the labels its config gives it.
	Labels map[string]string
	Taints []corev1.Taint
	// Kubeconfig is the node's identity (ControlPlane.NodeKubeconfig).
	Kubeconfig []byte
	// AdminKubeconfig is what Talos uses to apply labels and taints a kubelet
	// may not set on itself (NodeRestriction); ControlPlane.Kubeconfig.
	AdminKubeconfig []byte
	// Network is where pods listen (ControlPlane.Network).
	Network *Network
	// HeartbeatInterval is how often the Lease is renewed; default 2s.
	HeartbeatInterval time.Duration
	// Capacity defaults to a Raspberry Pi 5: 4 CPUs, 8 GiB, 110 pods.
	Capacity corev1.ResourceList
	// OSImage defaults to "Talos (v1.13.3)".
	OSImage string
	// Log receives one line per notable step; nil discards.
	Log io.Writer
	// NodeReady is told the Node's Ready condition whenever it changes, as
	// Talos's NodeStatus resource follows it (MachineStatus's nodeReady check).
	NodeReady func(ready bool)
	// NetworkAgents are the k8s-app labels of the CNI's node agent (flannel
	// for Talos's default): the node's network is ready, and the Node with
	// it, once such a pod runs here. Empty: ready at once.
	NetworkAgents []string
	// StaticPods are the control-plane static pods Talos writes for this
	// kubelet; it reports each as a mirror pod.
	StaticPods []StaticPod
	// K8sVersion labels the static pods (app.kubernetes.io/version).
	K8sVersion string
}

// Kubelet is a simulated kubelet: it registers its Node, keeps it Ready by
// renewing its Lease while the board is healthy, and runs the pods the
// scheduler binds to it.
type Kubelet struct {
	opts     KubeletOptions
	handlers []string // runtime handlers: runc, plus spin with the extension

	mu      sync.Mutex
	session *session // nil while unhealthy or stopped
	stopped bool

	registered     chan struct{}
	registeredOnce sync.Once
	unhook         func() bool
}

// StartKubelet starts a healthy kubelet. It registers in the background,
// retrying until the API server answers, as a real kubelet does. Cancelling
// ctx stops it.
func StartKubelet(ctx context.Context, opts KubeletOptions) (*Kubelet, error) {
	if opts.NodeName == "" {
		return nil, errors.New("kube: KubeletOptions.NodeName is required")
	}

	if _, err := netip.ParseAddr(opts.Address); err != nil {
		return nil, fmt.Errorf("kube: KubeletOptions.Address: %w", err)
	}

	if opts.Network == nil || len(opts.Kubeconfig) == 0 {
		return nil, errors.New("kube: KubeletOptions needs Network and Kubeconfig")
	}

	if opts.Arch == "" {
		opts.Arch = "arm64"
	}

	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 2 * time.Second
	}

	if opts.OSImage == "" {
		opts.OSImage = "Talos (v1.13.3)"
	}

	if opts.Log == nil {
		opts.Log = io.Discard
	}

	if opts.Capacity == nil {
		opts.Capacity = corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("4"),
			corev1.ResourceMemory:           resource.MustParse("8Gi"),
			corev1.ResourcePods:             resource.MustParse("110"),
			corev1.ResourceEphemeralStorage: resource.MustParse("58Gi"),
		}
	}

	k := &Kubelet{opts: opts, handlers: []string{"runc"}, registered: make(chan struct{})}
	if slices.Contains(opts.Extensions, "spin") {
		k.handlers = append(k.handlers, plan.SpinRuntimeHandler)
	}

	k.SetHealthy(true)

	k.mu.Lock()
	k.unhook = context.AfterFunc(ctx, k.Stop)
	k.mu.Unlock()

	return k, nil
}

// SetHealthy is the Talos side's verdict on the board. false is a power
// loss: the kubelet stops, its pods stop answering, the Lease is no longer
// renewed and the node lifecycle controller marks the Node NotReady. true
// boots it again: it reports Ready and restarts the node's pods.
func (k *Kubelet) SetHealthy(healthy bool) {
	k.mu.Lock()
	defer k.mu.Unlock()

	if k.stopped || healthy == (k.session != nil) {
		return
	}

	if !healthy {
		k.session.stop()
		k.session = nil
		k.logf("powered off: lease renewal stopped, pods stopped")

		return
	}

	k.session = k.boot()
}

// NodeName is the Node the kubelet registers as.
func (k *Kubelet) NodeName() string { return k.opts.NodeName }

// Extensions are the image extensions it was started with (its runtimes).
func (k *Kubelet) Extensions() []string { return slices.Clone(k.opts.Extensions) }

// Healthy says whether the kubelet is running.
func (k *Kubelet) Healthy() bool {
	k.mu.Lock()
	defer k.mu.Unlock()

	return k.session != nil
}

// Registered is closed once the Node has been registered.
func (k *Kubelet) Registered() <-chan struct{} { return k.registered }

// Stop powers the board off for good.
func (k *Kubelet) Stop() {
	k.SetHealthy(false)

	k.mu.Lock()
	defer k.mu.Unlock()

	k.stopped = true

	if k.unhook != nil {
		k.unhook()
	}
}

func (k *Kubelet) logf(format string, args ...any) {
	fmt.Fprintf(k.opts.Log, "kubelet %s: "+format+"\n", append([]any{k.opts.NodeName}, args...)...)
}

// session is one boot of the board: everything in it ends at power loss.
type session struct {
	k      *Kubelet
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	bootID string

	cs, admin kubernetes.Interface
	recorder  record.EventRecorder
	nodes     corelisters.NodeLister
	rcs       nodelisters.RuntimeClassLister
	cidr      chan struct{} // closed when the node has a pod CIDR
	cidrOnce  sync.Once
	ready     *bool // the Node's Ready condition as last told

	mu   sync.Mutex
	pods map[types.UID]*podRun
	ips  map[netip.Addr]types.UID
}

func (k *Kubelet) boot() *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		k: k, ctx: ctx, cancel: cancel, done: make(chan struct{}), bootID: randomHex(16),
		cidr: make(chan struct{}), pods: map[types.UID]*podRun{}, ips: map[netip.Addr]types.UID{},
	}

	go func() {
		defer close(s.done)

		if err := s.run(); err != nil && ctx.Err() == nil {
			k.logf("stopped: %v", err)
		}
	}()

	return s
}

func (s *session) stop() {
	s.cancel()
	<-s.done

	s.mu.Lock()
	pods := slices.Collect(maps.Values(s.pods))
	clear(s.pods)
	s.mu.Unlock()

	for _, p := range pods {
		p.kill() // its cleanup takes s.mu
	}
}

func clientFor(kubeconfig []byte) (kubernetes.Interface, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}

	cfg.Timeout = 15 * time.Second
	cfg.QPS, cfg.Burst = 50, 100

	return kubernetes.NewForConfig(cfg)
}

func (s *session) run() error {
	k := s.k

	var err error
	if s.cs, err = clientFor(k.opts.Kubeconfig); err != nil {
		return err
	}

	if len(k.opts.AdminKubeconfig) > 0 {
		if s.admin, err = clientFor(k.opts.AdminKubeconfig); err != nil {
			return err
		}
	}

	broadcaster := record.NewBroadcaster(record.WithContext(s.ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.cs.CoreV1().Events("")})
	defer broadcaster.Shutdown()

	s.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.opts.NodeName})

	if err := retry(s.ctx, k, "registering node", s.register); err != nil {
		return err
	}

	if err := retry(s.ctx, k, "applying Talos node labels", s.applyTalosLabels); err != nil {
		return err
	}

	if err := retry(s.ctx, k, "creating mirror pods", s.mirrorPods); err != nil {
		return err
	}

	k.registeredOnce.Do(func() { close(k.registered) })
	k.logf("registered (boot %s)", s.bootID[:8])

	// Informers: our Node (for its pod CIDR and the controller's verdicts),
	// our pods, and RuntimeClasses.
	nodeF := informers.NewSharedInformerFactoryWithOptions(s.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", k.opts.NodeName).String()
	}))
	podF := informers.NewSharedInformerFactoryWithOptions(s.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.opts.NodeName).String()
	}))
	rcF := informers.NewSharedInformerFactory(s.cs, 0)

	nodeInf := nodeF.Core().V1().Nodes()
	s.nodes = nodeInf.Lister()
	s.rcs = rcF.Node().V1().RuntimeClasses().Lister()
	_ = rcF.Node().V1().RuntimeClasses().Informer()

	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.nodeChanged(o) },
		UpdateFunc: func(_, o any) { s.nodeChanged(o) },
	}); err != nil {
		return err
	}

	if _, err := podF.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.podChanged(o) },
		UpdateFunc: func(_, o any) { s.podChanged(o) },
		DeleteFunc: func(o any) { s.podDeleted(o) },
	}); err != nil {
		return err
	}

	nodeF.Start(s.ctx.Done())
	rcF.Start(s.ctx.Done())
	nodeF.WaitForCacheSync(s.ctx.Done())
	rcF.WaitForCacheSync(s.ctx.Done())
	podF.Start(s.ctx.Done())

	defer func() {
		nodeF.Shutdown()
		podF.Shutdown()
		rcF.Shutdown()
	}()

	return s.heartbeat()
}

// retry runs fn with capped exponential backoff until it succeeds or ctx ends.
func retry(ctx context.Context, k *Kubelet, what string, fn func() error) error {
	delay := 100 * time.Millisecond

	for n := 1; ; n++ {
		err := fn()
		if err == nil {
			return nil
		}

		if ctx.Err() != nil {
			return ctx.Err()
		}

		if (n == 1 && !apierrors.IsConflict(err)) || n%10 == 0 {
			k.logf("%s: %v (retrying)", what, err)
		}

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()

			return ctx.Err()
		case <-t.C:
		}

		delay = min(delay*2, 5*time.Second)
	}
}

// register creates the Node with the labels a kubelet may set on itself,
// then reports it Ready.
func (s *session) register() error {
	k := s.k
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: k.opts.NodeName,
		Labels: map[string]string{
			corev1.LabelHostname: k.opts.NodeName, corev1.LabelArchStable: k.opts.Arch, corev1.LabelOSStable: "linux",
			"beta.kubernetes.io/arch": k.opts.Arch, "beta.kubernetes.io/os": "linux",
		},
		Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
	}}

	// Created with its status, as the kubelet registers (initialNode,
	// then setNodeStatus): a Node without conditions would lose the
	// not-ready taint admission gave it, for a moment the scheduler sees.
	node.Status = s.nodeStatus()

	_, err := s.cs.CoreV1().Nodes().Create(s.ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}

	return s.postStatus()
}

// postStatus reports the node's addresses, capacity, runtime handlers and
// Ready, as the kubelet's status loop does after a boot or when the node
// lifecycle controller overrode it.
func (s *session) postStatus() error {
	patch, err := json.Marshal(map[string]any{"status": s.nodeStatus()})
	if err != nil {
		return err
	}

	_, err = s.cs.CoreV1().Nodes().PatchStatus(s.ctx, s.k.opts.NodeName, patch)

	return err
}

// nodeStatus is what the kubelet says of its node now.
func (s *session) nodeStatus() corev1.NodeStatus {
	k := s.k
	now := metav1.Now()

	cond := func(t corev1.NodeConditionType, st corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: st, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}

	var handlers []corev1.NodeRuntimeHandler
	for _, h := range k.handlers {
		handlers = append(handlers, corev1.NodeRuntimeHandler{Name: h, Features: &corev1.NodeRuntimeHandlerFeatures{RecursiveReadOnlyMounts: new(true), UserNamespaces: new(true)}})
	}

	alloc := maps.Clone(k.opts.Capacity)
	if m, ok := alloc[corev1.ResourceMemory]; ok {
		m.Sub(resource.MustParse("256Mi")) // system-reserved, roughly Talos's
		alloc[corev1.ResourceMemory] = m
	}

	return corev1.NodeStatus{
		Capacity:    k.opts.Capacity,
		Allocatable: alloc,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			s.readyCondition(cond),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: k.opts.Address},
			{Type: corev1.NodeHostName, Address: k.opts.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: randomHexFor(k.opts.NodeName), SystemUUID: randomHexFor("uuid" + k.opts.NodeName), BootID: s.bootID,
			KernelVersion: "6.18.33-talos", OSImage: k.opts.OSImage, ContainerRuntimeVersion: "containerd://2.2.4",
			KubeletVersion: KubeletVersion, OperatingSystem: "linux", Architecture: k.opts.Arch,
		},
		RuntimeHandlers: handlers,
	}
}

// applyTalosLabels is Talos's part: labels and taints that NodeRestriction
// forbids the kubelet to set on itself.
func (s *session) applyTalosLabels() error {
	k := s.k
	labels := maps.Clone(k.opts.Labels)

	if labels == nil {
		labels = map[string]string{}
	}

	if k.opts.ControlPlane {
		labels["node-role.kubernetes.io/control-plane"] = ""
	}

	if k.opts.Role != "" {
		labels[plan.RoleLabel] = k.opts.Role
	}

	if len(labels) == 0 && len(k.opts.Taints) == 0 {
		return nil
	}

	if s.admin == nil {
		return errors.New("labels or taints need AdminKubeconfig")
	}

	node, err := s.admin.CoreV1().Nodes().Get(s.ctx, k.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}

	if node.Labels == nil {
		node.Labels = map[string]string{}
	}

	maps.Copy(node.Labels, labels)

	for _, t := range k.opts.Taints {
		if !slices.ContainsFunc(node.Spec.Taints, func(x corev1.Taint) bool { return x.MatchTaint(&t) }) {
			node.Spec.Taints = append(node.Spec.Taints, t)
		}
	}

	_, err = s.admin.CoreV1().Nodes().Update(s.ctx, node, metav1.UpdateOptions{})

	return err
}

// heartbeat renews the Lease until the session ends; when the node
// lifecycle controller has marked the node not Ready (after a power loss),
// it reports Ready again.
func (s *session) heartbeat() error {
	k := s.k
	leases := s.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)

	var (
		lease   *coordinationv1.Lease
		failing bool
	)

	t := time.NewTicker(k.opts.HeartbeatInterval)
	defer t.Stop()

	for {
		now := metav1.NewMicroTime(time.Now())

		var err error

		switch {
		case lease == nil:
			lease, err = leases.Get(s.ctx, k.opts.NodeName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				lease, err = leases.Create(s.ctx, s.newLease(now), metav1.CreateOptions{})
			} else if err == nil {
				lease.Spec.RenewTime = &now
				lease.Spec.HolderIdentity = &k.opts.NodeName
				lease, err = leases.Update(s.ctx, lease, metav1.UpdateOptions{})
			}
		default:
			lease.Spec.RenewTime = &now
			lease, err = leases.Update(s.ctx, lease, metav1.UpdateOptions{})
		}

		if err == nil {
			if n, gerr := s.nodes.Get(k.opts.NodeName); gerr == nil && !nodeReady(n) {
				err = s.postStatus()
			}
		}

		// Say so once when the API server goes away, and once when it is back.
		switch {
		case err != nil && !failing && s.ctx.Err() == nil:
			k.logf("heartbeat failing: %v", err)
		case err == nil && failing:
			k.logf("heartbeat recovered")
		}

		failing = err != nil
		if err != nil {
			lease = nil
		}

		select {
		case <-s.ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *session) newLease(now metav1.MicroTime) *coordinationv1.Lease {
	k := s.k
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: k.opts.NodeName, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &k.opts.NodeName, LeaseDurationSeconds: new(int32(40)), RenewTime: &now,
		},
	}

	if n, err := s.nodes.Get(k.opts.NodeName); err == nil {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
	}

	return l
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}

	return false
}

func (s *session) nodeChanged(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}

	if n.Spec.PodCIDR != "" {
		s.cidrOnce.Do(func() { close(s.cidr) })
	}

	// Informer handlers run one at a time: no lock needed for ready.
	if r := nodeReady(n); s.k.opts.NodeReady != nil && (s.ready == nil || *s.ready != r) {
		s.ready = &r
		s.k.opts.NodeReady(r)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}

// randomHexFor is a stable per-name ID (a board's machine ID survives reboots).
func randomHexFor(name string) string {
	var b [16]byte
	for i := range name {
		b[i%16] = b[i%16]*31 + name[i]
	}

	return hex.EncodeToString(b[:])
}
