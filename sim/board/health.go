package board

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cosi-project/runtime/pkg/safe"
	clusterapi "github.com/siderolabs/talos/pkg/machinery/api/cluster"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/resources/block"
	"github.com/siderolabs/talos/pkg/machinery/resources/cluster"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// clusterService is Talos's cluster service: HealthCheck runs, on the
// control plane asked, the checks `talosctl health --server=false` runs on
// the client (pkg/cluster/check, DefaultClusterChecks, at talosctl
// v1.12.6 and Talos v1.13.3), reading the nodes through this board's apid
// and Kubernetes with its admin kubeconfig, as machined's HealthCheck does
// (internal/app/machined/internal/server/v1alpha1/v1alpha1_cluster.go).
type clusterService struct {
	clusterapi.UnimplementedClusterServiceServer

	b *Board
}

// healthState is the cluster the checks look at.
type healthState struct {
	b       *Board
	cps     []string // control-plane IPs
	workers []string
	kube    kubernetes.Interface
}

func (h *healthState) all() []string { return append(slices.Clone(h.cps), h.workers...) }

// check is one of Talos's readiness checks: description, assertion, and
// how long and how often it is retried.
type check struct {
	what     string
	assert   func(ctx context.Context, h *healthState) error
	timeout  time.Duration
	interval time.Duration
}

// errSkip is Talos's conditions.ErrSkipAssertion.
var errSkip = errors.New("SKIP")

func (c *clusterService) HealthCheck(in *clusterapi.HealthCheckRequest, srv grpc.ServerStreamingServer[clusterapi.HealthCheckProgress]) error {
	b := c.b

	b.mu.Lock()
	booted, cp := b.bootedLocked(), b.isControlPlane()
	b.mu.Unlock()

	switch {
	case !booted:
		return status.Error(codes.Unimplemented, "machine type is not set, cannot use cluster health check API")
	case !cp:
		return status.Error(codes.Unimplemented, "cluster health check is only available on control plane nodes")
	}

	wait := in.GetWaitTimeout().AsDuration()
	if wait <= 0 {
		wait = 20 * time.Minute // talosctl's --wait-timeout default
	}

	ctx, cancel := context.WithTimeout(srv.Context(), wait)
	defer cancel()

	h := &healthState{b: b}

	if b.opts.Hooks.Kubeconfig != nil {
		if kc, err := b.opts.Hooks.Kubeconfig(); err == nil {
			if cfg, err := clientcmd.RESTConfigFromKubeConfig(kc); err == nil {
				h.kube, _ = kubernetes.NewForConfig(cfg) //nolint:errcheck // checks then report the missing client
			}
		}
	}

	if err := h.discover(ctx, in.GetClusterInfo()); err != nil {
		return err
	}

	if err := srv.Send(&clusterapi.HealthCheckProgress{Message: fmt.Sprintf("discovered nodes: %q", h.all())}); err != nil {
		return err
	}

	for _, ch := range defaultChecks() {
		if err := ch.wait(ctx, h, func(line string) {
			_ = srv.Send(&clusterapi.HealthCheckProgress{Message: line}) //nolint:errcheck // the caller may have gone
		}); err != nil {
			return err
		}
	}

	return nil
}

// wait polls the check and reports each change of its line.
func (ch check) wait(ctx context.Context, h *healthState, report func(string)) error {
	last := ""
	say := func(state string) {
		if line := "waiting for " + ch.what + ": " + state; line != last {
			report(line)
			last = line
		}
	}

	say("...")

	tctx, cancel := context.WithTimeout(ctx, ch.timeout)
	defer cancel()

	for {
		rctx, rcancel := context.WithTimeout(ctx, ch.interval)
		err := ch.assert(rctx, h)

		rcancel()

		switch {
		case err == nil:
			say("OK")

			return nil
		case errors.Is(err, errSkip):
			say("SKIP")

			return nil
		}

		say(err.Error())

		select {
		case <-tctx.Done():
			return tctx.Err()
		case <-time.After(ch.interval):
		}
	}
}

