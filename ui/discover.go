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

		m.sel = m.addFound(v, "", true)
		m.say(busy, "asking "+v+" what it is")
		b, ctx := m.o.Backend, m.ctx

		return operation(ctx, OpScan, "", func(report func(Progress)) (string, error) { return "", b.Discover(ctx, v, report) })
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
