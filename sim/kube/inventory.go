package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunningPod is a pod the kubelet runs, as its CRI would list it: what
// Talos's `containers -k`, `stats -k` and `logs -k` show.
type RunningPod struct {
	Namespace, Name, UID string
	Labels               map[string]string
	Containers           []RunningContainer
}

// RunningContainer is one container of a running pod.
type RunningContainer struct {
	Name, Image, ID string
	Running         bool
	Started         time.Time
	Logs            []string
}

// Pods are the pods this kubelet runs now (none while powered off).
func (k *Kubelet) Pods() []RunningPod {
	k.mu.Lock()
	s := k.session
	k.mu.Unlock()

	if s == nil {
		return nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	var out []RunningPod

	for _, p := range s.pods {
		if p.seen != nil {
			out = append(out, *p.seen)
		}
	}

	slices.SortFunc(out, func(a, b RunningPod) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })

	return out
}

// running records a pod whose containers started, and readies the
// node's network when it is the CNI's agent.
func (s *session) running(p *podRun, pod *corev1.Pod, statuses []corev1.ContainerStatus) {
	seen := &RunningPod{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), Labels: maps.Clone(pod.Labels)}

	for i, st := range statuses {
		c := RunningContainer{Name: st.Name, Image: st.Image, ID: strings.TrimPrefix(st.ContainerID, "containerd://"), Running: st.State.Running != nil}
		if c.Running {
			c.Started = st.State.Running.StartedAt.Time
		}

		c.Logs = containerLogs(pod, pod.Spec.Containers[i], s.k.opts.Arch, c.Started)
		seen.Containers = append(seen.Containers, c)
	}

	s.mu.Lock()
	wasReady := s.networkReadyLocked()
	p.seen = seen
	nowReady := s.networkReadyLocked()
	s.mu.Unlock()

	if !wasReady && nowReady {
		s.k.logf("network ready: %s/%s runs", pod.Namespace, pod.Name)

		go func() {
			if err := s.postStatus(); err != nil && s.ctx.Err() == nil {
				s.k.logf("posting Ready: %v", err)
			}
		}()
	}
}

// networkReadyLocked is the container runtime's network readiness: with
// a CNI, its node agent has put its config in place on this node.
func (s *session) networkReadyLocked() bool {
	if len(s.k.opts.NetworkAgents) == 0 {
		return true
	}

	for _, p := range s.pods {
		if p.seen != nil && slices.Contains(s.k.opts.NetworkAgents, p.seen.Labels["k8s-app"]) {
			return true
		}
	}

	return false
}

// readyCondition is the Node's Ready condition: NotReady, in the kubelet's
// words, while the network plugin is not ready (pkg/kubelet/nodestatus:
// "container runtime network not ready: NetworkReady=false
// reason:NetworkPluginNotReady message:...").
func (s *session) readyCondition(cond func(corev1.NodeConditionType, corev1.ConditionStatus, string, string) corev1.NodeCondition) corev1.NodeCondition {
	s.mu.Lock()
	ready := s.networkReadyLocked()
	s.mu.Unlock()

	if ready {
		return cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
	}

	return cond(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady",
		"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized")
}

// mirrorAnnotation marks a pod the kubelet reports for a static pod.
const mirrorAnnotation = "kubernetes.io/config.mirror"

func isMirror(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[mirrorAnnotation]

	return ok
}

// mirrorPods creates the API server's view of this node's static pods,
// as the kubelet's mirror client does: named <pod>-<node>, annotated as
// mirrors of the manifest's hash, owned by the Node (NodeRestriction lets
// a node create exactly these).
func (s *session) mirrorPods() error {
	k := s.k
	if len(k.opts.StaticPods) == 0 {
		return nil
	}

	node, err := s.cs.CoreV1().Nodes().Get(s.ctx, k.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}

	for _, sp := range k.opts.StaticPods {
		sum := sha256.Sum256([]byte(sp.Name + "/" + sp.Image + "/" + k.opts.NodeName))
		hash := hex.EncodeToString(sum[:16])

		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: sp.Name + "-" + k.opts.NodeName, Namespace: metav1.NamespaceSystem,
				Labels: StaticPodLabels(sp.Name, k.opts.K8sVersion),
				Annotations: map[string]string{
					"kubernetes.io/config.hash": hash, mirrorAnnotation: hash,
					"kubernetes.io/config.seen": time.Now().UTC().Format(time.RFC3339Nano), "kubernetes.io/config.source": "file",
				},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: new(true)}},
			},
			Spec: corev1.PodSpec{
				NodeName: k.opts.NodeName, HostNetwork: true, PriorityClassName: "system-cluster-critical",
				Containers:  []corev1.Container{{Name: sp.Name, Image: sp.Image, Command: []string{"/usr/local/bin/" + sp.Name}}},
				Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
			},
		}

		if _, err := s.cs.CoreV1().Pods(metav1.NamespaceSystem).Create(s.ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("mirror pod %s: %w", pod.Name, err)
		}
	}

	return nil
}

// containerLogs are the first lines a container prints: the start-up
// banners of the images the lab runs (CoreDNS, flannel, kube-proxy, the
// hello-worlds), or a note for anything else.
func containerLogs(pod *corev1.Pod, c corev1.Container, arch string, at time.Time) []string {
	ts := at.UTC().Format(time.RFC3339Nano)
	klog := func(file, msg string) string {
		return fmt.Sprintf("I%s %7d %s] %s", at.UTC().Format("0102 15:04:05.000000"), 1, file, msg)
	}

	switch repo := repository(c.Image); {
	case strings.HasSuffix(repo, "/coredns"):
		return []string{".:53", "[INFO] plugin/reload: Running configuration SHA512 = " + randomHexFor(pod.Namespace+"corefile") + randomHexFor("sha512"),
			"CoreDNS-" + strings.TrimPrefix(tag(c.Image), "v"), "linux/" + arch + ", go1.25.7, "}
	case strings.HasSuffix(repo, "/flannel"):
		return []string{
			klog("main.go:215", "CLI flags config: {etcdEndpoints:http://127.0.0.1:4001 kubeSubnetMgr:true ipMasq:true}"),
			klog("kube.go:139", "Waiting 10m0s for node controller to sync"),
			klog("kube.go:469", "Starting kube subnet manager"),
			klog("main.go:356", "Running backend."),
			klog("vxlan_network.go:65", "watching for new subnet leases"),
		}
	case strings.HasSuffix(repo, "/kube-proxy"):
		return []string{
			klog("server_linux.go:66", "\"No iptables support for family\" ipFamily=\"IPv6\""),
			klog("server.go:483", "\"Version info\" version=\""+tag(c.Image)+"\""),
			klog("config.go:199", "\"Starting service config controller\""),
			klog("shared_informer.go:357", "\"Caches are synced\" controller=\"service config\""),
		}
	case repo == HTTPEchoRepository:
		return []string{ts[:19] + " [INFO] server is listening on :5678"}
	case repo == SpinHelloRepository:
		return []string{"Serving http://0.0.0.0:80", "Available Routes:", "  hello: http://0.0.0.0:80/hello"}
	}

	return []string{fmt.Sprintf("%s %s started (simulated: the lab runs no process for %s)", ts, c.Name, c.Image)}
}

// tag is an image reference's tag ("" without).
func tag(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}

	return ""
}
