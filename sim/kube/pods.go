package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	clientretry "k8s.io/client-go/util/retry"
)

// podRun is one pod "running" on the node: its sandbox IP and the
// listeners of its containers.
type podRun struct {
	uid     string
	ip      netip.Addr
	cancel  context.CancelFunc
	done    chan struct{}
	servers []*http.Server
	addrs   []netip.AddrPort
	ports   map[int32]string // container port → loopback listener
	// seen is what the CRI would list of it once it runs (inventory.go).
	seen *RunningPod
}

func (p *podRun) kill() {
	p.cancel()
	<-p.done
}

func (s *session) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}

	if pod.DeletionTimestamp != nil {
		go s.finishDeletion(pod)

		return
	}

	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	if _, known := s.pods[pod.UID]; known || s.ctx.Err() != nil {
		return
	}

	ctx, cancel := context.WithCancel(s.ctx)
	p := &podRun{uid: string(pod.UID), cancel: cancel, done: make(chan struct{}), ports: map[int32]string{}}
	s.pods[pod.UID] = p

	go func() {
		defer s.cleanup(p)

		s.runPod(ctx, p, pod.DeepCopy())
		<-ctx.Done()
	}()
}

func (s *session) podDeleted(obj any) {
	pod, ok := objOf[*corev1.Pod](obj)
	if !ok {
		return
	}

	s.mu.Lock()
	p := s.pods[pod.UID]
	delete(s.pods, pod.UID)
	s.mu.Unlock()

	if p != nil {
		p.kill()
	}
}

