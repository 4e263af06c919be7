package board

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// sandboxImage is Talos v1.13.3's pause image (pkg/images/list.go).
const sandboxImage = "registry.k8s.io/pause:3.10.1"

// ctr is one container as Talos's inspectors list it: the system
// namespace's containerd inspector (internal/pkg/containers/containerd)
// shows services by ID, the CRI inspector (containers/cri/cri.go) shows a
// pod's sandbox as "namespace/pod" and each container as
// "namespace/pod:name:<first 12 of its ID>".
type ctr struct {
	display, id, pod, name, image, status string
	pid                                   int32
	rssKB                                 uint64
	cpu                                   float64
	logs                                  []string
}

// containersOf lists a namespace's containers now.
func (b *Board) containersOf(namespace string) []ctr {
	s := b.snapshot()

	b.mu.Lock()
	defer b.mu.Unlock()

	pid := map[string]proc{}
	for _, p := range s.procs {
		if _, ok := pid[p.command]; !ok {
			pid[p.command] = p
		}
	}

	var out []ctr

	if namespace == constants.SystemContainerdNamespace {
		ids := make([]string, 0, len(b.services))
		for id := range b.services {
			ids = append(ids, id)
		}

		slices.Sort(ids)

		for _, id := range ids {
			sv := b.services[id]
			if sv.state != "Running" || id == "machined" || id == "udevd" || id == "containerd" || id == "cri" {
				continue // machined, udevd and both containerds run outside containerd
			}

			image := ""

			switch id {
			case "etcd":
				if b.cfg != nil {
					image = b.cfg.Cluster().Etcd().Image()
				}
			case "kubelet":
				if b.cfg != nil {
					image = b.cfg.Machine().Kubelet().Image()
				}
			}

			p := pid[map[string]string{"ext-tailscale": "tailscaled"}[id]]
			if p.pid == 0 {
				p = pid[id]
			}

			out = append(out, ctr{display: id, id: id, pod: id, name: id, image: image, status: "RUNNING", pid: p.pid, rssKB: p.rssKB, cpu: p.cpuShare})
		}

		return out
	}

	of := map[string]proc{} // by pod, and pod/container
	for _, p := range s.procs {
		if p.pod != "" {
			of[path.Join(p.pod, p.container)] = p
		}
	}

	for _, p := range s.pods {
		podName := p.Namespace + "/" + p.Name
		sb := of[podName]

		out = append(out, ctr{display: podName, id: containerID(p.UID), pod: podName, name: podName, image: sandboxImage, status: "SANDBOX_READY", pid: sb.pid, rssKB: sb.rssKB})

		for _, c := range p.Containers {
			st, pr := "CONTAINER_EXITED", proc{}
			if c.Running {
				st, pr = "CONTAINER_RUNNING", of[path.Join(podName, c.Name)]
			}

			id := c.ID
			if id == "" {
				id = containerID(podName + "/" + c.Name)
			}

			out = append(out, ctr{display: podName + ":" + c.Name + ":" + id[:min(12, len(id))], id: id, pod: podName, name: c.Name,
				image: c.Image, status: st, pid: pr.pid, rssKB: pr.rssKB, cpu: pr.cpuShare, logs: c.Logs})
		}
	}

	return out
}

// inspector checks a containers request as Talos's getContainerInspector does.
func inspector(namespace string, driver common.ContainerDriver) error {
	if namespace == "" {
		return status.Errorf(codes.InvalidArgument, "namespace can't be empty")
	}

	if driver == common.ContainerDriver_CRI && namespace != constants.K8sContainerdNamespace {
		return errors.New("CRI inspector is supported only for K8s namespace")
	}

	return nil
}

func (m *machineService) Containers(_ context.Context, in *machineapi.ContainersRequest) (*machineapi.ContainersResponse, error) {
	if err := inspector(in.GetNamespace(), in.GetDriver()); err != nil {
		return nil, err
	}

	var out []*machineapi.ContainerInfo

	for _, c := range m.b.containersOf(in.GetNamespace()) {
		out = append(out, &machineapi.ContainerInfo{Namespace: in.GetNamespace(), Id: c.display, InternalId: c.id, PodId: c.pod, Name: c.name,
			Image: c.image, Pid: uint32(c.pid), Status: c.status})
	}

	return &machineapi.ContainersResponse{Messages: []*machineapi.Container{{Containers: out}}}, nil
}

func (m *machineService) Stats(_ context.Context, in *machineapi.StatsRequest) (*machineapi.StatsResponse, error) {
	if err := inspector(in.GetNamespace(), in.GetDriver()); err != nil {
		return nil, err
	}

	up := time.Since(m.b.poweredAt()).Seconds()

	var out []*machineapi.Stat

	for _, c := range m.b.containersOf(in.GetNamespace()) {
		if c.status != "RUNNING" && c.status != "CONTAINER_RUNNING" && c.status != "SANDBOX_READY" {
			continue
		}

		out = append(out, &machineapi.Stat{Namespace: in.GetNamespace(), Id: c.display, PodId: c.pod, Name: c.name,
			MemoryUsage: c.rssKB * 1024, CpuUsage: uint64(up * c.cpu * 1e9)})
	}

	return &machineapi.StatsResponse{Messages: []*machineapi.Stats{{Stats: out}}}, nil
}

// containerLogs serves `talosctl logs -k ID`: a CRI container's log, found
// by its display ID as Talos's CRI inspector parses it.
func (m *machineService) containerLogs(req *machineapi.LogsRequest, stream grpc.ServerStreamingServer[common.Data]) error {
	if err := inspector(req.GetNamespace(), req.GetDriver()); err != nil {
		return err
	}

	for _, c := range m.b.containersOf(req.GetNamespace()) {
		if c.display != req.GetId() && c.id != req.GetId() && !strings.HasPrefix(req.GetId(), c.pod+":"+c.name+":") {
			continue
		}

		lines := c.logs
		if n := int(req.GetTailLines()); n > 0 && len(lines) > n {
			lines = lines[len(lines)-n:]
		}

		for _, l := range lines {
			if err := stream.Send(&common.Data{Bytes: []byte(l + "\n")}); err != nil {
				return err
			}
		}

		if req.GetFollow() {
			select {
			case <-stream.Context().Done():
			case <-m.b.ctx.Done():
			}
		}

		return nil
	}

	return fmt.Errorf("container %q not found", req.GetId())
}

func (m *machineService) LogsContainers(context.Context, *emptypb.Empty) (*machineapi.LogsContainersResponse, error) {
	m.b.mu.Lock()
	defer m.b.mu.Unlock()

	ids := make([]string, 0, len(m.b.logs))
	for id := range m.b.logs {
		if id != "installer" {
			ids = append(ids, id)
		}
	}

	for id := range m.b.services {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}

	slices.Sort(ids)

	return &machineapi.LogsContainersResponse{Messages: []*machineapi.LogsContainer{{Ids: ids}}}, nil
}
