package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/resources/cluster"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/resources/config"
	taloshw "github.com/siderolabs/talos/pkg/machinery/resources/hardware"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/network"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"github.com/siderolabs/talos/pkg/machinery/resources/siderolink"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"
	"google.golang.org/protobuf/types/known/emptypb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
)

// upLab brings a happy lab on its own /24 up with liftoff's own code and
// waits until every board is Ready in Talos and Kubernetes.
func upLab(t *testing.T, subnet int) (*Lab, *Run) {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The lab outlives this bring-up's deadline: the test goes on with it.
	l, run := startPrepared(context.Background(), t, subnet, Options{})

	up := make(chan error, 1)
	go func() {
		if err := run.Apply(ctx); err != nil {
			up <- err

			return
		}

		up <- run.Bootstrap(ctx)
	}()

	picture := probe.NewLab()

	for waiting := true; waiting; {
		select {
		case err := <-up:
			if err != nil {
				t.Fatalf("bring-up: %v", err)
			}

			waiting = false
		case e := <-run.Stream.Events():
			picture.Apply(e)
		}
	}

	if !Settle(ctx, run.Stream.Events(), picture, 2*time.Second) {
		for _, n := range picture.Nodes {
			t.Logf("%s: stage %s ready %v/%v %v", n.Name, n.Stage, n.MachineReady, n.NodeReady, probe.Diagnose(n, time.Now()))
		}

		t.Fatal("the happy lab did not get Ready")
	}

	go func() { // keep the watches flowing for the rest of the test
		for range run.Stream.Events() {
		}
	}()

	return l, run
}