// finishDeletion stops a terminating pod's containers and removes the pod
// object, as the kubelet does once containers are gone.
func (s *session) finishDeletion(pod *corev1.Pod) {
	s.mu.Lock()
	p := s.pods[pod.UID]
	delete(s.pods, pod.UID)
	s.mu.Unlock()

	if p != nil {
		p.kill()
		s.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", pod.Spec.Containers[0].Name)
	}

	err := s.cs.CoreV1().Pods(pod.Namespace).Delete(s.ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && s.ctx.Err() == nil {
		s.k.logf("deleting pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

func (s *session) cleanup(p *podRun) {
	for _, srv := range p.servers {
		_ = srv.Close()
	}

	for _, ap := range p.addrs {
		s.k.opts.Network.removePod(ap)
	}

	s.mu.Lock()
	if p.ip.IsValid() && string(s.ips[p.ip]) == p.uid {
		delete(s.ips, p.ip)
	}
	s.mu.Unlock()

	close(p.done)
}

// runPod creates the sandbox and starts the containers, reporting each step
// in the pod's status and events the way kubelet and containerd do.
func (s *session) runPod(ctx context.Context, p *podRun, pod *corev1.Pod) {
	k := s.k

	// Admission: a pod bound past the scheduler must still fit the node.
	if n, err := s.nodes.Get(k.opts.NodeName); err == nil {
		for key, v := range pod.Spec.NodeSelector {
			if n.Labels[key] != v {
				s.reject(ctx, pod, "NodeAffinity", "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector")

				return
			}
		}
	}

	// The runtime handler comes next: containerd refuses the sandbox
	// when no runtime is configured for it.
	if rc := pod.Spec.RuntimeClassName; rc != nil && *rc != "" {
		handler, err := s.runtimeHandler(ctx, *rc)
		if err == nil && !contains(k.handlers, handler) {
			err = fmt.Errorf("rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for %q is configured", handler)
		}

		if err != nil {
			s.refuse(ctx, pod, "Failed to create pod sandbox: "+err.Error())

			return
		}
	}

	ip, err := s.sandboxIP(ctx, p, pod)
	if err != nil {
		if ctx.Err() == nil {
			s.refuse(ctx, pod, "Failed to create pod sandbox: "+err.Error())
		}

		return
	}

	started := metav1.Now()
	restarts := int32(0)

	if len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].State.Running != nil {
		restarts = pod.Status.ContainerStatuses[0].RestartCount + 1 // a reboot restarts it
	}

	statuses := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	apps := make([]app, len(pod.Spec.Containers))

	for i, c := range pod.Spec.Containers {
		st := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: repository(c.Image) + "@sha256:" + randomHexFor(c.Image) + randomHexFor(c.Image+"/"),
			RestartCount: restarts,
		}

		a, err := appFor(c)

		var exit *errExit
		if errors.As(err, &exit) {
			st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off 10s restarting failed container=%s pod=%s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)}
			st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: int32(exit.code), Reason: "Error", Message: exit.msg, StartedAt: started, FinishedAt: metav1.Now()}
			s.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		} else if err != nil {
			st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
			s.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		} else {
			for port, h := range a {
				if err := s.listen(p, ip, port, h); err != nil {
					s.refuse(ctx, pod, err.Error())

					return
				}
			}

			apps[i] = a
			cid := randomHex(32)
			st.ContainerID = "containerd://" + cid
			st.Started = new(true)
			st.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
			s.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			s.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
			s.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
		}

		statuses = append(statuses, st)
	}

	s.setStatus(ctx, pod, func(st *corev1.PodStatus) {
		st.Phase = corev1.PodRunning
		st.HostIP, st.HostIPs = k.opts.Address, []corev1.HostIP{{IP: k.opts.Address}}
		st.PodIP, st.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
		st.StartTime = &started
		st.ContainerStatuses = statuses
		setCond(st, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "")
		setCond(st, corev1.PodInitialized, corev1.ConditionTrue, "", "")
		setCond(st, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: "+names(pod))
		setCond(st, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: "+names(pod))
	})

	s.running(p, pod, statuses)

	for i, c := range pod.Spec.Containers {
		// A mirror pod's containers are the real control-plane processes,
		// healthy before the kubelet started: ready as soon as listed.
		if statuses[i].State.Running == nil || !isMirror(pod) && !s.probeReady(ctx, p, c) {
			return
		}

		statuses[i].Ready = true
	}

	s.setStatus(ctx, pod, func(st *corev1.PodStatus) {
		for i := range st.ContainerStatuses {
			st.ContainerStatuses[i].Ready = true
		}

		setCond(st, corev1.ContainersReady, corev1.ConditionTrue, "", "")
		setCond(st, corev1.PodReady, corev1.ConditionTrue, "", "")
	})
}

// refuse leaves the pod Pending with the kubelet's warning event: what
// `kubectl describe pod` shows on a node missing a runtime.
func (s *session) refuse(ctx context.Context, pod *corev1.Pod, msg string) {
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", msg)
	s.k.logf("pod %s/%s: %s", pod.Namespace, pod.Name, msg)

	s.setStatus(ctx, pod, func(st *corev1.PodStatus) {
		st.Phase = corev1.PodPending
		st.HostIP, st.HostIPs = s.k.opts.Address, []corev1.HostIP{{IP: s.k.opts.Address}}

		now := metav1.Now()
		st.StartTime = &now
		st.ContainerStatuses = nil

		for _, c := range pod.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
			})
		}

		setCond(st, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", "")
		setCond(st, corev1.PodInitialized, corev1.ConditionTrue, "", "")
		setCond(st, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: "+names(pod))
		setCond(st, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: "+names(pod))
	})
}

// reject fails a pod at kubelet admission.
func (s *session) reject(ctx context.Context, pod *corev1.Pod, reason, msg string) {
	s.recorder.Event(pod, corev1.EventTypeWarning, reason, msg)
	s.k.logf("pod %s/%s rejected: %s", pod.Namespace, pod.Name, msg)

	s.setStatus(ctx, pod, func(st *corev1.PodStatus) {
		st.Phase, st.Reason, st.Message = corev1.PodFailed, reason, msg
	})
}

// runtimeHandler resolves a RuntimeClass through the informer cache; the
// admission plugin already refused pods naming a missing one, so a miss is
// only the cache catching up.
func (s *session) runtimeHandler(ctx context.Context, name string) (string, error) {
	var handler string

	err := waitFor(ctx, 5*time.Second, func() bool {
		rc, err := s.rcs.Get(name)
		if err == nil {
			handler = rc.Handler
		}

		return err == nil
	})
	if err != nil {
		return "", fmt.Errorf("failed to get sandbox runtime handler: runtimeclass.node.k8s.io %q not found", name)
	}

	return handler, nil
}

// sandboxIP picks the pod's IP from the node's pod CIDR (assigned by the
// controller manager's node IPAM), or the node IP for hostNetwork pods.
func (s *session) sandboxIP(ctx context.Context, p *podRun, pod *corev1.Pod) (netip.Addr, error) {
	if pod.Spec.HostNetwork {
		return netip.MustParseAddr(s.k.opts.Address), nil
	}

	select {
	case <-s.cidr:
	case <-ctx.Done():
		return netip.Addr{}, ctx.Err()
	}

	n, err := s.nodes.Get(s.k.opts.NodeName)
	if err != nil {
		return netip.Addr{}, err
	}

	prefix, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil {
		return netip.Addr{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	// .1 is the bridge; the rest go first come, first served.
	for a := prefix.Masked().Addr().Next().Next(); prefix.Contains(a); a = a.Next() {
		if _, used := s.ips[a]; !used && prefix.Contains(a.Next()) {
			s.ips[a] = pod.UID
			p.ip = a

			return a, nil
		}
	}

	return netip.Addr{}, fmt.Errorf("plugin type=\"bridge\" failed (add): failed to allocate for range 0: no IP addresses available in range set: %s", prefix)
}

// listen serves a container port on loopback and puts it on the network
// under the pod IP.
func (s *session) listen(p *podRun, ip netip.Addr, port int32, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	p.servers = append(p.servers, srv)

	go func() { _ = srv.Serve(ln) }()

	ap := netip.AddrPortFrom(ip, uint16(port))
	p.addrs = append(p.addrs, ap)
	p.ports[port] = ln.Addr().String()
	s.k.opts.Network.addPod(ap, ln.Addr().String())

	return nil
}

// probeReady runs the container's readiness probe until it passes (then
// the container is Ready) or the pod stops. Without a probe a running
// container is ready at once.
func (s *session) probeReady(ctx context.Context, p *podRun, c corev1.Container) bool {
	pr := c.ReadinessProbe
	if pr == nil || (pr.HTTPGet == nil && pr.TCPSocket == nil) {
		return true
	}

	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	delay := 50 * time.Millisecond

	if pr.InitialDelaySeconds > 0 {
		if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
			return false
		}
	}

	client := &http.Client{Timeout: time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second}
	defer client.CloseIdleConnections()

	for {
		if probeOnce(ctx, client, p, c, pr) {
			return true
		}

		if !sleepCtx(ctx, delay) {
			return false
		}

		delay = min(delay*2, period)
	}
}

func probeOnce(ctx context.Context, client *http.Client, p *podRun, c corev1.Container, pr *corev1.Probe) bool {
	if pr.HTTPGet != nil {
		target, ok := p.ports[containerPort(c, pr.HTTPGet.Port)]
		if !ok {
			return false
		}

		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+pr.HTTPGet.Path, nil)
		if err != nil {
			return false
		}

		resp, err := client.Do(req)
		if err != nil {
			return false
		}

		_ = resp.Body.Close()

		return resp.StatusCode >= 200 && resp.StatusCode < 400
	}

	target, ok := p.ports[containerPort(c, pr.TCPSocket.Port)]
	if !ok {
		return false
	}

	conn, err := net.DialTimeout("tcp", target, time.Second)
	if err == nil {
		_ = conn.Close()
	}

	return err == nil
}

// containerPort resolves a probe's port, a number or a named container port.
func containerPort(c corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}

	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}

	n, _ := strconv.Atoi(port.StrVal)

	return int32(n)
}

