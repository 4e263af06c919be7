package preflight

import (
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/discover"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

const lab = `
cluster:
  name: homelab
network:
  lan: 192.168.1.0/24
boards:
  - {name: pi-1, address: 192.168.1.11, model: rpi4, machine: controlplane, role: compute}
  - {name: gw, address: 192.168.1.12, model: amd64, machine: worker, role: gateway}
`

var (
	sd  = discover.Disk{Path: "/dev/mmcblk0", Size: "32 GB", Bytes: 32e9, Model: "SD32G", Transport: "mmc"}
	ssd = discover.Disk{Path: "/dev/sda", Size: "256 GB", Bytes: 256e9, Model: "USB SSD", Transport: "usb"}
	nvm = discover.Disk{Path: "/dev/nvme0n1", Size: "512 GB", Bytes: 512e9, Transport: "nvme"}
	usb = discover.Disk{Path: "/dev/sdb", Size: "4 GB", Bytes: 4e9, Model: "stick", Transport: "usb"}
)

func pi(disks ...discover.Disk) discover.Board {
	return discover.Board{Address: "192.168.1.11", TalosVersion: "v1.13.3", Arch: "arm64", Product: "Raspberry Pi Ltd Raspberry Pi 4 Model B Rev 1.4", Disks: disks}
}

func nuc() discover.Board {
	return discover.Board{Address: "192.168.1.12", TalosVersion: "v1.13.3", Arch: "amd64", Product: "Intel NUC 11", Disks: []discover.Disk{{Path: "/dev/sda", Size: "512 GB", Bytes: 512e9, Transport: "sata"}}}
}

// want is one expected problem: severity, board, field and words of its
// message and fix.
type want struct {
	sev   plan.Severity
	board string
	field string
	words []string
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		edit      func(p *plan.Plan)
		found     func(f map[string]discover.Board)
		machinery string
		want      []want
	}{
		{
			name: "SD card as the only disk is the normal Pi install",
		},
		{
			name:  "SD card while a USB SSD is free",
			found: func(f map[string]discover.Board) { f["pi-1"] = pi(sd, ssd, usb) },
			want: []want{{plan.Warning, "pi-1", "boards[0].installDisk",
				[]string{"/dev/mmcblk0 (an SD card)", "/dev/sda (256 GB usb USB SSD) is free", "wears out", "set boards[0].installDisk: /dev/sda",
					"write the role's disk image", "card out", "counts as installed"}}},
		},
		{
			name: "SD card it booted from, NVMe free: the largest other disk is suggested",
			found: func(f map[string]discover.Board) {
				b := pi(sd, ssd, nvm)
				b.SystemDisk = "/dev/mmcblk0"
				f["pi-1"] = b
			},
			want: []want{{plan.Warning, "pi-1", "boards[0].installDisk", []string{"the SD card it booted from", "installDisk: /dev/nvme0n1"}}},
		},
		{
			name:  "a small USB stick is no better place",
			found: func(f map[string]discover.Board) { f["pi-1"] = pi(sd, usb) },
		},
		{
			name:  "installing to the SSD already",
			edit:  func(p *plan.Plan) { p.Boards[0].InstallDisk = "/dev/sda" },
			found: func(f map[string]discover.Board) { f["pi-1"] = pi(sd, ssd) },
			want:  []want{{plan.Warning, "pi-1", "boards[].model", []string{"2020-09-03", "USB Boot", "rpi-eeprom-update -a", PiEEPROMDoc}}},
		},
		{
			name:  "install disk the board does not have",
			edit:  func(p *plan.Plan) { p.Boards[0].InstallDisk = "/dev/nvme0n1" },
			found: func(f map[string]discover.Board) { f["pi-1"] = pi(sd, ssd) },
			want: []want{
				{plan.Error, "pi-1", "boards[0].installDisk", []string{"/dev/nvme0n1 does not exist", "/dev/mmcblk0 (32 GB mmc SD32G), /dev/sda"}},
				{plan.Warning, "pi-1", "boards[].model", []string{"2020-09-03"}},
			},
		},
		{
			name: "amd64 model for an arm64 board",
			edit: func(p *plan.Plan) { p.Boards[0].Model = plan.AMD64 },
			want: []want{{plan.Error, "pi-1", "boards[0].model",
				[]string{"model amd64 means an amd64 image", "the board is arm64 (Raspberry Pi Ltd Raspberry Pi 4 Model B Rev 1.4)", "boot-loops", "set boards[0].model to rpi4"}}},
		},
		{
			name: "arm64 model for an amd64 board",
			edit: func(p *plan.Plan) { p.Boards[1].Model = plan.ARM64 },
			want: []want{{plan.Error, "gw", "boards[1].model", []string{"model arm64 means an arm64 image", "the board is amd64 (Intel NUC 11)", "set boards[1].model to amd64"}}},
		},
		{
			name: "a Raspberry Pi planned as generic arm64",
			edit: func(p *plan.Plan) { p.Boards[0].Model = plan.ARM64 },
			want: []want{{plan.Error, "pi-1", "boards[0].model", []string{"no Raspberry Pi overlay", "set boards[0].model to rpi4", "rpi_generic overlay", TalosPiGuide}}},
		},
		{
			name: "a Raspberry Pi 5 on its SD card needs no EEPROM warning",
			edit: func(p *plan.Plan) { p.Boards[0].Model = plan.RPi5 },
			found: func(f map[string]discover.Board) {
				b := pi(sd)
				b.Product = "Raspberry Pi Ltd Raspberry Pi 5 Model B Rev 1.0"
				f["pi-1"] = b
			},
		},
		{
			name: "a Raspberry Pi 5 keeps its SD card: the NVMe is for data, not for Talos",
			edit: func(p *plan.Plan) { p.Boards[0].Model = plan.RPi5 },
			found: func(f map[string]discover.Board) {
				b := pi(sd, nvm)
				b.Product = "Raspberry Pi Ltd Raspberry Pi 5 Model B Rev 1.0"
				f["pi-1"] = b
			},
			want: []want{{plan.Warning, "pi-1", "boards[0].installDisk",
				[]string{"/dev/nvme0n1 (512 GB nvme) is free", "keep Talos on /dev/mmcblk0", "boots only from its SD card or eMMC", "EPHEMERAL", EphemeralDoc}}},
		},
		{
			name: "a Pi 5 planned as a Pi 4 gets the wrong overlay",
			found: func(f map[string]discover.Board) {
				b := pi(sd)
				b.Product = "Raspberry Pi Ltd Raspberry Pi 5 Model B Rev 1.0"
				f["pi-1"] = b
			},
			want: []want{{plan.Error, "pi-1", "boards[0].model",
				[]string{"model rpi4 means the rpi_generic overlay", "boots only the rpi_5 overlay", "set boards[0].model to rpi5", Pi5OverlayDoc}}},
		},
		{
			name: "a CM5 planned as generic arm64",
			edit: func(p *plan.Plan) { p.Boards[0].Model = plan.ARM64 },
			found: func(f map[string]discover.Board) {
				b := pi(sd)
				b.Product = "raspberrypi Raspberry Pi Compute Module 5 Rev 1.0"
				f["pi-1"] = b
			},
			want: []want{{plan.Error, "pi-1", "boards[0].model", []string{"no Raspberry Pi overlay", "set boards[0].model to cm5", "the rpi_5 overlay"}}},
		},
		{
			name: "a CM4 planned as a Pi 4 boots the same image",
			found: func(f map[string]discover.Board) {
				b := pi(sd)
				b.Product = "raspberrypi Raspberry Pi Compute Module 4 Rev 1.0"
				f["pi-1"] = b
			},
		},
		{
			name:  "a CM4 to boot from NVMe: its EEPROM's boot order",
			edit:  func(p *plan.Plan) { p.Boards[0].Model, p.Boards[0].InstallDisk = plan.CM4, "/dev/nvme0n1" },
			found: func(f map[string]discover.Board) { f["pi-1"] = pi(sd, nvm) },
			want:  []want{{plan.Warning, "pi-1", "boards[].model", []string{"Compute Module 4", "BOOT_ORDER", "rpi-eeprom-config"}}},
		},
		{
			name: "the plan installs elsewhere than the disk Talos booted from",
			edit: func(p *plan.Plan) { p.Boards[0].InstallDisk = "/dev/sda" },
			found: func(f map[string]discover.Board) {
				b := pi(sd, ssd)
				b.SystemDisk = "/dev/mmcblk0"
				f["pi-1"] = b
			},
			want: []want{
				{plan.Warning, "pi-1", "boards[0].installDisk", []string{"booted Talos from /dev/mmcblk0", "META", "does not install to /dev/sda", "write the role's disk image"}},
				{plan.Warning, "pi-1", "boards[].model", []string{"2020-09-03"}},
			},
		},
		{
			name:  "a board that did not answer",
			found: func(f map[string]discover.Board) { delete(f, "gw") },
			want:  []want{{plan.Warning, "gw", "boards[1].address", []string{"no board answered at 192.168.1.12"}}},
		},
		{
			name:  "node on Talos 1.11 given a 1.13 config",
			found: func(f map[string]discover.Board) { b := nuc(); b.TalosVersion = "v1.11.5"; f["gw"] = b },
			want: []want{{plan.Error, "gw", "cluster.talosVersion",
				[]string{"runs Talos v1.11.5", "written for v1.13", "HostnameConfig", "refuses the config", "boot the board from a v1.13 image", "set cluster.talosVersion to v1.11.5"}}},
		},
		{
			name:  "node on Talos 1.12 given a 1.13 config",
			found: func(f map[string]discover.Board) { b := nuc(); b.TalosVersion = "v1.12.6"; f["gw"] = b },
			want:  []want{{plan.Warning, "gw", "cluster.talosVersion", []string{"fields added after v1.12", "may refuse"}}},
		},
		{
			name:  "node newer than the config is fine",
			edit:  func(p *plan.Plan) { p.Cluster.TalosVersion = "v1.12.6"; p.Cluster.KubernetesVersion = "v1.35.0" },
			found: func(f map[string]discover.Board) {},
		},
		{
			name:  "node newer than liftoff's machinery",
			found: func(f map[string]discover.Board) { b := nuc(); b.TalosVersion = "v1.14.0"; f["gw"] = b },
			want: []want{{plan.Warning, "gw", "boards[1].address",
				[]string{"runs Talos v1.14.0, newer than liftoff's Talos machinery v1.13.3", "unknown to liftoff", "machinery v1.14 or newer"}}},
		},
		{
			name: "plan newer than liftoff's machinery",
			edit: func(p *plan.Plan) { p.Cluster.TalosVersion = "v1.14.0" },
			want: []want{{plan.Error, "", "cluster.talosVersion", []string{"asks for Talos v1.14.0", "machinery is v1.13.3", "a v1.13 release"}}},
		},
		{
			name:      "an older machinery than the plan",
			machinery: "v1.12.0",
			edit:      func(p *plan.Plan) { p.Cluster.TalosVersion = "v1.12.6"; p.Cluster.KubernetesVersion = "v1.35.0" },
			found: func(f map[string]discover.Board) {
				for _, n := range []string{"pi-1", "gw"} {
					b := f[n]
					b.TalosVersion = "v1.12.6"
					f[n] = b
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := plan.Parse([]byte(lab))
			if err != nil {
				t.Fatal(err)
			}

			if tc.edit != nil {
				tc.edit(p)
			}

			found := map[string]discover.Board{"pi-1": pi(sd), "gw": nuc()}
			if tc.found != nil {
				tc.found(found)
			}

			machinery := tc.machinery
			if machinery == "" {
				machinery = "v1.13.3"
			}

			got := Check(p, found, nil, machinery)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tc.want), lines(got))
			}

			for i, w := range tc.want {
				g := got[i]
				if g.Severity != w.sev || g.Board != w.board || g.Field != w.field {
					t.Errorf("problem %d: %v %q %q, want %v %q %q", i, g.Severity, g.Board, g.Field, w.sev, w.board, w.field)
				}

				for _, word := range w.words {
					if !strings.Contains(g.Message+" — "+g.Fix, word) {
						t.Errorf("problem %d lacks %q: %s", i, word, g)
					}
				}
			}
		})
	}
}

