package board

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/imager/quirks"
	"github.com/siderolabs/talos/pkg/machinery/kernel"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The files people read on a Talos node with `talosctl read` and list
// with `talosctl ls`, rendered from the board's machine model in the
// kernel's formats (fs/proc/meminfo.c, net/core/net-procfs.c dev_seq_show,
// net/ipv4/fib_trie.c fib_route_seq_show, fs/proc/loadavg.c, uptime.c) and
// Talos's (/etc/os-release: constants.OSReleaseTemplate; /etc/hosts and
// /etc/resolv.conf: controllers/network/etcfile.go).

// files are the board's readable files by path, rendered now.
func (m machineNow) files(b *Board) map[string]string {
	b.mu.Lock()
	version, hostDNS := b.booted, b.cfg != nil && b.cfg.Machine().Features().HostDNS().Enabled() && m.booted
	bootID := b.bootID
	b.mu.Unlock()

	mi := m.meminfo()
	load := m.busy + 0.05*float64(len(m.procs))/10

	out := map[string]string{
		"/proc/cpuinfo":             m.cpu.cpuinfo(float64(m.cpu.maxKHz) / 2000),
		"/proc/meminfo":             renderMeminfo(mi),
		"/proc/version":             fmt.Sprintf("Linux version 6.18.33-talos (@buildkitsandbox) (gcc (GCC) 15.2.0, GNU ld (GNU Binutils) 2.45) #1 SMP PREEMPT_DYNAMIC %s\n", "Thu May 28 10:02:33 UTC 2026"),
		"/proc/cmdline":             m.cmdline() + "\n",
		"/proc/uptime":              fmt.Sprintf("%.2f %.2f\n", m.up.Seconds(), m.up.Seconds()*float64(m.cpu.cores)*(1-m.busy/float64(m.cpu.cores))),
		"/proc/loadavg":             fmt.Sprintf("%.2f %.2f %.2f %d/%d %d\n", load*1.1, load, load*0.9, 1+int(m.busy), len(m.procs)*8, m.procs[len(m.procs)-1].pid),
		"/proc/mounts":              m.procMounts(),
		"/proc/net/dev":             m.procNetDev(),
		"/proc/net/route":           m.procNetRoute(b),
		"/proc/sys/kernel/hostname": m.host + "\n",
		// A new one every boot: what talosctl's tracker reads to tell an
		// upgrade's or reboot's new boot (cmd/talosctl/pkg/talos/action).
		"/proc/sys/kernel/random/boot_id": bootID + "\n",
		"/etc/hostname":                   m.host + "\n",
		"/etc/os-release":                 fmt.Sprintf(constants.OSReleaseTemplate, "Talos", "talos", version),
		"/etc/hosts":                      fmt.Sprintf("127.0.0.1 localhost\n%s %s\n::1       localhost ip6-localhost ip6-loopback\nff02::1   ip6-allnodes\nff02::2   ip6-allrouters\n", m.addr, m.host),
	}

	if hostDNS {
		out["/etc/resolv.conf"] = "nameserver 127.0.0.53\n"
	} else {
		out["/etc/resolv.conf"] = fmt.Sprintf("nameserver %s\nnameserver %s\n", constants.DefaultPrimaryResolver, constants.DefaultSecondaryResolver)
	}

	if m.cpu.thermal {
		// millidegrees: a Pi idles around 45 °C and warms with load.
		out["/sys/class/thermal/thermal_zone0/temp"] = fmt.Sprintf("%d\n", 44000+int(m.busy*9000))
	}

	return out
}

// cmdline is the kernel command line: Talos's own arguments
// (kernel.DefaultArgs for this version's quirks) after the platform and
// the console the board's overlay adds (sbc-raspberrypi v0.2.0
// installers: ttyAMA0 on rpi_generic, ttyAMA10 on rpi_5).
func (m machineNow) cmdline() string {
	args := []string{"talos.platform=metal", "console=tty0"}

	switch {
	case m.cpu.part == "0xd0b":
		args = append(args, "console=ttyAMA10,115200")
	case m.cpu.arm:
		args = append(args, "console=ttyAMA0,115200")
	default:
		args = append(args, "console=ttyS0")
	}

	return strings.Join(append(args, kernel.DefaultArgs(quirks.New("v1.13.3"))...), " ")
}

