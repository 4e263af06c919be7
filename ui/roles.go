package ui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// rolesScreen is the second step: each board's machine type, role, model
// and install disk, one board selected. The boards are the plan's.
type rolesScreen struct {
	sel int
}

func (s *rolesScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{k.Machine, k.Role, k.Gateway, with(k.Enter, "review"), k.Help},
		[]key.Binding{k.ControlPlane, k.Worker, k.Rename, k.Model, k.Disk, k.Up, k.Down, k.Back}
}

// toRoles turns the boards found into plan boards: new ones get a name, a
// machine type (the first board a control plane) and the compute role.
func (m *Model) toRoles() tea.Cmd {
	keep := m.plan.Boards[:0]

	for _, b := range m.plan.Boards {
		if slices.ContainsFunc(m.discover.found, func(f found) bool { return f.addr == b.Address }) {
			keep = append(keep, b)
		}
	}

	m.plan.Boards = keep

	for _, f := range m.discover.found {
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
	m.screen, m.roles.sel = ScreenRoles, 0
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

	if m.save.saving {
		m.save.again = true

		return nil
	}

	m.save.saving = true
	b, p := m.o.Backend, clonePlan(m.plan)

	return func() tea.Msg { return planSavedMsg{err: b.SavePlan(p)} }
}

func (s *rolesScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	bs := m.plan.Boards
	if len(bs) == 0 {
		if key.Matches(k, m.keys.Back) {
			m.screen = ScreenDiscover
		}

		return nil
	}

	s.sel = min(s.sel, len(bs)-1)
	b := &bs[s.sel]

	switch {
	case key.Matches(k, m.keys.Up):
		s.sel = max(0, s.sel-1)
	case key.Matches(k, m.keys.Down):
		s.sel = min(len(bs)-1, s.sel+1)
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
		disks := m.discover.disksOf(b.Address)
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

			m.plan.Boards[s.sel].Name = v

			return m.savePlan()
		}}
	case key.Matches(k, m.keys.Enter):
		if errs := m.plan.Validate().Errors(); len(errs) > 0 {
			m.say(bad, "fix the plan first: "+errs[0].Message)

			return nil
		}

		m.screen, m.review.scroll = ScreenReview, 0
		m.say(idle, "check the images and configs ("+keyName(m.keys.Diff)+" shows each config's diff), then apply")

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

func (s *rolesScreen) view(m *Model, w, h int) string {
	t := m.theme
	lines := []string{t.Title.Render("What does each board become?")}
	lines = append(lines, wrapStyled(t.Dim, "compute: "+strings.Join(image.Extensions(m.plan, plan.Compute), " ")+
		" · gateway: "+strings.Join(image.Extensions(m.plan, plan.Gateway), " ")+" — one gateway per cluster", w)...)
	lines = append(lines, "", t.Dim.Render("  "+pad("board", 10)+" "+pad("address", 15)+" "+pad("model", 6)+" "+pad("disk", 13)+" "+pad("machine", 13)+" role"))

	for i, b := range m.plan.Boards {
		mark := "  "
		if i == s.sel {
			mark = "▸ "
		}

		role := b.Role
		if role == plan.Gateway {
			role = "◆ gateway (subnet router)"
		}

		line := mark + pad(b.Name, 10) + " " + pad(b.Address, 15) + " " + pad(b.Model, 6) + " " + pad(b.InstallDisk, 13) + " " + pad(b.Machine, 13) + " " + role
		if i == s.sel {
			line = t.Selected.Render(ansiStrip(line))
		}

		lines = append(lines, line)
	}

	lines = append(lines, "")

	if gw, ok := m.plan.Gateway(); ok && strings.HasPrefix(m.notice, "refused:") {
		// The status line says what was refused; this says why.
		lines = append(lines, wrapStyled(t.Bad, "✗ one gateway per cluster: several routers fight over the same routes, and tailscale without its own config never becomes ready, so its node never does. To move the gateway, make "+gw.Name+" compute first ("+keyName(m.keys.Role)+" on it).", w)...)
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