func TestPiModelsGroupedInOneWarning(t *testing.T) {
	p, err := plan.Parse([]byte(lab + "  - {name: pi-2, address: 192.168.1.13, model: rpi4, installDisk: /dev/sda, machine: worker, role: compute}\n" +
		"  - {name: pi-3, address: 192.168.1.14, model: rpi4, installDisk: /dev/sda, machine: worker, role: compute}\n" +
		"  - {name: pi-5, address: 192.168.1.15, model: rpi5, machine: worker, role: compute}\n"))
	if err != nil {
		t.Fatal(err)
	}

	got := Check(p, nil, nil, "v1.13.3").Warnings()

	var pi4 []plan.Problem

	for _, w := range got {
		if strings.Contains(w.Message, "Raspberry Pi 4") {
			pi4 = append(pi4, w)
		}

		if strings.Contains(w.Message, "Raspberry Pi 5") || strings.Contains(w.Board, "pi-5") && strings.Contains(w.Message, "EEPROM") {
			t.Errorf("a Pi 5 on its SD card got an EEPROM warning: %s", w)
		}
	}

	if len(pi4) != 1 || pi4[0].Board != "pi-2, pi-3" {
		t.Errorf("want one Pi 4 warning naming pi-2, pi-3:\n%s", lines(got))
	}
}