func renderMeminfo(mi *machineapi.MemInfo) string {
	var b strings.Builder

	row := func(k string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", k+":", v) }

	row("MemTotal", mi.Memtotal)
	row("MemFree", mi.Memfree)
	row("MemAvailable", mi.Memavailable)
	row("Buffers", mi.Buffers)
	row("Cached", mi.Cached)
	row("SwapCached", 0)
	row("Active", mi.Active)
	row("Inactive", mi.Inactive)
	row("Active(anon)", mi.Activeanon)
	row("Inactive(anon)", mi.Inactiveanon)
	row("Active(file)", mi.Activefile)
	row("Inactive(file)", mi.Inactivefile)
	row("Unevictable", 0)
	row("Mlocked", 0)
	row("SwapTotal", 0)
	row("SwapFree", 0)
	row("Dirty", 120)
	row("Writeback", 0)
	row("AnonPages", mi.Anonpages)
	row("Mapped", mi.Mapped)
	row("Shmem", mi.Shmem)
	row("KReclaimable", mi.Sreclaimable)
	row("Slab", mi.Slab)
	row("SReclaimable", mi.Sreclaimable)
	row("SUnreclaim", mi.Sunreclaim)
	row("KernelStack", mi.Kernelstack)
	row("PageTables", mi.Pagetables)
	row("CommitLimit", mi.Commitlimit)
	row("Committed_AS", mi.Committedas)
	row("VmallocTotal", mi.Vmalloctotal)
	row("VmallocUsed", mi.Vmallocused)
	row("VmallocChunk", 0)

	if mi.Cmatotal > 0 {
		row("CmaTotal", mi.Cmatotal)
		row("CmaFree", mi.Cmafree)
	}

	return b.String()
}

func (m machineNow) procMounts() string {
	var b strings.Builder

	for _, s := range m.mounts() {
		fsType := map[string]string{"/dev": "devtmpfs", "/proc": "proc", "/sys": "sysfs"}[s.MountedOn]

		switch {
		case fsType != "":
		case s.Filesystem == "tmpfs":
			fsType = "tmpfs"
		case s.Filesystem == "/dev/loop0":
			fsType = "squashfs"
		case s.Filesystem == "rootfs":
			fsType = "rootfs"
		default:
			fsType = "xfs"
		}

		fmt.Fprintf(&b, "%s %s %s rw,relatime 0 0\n", s.Filesystem, s.MountedOn, fsType)
	}

	return b.String()
}

func (m machineNow) procNetDev() string {
	var b strings.Builder

	b.WriteString("Inter-|   Receive                                                |  Transmit\n")
	b.WriteString(" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")

	for _, d := range m.netdevs() {
		fmt.Fprintf(&b, "%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
			d.Name, d.RxBytes, d.RxPackets, 0, 0, 0, 0, 0, d.RxMulticast, d.TxBytes, d.TxPackets, 0, 0, 0, 0, 0, 0)
	}

	return b.String()
}

// procNetRoute is the IPv4 main table, addresses in the kernel's host
// byte order hex (little-endian on both arm64 and amd64).
func (m machineNow) procNetRoute(b *Board) string {
	hex := func(a netip.Addr) string {
		if !a.IsValid() {
			return "00000000"
		}

		v := a.As4()

		return fmt.Sprintf("%08X", binary.LittleEndian.Uint32(v[:]))
	}

	lan := b.lanPrefix()
	mask := netip.AddrFrom4([4]byte{255, 255, 255, 0})

	var s strings.Builder

	s.WriteString("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
	fmt.Fprintf(&s, "%s\t%s\t%s\t0003\t0\t0\t1024\t%s\t0\t0\t0\n", m.cpu.linkName, hex(netip.Addr{}), hex(b.gateway()), hex(netip.Addr{}))
	fmt.Fprintf(&s, "%s\t%s\t%s\t0001\t0\t0\t1024\t%s\t0\t0\t0\n", m.cpu.linkName, hex(lan.Masked().Addr()), hex(netip.Addr{}), hex(mask))

	return s.String()
}

// entry is one node of the board's file tree.
type entry struct {
	name  string
	dir   bool
	size  int64
	mode  fs.FileMode
	items []string // a directory's children, sorted
}

// tree is the file tree the files span, directories implied.
func tree(files map[string]string) map[string]*entry {
	t := map[string]*entry{"/": {name: "/", dir: true, mode: fs.ModeDir | 0o755}}

	for p, content := range files {
		t[p] = &entry{name: p, size: int64(len(content)), mode: 0o444}

		for child := p; child != "/"; {
			parent := path.Dir(child)

			d, ok := t[parent]
			if !ok {
				d = &entry{name: parent, dir: true, mode: fs.ModeDir | 0o555}
				t[parent] = d
			}

			if !slices.Contains(d.items, child) {
				d.items = append(d.items, child)
				slices.Sort(d.items)
			}

			child = parent
		}
	}

	for p, e := range t {
		if strings.HasPrefix(p, "/proc") && !e.dir {
			e.size = 0 // procfs files report no size
		}
	}

	return t
}

// Read streams one file, as Talos's Read does: NotFound for a missing
// path, an error for anything but a regular file.
func (m *machineService) Read(in *machineapi.ReadRequest, srv grpc.ServerStreamingServer[common.Data]) error {
	files := m.b.snapshot().files(m.b)
	p := path.Clean("/" + in.GetPath())

	content, ok := files[p]
	if !ok {
		if e, isDir := tree(files)[p]; isDir && e.dir {
			return errors.New("path must be a regular file")
		}

		return status.Errorf(codes.NotFound, "stat %s: no such file or directory", in.GetPath())
	}

	return srv.Send(&common.Data{Bytes: []byte(content)})
}

// List walks the tree from a root as Talos's archiver.Walker does: the
// root itself first (".") then its children, down to the depth asked.
func (m *machineService) List(req *machineapi.ListRequest, srv grpc.ServerStreamingServer[machineapi.FileInfo]) error {
	files := m.b.snapshot().files(m.b)
	t := tree(files)

	root := "/" + strings.Trim(req.GetRoot(), "/")

	start, ok := t[root]
	if !ok {
		return status.Errorf(codes.Unknown, "lstat %s: no such file or directory", root)
	}

	depth := 0
	if req.GetRecurse() {
		depth = int(req.GetRecursionDepth())
		if depth == 0 {
			depth = -1
		}
	}

	var walk func(e *entry, level int) error

	walk = func(e *entry, level int) error {
		rel := "."
		if e.name != root {
			rel = strings.TrimPrefix(strings.TrimPrefix(e.name, root), "/")
		}

		if !start.dir {
			rel = path.Base(e.name)
		}

		if wanted(req.GetTypes(), e) {
			if err := srv.Send(&machineapi.FileInfo{Name: e.name, RelativeName: rel, Size: e.size, Mode: uint32(e.mode), IsDir: e.dir, Modified: m.b.poweredAt().Unix()}); err != nil {
				return err
			}
		}

		if !e.dir || (level >= max(depth, 1) && depth != -1) {
			return nil
		}

		for _, c := range e.items {
			if err := walk(t[c], level+1); err != nil {
				return err
			}
		}

		return nil
	}

	return walk(start, 0)
}

func wanted(types []machineapi.ListRequest_Type, e *entry) bool {
	if len(types) == 0 {
		return true
	}

	for _, t := range types {
		if t == machineapi.ListRequest_DIRECTORY && e.dir || t == machineapi.ListRequest_REGULAR && !e.dir {
			return true
		}
	}

	return false
}

func (b *Board) poweredAt() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.x.poweredAt
}
