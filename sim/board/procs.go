package board

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/sim/kube"
)

// proc is one simulated process: what `talosctl processes`, the
// dashboard and /proc show. Resident sizes are typical of a small Talos
// node (machined, apid, containerd) and of the real control-plane
// processes the lab runs (docs/sim-kube.md measures them).
type proc struct {
	pid, ppid int32
	command   string
	exe       string
	args      string
	rssKB     uint64
	threads   int32
	cpuShare  float64 // of one core, on average
	started   time.Time
	// pod and container say whose process it is ("" for Talos's own);
	// a pod's sandbox is its pause process, container "".
	pod, container string
}

// typical are resident size (KiB), threads and CPU share by command.
var typical = map[string]struct {
	rss     uint64
	threads int32
	cpu     float64
}{
	"machined":                {98000, 14, 0.02},
	"udevd":                   {6200, 1, 0},
	"apid":                    {42000, 11, 0.005},
	"trustd":                  {30000, 9, 0},
	"containerd":              {52000, 15, 0.01},
	"kubelet":                 {98000, 16, 0.04},
	"etcd":                    {60000, 14, 0.03},
	"kube-apiserver":          {300000, 12, 0.08},
	"kube-controller-manager": {120000, 9, 0.02},
	"kube-scheduler":          {60000, 10, 0.005},
	"tailscaled":              {40000, 12, 0.005},
	"containerd-shim-runc-v2": {12000, 11, 0},
	"pause":                   {700, 1, 0},
	"coredns":                 {24000, 11, 0.003},
	"flanneld":                {26000, 12, 0.002},
	"kube-proxy":              {28000, 9, 0.002},
}

func bootProc(pid, ppid int32, cmd, exe, args string, started time.Time) proc {
	t := typical[cmd]
	if t.rss == 0 {
		t.rss, t.threads = 16000, 8
	}

	return proc{pid: pid, ppid: ppid, command: cmd, exe: exe, args: args, rssKB: t.rss, threads: t.threads, cpuShare: t.cpu, started: started}
}

// procsLocked is the process table of the board now: Talos's own
// processes for its stage, the extension services, the static pods on a
// control plane and the containers of the pods its kubelet runs.
func (b *Board) procsLocked(pods []kube.RunningPod) []proc {
	boot := b.x.bootAt
	if boot.IsZero() {
		boot = time.Now()
	}

	out := []proc{bootProc(1, 0, "machined", "/sbin/init", "/sbin/init", boot)}
	next := int32(800)

	add := func(ppid int32, cmd, exe, args string, started time.Time) int32 {
		next += 7 + int32(len(out)%5)
		out = append(out, bootProc(next, ppid, cmd, exe, args, started))

		return next
	}

	running := func(id string) bool {
		s := b.services[id]

		return s != nil && s.state == "Running"
	}

	started := func(id string) time.Time {
		if s := b.services[id]; s != nil {
			for i := len(s.events) - 1; i >= 0; i-- {
				if s.events[i].state == "Running" {
					return s.events[i].at
				}
			}
		}

		return boot
	}

	if running("udevd") {
		add(1, "udevd", "/sbin/udevd", "/sbin/udevd --resolve-names=never", started("udevd"))
	}

	if running("apid") {
		add(1, "apid", "/sbin/init", "/apid", started("apid"))
	}

	if running("trustd") {
		add(1, "trustd", "/sbin/init", "/trustd", started("trustd"))
	}

	if !running("containerd") {
		return out
	}

	system := add(1, "containerd", "/bin/containerd", "/bin/containerd --address /system/run/containerd/containerd.sock --state /system/run/containerd --root /system/var/lib/containerd", started("containerd"))

	if running("etcd") {
		add(system, "etcd", "/usr/local/bin/etcd", "/usr/local/bin/etcd --name="+b.hostnameLocked()+" --data-dir=/var/lib/etcd --listen-client-urls=https://0.0.0.0:2379", started("etcd"))
	}

	if running("kubelet") {
		add(system, "kubelet", "/usr/local/bin/kubelet", "/usr/local/bin/kubelet --config=/etc/kubernetes/kubelet.yaml --hostname-override="+b.hostnameLocked(), started("kubelet"))
	}

	if running("ext-tailscale") {
		add(system, "tailscaled", "/usr/local/bin/tailscaled", "/usr/local/bin/tailscaled --statedir=/var/lib/tailscale", started("ext-tailscale"))
	}

	// The cri service is the second containerd, the one the kubelet's pods
	// run under.
	if !running("cri") {
		return out
	}

	cri := add(1, "containerd", "/bin/containerd", "/bin/containerd --address /run/containerd/containerd.sock --config /etc/cri/containerd.toml", started("cri"))

	// The kubelet's pods, the static pods' mirrors among them.
	for _, p := range pods {
		podName := p.Namespace + "/" + p.Name
		shim := add(cri, "containerd-shim-runc-v2", "/bin/containerd-shim-runc-v2", "/bin/containerd-shim-runc-v2 -namespace k8s.io -id "+shortID(containerID(p.UID)), podStart(p))
		add(shim, "pause", "/pause", "/pause", podStart(p))
		out[len(out)-1].pod = podName

		for _, c := range p.Containers {
			if c.Running {
				cmd := commandOf(c.Image)
				exe := "/" + cmd

				if strings.HasPrefix(cmd, "kube-") {
					exe = "/usr/local/bin/" + cmd
				}

				add(shim, cmd, exe, exe, c.Started)
				out[len(out)-1].pod, out[len(out)-1].container = podName, c.Name
			}
		}
	}

	return out
}

func podStart(p kube.RunningPod) time.Time {
	t := time.Now()
	for _, c := range p.Containers {
		if !c.Started.IsZero() && c.Started.Before(t) {
			t = c.Started
		}
	}

	return t
}

// commandOf is the process name an image runs.
func commandOf(image string) string {
	repo := image
	if i := strings.LastIndex(repo, "/"); i >= 0 {
		repo = repo[i+1:]
	}

	repo, _, _ = strings.Cut(repo, ":")
	repo, _, _ = strings.Cut(repo, "@")

	switch repo {
	case "flannel":
		return "flanneld"
	case "spin-rust-hello":
		return "containerd-shim-spin-v2"
	}

	return repo
}

func shortID(s string) string {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) > 12 {
		return s[:12]
	}

	return s
}

// containerID is a stable 64-hex container ID for a name.
func containerID(name string) string {
	var out strings.Builder

	for i := 0; out.Len() < 64; i++ {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s", i, name)
		fmt.Fprintf(&out, "%016x", h.Sum64())
	}

	return out.String()[:64]
}

// cpuSeconds is the CPU time a process has used by now.
func (p proc) cpuSeconds(now time.Time) float64 {
	return now.Sub(p.started).Seconds()*p.cpuShare + 0.05
}

// usage sums what the processes hold: resident KiB and CPU share.
func usage(procs []proc) (rssKB uint64, cpuShare float64) {
	for _, p := range procs {
		rssKB += p.rssKB
		cpuShare += p.cpuShare
	}

	return rssKB, cpuShare
}
