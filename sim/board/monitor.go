package board

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/liftoff-lab/liftoff/sim/kube"
)

// The monitoring calls (Talos v1.13.3 internal/app/machined/internal/
// server/v1alpha1/v1alpha1_monitoring.go and _server.go) read /proc and
// /sys through procfs; here one machine model feeds both those calls and
// the files `talosctl read` shows, so they agree.

// machineNow is the board as the kernel would report it at one instant.
type machineNow struct {
	at     time.Time
	up     time.Duration
	cpu    cpu
	procs  []proc
	pods   []kube.RunningPod
	host   string
	addr   string
	disk   Disk
	disks  []Disk
	booted bool
	// CPU busy share of all cores together and resident memory (KiB).
	busy  float64
	rssKB uint64
}

// snapshot reads the board (and the pods its kubelet runs) now.
func (b *Board) snapshot() machineNow {
	var pods []kube.RunningPod

	if lab := b.opts.Lab; lab != nil {
		pods = lab.Pods(b) // sorted by namespace/name
	}

	b.mu.Lock()
	defer b.mu.Unlock()

	now := time.Now()
	m := machineNow{at: now, cpu: cpuOf(b.opts.Spec.Model), pods: pods, host: b.hostnameLocked(), addr: b.address(),
		disks: b.opts.Spec.Disks, booted: b.bootedLocked()}

	if !b.x.bootAt.IsZero() {
		m.up = now.Sub(b.x.bootAt)
	}

	if !m.booted {
		m.pods = nil
	}

	m.procs = b.procsLocked(m.pods)
	m.rssKB, m.busy = usage(m.procs)

	if d, ok := b.installDiskLocked(); ok && m.booted {
		m.disk = d
	} else if len(m.disks) > 0 {
		m.disk = m.disks[0]
	}

	return m
}

// meminfo is /proc/meminfo's numbers (KiB): what runs, the kernel's own
// share, and a page cache that grows with uptime.
func (m machineNow) meminfo() *machineapi.MemInfo {
	total := m.cpu.memKB
	kernel := uint64(160000)
	cached := min(uint64(m.up.Seconds())*200+180000, total/5)
	buffers := uint64(8200)
	used := min(m.rssKB+kernel, total-cached-buffers)
	free := total - used - cached - buffers

	return &machineapi.MemInfo{
		Memtotal: total, Memfree: free, Memavailable: free + cached*9/10 + buffers,
		Buffers: buffers, Cached: cached, Active: m.rssKB*6/10 + cached/2, Inactive: m.rssKB*2/10 + cached/2,
		Activeanon: m.rssKB * 6 / 10, Inactiveanon: m.rssKB / 10, Activefile: cached / 2, Inactivefile: cached / 2,
		Anonpages: m.rssKB * 7 / 10, Mapped: m.rssKB / 5, Shmem: 2300, Slab: 62000, Sreclaimable: 21000, Sunreclaim: 41000,
		Kernelstack: 4200 + uint64(len(m.procs))*48, Pagetables: 2100 + m.rssKB/200,
		Commitlimit: total / 2, Committedas: m.rssKB * 2, Vmalloctotal: 133143592960 / 1024, Vmallocused: 21000,
		Cmatotal: cma(m.cpu), Cmafree: cma(m.cpu) * 9 / 10,
	}
}

// cma is the contiguous memory the Pi's device tree reserves (64 MiB).
func cma(c cpu) uint64 {
	if c.thermal {
		return 65536
	}

	return 0
}

// jiffies are per-core CPU times in USER_HZ (100) since boot.
func (m machineNow) jiffies(core int) *machineapi.CPUStat {
	secs := m.up.Seconds()
	share := m.busy / float64(m.cpu.cores)

	if core >= 0 && core%2 == 1 {
		share *= 0.8
	}

	return &machineapi.CPUStat{
		User: secs * share * 0.7 * 100, System: secs * share * 0.25 * 100, Irq: secs * share * 0.01 * 100,
		SoftIrq: secs * share * 0.04 * 100, Iowait: secs * 0.002 * 100, Idle: secs * (1 - share) * 100,
	}
}

func sum(stats []*machineapi.CPUStat) *machineapi.CPUStat {
	t := &machineapi.CPUStat{}
	for _, s := range stats {
		t.User += s.User
		t.System += s.System
		t.Irq += s.Irq
		t.SoftIrq += s.SoftIrq
		t.Iowait += s.Iowait
		t.Idle += s.Idle
	}

	return t
}