// discover is the cluster's nodes: as given, else the discovery members,
// else the Kubernetes nodes (buildClusterInfo).
func (h *healthState) discover(ctx context.Context, info *clusterapi.ClusterInfo) error {
	if len(info.GetControlPlaneNodes()) > 0 || len(info.GetWorkerNodes()) > 0 {
		h.cps, h.workers = info.GetControlPlaneNodes(), info.GetWorkerNodes()

		return nil
	}

	members, err := safe.StateListAll[*cluster.Member](ctx, h.b.st)
	if err == nil && members.Len() > 0 {
		for m := range members.All() {
			if len(m.TypedSpec().Addresses) == 0 {
				return fmt.Errorf("no IP address found for member: %s", m.Metadata().ID())
			}

			ip := m.TypedSpec().Addresses[0].String()
			if m.TypedSpec().MachineType.IsControlPlane() {
				h.cps = append(h.cps, ip)
			} else {
				h.workers = append(h.workers, ip)
			}
		}

		return nil
	}

	if h.kube == nil {
		return errors.New("no cluster members were discovered and Kubernetes is not available")
	}

	nodes, err := h.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}

	for _, n := range nodes.Items {
		ip := internalIP(&n)
		if _, ok := n.Labels[constants.LabelNodeRoleControlPlane]; ok {
			h.cps = append(h.cps, ip)
		} else {
			h.workers = append(h.workers, ip)
		}
	}

	return nil
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}

	return ""
}

// each calls a unary method on each node through apid, as the checks'
// client does with client.WithNodes.
func (h *healthState) each(ctx context.Context, nodes []string, method string, req any) (map[string]any, error) {
	out := map[string]any{}

	for _, n := range nodes {
		p, err := h.b.peer(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}

		resp, err := p.invoke(forwarded(ctx), method, req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}

		out[n] = resp
	}

	return out, nil
}

// state is a node's COSI state, reached through apid.
func (h *healthState) state(node string) (*Board, error) {
	return h.b.peer(node)
}

func serviceHealthy(id string, nodes func(h *healthState) []string) func(context.Context, *healthState) error {
	return func(ctx context.Context, h *healthState) error {
		resps, err := h.each(ctx, nodes(h), "/machine.MachineService/ServiceList", &emptypb.Empty{})
		if err != nil {
			return err
		}

		var errs []error

		for _, n := range nodes(h) {
			var svc *machineapi.ServiceInfo

			for _, m := range resps[n].(*machineapi.ServiceListResponse).GetMessages() { //nolint:forcetypeassert
				for _, s := range m.GetServices() {
					if s.GetId() == id {
						svc = s
					}
				}
			}

			events := svc.GetEvents().GetEvents()

			switch {
			case svc == nil || len(events) == 0:
				errs = append(errs, fmt.Errorf("%s: no events recorded yet for service %q", n, id))
			case events[len(events)-1].GetState() != "Running":
				last := events[len(events)-1]
				errs = append(errs, fmt.Errorf("%s: service %q not in expected state %q: current state [%s] %s", n, id, "Running", last.GetState(), last.GetMsg()))
			case !svc.GetHealth().GetHealthy():
				errs = append(errs, fmt.Errorf("%s: service is not healthy: %s", n, id))
			}
		}

		return errors.Join(errs...)
	}
}

func cpNodes(h *healthState) []string { return h.cps }

func etcdMembers(ctx context.Context, h *healthState, node string) ([]*machineapi.EtcdMember, error) {
	resps, err := h.each(ctx, []string{node}, "/machine.MachineService/EtcdMemberList", &machineapi.EtcdMemberListRequest{})
	if err != nil {
		return nil, err
	}

	msgs := resps[node].(*machineapi.EtcdMemberListResponse).GetMessages() //nolint:forcetypeassert
	if len(msgs) == 0 {
		return nil, errors.New("no messages returned")
	}

	return msgs[0].GetMembers(), nil
}