// setStatus applies change to the pod's latest status and writes it,
// retrying on conflicts.
func (s *session) setStatus(ctx context.Context, pod *corev1.Pod, change func(*corev1.PodStatus)) {
	pods := s.cs.CoreV1().Pods(pod.Namespace)

	// Forbidden is retried too: the Node authorizer learns of a pod's
	// binding from its own watch, a moment after the kubelet does.
	backoff := wait.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Steps: 10, Cap: 2 * time.Second}
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsForbidden(err) }

	err := clientretry.OnError(backoff, retriable, func() error {
		cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}

		if cur.UID != pod.UID {
			return apierrors.NewNotFound(corev1.Resource("pods"), pod.Name)
		}

		change(&cur.Status)
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})

		return err
	})
	if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
		s.k.logf("pod %s/%s status: %v", pod.Namespace, pod.Name, err)
	}
}

func setCond(st *corev1.PodStatus, t corev1.PodConditionType, status corev1.ConditionStatus, reason, msg string) {
	now := metav1.Now()

	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type == t {
			if c.Status != status {
				c.LastTransitionTime = now
			}

			c.Status, c.Reason, c.Message = status, reason, msg

			return
		}
	}

	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
}

func names(pod *corev1.Pod) string {
	out := "["
	for i, c := range pod.Spec.Containers {
		if i > 0 {
			out += " "
		}

		out += c.Name
	}

	return out + "]"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}

	return false
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()

	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitFor polls cond (a local cache read) with a short backoff.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	delay := 10 * time.Millisecond

	for !cond() {
		if !sleepCtx(ctx, delay) {
			return ctx.Err()
		}

		delay = min(delay*2, 500*time.Millisecond)
	}

	return nil
}
