package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/flash"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// MediaBackend writes boot media, the wizard's "prepare boot media"
// before discovery. It is optional: a Backend without it offers no such
// step. Like Backend's, its methods run in commands.
type MediaBackend interface {
	// Media lists the host's devices, offered or refused with the reason,
	// and each plan board's image and recorded medium. It runs in a command.
	Media(p *plan.Plan) (Media, error)
	// Flash writes board's image to device (a MediaDevice.Path),
	// reporting Progress{Op: OpFlash, Node: board, Step: phase, Done and
	// Total in bytes, Rate, ETA}; it returns what the medium now carries,
	// or why not (a cancelled ctx is reported as cancelled).
	Flash(ctx context.Context, p *plan.Plan, board, device string, report func(Progress)) (string, error)
}

// Written is a boot medium liftoff wrote, as the lab records it.
type Written struct {
	Board, Address, Model, Machine, Role string
}

// OpFlash is a boot medium being written.
const OpFlash Op = "flash"

// Media is what the boot-media step shows.
type Media struct {
	Devices []MediaDevice
	Boards  map[string]BoardMedium // by board name
}

// MediaDevice is one whole block device of the host.
type MediaDevice struct {
	Path, Name string
	Line       string // device, model, size, partitions
	Refusal    string // "" when it may be written
}

// BoardMedium is a plan board's image and what its medium carries.
type BoardMedium struct {
	Facts     []string // Talos version, overlay, extensions, schematic
	Carries   string   // "" when no medium was recorded
	FirstBoot []string
}

// mediaScreen is "prepare boot media", offered by the discover step: the
// plan's boards, the host's devices, and a write in progress. A write
// keeps the screen until it ends or esc cancels it.
type mediaScreen struct {
	info     *Media
	err      error
	sel, dev int // the board; the offered device
	flashing bool
	prog     Progress
	cancel   context.CancelFunc
	written  string // the board last written, for its first-boot steps
}

func (s *mediaScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys
	if s.flashing {
		return []key.Binding{with(k.Back, "cancel the write"), k.Help}, nil
	}

	return []key.Binding{with(k.Enter, "write"), k.Device, with(k.Up, "board"), k.Back, k.Again, k.Help},
		[]key.Binding{k.Down, k.Quit}
}

type mediaMsg struct {
	info Media
	err  error
}

func (m *Model) mediaBackend() (MediaBackend, bool) {
	mb, ok := m.o.Backend.(MediaBackend)

	return mb, ok
}

// toMedia opens the step, asking the backend for devices and records.
func (m *Model) toMedia() tea.Cmd {
	mb, ok := m.mediaBackend()
	if !ok {
		m.say(idle, "this backend cannot write boot media: use liftoff flash BOARD --device /dev/sdX")

		return nil
	}

	m.screen = ScreenMedia
	p := clonePlan(m.plan)

	return func() tea.Msg {
		info, err := mb.Media(p)

		return mediaMsg{info, err}
	}
}

func (m *Model) offered() []MediaDevice {
	if m.media.info == nil {
		return nil
	}

	var out []MediaDevice

	for _, d := range m.media.info.Devices {
		if d.Refusal == "" {
			out = append(out, d)
		}
	}

	return out
}

func (st *mediaScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	if st.flashing {
		if key.Matches(k, m.keys.Back) {
			st.cancel()
			m.say(busy, "cancelling the write…")
		}

		return nil
	}

	switch {
	case key.Matches(k, m.keys.Back):
		m.screen = ScreenDiscover
	case key.Matches(k, m.keys.Up):
		st.sel = max(0, st.sel-1)
	case key.Matches(k, m.keys.Down):
		st.sel = min(max(0, len(m.plan.Boards)-1), st.sel+1)
	case key.Matches(k, m.keys.Device):
		if n := len(m.offered()); n > 0 {
			st.dev = (st.dev + 1) % n
		}
	case key.Matches(k, m.keys.Again):
		return m.toMedia()
	case key.Matches(k, m.keys.Enter):
		return m.askFlash()
	}

	return nil
}

// askFlash asks for the device's name, typed, then starts the write.
func (m *Model) askFlash() tea.Cmd {
	devs := m.offered()
	if len(m.plan.Boards) == 0 || len(devs) == 0 {
		m.say(warn, "nothing to write to: put the SD card in a reader, then "+keyName(m.keys.Again)+" looks again")

		return nil
	}

	b := m.plan.Boards[m.media.sel]
	d := devs[min(m.media.dev, len(devs)-1)]
	mb, _ := m.mediaBackend()

	m.input = &lineInput{
		label: fmt.Sprintf("erases %s — type %s to write %s's %s image", d.Path, d.Name, b.Name, b.Role),
		done: func(v string) tea.Cmd {
			if v != d.Name && v != d.Path {
				m.say(warn, "not confirmed: nothing was written")

				return nil
			}

			ctx, cancel := context.WithCancel(m.ctx)
			m.media.cancel, m.media.flashing, m.media.written = cancel, true, ""
			m.media.prog = Progress{Op: OpFlash, Node: b.Name, Step: flash.PhaseDownload}
			m.say(busy, "writing "+b.Name+"'s image to "+d.Path+" — "+keyName(m.keys.Back)+" cancels")
			p := clonePlan(m.plan)

			return operation(m.ctx, OpFlash, b.Name, func(report func(Progress)) (string, error) {
				return mb.Flash(ctx, p, b.Name, d.Path, report)
			})
		},
	}

	return nil
}