// kubeNodes lists the Kubernetes nodes, with their internal IPs.
func (h *healthState) kubeNodes(ctx context.Context) ([]corev1.Node, error) {
	if h.kube == nil {
		return nil, errors.New("the Kubernetes API is not available on this node yet")
	}

	list, err := h.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}

	return list.Items, nil
}

func nodesMatch(expected, actual []string) error {
	slices.Sort(expected)
	slices.Sort(actual)

	if !slices.Equal(expected, actual) {
		return fmt.Errorf("expected nodes %q, got %q", expected, actual)
	}

	return nil
}

func podsReady(ctx context.Context, h *healthState, selector string, want int) error {
	pods, err := h.kube.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return err
	}

	if len(pods.Items) == 0 {
		return fmt.Errorf("no pods found for namespace %q and label selector %q", metav1.NamespaceSystem, selector)
	}

	var ready, notReady []string

	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed {
			continue
		}

		if slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue }) {
			ready = append(ready, p.Name)
		} else {
			notReady = append(notReady, p.Name)
		}
	}

	switch {
	case len(ready) == 0:
		return fmt.Errorf("no ready pods found for namespace %q and label selector %q", metav1.NamespaceSystem, selector)
	case len(notReady) > 0:
		return fmt.Errorf("some pods are not ready: %v", notReady)
	case want >= 0 && len(ready) != want:
		return fmt.Errorf("expected %d ready pods, got %d", want, len(ready))
	}

	return nil
}