func (m machineNow) netdevs() []*machineapi.NetDev {
	secs := uint64(m.up.Seconds())
	rate := uint64(9000 + 2000*len(m.pods))

	return []*machineapi.NetDev{
		{Name: "lo", RxBytes: secs * 52000, RxPackets: secs * 310, TxBytes: secs * 52000, TxPackets: secs * 310},
		{Name: m.cpu.linkName, RxBytes: secs*rate + 1_200_000, RxPackets: secs*rate/700 + 2100, TxBytes: secs * rate * 7 / 10, TxPackets: secs*rate/900 + 900,
			RxMulticast: secs / 30},
	}
}

func (m machineNow) diskstats() []*machineapi.DiskStat {
	secs := uint64(m.up.Seconds())

	var out []*machineapi.DiskStat

	for _, d := range m.disks {
		name := strings.TrimPrefix(d.Path, "/dev/")
		s := &machineapi.DiskStat{Name: name, ReadCompleted: 900, ReadSectors: 92000, ReadTimeMs: 1400}

		if d.Path == m.disk.Path && m.booted {
			s.ReadCompleted += secs / 2
			s.ReadSectors += secs * 40
			s.WriteCompleted = secs * 3
			s.WriteSectors = secs * 90
			s.WriteTimeMs = secs * 4
			s.IoTimeMs = secs * 5
		}

		out = append(out, s)
	}

	return out
}

func (m machineNow) mounts() []*machineapi.MountStat {
	out := []*machineapi.MountStat{
		{Filesystem: "rootfs", MountedOn: "/"},
		{Filesystem: "devtmpfs", MountedOn: "/dev", Size: uint64(m.cpu.memKB) * 512, Available: uint64(m.cpu.memKB) * 512},
		{Filesystem: "proc", MountedOn: "/proc"},
		{Filesystem: "sysfs", MountedOn: "/sys"},
		{Filesystem: "tmpfs", MountedOn: "/run", Size: uint64(m.cpu.memKB) * 512, Available: uint64(m.cpu.memKB)*512 - 1_200_000},
		{Filesystem: "tmpfs", MountedOn: "/system", Size: uint64(m.cpu.memKB) * 512, Available: uint64(m.cpu.memKB)*512 - 800_000},
		{Filesystem: "tmpfs", MountedOn: "/tmp", Size: 67_108_864, Available: 67_100_000},
		{Filesystem: "/dev/loop0", MountedOn: "/", Size: 80_000_000},
	}

	if m.booted && m.disk.Path != "" {
		eph := ephemeralSize(m.disk.Size)
		used := 1_500_000_000 + uint64(len(m.pods))*60_000_000

		out = append(out,
			&machineapi.MountStat{Filesystem: partition(m.disk.Path, 5), MountedOn: "/system/state", Size: 100 << 20, Available: 95 << 20},
			&machineapi.MountStat{Filesystem: partition(m.disk.Path, 6), MountedOn: "/var", Size: eph, Available: eph - min(used, eph)},
		)
	}

	return out
}

func (m *machineService) Memory(context.Context, *emptypb.Empty) (*machineapi.MemoryResponse, error) {
	return &machineapi.MemoryResponse{Messages: []*machineapi.Memory{{Meminfo: m.b.snapshot().meminfo()}}}, nil
}

func (m *machineService) LoadAvg(context.Context, *emptypb.Empty) (*machineapi.LoadAvgResponse, error) {
	s := m.b.snapshot()
	l := s.busy + 0.05*float64(len(s.procs))/10

	return &machineapi.LoadAvgResponse{Messages: []*machineapi.LoadAvg{{Load1: l * 1.1, Load5: l, Load15: l * 0.9}}}, nil
}

func (m *machineService) SystemStat(context.Context, *emptypb.Empty) (*machineapi.SystemStatResponse, error) {
	s := m.b.snapshot()

	cpus := make([]*machineapi.CPUStat, s.cpu.cores)
	for i := range cpus {
		cpus[i] = s.jiffies(i)
	}

	secs := uint64(s.up.Seconds())

	return &machineapi.SystemStatResponse{Messages: []*machineapi.SystemStat{{
		BootTime: uint64(s.at.Add(-s.up).Unix()), CpuTotal: sum(cpus), Cpu: cpus,
		IrqTotal: secs * 900, ContextSwitches: secs * 2400, ProcessCreated: uint64(len(s.procs)) + secs/4,
		ProcessRunning: 1 + uint64(s.busy), SoftIrqTotal: secs * 400,
		SoftIrq: &machineapi.SoftIRQStat{Timer: secs * 250, NetRx: secs * 60, NetTx: secs * 5, Rcu: secs * 80, Sched: secs * 5},
	}}}, nil
}

