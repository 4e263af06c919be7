package ui

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// found is a board the scan found (or the person added), before it has a
// place in the plan.
type found struct {
	addr, info  string
	name, model string
	manual      bool
}

// addFound keeps the list in address order: a scan answers in whatever
// order boards reply, and a list that reshuffles is hard to read.
func (m *Model) addFound(addr, info string, manual bool) int {
	for i := range m.found {
		if m.found[i].addr == addr {
			if info != "" {
				m.found[i].info, m.found[i].model = info, guessModel(info)
			}

			return i
		}
	}

	i, _ := slices.BinarySearchFunc(m.found, addr, func(f found, a string) int { return compareAddr(f.addr, a) })
	m.found = slices.Insert(m.found, i, found{addr: addr, info: info, model: guessModel(info), manual: manual})

	return i
}

// compareAddr orders IP addresses numerically, anything else after them.
func compareAddr(a, b string) int {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)

	switch {
	case errA == nil && errB == nil:
		return x.Compare(y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}

	return strings.Compare(a, b)
}

// labelled names the parts of a discovery summary ("rpi5 arm64 · v1.13.3
// · disks · MAC") for someone who has not seen one before.
func labelled(info string) string {
	p := strings.Split(info, " · ")
	if len(p) != 4 {
		return info
	}

	return p[0] + " · Talos " + p[1] + "\ndisks " + p[2] + " · MAC\u00a0" + p[3]
}

// guessModel reads the model from a discovery summary ("rpi5 arm64 · …");
// the person can still correct it in the plan.
func guessModel(info string) string {
	f := strings.Fields(info)
	if len(f) > 0 && slices.Contains(plan.Models, f[0]) {
		return f[0]
	}

	if strings.Contains(info, "amd64") {
		return plan.AMD64
	}

	return plan.ARM64
}

func (m *Model) editTarget() {
	m.input = &lineInput{label: "scan (CIDR or addresses)", value: m.target, done: m.startScan}
}

func (m *Model) startScan(target string) tea.Cmd {
	if target == "" {
		m.say(warn, "give a CIDR like 192.168.1.0/24 or addresses separated by commas (e edits)")

		return nil
	}

	m.target, m.scanning, m.scan = target, true, Progress{Op: OpScan}
	m.say(busy, "scanning "+target+" for Talos in maintenance mode")
	b, ctx := m.o.Backend, m.ctx

	return func() tea.Msg { b.Discover(ctx, target); return nil }
}

func (m *Model) addByHand() {
	m.input = &lineInput{label: "board address", done: func(v string) tea.Cmd {
		if v == "" {
			return nil
		}

		if _, err := netip.ParseAddr(v); err != nil {
			m.say(bad, fmt.Sprintf("%q is not an IP address: write it like 192.168.1.21", v))

			return nil
		}

		m.sel = m.addFound(v, "", true)
		m.say(busy, "asking "+v+" what it is")
		b, ctx := m.o.Backend, m.ctx

		return func() tea.Msg { b.Discover(ctx, v); return nil }
	}}
}

func (m *Model) discoverKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Edit):
		m.editTarget()
	case key.Matches(k, m.keys.Add):
		m.addByHand()
	case key.Matches(k, m.keys.Media):
		return m.toMedia()
	case key.Matches(k, m.keys.Up):
		m.sel = max(0, m.sel-1)
	case key.Matches(k, m.keys.Down):
		m.sel = min(max(0, len(m.found)-1), m.sel+1)
	case key.Matches(k, m.keys.Remove):
		if m.sel < len(m.found) {
			m.found = slices.Delete(m.found, m.sel, m.sel+1)
			m.sel = max(0, min(m.sel, len(m.found)-1))
		}
	case key.Matches(k, m.keys.Enter):
		if len(m.found) == 0 {
			m.editTarget()

			return nil
		}

		return m.toRoles()
	}

	return nil
}