// defaultChecks are Talos's DefaultClusterChecks, in order, with their
// descriptions, timeouts and intervals.
//
//nolint:gocognit,gocyclo,cyclop,maintidx
func defaultChecks() []check {
	return []check{
		{"etcd to be healthy", serviceHealthy("etcd", cpNodes), 5 * time.Minute, 5 * time.Second},
		{"etcd members to be consistent across nodes", func(ctx context.Context, h *healthState) error {
			var first []string

			for i, n := range h.cps {
				members, err := etcdMembers(ctx, h, n)
				if err != nil {
					return err
				}

				var ids []string
				for _, m := range members {
					ids = append(ids, fmt.Sprintf("%s/%d/%v", m.GetHostname(), m.GetId(), m.GetIsLearner()))
				}

				slices.Sort(ids)

				if i == 0 {
					first = ids
				} else if !slices.Equal(first, ids) {
					return fmt.Errorf("%s: expected to have %v members, got %v", n, first, ids)
				}
			}

			return nil
		}, 5 * time.Minute, 5 * time.Second},
		{"etcd members to be control plane nodes", func(ctx context.Context, h *healthState) error {
			members, err := etcdMembers(ctx, h, h.b.address())
			if err != nil {
				return err
			}

			var ips []string

			for _, m := range members {
				for _, p := range m.GetPeerUrls() {
					u, err := url.Parse(p)
					if err != nil {
						return err
					}

					ips = append(ips, u.Hostname())
				}
			}

			for _, ip := range ips {
				if !slices.Contains(h.cps, ip) {
					return fmt.Errorf("etcd member ips %q are not subset of control plane node ips %q", ips, h.cps)
				}
			}

			return nil
		}, 5 * time.Minute, 5 * time.Second},
		{"apid to be ready", func(ctx context.Context, h *healthState) error {
			_, err := h.each(ctx, h.all(), "/machine.MachineService/Version", &emptypb.Empty{})

			return err
		}, 5 * time.Minute, 5 * time.Second},
		{"all nodes memory sizes", func(ctx context.Context, h *healthState) error {
			resps, err := h.each(ctx, h.all(), "/machine.MachineService/Memory", &emptypb.Empty{})
			if err != nil {
				return err
			}

			var errs []error

			for _, n := range h.all() {
				// pkg/minimal: 1848 MiB less 150 for a control plane, 1 GiB less 150 for a worker.
				minimum := uint64(1024-150) << 20
				if slices.Contains(h.cps, n) {
					minimum = uint64(1848-150) << 20
				}

				for _, m := range resps[n].(*machineapi.MemoryResponse).GetMessages() { //nolint:forcetypeassert
					if total := m.GetMeminfo().GetMemtotal() * 1024; total < minimum {
						errs = append(errs, fmt.Errorf("node %q does not meet memory requirements: expected at least %d MiB, actual %d MiB", n, minimum>>20, total>>20))
					}
				}
			}

			return errors.Join(errs...)
		}, 5 * time.Minute, 5 * time.Second},
		{"all nodes disk sizes", func(ctx context.Context, h *healthState) error {
			var errs []error

			// pkg/minimal.DiskSize (6 GiB) less the system partitions.
			minimum := uint64(6<<30) - (1<<30 + 1<<20 + 100<<20 + 10<<20)

			for _, n := range h.all() {
				p, err := h.state(n)
				if err != nil {
					return err
				}

				vs, err := safe.StateGetByID[*block.VolumeStatus](ctx, p.st, constants.EphemeralPartitionLabel)
				if err != nil {
					errs = append(errs, fmt.Errorf("error getting volume status for node %q: %w", n, err))

					continue
				}

				if vs.TypedSpec().Size < minimum {
					errs = append(errs, fmt.Errorf("ephemeral partition %q for node %q is too small", vs.TypedSpec().Location, n))
				}
			}

			return errors.Join(errs...)
		}, 5 * time.Minute, 5 * time.Second},
		{"no diagnostics", func(ctx context.Context, h *healthState) error {
			var found []string

			for _, n := range h.all() {
				p, err := h.state(n)
				if err != nil {
					return err
				}

				list, err := safe.StateListAll[*runtime.Diagnostic](ctx, p.st)
				if err != nil {
					return err
				}

				var msgs []string
				for d := range list.All() {
					msgs = append(msgs, d.TypedSpec().Message)
				}

				if len(msgs) > 0 {
					found = append(found, n+": "+strings.Join(msgs, ", "))
				}
			}

			if len(found) > 0 {
				slices.Sort(found)

				return fmt.Errorf("active diagnostics: %s", strings.Join(found, "; "))
			}

			return nil
		}, time.Minute, 5 * time.Second},
		{"kubelet to be healthy", serviceHealthy("kubelet", cpNodes), 5 * time.Minute, 5 * time.Second},
		{"all nodes to finish boot sequence", func(ctx context.Context, h *healthState) error {
			stages := map[string][]string{}

			for _, n := range h.all() {
				p, err := h.state(n)
				if err != nil {
					return err
				}

				ms, err := safe.StateGetByID[*runtime.MachineStatus](ctx, p.st, runtime.MachineStatusID)
				if err != nil {
					return err
				}

				if st := ms.TypedSpec().Stage; st != runtime.MachineStageRunning {
					stages[st.String()] = append(stages[st.String()], n)
				}
			}

			if len(stages) == 0 {
				return nil
			}

			var msg []string
			for _, st := range slices.Sorted(maps.Keys(stages)) {
				msg = append(msg, fmt.Sprintf("%s: %v", st, stages[st]))
			}

			return fmt.Errorf("nodes are not running: %s", strings.Join(msg, ", "))
		}, 5 * time.Minute, 5 * time.Second},
		{"all k8s nodes to report", func(ctx context.Context, h *healthState) error {
			nodes, err := h.kubeNodes(ctx)
			if err != nil {
				return err
			}

			var ips []string
			for _, n := range nodes {
				ips = append(ips, internalIP(&n))
			}

			return nodesMatch(h.all(), ips)
		}, 5 * time.Minute, 30 * time.Second},
		{"all control plane static pods to be running", func(ctx context.Context, h *healthState) error {
			for _, n := range h.cps {
				p, err := h.state(n)
				if err != nil {
					return err
				}

				list, err := safe.StateListAll[*k8s.StaticPodStatus](ctx, p.st)
				if err != nil {
					return fmt.Errorf("error listing static pods on node %s: %w", n, err)
				}

				var missing []string

				for _, want := range []string{"kube-system/kube-apiserver", "kube-system/kube-controller-manager", "kube-system/kube-scheduler"} {
					if !slices.ContainsFunc(slices.Collect(list.All()), func(r *k8s.StaticPodStatus) bool { return strings.HasPrefix(r.Metadata().ID(), want) }) {
						missing = append(missing, want)
					}
				}

				if len(missing) > 0 {
					return fmt.Errorf("missing static pods on node %s: %v", n, missing)
				}
			}

			return nil
		}, 5 * time.Minute, 5 * time.Second},
		{"all control plane components to be ready", func(ctx context.Context, h *healthState) error {
			nodes, err := h.kubeNodes(ctx)
			if err != nil {
				return err
			}

			var ips []string

			for _, n := range nodes {
				if _, ok := n.Labels[constants.LabelNodeRoleControlPlane]; ok {
					ips = append(ips, internalIP(&n))
				}
			}

			if err := nodesMatch(slices.Clone(h.cps), ips); err != nil {
				return err
			}

			for _, app := range []string{"kube-apiserver", "kube-scheduler", "kube-controller-manager"} {
				pods, err := h.kube.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app = " + app})
				if err != nil {
					return fmt.Errorf("error listing pods for app %s: %w", app, err)
				}

				if len(pods.Items) != len(ips) {
					return fmt.Errorf("expected number of pods for %s to be %d, got %d", app, len(ips), len(pods.Items))
				}

				if err := podsReady(ctx, h, "k8s-app = "+app, -1); err != nil {
					return fmt.Errorf("some pods are not ready for %s: %w", app, err)
				}
			}

			return nil
		}, 5 * time.Minute, 5 * time.Second},
		{"all k8s nodes to report ready", func(ctx context.Context, h *healthState) error {
			nodes, err := h.kubeNodes(ctx)
			if err != nil {
				return err
			}

			var notReady []string

			for _, n := range nodes {
				if !slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
					return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
				}) {
					notReady = append(notReady, n.Name)
				}
			}

			if len(notReady) > 0 {
				return fmt.Errorf("some nodes are not ready: %v", notReady)
			}

			return nil
		}, 10 * time.Minute, 5 * time.Second},
		{"kube-proxy to report ready", func(ctx context.Context, h *healthState) error {
			if h.kube == nil {
				return errors.New("the Kubernetes API is not available on this node yet")
			}

			dss, err := h.kube.AppsV1().DaemonSets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
			if err != nil {
				return err
			}

			if len(dss.Items) == 0 {
				return errSkip
			}

			return podsReady(ctx, h, "k8s-app=kube-proxy", int(dss.Items[0].Status.DesiredNumberScheduled))
		}, 5 * time.Minute, 5 * time.Second},
		{"coredns to report ready", func(ctx context.Context, h *healthState) error {
			if h.kube == nil {
				return errors.New("the Kubernetes API is not available on this node yet")
			}

			ds, err := h.kube.AppsV1().Deployments(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
			if err != nil {
				return err
			}

			if len(ds.Items) == 0 {
				return errSkip
			}

			replicas := 1
			if r := ds.Items[0].Spec.Replicas; r != nil {
				replicas = int(*r)
			}

			return podsReady(ctx, h, "k8s-app=kube-dns", replicas)
		}, 5 * time.Minute, 5 * time.Second},
		{"all k8s nodes to report schedulable", func(ctx context.Context, h *healthState) error {
			nodes, err := h.kubeNodes(ctx)
			if err != nil {
				return err
			}

			for _, n := range nodes {
				if n.Spec.Unschedulable {
					return fmt.Errorf("some nodes are not schedulable: %v", []string{n.Name})
				}
			}

			return nil
		}, 5 * time.Minute, 5 * time.Second},
	}
}