func TestPiGuidePerOverlay(t *testing.T) {
	for model, want := range map[string]string{plan.RPi4: TalosPiGuide, plan.CM4: TalosPiGuide, plan.RPi5: Pi5OverlayDoc, plan.CM5: Pi5OverlayDoc, plan.AMD64: ""} {
		if got := PiGuide(model); got != want {
			t.Errorf("%s: %q, want %q", model, got, want)
		}
	}
}

func TestMachineryVersion(t *testing.T) {
	if v := MachineryVersion(); !strings.HasPrefix(v, "v1.") {
		t.Errorf("machinery version %q", v)
	}
}

func lines(ps plan.Problems) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String() + "\n")
	}

	return b.String()
}

// Item 8 of issue 21: a board that was asked and did not answer fails
// preflight, with the reason — it was not checked, so nothing passed.
func TestUnansweredBoardsFailPreflight(t *testing.T) {
	p, err := plan.Parse([]byte(`
cluster: {name: lab}
tailscale: {disabled: true}
boards:
  - {name: cp, address: 192.168.1.11, model: rpi4, machine: controlplane, role: compute}
`))
	if err != nil {
		t.Fatal(err)
	}

	got := Check(p, nil, map[string]string{"cp": "nothing answers on the port yet"}, "v1.13.3")

	errs := got.Errors()
	if len(errs) != 1 || errs[0].Board != "cp" || !strings.Contains(errs[0].Message, "no board answered at 192.168.1.11") ||
		!strings.Contains(errs[0].Message, "nothing answers on the port yet") || errs[0].Fix == "" {
		t.Errorf("%v", got)
	}
}

