package board

import (
	"fmt"
	"strings"
)

// cpu is what a board model's processor says of itself in /proc/cpuinfo
// and cpufreq. The shapes follow the kernel that prints them: arm64's
// c_show (linux arch/arm64/kernel/cpuinfo.c: processor, BogoMIPS,
// Features, CPU implementer/architecture/variant/part/revision, one block
// per core and nothing after — the Hardware/Model lines people know from
// Raspberry Pi OS are a downstream patch Talos's mainline kernel lacks)
// and x86's show_cpuinfo (arch/x86/kernel/cpu/proc.c). Part numbers are
// Arm's (util-linux sys-utils/lscpu-arm.c: 0xd08 Cortex-A72 in the Pi 4's
// BCM2711, 0xd0b Cortex-A76 in the Pi 5's BCM2712); BogoMIPS 108.00 is
// twice the 54 MHz architected timer both Pis run.
type cpu struct {
	cores    int
	arm      bool
	part     string // arm: CPU part
	variant  string // arm: CPU variant
	revision int    // arm: CPU revision
	features string // arm Features / x86 flags
	bogomips float64
	name     string // x86 model name
	family   int    // x86
	model    int    // x86
	stepping int    // x86
	cache    string // x86 cache size
	minKHz   uint64 // cpufreq
	maxKHz   uint64
	governor string
	memKB    uint64 // MemTotal: RAM less the firmware's and the kernel's share
	linkName string // Talos's name for the onboard Ethernet
	thermal  bool   // /sys/class/thermal/thermal_zone0 (the SoC sensor)
}

// cpuOf is the processor of a board model: liftoff's plan models (rpi4,
// rpi5, cm4, cm5, arm64, amd64).
func cpuOf(model string) cpu {
	switch m := strings.ToLower(model); {
	case strings.HasPrefix(m, "rpi5"), strings.HasPrefix(m, "cm5"):
		return cpu{cores: 4, arm: true, part: "0xd0b", variant: "0x4", revision: 1, bogomips: 108,
			features: "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
			minKHz:   1500000, maxKHz: 2400000, governor: "ondemand", memKB: 8245392, linkName: "end0", thermal: true}
	case strings.HasPrefix(m, "rpi4"), strings.HasPrefix(m, "cm4"):
		return cpu{cores: 4, arm: true, part: "0xd08", variant: "0x0", revision: 3, bogomips: 108,
			features: "fp asimd evtstrm crc32 cpuid",
			minKHz:   600000, maxKHz: 1800000, governor: "ondemand", memKB: 7997468, linkName: "end0", thermal: true}
	case m == "amd64":
		// An Intel NUC 11 (i5-1135G7, Tiger Lake): 4 cores, 8 threads.
		return cpu{cores: 8, name: "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz", family: 6, model: 140, stepping: 1,
			cache: "8192 KB", bogomips: 4838.4,
			features: "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq dtes64 monitor ds_cpl vmx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb intel_pt avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves split_lock_detect dtherm ida arat pln pts hwp avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid movdiri movdir64b fsrm avx512_vp2intersect md_clear ibt flush_l1d arch_capabilities",
			minKHz:   400000, maxKHz: 4200000, governor: "powersave", memKB: 16126412, linkName: "enp1s0"}
	default:
		// A generic arm64 board: Cortex-A72 class.
		return cpu{cores: 4, arm: true, part: "0xd08", variant: "0x0", revision: 3, bogomips: 48,
			features: "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid",
			minKHz:   408000, maxKHz: 1800000, governor: "schedutil", memKB: 3906528, linkName: "end0", thermal: true}
	}
}

// cpuinfo renders /proc/cpuinfo.
func (c cpu) cpuinfo(mhz float64) string {
	var b strings.Builder

	for i := range c.cores {
		if c.arm {
			fmt.Fprintf(&b, "processor\t: %d\nBogoMIPS\t: %.2f\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %d\n\n",
				i, c.bogomips, c.features, c.variant, c.part, c.revision)

			continue
		}

		core := i % (c.cores / 2)
		fmt.Fprintf(&b, "processor\t: %d\nvendor_id\t: GenuineIntel\ncpu family\t: %d\nmodel\t\t: %d\nmodel name\t: %s\nstepping\t: %d\nmicrocode\t: 0xb8\n"+
			"cpu MHz\t\t: %.3f\ncache size\t: %s\nphysical id\t: 0\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\napicid\t\t: %d\ninitial apicid\t: %d\n"+
			"fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 27\nwp\t\t: yes\nflags\t\t: %s\nbugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs eibrs_pbrsb gds bhi its\n"+
			"bogomips\t: %.2f\nclflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 39 bits physical, 48 bits virtual\npower management:\n\n",
			i, c.family, c.model, c.name, c.stepping, mhz, c.cache, c.cores, core, c.cores/2, i, i, c.features, c.bogomips)
	}

	return b.String()
}