func (m *Model) discoverView(w, h int) string {
	t := m.theme
	lines := []string{t.Title.Render("Find the boards")}
	lines = append(lines, wrapStyled(t.Dim, "liftoff looks for boards booted into Talos maintenance mode (they listen on port 50000).", w)...)
	lines = append(lines, "", "target  "+probe.OrDash(m.target))

	switch s := m.scan; {
	case m.scanning && s.Total > 0:
		label := fmt.Sprintf(" %d/%d addresses", s.Done, s.Total)
		lines = append(lines, "scan    "+t.Busy.Render(bar(float64(s.Done)/float64(s.Total), max(4, min(40, w-8-len(label)))))+label)
	case m.scanning:
		lines = append(lines, "scan    "+t.Busy.Render("… starting"))
	case s.Finished && s.Err != nil:
		lines = append(lines, "scan    "+t.Bad.Render("✗ "+s.Err.Error()))
	case s.Finished:
		lines = append(lines, "scan    "+t.Good.Render(fmt.Sprintf("✓ done: %d addresses tried", s.Total)))
	}

	lines = append(lines, "", t.Title.Render(fmt.Sprintf("Boards (%d)", len(m.found))))

	if len(m.found) == 0 {
		lines = append(lines, t.Dim.Render("  none yet — enter scans the target, a adds a board by address"))
	}

	for i, f := range m.found {
		info := f.info
		if info == "" {
			info = t.Dim.Render("added by hand · not answering yet")
		}

		mark := "  "
		if i == m.sel {
			mark = "▸ "
		}

		row := indent(mark+pad(f.addr, 15)+" ", labelled(info), w)
		if i == m.sel {
			row[0] = t.Selected.Render(ansiStrip(row[0]))
		}

		lines = append(lines, row...)
	}

	if len(m.found) > 0 {
		lines = append(lines, "", t.Dim.Render("enter: give them roles · a: add a board the scan missed · x: leave one out"))
	}

	if _, ok := m.mediaBackend(); ok && len(m.plan.Boards) > 0 {
		lines = append(lines, "", t.Dim.Render("Boards not booted yet? b: prepare boot media — write each one's role image to its SD card"))
	}

	return strings.Join(lines, "\n")
}

// disksOf lists the disk paths discovery saw on a board ("disks /dev/sda
// 256 GB, /dev/mmcblk0 32 GB" in its summary).
func (m *Model) disksOf(addr string) []string {
	for _, f := range m.found {
		if f.addr != addr {
			continue
		}

		p := strings.Split(f.info, " · ")
		if len(p) != 4 {
			return nil
		}

		var out []string

		for d := range strings.SplitSeq(p[2], ", ") {
			if path, _, ok := strings.Cut(strings.TrimSpace(d), " "); ok && strings.HasPrefix(path, "/dev/") {
				out = append(out, path)
			}
		}

		return out
	}

	return nil
}

// toRoles turns the boards found into plan boards: new ones get a name, a
// machine type (the first board a control plane) and the compute role.
func (m *Model) toRoles() tea.Cmd {
	keep := m.plan.Boards[:0]

	for _, b := range m.plan.Boards {
		if slices.ContainsFunc(m.found, func(f found) bool { return f.addr == b.Address }) {
			keep = append(keep, b)
		}
	}

	m.plan.Boards = keep

	for _, f := range m.found {
		if slices.ContainsFunc(m.plan.Boards, func(b plan.Board) bool { return b.Address == f.addr }) {
			continue
		}

		machine := plan.Worker
		if len(m.plan.ControlPlanes()) == 0 {
			machine = plan.ControlPlane
		}

		b := plan.Board{Name: m.newName(f), Address: f.addr, Model: f.model, Machine: machine, Role: plan.Compute}

		// Its card was written for a board of a plan: that board it is.
		if i := slices.IndexFunc(m.o.Written, func(w Written) bool { return w.Address == f.addr }); i >= 0 && f.name == "" {
			w := m.o.Written[i]
			if _, taken := m.plan.Board(w.Board); !taken {
				b.Name = w.Board
			}

			b.Model, b.Role = w.Model, w.Role
			if w.Machine != "" {
				b.Machine = w.Machine
			}
		}

		m.plan.Boards = append(m.plan.Boards, b)
	}

	m.plan.Default()
	m.screen, m.sel = ScreenRoles, 0
	m.say(idle, "pick each board's machine type and role; exactly one board is the gateway")

	return m.savePlan()
}