// A Pi whose card runs another role's image is told that apply alone
// leaves it there, and that the bring-up upgrades it; one running its
// role's image, and an ISO board, are not.
func TestCardImage(t *testing.T) {
	p, err := plan.Parse([]byte(strings.Replace(lab, "model: amd64, machine: worker, role: gateway", "model: rpi4, machine: worker, role: gateway", 1)))
	if err != nil {
		t.Fatal(err)
	}

	b, _ := p.Board("gw")
	b.Role = plan.Compute

	compute, err := image.For(p, b)
	if err != nil {
		t.Fatal(err)
	}

	gateway, _ := p.Board("gw")

	own, err := image.For(p, gateway)
	if err != nil {
		t.Fatal(err)
	}

	card := func(id string) discover.Board {
		d := pi(sd)
		d.Address, d.Schematic, d.Extensions = "192.168.1.12", id, []string{"drbd", "spin", "zfs"}

		return d
	}

	probs := Check(p, map[string]discover.Board{"pi-1": pi(sd), "gw": card(compute.SchematicID)}, nil, "v1.13.3")

	var got []plan.Problem

	for _, pr := range probs {
		if pr.Field == "boards[1].role" {
			got = append(got, pr)
		}
	}

	if len(got) != 1 || got[0].Severity != plan.Warning || !strings.Contains(got[0].Message, "Talos installs nothing on a board booted from its card") ||
		!strings.Contains(got[0].Fix, "liftoff up upgrades gw to "+own.Installer) || !strings.Contains(got[0].Fix, own.DiskImage) {
		t.Errorf("a gateway whose card runs the compute image: %v", got)
	}

	for _, pr := range Check(p, map[string]discover.Board{"pi-1": pi(sd), "gw": card(own.SchematicID)}, nil, "v1.13.3") {
		if pr.Field == "boards[1].role" {
			t.Errorf("a card with the role's image: %v", pr)
		}
	}

	iso := nuc()
	iso.Schematic = compute.SchematicID

	for _, pr := range Check(mustParse(t, lab), map[string]discover.Board{"pi-1": pi(sd), "gw": iso}, nil, "v1.13.3") {
		if strings.HasSuffix(pr.Field, ".role") {
			t.Errorf("an ISO board installs its config's installer, no card warning: %v", pr)
		}
	}
}

func mustParse(t *testing.T, s string) *plan.Plan {
	t.Helper()

	p, err := plan.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}

	return p
}