func (m *Model) onMedia(msg mediaMsg) {
	m.media.info, m.media.err = &msg.info, msg.err
	if msg.err != nil {
		m.media.info = nil
	}
}

func (m *Model) onFlash(p Progress) {
	st := &m.media
	st.prog = p

	if !p.Finished {
		return
	}

	st.flashing = false
	if st.cancel != nil {
		st.cancel()
	}

	if p.Err != nil {
		m.say(bad, p.Node+": "+p.Err.Error())

		return
	}

	st.written = p.Node

	if st.info != nil {
		bm := st.info.Boards[p.Node]
		bm.Carries = p.Step
		st.info.Boards[p.Node] = bm
	}

	m.say(good, p.Node+"'s medium is written and verified — boot the board, then "+keyName(m.keys.Back)+" and scan")
}

func (st *mediaScreen) view(m *Model, w, h int) string {
	t := m.theme
	lines := []string{t.Title.Render("Prepare boot media")}
	lines = append(lines, wrapStyled(t.Dim, "Write each board's role image to its SD card before it first boots: a Pi booted from it counts as installed, so it runs the extensions on the card until an upgrade.", w)...)
	lines = append(lines, "")

	if len(m.plan.Boards) == 0 {
		return strings.Join(append(lines, t.Dim.Render("No boards in the plan yet: start with liftoff up --plan lab.yaml, or use liftoff flash BOARD.")), "\n")
	}

	for i, b := range m.plan.Boards {
		carries := t.Dim.Render("not written")

		if st.info != nil {
			if c := st.info.Boards[b.Name].Carries; c != "" {
				carries = t.Good.Render("✓ " + c)
			}
		}

		mark := "  "
		if i == st.sel {
			mark = "▸ "
		}

		row := mark + pad(b.Name, 12) + " " + pad(b.Model, 5) + " " + pad(b.Role, 8) + " " + carries
		if i == st.sel {
			row = t.Selected.Render(ansiStrip(row))
		}

		lines = append(lines, truncate(row, w))
	}

	switch {
	case st.err != nil:
		lines = append(lines, "", t.Bad.Render("✗ "+st.err.Error()))
	case st.info == nil:
		lines = append(lines, "", t.Busy.Render("… looking at the devices"))
	default:
		b := m.plan.Boards[min(st.sel, len(m.plan.Boards)-1)]
		bm := st.info.Boards[b.Name]
		lines = append(lines, "", t.Title.Render("Image for "+b.Name))

		for _, f := range bm.Facts {
			lines = append(lines, "  "+truncate(f, w-2))
		}

		lines = append(lines, "")
		lines = append(lines, st.deviceLines(m, w)...)

		if st.flashing || (st.prog.Finished && st.prog.Node == b.Name) {
			lines = append(lines, "", st.flashLine(t, w))

			if st.prog.Err != nil {
				lines = append(lines, wrapStyled(t.Bad, st.prog.Err.Error(), w)...)
			}
		}

		if st.written == b.Name {
			lines = append(lines, "", t.Title.Render("First boot"))
			for i, s := range bm.FirstBoot {
				lines = append(lines, indent(fmt.Sprintf("  %d. ", i+1), s, w)...)
			}
		}
	}

	return strings.Join(lines, "\n")
}

func (st *mediaScreen) deviceLines(m *Model, w int) []string {
	t := m.theme
	devs := m.offered()
	lines := []string{t.Title.Render("Devices")}

	cur := ""
	if len(devs) > 0 {
		cur = devs[min(st.dev, len(devs)-1)].Path
	}

	for _, d := range st.info.Devices {
		switch {
		case d.Refusal != "":
			lines = append(lines, truncate(t.Dim.Render("  ✗ "+d.Line), w))
			lines = append(lines, indent("      ", t.Warn.Render(d.Refusal), w)...)
		case d.Path == cur:
			lines = append(lines, truncate(t.Selected.Render("▸ "+d.Line), w))
		default:
			lines = append(lines, truncate("  "+d.Line, w))
		}
	}

	if len(devs) == 0 {
		lines = append(lines, t.Warn.Render("  no removable or USB disk to write: put the SD card in a reader, "+keyName(m.keys.Again)+" looks again"))
	}

	return lines
}

// flashLine is the write's progress: a bubbles progress bar, bytes, rate
// and time left.
func (st *mediaScreen) flashLine(t Theme, w int) string {
	p := st.prog

	label := fmt.Sprintf(" %s / %s", flash.Bytes(int64(p.Done)), flash.Bytes(int64(p.Total)))
	if p.Rate > 0 {
		label += fmt.Sprintf(" · %s/s", flash.Bytes(int64(p.Rate)))
	}

	if p.ETA > 0 {
		label += " · " + p.ETA.Round(time.Second).String() + " left"
	}

	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}

	switch {
	case p.Finished && p.Err != nil:
		return t.Bad.Render("✗ stopped") + " at" + label
	case p.Finished:
		return t.Good.Render("✓ written and verified") + " ·" + label
	}

	head := pad(p.Step, 9)

	bw := max(4, min(40, w-lipWidth(head)-lipWidth(label)-1))
	bar := progress.New(progress.WithWidth(bw), progress.WithoutPercentage(), progress.WithColors(t.Busy.GetForeground()))

	return head + bar.ViewAs(frac) + label
}

func truncate(s string, w int) string {
	if lipWidth(s) <= w {
		return s
	}

	return fit(s, w, 1)
}