func (m *machineService) CPUInfo(context.Context, *emptypb.Empty) (*machineapi.CPUInfoResponse, error) {
	c := m.b.snapshot().cpu

	var infos []*machineapi.CPUInfo

	for i := range c.cores {
		info := &machineapi.CPUInfo{Processor: uint32(i), BogoMips: c.bogomips, Flags: strings.Fields(c.features)}

		if c.arm {
			info.VendorId, info.Model, info.Stepping = "0x41", c.part, fmt.Sprint(c.revision)
		} else {
			info.VendorId, info.CpuFamily, info.Model, info.ModelName = "GenuineIntel", fmt.Sprint(c.family), fmt.Sprint(c.model), c.name
			info.Stepping, info.CpuMhz, info.CacheSize, info.Siblings, info.CpuCores = fmt.Sprint(c.stepping), float64(c.maxKHz)/2000, c.cache, uint32(c.cores), uint32(c.cores/2)
			info.CoreId, info.ClFlushSize, info.CacheAlignment = fmt.Sprint(i%(c.cores/2)), 64, 64
			info.AddressSizes = "39 bits physical, 48 bits virtual"
		}

		infos = append(infos, info)
	}

	return &machineapi.CPUInfoResponse{Messages: []*machineapi.CPUsInfo{{CpuInfo: infos}}}, nil
}

func (m *machineService) CPUFreqStats(context.Context, *emptypb.Empty) (*machineapi.CPUFreqStatsResponse, error) {
	s := m.b.snapshot()

	var out []*machineapi.CPUFreqStats

	for i := range s.cpu.cores {
		cur := s.cpu.minKHz
		if s.busy > 0.1 && i%2 == 0 {
			cur = s.cpu.maxKHz
		}

		out = append(out, &machineapi.CPUFreqStats{CurrentFrequency: cur, MinimumFrequency: s.cpu.minKHz, MaximumFrequency: s.cpu.maxKHz, Governor: s.cpu.governor})
	}

	return &machineapi.CPUFreqStatsResponse{Messages: []*machineapi.CPUsFreqStats{{CpuFreqStats: out}}}, nil
}

func (m *machineService) NetworkDeviceStats(context.Context, *emptypb.Empty) (*machineapi.NetworkDeviceStatsResponse, error) {
	devs := m.b.snapshot().netdevs()
	total := &machineapi.NetDev{}

	for _, d := range devs {
		total.RxBytes += d.RxBytes
		total.RxPackets += d.RxPackets
		total.TxBytes += d.TxBytes
		total.TxPackets += d.TxPackets
	}

	return &machineapi.NetworkDeviceStatsResponse{Messages: []*machineapi.NetworkDeviceStats{{Total: total, Devices: devs}}}, nil
}

func (m *machineService) DiskStats(context.Context, *emptypb.Empty) (*machineapi.DiskStatsResponse, error) {
	devs := m.b.snapshot().diskstats()
	total := &machineapi.DiskStat{}

	for _, d := range devs {
		total.ReadCompleted += d.ReadCompleted
		total.ReadSectors += d.ReadSectors
		total.WriteCompleted += d.WriteCompleted
		total.WriteSectors += d.WriteSectors
	}

	return &machineapi.DiskStatsResponse{Messages: []*machineapi.DiskStats{{Total: total, Devices: devs}}}, nil
}

func (m *machineService) Mounts(context.Context, *emptypb.Empty) (*machineapi.MountsResponse, error) {
	return &machineapi.MountsResponse{Messages: []*machineapi.Mounts{{Stats: m.b.snapshot().mounts()}}}, nil
}

func (m *machineService) Hostname(context.Context, *emptypb.Empty) (*machineapi.HostnameResponse, error) {
	return &machineapi.HostnameResponse{Messages: []*machineapi.Hostname{{Hostname: m.b.Hostname()}}}, nil
}

func (m *machineService) Processes(context.Context, *emptypb.Empty) (*machineapi.ProcessesResponse, error) {
	s := m.b.snapshot()

	out := make([]*machineapi.ProcessInfo, 0, len(s.procs))

	for _, p := range s.procs {
		state := "S"
		if p.cpuShare > 0.05 {
			state = "R"
		}

		out = append(out, &machineapi.ProcessInfo{
			Pid: p.pid, Ppid: p.ppid, State: state, Threads: p.threads, CpuTime: p.cpuSeconds(s.at),
			VirtualMemory: p.rssKB * 1024 * 5, ResidentMemory: p.rssKB * 1024, Command: p.command, Executable: p.exe, Args: p.args,
		})
	}

	slices.SortFunc(out, func(a, b *machineapi.ProcessInfo) int { return int(a.Pid - b.Pid) })

	return &machineapi.ProcessesResponse{Messages: []*machineapi.Process{{Processes: out}}}, nil
}