func (m *Model) newName(f found) string {
	if f.name != "" {
		return f.name
	}

	prefix := "node"
	if plan.IsRaspberryPi(f.model) {
		prefix = "pi"
	}

	for i := 1; ; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if _, taken := m.plan.Board(name); !taken {
			return name
		}
	}
}

// savePlan saves the plan in a command, one save at a time: commands run
// concurrently, and an older plan must never land after a newer one. A
// change during a save is saved when it ends.
func (m *Model) savePlan() tea.Cmd {
	if m.o.Backend == nil {
		return nil
	}

	if m.saving {
		m.saveAgain = true

		return nil
	}

	m.saving = true
	b, p := m.o.Backend, clonePlan(m.plan)

	return func() tea.Msg { return planSavedMsg{err: b.SavePlan(p)} }
}

func (m *Model) rolesKey(k tea.KeyPressMsg) tea.Cmd {
	bs := m.plan.Boards
	if len(bs) == 0 {
		if key.Matches(k, m.keys.Back) {
			m.screen = ScreenDiscover
		}

		return nil
	}

	m.sel = min(m.sel, len(bs)-1)
	b := &bs[m.sel]

	switch {
	case key.Matches(k, m.keys.Up):
		m.sel = max(0, m.sel-1)
	case key.Matches(k, m.keys.Down):
		m.sel = min(len(bs)-1, m.sel+1)
	case key.Matches(k, m.keys.Machine, m.keys.ControlPlane, m.keys.Worker):
		switch {
		case key.Matches(k, m.keys.ControlPlane):
			b.Machine = plan.ControlPlane
		case key.Matches(k, m.keys.Worker):
			b.Machine = plan.Worker
		case b.Machine == plan.ControlPlane:
			b.Machine = plan.Worker
		default:
			b.Machine = plan.ControlPlane
		}

		m.say(idle, b.Name+" is now a "+b.Machine)

		return m.savePlan()
	case key.Matches(k, m.keys.Role, m.keys.Gateway):
		if b.Role == plan.Gateway && key.Matches(k, m.keys.Role) {
			b.Role = plan.Compute
			m.say(idle, b.Name+" is now compute: "+strings.Join(image.Extensions(m.plan, plan.Compute), " "))

			return m.savePlan()
		}

		return m.makeGateway(b)
	case key.Matches(k, m.keys.Model):
		// Discovery guesses the model; the person knows better (a CM4 in a
		// carrier board, a generic arm64 board).
		i := slices.Index(plan.Models, b.Model)
		b.Model = plan.Models[(i+1)%len(plan.Models)]
		b.InstallDisk = ""
		m.plan.Default()

		img := plan.Arch(b.Model) + " image"
		if o := plan.Overlay(b.Model); o != "" {
			img += " with the " + o + " overlay"
		}

		m.say(idle, b.Name+" is now model "+b.Model+": "+img+", installs to "+b.InstallDisk)

		return m.savePlan()
	case key.Matches(k, m.keys.Disk):
		disks := m.disksOf(b.Address)
		if len(disks) == 0 {
			m.say(warn, "discovery saw no disks on "+b.Name+": set installDisk in lab.yaml")

			return nil
		}

		// A Pi 5 / CM5 boots only from its SD card or eMMC: offer only those.
		if plan.BootsOnlyFromMMC(b.Model) {
			disks = slices.DeleteFunc(slices.Clone(disks), func(d string) bool { return !plan.IsMMC(d) })
			if len(disks) <= 1 {
				m.say(warn, b.Name+" stays on "+b.InstallDisk+": a "+b.Model+" boots Talos only from its SD card or eMMC "+
					"(the rpi_5 overlay's U-Boot cannot read NVMe or USB); use its other disks as data disks once Talos runs")

				return nil
			}
		}

		i := slices.Index(disks, b.InstallDisk)
		b.InstallDisk = disks[(i+1)%len(disks)]
		m.say(idle, b.Name+" installs to "+b.InstallDisk)

		return m.savePlan()
	case key.Matches(k, m.keys.Rename):
		old := b.Name
		m.input = &lineInput{label: "new name for " + old, value: old, done: func(v string) tea.Cmd {
			if v == "" || v == old {
				return nil
			}

			m.plan.Boards[m.sel].Name = v

			return m.savePlan()
		}}
	case key.Matches(k, m.keys.Enter):
		if errs := m.plan.Validate().Errors(); len(errs) > 0 {
			m.say(bad, "fix the plan first: "+errs[0].Message)

			return nil
		}

		m.screen, m.scroll = ScreenReview, 0
		m.say(idle, "check the images and configs (d shows each config's diff), then apply")

		return tea.Batch(m.preview(), m.registerSchematics())
	case key.Matches(k, m.keys.Back):
		m.screen = ScreenDiscover
	}

	return nil
}