// The official talosctl v1.12.6, unmodified, through the commands of
// Talos's troubleshooting guide against one happy lab: each answers as
// Talos v1.13.3 does, and what the lab cannot serve says so.
func TestOfficialTalosctlAgainstTheLab(t *testing.T) {
	t.Parallel()

	talosctl := toolpathtest.Need(t, "talosctl", "kube", "etcd")[0]
	l, run := upLab(t, 33)

	cp, w1, gw := "127.0.33.11", "127.0.33.12", "127.0.33.14"
	all := strings.Join([]string{cp, w1, "127.0.33.13", gw}, ",")
	tc := filepath.Join(run.Dir, config.TalosconfigFile)

	talos := func(t *testing.T, args ...string) (string, error) {
		t.Helper()

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()

		out, err := exec.CommandContext(ctx, talosctl, append(args, "--talosconfig", tc, "-e", cp)...).CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("talosctl %s hung: %s", strings.Join(args, " "), out)
		}

		return string(out), err
	}

	ok := func(t *testing.T, args []string, want ...string) string {
		t.Helper()

		out, err := talos(t, args...)
		if err != nil {
			t.Fatalf("talosctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}

		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("talosctl %s lacks %q:\n%s", strings.Join(args, " "), w, out)
			}
		}

		return out
	}

	t.Run("health client-side", func(t *testing.T) {
		out := ok(t, []string{"health", "--server=false", "--wait-timeout", "2m"},
			"waiting for etcd members to be control plane nodes: OK", "waiting for all control plane static pods to be running: OK",
			"waiting for all control plane components to be ready: OK", "waiting for kube-proxy to report ready: OK",
			"waiting for coredns to report ready: OK", "waiting for all k8s nodes to report schedulable: OK")
		if strings.Contains(out, "SKIP") {
			t.Errorf("a check skipped:\n%s", out)
		}
	})

	t.Run("health server-side", func(t *testing.T) {
		ok(t, []string{"health", "-n", cp, "--wait-timeout", "2m"}, "discovered nodes", "waiting for coredns to report ready: OK",
			"waiting for all k8s nodes to report schedulable: OK")
	})

	t.Run("version on every board through one endpoint", func(t *testing.T) {
		out := ok(t, []string{"version", "-n", all})
		if n := strings.Count(out, "Tag:         v1.13.3"); n != 4 {
			t.Errorf("%d servers answered:\n%s", n, out)
		}
	})

	t.Run("etcd", func(t *testing.T) {
		ok(t, []string{"etcd", "members", "-n", cp}, "pi-cp-1", "https://"+cp+":", "false")
		ok(t, []string{"etcd", "status", "-n", cp}, cp, "3.6.")

		// talosctl prints a header only above alarms: a healthy etcd has none.
		if out := ok(t, []string{"etcd", "alarm", "list", "-n", cp}); strings.TrimSpace(out) != "" {
			t.Errorf("alarms on a healthy etcd:\n%s", out)
		}

		out, err := talos(t, "etcd", "members", "-n", w1)
		if err == nil || !strings.Contains(out, "Unimplemented") || !strings.Contains(out, "member list is only available on control plane nodes") {
			t.Errorf("etcd members on a worker: %v\n%s", err, out)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		for _, kind := range []string{"members", "affiliates"} {
			out := ok(t, []string{"get", kind, "-n", w1}, "pi-cp-1", "pi-w-1", "pi-w-2", "edge", "controlplane", "worker")
			if kind == "members" && !strings.Contains(out, "Talos (v1.13.3)") {
				t.Errorf("members lack the OS:\n%s", out)
			}
		}
	})

	t.Run("read and ls", func(t *testing.T) {
		pi4 := ok(t, []string{"read", "/proc/cpuinfo", "-n", w1}, "CPU part\t: 0xd08", "BogoMIPS\t: 108.00")
		ok(t, []string{"read", "/proc/cpuinfo", "-n", cp}, "CPU part\t: 0xd0b")
		ok(t, []string{"read", "/proc/cpuinfo", "-n", gw}, "model name\t: 11th Gen Intel(R) Core(TM) i5-1135G7", "vendor_id\t: GenuineIntel")

		if strings.Contains(pi4, "model name") || strings.Count(pi4, "processor\t:") != 4 {
			t.Errorf("a Pi 4's cpuinfo is four arm64 blocks:\n%s", pi4)
		}

		ok(t, []string{"read", "/proc/meminfo", "-n", w1}, "MemTotal:", "MemAvailable:", "CmaTotal:")
		ok(t, []string{"read", "/proc/net/dev", "-n", gw}, "enp1s0:", "lo:")
		ok(t, []string{"read", "/etc/os-release", "-n", cp}, `PRETTY_NAME="Talos (v1.13.3)"`)
		ok(t, []string{"ls", "/proc/net", "-n", cp}, "dev", "route")

		out, err := talos(t, "read", "/proc/nope", "-n", cp)
		if err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("reading a missing file: %v\n%s", err, out)
		}
	})

	t.Run("containers and stats", func(t *testing.T) {
		ok(t, []string{"containers", "-n", cp}, "apid", "etcd", "registry.k8s.io/etcd:", "kubelet", "RUNNING")
		ok(t, []string{"containers", "-k", "-n", cp}, "kube-system/kube-apiserver-pi-cp-1", "registry.k8s.io/kube-apiserver:v1.36.1",
			"kube-system/kube-flannel-", "kube-system/kube-proxy-", "registry.k8s.io/pause:3.10.1", "SANDBOX_READY", "CONTAINER_RUNNING")
		ok(t, []string{"stats", "-n", cp}, "kubelet")
		ok(t, []string{"stats", "-k", "-n", cp}, "kube-system/kube-apiserver-pi-cp-1")
	})

	t.Run("logs of every service and a container", func(t *testing.T) {
		services := map[string][]string{}

		for _, node := range []string{cp, w1, gw} {
			out := ok(t, []string{"services", "-n", node})
			for _, line := range strings.Split(out, "\n")[1:] {
				if f := strings.Fields(line); len(f) > 2 && f[2] == "Running" {
					services[f[1]] = append(services[f[1]], node)
				}
			}
		}

		for _, want := range []string{"apid", "containerd", "etcd", "kubelet", "machined", "trustd", "udevd", "ext-tailscale"} {
			if _, found := services[want]; !found {
				t.Errorf("no running %s anywhere: %v", want, services)
			}
		}

		for id, nodes := range services {
			out := ok(t, []string{"logs", id, "-n", strings.Join(nodes, ",")})
			for _, n := range nodes {
				if !strings.Contains(out, n+": ") {
					t.Errorf("logs %s: nothing from %s:\n%s", id, n, out)
				}
			}
		}

		list := ok(t, []string{"containers", "-k", "-n", w1})

		id := regexp.MustCompile(`kube-system/coredns-[a-z0-9-]+:coredns:[0-9a-f]{12}|kube-system/kube-proxy-[a-z0-9]+:kube-proxy:[0-9a-f]{12}`).FindString(list)
		if id == "" {
			t.Fatalf("no container to read:\n%s", list)
		}

		ok(t, []string{"logs", "-k", id, "-n", w1}, w1+": ")
	})

	t.Run("network", func(t *testing.T) {
		ok(t, []string{"get", "addresses", "-n", cp}, "end0/"+cp+"/24", "lo/127.0.0.1/8")
		ok(t, []string{"get", "routes", "-n", cp}, "127.0.33.1", "end0")
		ok(t, []string{"get", "links", "-n", gw}, "enp1s0", "lo", "up")
	})

	t.Run("memory processes mounts disks", func(t *testing.T) {
		out := ok(t, []string{"memory", "-n", all}, "TOTAL", "AVAILABLE")
		if strings.Count(out, "127.0.33.") != 4 {
			t.Errorf("memory of four boards:\n%s", out)
		}

		ok(t, []string{"processes", "-n", cp}, "/usr/local/bin/kube-apiserver", "/usr/local/bin/etcd", "/sbin/init")
		ok(t, []string{"mounts", "-n", cp}, "/var", "/system/state")
		ok(t, []string{"get", "disks", "-n", all}, "mmcblk0", "sda", "SATA SSD")
		ok(t, []string{"get", "volumestatus", "-n", cp}, "EPHEMERAL", "ready")

		// talosctl v1.12's disks is gone in favour of get disks; it says so.
		out, err := talos(t, "disks", "-n", cp)
		if err == nil || !strings.Contains(out, "talosctl get disks") {
			t.Errorf("disks: %v\n%s", err, out)
		}
	})

	t.Run("what the lab does not serve says so", func(t *testing.T) {
		out, err := talos(t, "netstat", "-n", cp)
		if err == nil || !strings.Contains(out, "Unimplemented") || !strings.Contains(out, "Netstat API is not implemented in the simulated lab") {
			t.Errorf("netstat: %v\n%s", err, out)
		}
	})

	t.Run("every call the dashboard makes answers", func(t *testing.T) {
		dashboardCalls(t, run, cp, strings.Split(all, ","))
	})

	t.Run("dashboard in a terminal", func(t *testing.T) {
		tmux := toolpathtest.Need(t, "tmux")[0]
		socket := fmt.Sprintf("liftoff-dashboard-%d", os.Getpid())

		tm := func(args ...string) string {
			out, err := exec.Command(tmux, append([]string{"-L", socket}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
			}

			return string(out)
		}

		tm("new-session", "-d", "-s", "dash", "-x", "160", "-y", "48",
			fmt.Sprintf("%s dashboard --talosconfig %s -e %s -n %s,%s; echo dashboard-exit=$?; sleep 600", talosctl, tc, cp, cp, w1))
		t.Cleanup(func() { _ = exec.Command(tmux, "-L", socket, "kill-server").Run() })

		// tmux has no change notification for a pane: re-read it on a tick.
		waitPane := func(texts ...string) string {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()

			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()

			for {
				screen := tm("capture-pane", "-p", "-t", "dash")

				missing := slices.IndexFunc(texts, func(s string) bool { return !strings.Contains(screen, s) })
				if missing < 0 {
					return screen
				}

				select {
				case <-ctx.Done():
					t.Fatalf("the dashboard never showed %q:\n%s", texts[missing], screen)
				case <-tick.C:
				}
			}
		}

		// The summary of the first node: its stage, the cluster and its
		// members, Kubernetes from its kubelet's image, the static pods'
		// health, its address and gateway, and its kernel log.
		screen := waitPane("pi-cp-1 (v1.13.3)", "√ Running", "homelab (4 machines)", "controlplane", "v1.36.1", "APISERVER          √ Healthy",
			cp+"/24", "127.0.33.1", "machined: stage running")
		if strings.Contains(screen, "rpc error") || strings.Contains(screen, "Unimplemented") {
			t.Errorf("the dashboard shows an error:\n%s", screen)
		}

		tm("send-keys", "-t", "dash", "l") // the next node
		waitPane("pi-w-1", "worker")

		tm("send-keys", "-t", "dash", "C-c")
		waitPane("dashboard-exit=0")
	})

	t.Run("kube-system is what Talos creates, Running", func(t *testing.T) {
		cp, err := l.ControlPlane(t.Context())
		if err != nil {
			t.Fatal(err)
		}

		cs, err := probe.KubeClient(cp.Kubeconfig())
		if err != nil {
			t.Fatal(err)
		}

		pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}

		count := map[string]int{}

		for _, p := range pods.Items {
			if p.Namespace != metav1.NamespaceSystem {
				continue
			}

			name := regexp.MustCompile(`-[a-z0-9]{5}$|-[a-z0-9]{8,10}-[a-z0-9]{5}$`).ReplaceAllString(p.Name, "")
			count[name]++

			if p.Status.Phase != corev1.PodRunning || !slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
				return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
			}) {
				t.Errorf("%s is %s, not Running and Ready", p.Name, p.Status.Phase)
			}
		}

		want := map[string]int{"coredns": 2, "kube-flannel": 4, "kube-proxy": 4, "kube-apiserver-pi-cp-1": 1, "kube-controller-manager-pi-cp-1": 1, "kube-scheduler-pi-cp-1": 1}
		for name, n := range want {
			if count[name] != n {
				t.Errorf("kube-system has %d %s, want %d (all: %v)", count[name], name, n, count)
			}
		}
	})
}

