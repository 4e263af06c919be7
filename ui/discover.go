package ui

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// discoverScreen is the first step: the scan target, how far the scan
// is, and the boards found or added by hand, one selected.
type discoverScreen struct {
	found    []found
	target   string
	scan     Progress
	scanning bool
	sel      int
}

func (s *discoverScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{with(k.Enter, "scan / continue"), k.Edit, k.Add, k.Help, k.Quit},
		[]key.Binding{k.Up, k.Down, k.Media, k.Remove}
}

// found is a board the scan found (or the person added), before it has a
// place in the plan.
type found struct {
	addr, info  string
	name, model string
	manual      bool
}

// addFound keeps the list in address order: a scan answers in whatever
// order boards reply, and a list that reshuffles is hard to read.
func (s *discoverScreen) addFound(addr, info string, manual bool) int {
	for i := range s.found {
		if s.found[i].addr == addr {
			if info != "" {
				s.found[i].info, s.found[i].model = info, guessModel(info)
			}

			return i
		}
	}

	i, _ := slices.BinarySearchFunc(s.found, addr, func(f found, a string) int { return compareAddr(f.addr, a) })
	s.found = slices.Insert(s.found, i, found{addr: addr, info: info, model: guessModel(info), manual: manual})

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
	m.input = &lineInput{label: "scan (CIDR or addresses)", value: m.discover.target, done: m.startScan}
}

func (m *Model) startScan(target string) tea.Cmd {
	if target == "" {
		m.say(warn, "give a CIDR like 192.168.1.0/24 or addresses separated by commas ("+keyName(m.keys.Edit)+" edits)")

		return nil
	}

	m.discover.target, m.discover.scanning, m.discover.scan = target, true, Progress{Op: OpScan}
	m.say(busy, "scanning "+target+" for Talos in maintenance mode")
	b, ctx := m.o.Backend, m.ctx

	return operation(ctx, OpScan, "", func(report func(Progress)) (string, error) { return "", b.Discover(ctx, target, report) })
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

		m.discover.sel = m.discover.addFound(v, "", true)
		m.say(busy, "asking "+v+" what it is")
		b, ctx := m.o.Backend, m.ctx

		return operation(ctx, OpScan, "", func(report func(Progress)) (string, error) { return "", b.Discover(ctx, v, report) })
	}}
}

func (s *discoverScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Edit):
		m.editTarget()
	case key.Matches(k, m.keys.Add):
		m.addByHand()
	case key.Matches(k, m.keys.Media):
		return m.toMedia()
	case key.Matches(k, m.keys.Up):
		s.sel = max(0, s.sel-1)
	case key.Matches(k, m.keys.Down):
		s.sel = min(max(0, len(s.found)-1), s.sel+1)
	case key.Matches(k, m.keys.Remove):
		if s.sel < len(s.found) {
			s.found = slices.Delete(s.found, s.sel, s.sel+1)
			s.sel = max(0, min(s.sel, len(s.found)-1))
		}
	case key.Matches(k, m.keys.Enter):
		if len(s.found) == 0 {
			m.editTarget()

			return nil
		}

		return m.toRoles()
	}

	return nil
}

func (s *discoverScreen) view(m *Model, w, h int) string {
	t, k := m.theme, m.keys
	lines := []string{t.Title.Render("Find the boards")}
	lines = append(lines, wrapStyled(t.Dim, "liftoff looks for boards booted into Talos maintenance mode (they listen on port 50000).", w)...)
	lines = append(lines, "", "target  "+probe.OrDash(s.target))

	switch p := s.scan; {
	case s.scanning && p.Total > 0:
		label := fmt.Sprintf(" %d/%d addresses", p.Done, p.Total)
		lines = append(lines, "scan    "+t.Busy.Render(bar(float64(p.Done)/float64(p.Total), max(4, min(40, w-8-len(label)))))+label)
	case s.scanning:
		lines = append(lines, "scan    "+t.Busy.Render("… starting"))
	case p.Finished && p.Err != nil:
		lines = append(lines, "scan    "+t.Bad.Render("✗ "+p.Err.Error()))
	case p.Finished:
		lines = append(lines, "scan    "+t.Good.Render(fmt.Sprintf("✓ done: %d addresses tried", p.Total)))
	}

	lines = append(lines, "", t.Title.Render(fmt.Sprintf("Boards (%d)", len(s.found))))

	if len(s.found) == 0 {
		lines = append(lines, t.Dim.Render("  none yet — "+keyName(k.Enter)+" scans the target, "+keyName(k.Add)+" adds a board by address"))
	}

	for i, f := range s.found {
		info := f.info
		if info == "" {
			info = t.Dim.Render("added by hand · not answering yet")
		}

		mark := "  "
		if i == s.sel {
			mark = "▸ "
		}

		row := indent(mark+pad(f.addr, 15)+" ", labelled(info), w)
		if i == s.sel {
			row[0] = t.Selected.Render(ansiStrip(row[0]))
		}

		lines = append(lines, row...)
	}

	if len(s.found) > 0 {
		lines = append(lines, "", t.Dim.Render(keyName(k.Enter)+": give them roles · "+keyName(k.Add)+": add a board the scan missed · "+keyName(k.Remove)+": leave one out"))
	}

	if _, ok := m.mediaBackend(); ok && len(m.plan.Boards) > 0 {
		lines = append(lines, "", t.Dim.Render("Boards not booted yet? "+keyName(k.Media)+": prepare boot media — write each one's role image to its SD card"))
	}

	return strings.Join(lines, "\n")
}

// disksOf lists the disk paths discovery saw on a board ("disks /dev/sda
// 256 GB, /dev/mmcblk0 32 GB" in its summary).
func (s *discoverScreen) disksOf(addr string) []string {
	for _, f := range s.found {
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