// makeGateway enforces the founding rule as the person chooses: one
// gateway, because every node with tailscale is a subnet router.
func (m *Model) makeGateway(b *plan.Board) tea.Cmd {
	if b.Role == plan.Gateway {
		return nil
	}

	if gw, ok := m.plan.Gateway(); ok {
		m.say(bad, "refused: "+gw.Name+" is already the gateway — one subnet router per cluster")

		return nil
	}

	b.Role = plan.Gateway
	m.say(good, b.Name+" is the gateway: the cluster's one Tailscale subnet router")

	return m.savePlan()
}

func (m *Model) rolesView(w, h int) string {
	t := m.theme
	lines := []string{t.Title.Render("What does each board become?")}
	lines = append(lines, wrapStyled(t.Dim, "compute: "+strings.Join(image.Extensions(m.plan, plan.Compute), " ")+
		" · gateway: "+strings.Join(image.Extensions(m.plan, plan.Gateway), " ")+" — one gateway per cluster", w)...)
	lines = append(lines, "", t.Dim.Render("  "+pad("board", 10)+" "+pad("address", 15)+" "+pad("model", 6)+" "+pad("disk", 13)+" "+pad("machine", 13)+" role"))

	for i, b := range m.plan.Boards {
		mark := "  "
		if i == m.sel {
			mark = "▸ "
		}

		role := b.Role
		if role == plan.Gateway {
			role = "◆ gateway (subnet router)"
		}

		line := mark + pad(b.Name, 10) + " " + pad(b.Address, 15) + " " + pad(b.Model, 6) + " " + pad(b.InstallDisk, 13) + " " + pad(b.Machine, 13) + " " + role
		if i == m.sel {
			line = t.Selected.Render(ansiStrip(line))
		}

		lines = append(lines, line)
	}

	lines = append(lines, "")

	if gw, ok := m.plan.Gateway(); ok && strings.HasPrefix(m.notice, "refused:") {
		// The status line says what was refused; this says why.
		lines = append(lines, wrapStyled(t.Bad, "✗ one gateway per cluster: several routers fight over the same routes, and tailscale without its own config never becomes ready, so its node never does. To move the gateway, make "+gw.Name+" compute first (r on it).", w)...)
		lines = append(lines, "")
	}

	lines = append(lines, m.problemLines(w)...)

	return strings.Join(lines, "\n")
}

// problemLines is plan.Validate's verdict, errors then warnings.
func (m *Model) problemLines(w int) []string {
	t := m.theme
	ps := m.plan.Validate()

	if len(ps) == 0 {
		return []string{t.Good.Render("✓ the plan is valid")}
	}

	var out []string

	for _, p := range ps.Errors() {
		out = append(out, wrapStyled(t.Bad, "✗ "+p.String(), w)...)
	}

	for _, p := range ps.Warnings() {
		out = append(out, wrapStyled(t.Warn, "! "+p.String(), w)...)
	}

	return out
}