// dashboardCalls makes every call talosctl v1.12.6's dashboard makes
// (internal/pkg/dashboard: apidata polls these through one endpoint with
// every node; resourcedata watches these per node; logdata follows dmesg),
// and checks each answers for each node.
func dashboardCalls(t *testing.T, run *Run, endpoint string, nodes []string) {
	t.Helper()

	c, err := client.New(t.Context(), client.WithConfig(run.Talosconfig), client.WithEndpoints(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() //nolint:errcheck

	ctx := client.WithNodes(t.Context(), nodes...)
	empty := &emptypb.Empty{}

	polls := map[string]func() (any, error){
		"LoadAvg":            func() (any, error) { return c.MachineClient.LoadAvg(ctx, empty) },
		"Version":            func() (any, error) { return c.MachineClient.Version(ctx, empty) },
		"Memory":             func() (any, error) { return c.MachineClient.Memory(ctx, empty) },
		"SystemStat":         func() (any, error) { return c.MachineClient.SystemStat(ctx, empty) },
		"CPUFreqStats":       func() (any, error) { return c.MachineClient.CPUFreqStats(ctx, empty) },
		"CPUInfo":            func() (any, error) { return c.MachineClient.CPUInfo(ctx, empty) },
		"NetworkDeviceStats": func() (any, error) { return c.MachineClient.NetworkDeviceStats(ctx, empty) },
		"DiskStats":          func() (any, error) { return c.MachineClient.DiskStats(ctx, empty) },
		"Processes":          func() (any, error) { return c.MachineClient.Processes(ctx, empty) },
		"ServiceList":        func() (any, error) { return c.MachineClient.ServiceList(ctx, empty) },
	}

	for name, call := range polls {
		resp, err := call()
		if err != nil {
			t.Errorf("%s: %v", name, err)

			continue
		}

		msgs := reflect.ValueOf(resp).MethodByName("GetMessages").Call(nil)[0]

		var seen []string

		for i := range msgs.Len() {
			md := msgs.Index(i).MethodByName("GetMetadata").Call(nil)[0].Interface().(*common.Metadata) //nolint:forcetypeassert
			if md.GetError() != "" {
				t.Errorf("%s on %s: %s", name, md.GetHostname(), md.GetError())
			}

			seen = append(seen, md.GetHostname())
		}

		slices.Sort(seen)

		if want := slices.Sorted(slices.Values(nodes)); !slices.Equal(seen, want) {
			t.Errorf("%s answered for %v, want %v", name, seen, want)
		}
	}

	watched := []resource.Pointer{
		runtime.NewMachineStatus().Metadata(), runtime.NewSecurityStateSpec(v1alpha1.NamespaceName).Metadata(),
		talosconfig.NewMachineType().Metadata(), k8s.NewKubeletSpec(k8s.NamespaceName, k8s.KubeletID).Metadata(),
		network.NewResolverStatus(network.NamespaceName, network.ResolverID).Metadata(),
		network.NewTimeServerStatus(network.NamespaceName, network.TimeServerID).Metadata(),
		taloshw.NewSystemInformation(taloshw.SystemInformationID).Metadata(), cluster.NewInfo().Metadata(),
		network.NewStatus(network.NamespaceName, network.StatusID).Metadata(),
		network.NewHostnameStatus(network.NamespaceName, network.HostnameID).Metadata(),
	}

	kinds := []resource.Pointer{
		runtime.NewMetaKey(runtime.NamespaceName, "").Metadata(), k8s.NewStaticPodStatus(k8s.NamespaceName, "").Metadata(),
		network.NewRouteStatus(network.NamespaceName, "").Metadata(), network.NewLinkStatus(network.NamespaceName, "").Metadata(),
		cluster.NewMember(cluster.NamespaceName, "").Metadata(), network.NewNodeAddress(network.NamespaceName, "").Metadata(),
		siderolink.NewStatus().Metadata(), runtime.NewDiagnostic(runtime.NamespaceName, "").Metadata(),
	}

	for _, node := range nodes {
		nctx := client.WithNode(t.Context(), node)

		for _, md := range watched {
			if _, err := c.COSI.Get(nctx, md); err != nil {
				t.Errorf("%s: get %s: %v", node, md.Type(), err)
			}
		}

		for _, md := range kinds {
			if _, err := c.COSI.List(nctx, md); err != nil {
				t.Errorf("%s: list %s: %v", node, md.Type(), err)
			}
		}

		stream, err := c.Dmesg(nctx, false, true)
		if err != nil {
			t.Fatalf("%s: dmesg: %v", node, err)
		}

		if data, err := stream.Recv(); err != nil || len(data.GetBytes()) == 0 {
			t.Errorf("%s: dmesg: %v", node, err)
		}
	}
}
