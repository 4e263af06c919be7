// Package ui is liftoff's terminal interface: the wizard that takes boards
// from maintenance mode to a cluster, the live dashboard and the
// troubleshoot view. It does no I/O: a Backend does, and everything the
// boards say arrives as probe events on a channel, folded into a probe.Lab.
// So a recorded stream replays into the very same screens.
package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// Screen is one step of the wizard or one view of the cluster.
type Screen int

// Screens, in wizard order.
const (
	ScreenDiscover Screen = iota
	ScreenRoles
	ScreenReview
	ScreenApply
	ScreenBootstrap
	ScreenKubeconfig
	ScreenDashboard
	ScreenTroubleshoot
	ScreenTimeline
	// ScreenMedia is "prepare boot media", offered by the discover step
	// for the plan's boards (key b): before they first boot.
	ScreenMedia
)

var stepNames = []string{"discover", "roles", "review", "apply", "bootstrap", "kubeconfig"}

// Options configure a Model. Everything is optional except Events for a
// useful screen.
type Options struct {
	// Backend does the wizard's I/O; nil makes a watch-only dashboard
	// (replay, rehearsal, or an existing cluster).
	Backend Backend
	// Events is everything the probes see; closing it marks the stream ended.
	Events <-chan probe.Event
	// Background is the progress of work the wizard did not start and
	// cannot stop, such as liftoff sim building its control plane
	// (OpTools); nil when there is none.
	Background <-chan Progress
	// Plan resumes a saved plan (its boards, machine types and roles).
	Plan *plan.Plan
	// Cluster names a new plan's cluster (default "homelab").
	Cluster string
	// Target is the scan target the discover step offers, e.g. 192.168.1.0/24.
	Target string
	// Start is the first screen (default: discover, or the dashboard without a Backend).
	Start Screen
	// Theme defaults to DefaultTheme; see ThemeByName.
	Theme Theme
	// Clock is read on every tick and event, never while drawing; tests fix it.
	Clock func() time.Time
	// Still stops the model's own clock tick: time moves only when the
	// driver sends ClockTick (stills and animations rendered frame by
	// frame).
	Still bool
	// Context bounds what the wizard starts in the backend.
	Context context.Context
	// Speed is how much faster than real boards the lab runs (liftoff
	// sim's --speed, or a recording of it): the timeline's expectations
	// shrink by it. 0 or 1: real boards.
	Speed float64
	// Factory is the plan's Image Factory (images.factory) when set: a
	// --factory flag, or the simulated lab's own.
	Factory string
	// Written are the boards whose boot media liftoff wrote (liftoff
	// flash's record in the lab directory): a board found at one of their
	// addresses takes its name, model and role.
	Written []Written
}

// ClockTick moves the model's clock to Options.Clock's time, as its own
// tick does, without scheduling another: for drivers that step a fixed
// clock frame by frame (the screenshot renderer's animation).
type ClockTick struct{}

// Model is the whole interface, a tea.Model. It keeps what the screens
// share: the options, the plan, the Lab the events fold into, the size,
// theme and clock, the status line, the board focused on the board views,
// and the operations that outlive the screen that started them. Each
// screen's own state is its own type (discoverScreen in discover.go,
// rolesScreen in roles.go, …) behind the screen interface.
type Model struct {
	o     Options
	theme Theme
	ink   *inks // the theme as escape codes, made once per frame
	keys  keyMap
	help  help.Model
	ctx   context.Context

	lab  *probe.Lab
	plan *plan.Plan
	save planSave

	screen Screen
	w, h   int
	now    time.Time
	colour bool
	ended  bool

	notice     string
	noticeTone tone
	tools      Progress // the simulated control plane's build, if any (OpTools)
	showHelp   bool
	confirm    *confirm
	input      *lineInput

	// The board views (apply, bootstrap, dashboard, troubleshoot,
	// timeline) share the board focused, the / filter and the activity.
	focus  int
	filter string
	feed   activityFeed

	// Operations that run on when their screen is left.
	bringup bringup   // the apply and the bootstrap
	fix     *fixView  // troubleshoot's repair: previewed, confirmed, running
	move    *moveView // moving the gateway: previewed, confirmed, running

	// Each screen's own state. apply, bootstrap and the dashboard have
	// none of their own: they draw the shared boards.
	discover     discoverScreen
	roles        rolesScreen
	review       reviewScreen
	kubeconfig   kubeconfigScreen
	troubleshoot troubleshootScreen
	timeline     timelineScreen
	media        mediaScreen
}

// screen is what the Model asks of the screen showing: its answer to a
// key, its picture in w×h cells, and the keys it offers (the footer's
// short list first, the rest for the help). Each is given the Model for
// the state the screens share.
type screen interface {
	update(m *Model, k tea.KeyPressMsg) tea.Cmd
	view(m *Model, w, h int) string
	keys(m *Model) (short, extra []key.Binding)
}

// current is the screen showing.
func (m *Model) current() screen {
	switch m.screen {
	case ScreenDiscover:
		return &m.discover
	case ScreenRoles:
		return &m.roles
	case ScreenReview:
		return &m.review
	case ScreenApply:
		return applyScreen{}
	case ScreenBootstrap:
		return bootstrapScreen{}
	case ScreenKubeconfig:
		return &m.kubeconfig
	case ScreenTroubleshoot:
		return &m.troubleshoot
	case ScreenTimeline:
		return &m.timeline
	case ScreenMedia:
		return &m.media
	}

	return dashboardScreen{}
}

// planSave is the wizard saving the plan as it is made (savePlan).
type planSave struct {
	said   string // "✓ plan saved" or "✗ plan not saved", for the header
	saving bool   // a save is in flight
	again  bool   // the plan changed during it
}

type confirm struct {
	question string
	yes      func() tea.Cmd
	no       func() // nil: nothing to undo
}

// New builds the model; run it with tea.NewProgram(ui.New(opts)).
func New(o Options) *Model {
	if o.Theme.Name == "" {
		o.Theme = DefaultTheme()
	}

	if o.Clock == nil {
		o.Clock = time.Now
	}

	if o.Context == nil {
		o.Context = context.Background()
	}

	if o.Cluster == "" {
		o.Cluster = "homelab"
	}

	m := &Model{
		o:      o,
		theme:  o.Theme,
		keys:   newKeys(),
		help:   help.New(),
		ctx:    o.Context,
		lab:    probe.NewLab(),
		screen: o.Start,
		now:    o.Clock(),
		colour: true,
	}

	m.discover.target = o.Target

	m.help.Styles = m.theme.helpStyles()

	if o.Plan != nil {
		m.plan = clonePlan(o.Plan)
	} else {
		m.plan = &plan.Plan{Cluster: plan.Cluster{Name: o.Cluster}}
	}

	if o.Factory != "" {
		m.plan.Images.Factory = o.Factory
	}

	m.plan.Default()

	for _, b := range m.plan.Boards {
		m.discover.found = append(m.discover.found, found{addr: b.Address, info: "from the saved plan", name: b.Name, model: b.Model})
	}

	if o.Backend == nil && m.screen < ScreenDashboard {
		m.screen = ScreenDashboard
	}

	if m.screen >= ScreenApply {
		m.foldPlanned()
	}

	if m.screen == ScreenDiscover {
		m.editTarget()
	}

	if o.Plan != nil && len(o.Plan.Boards) > 0 && m.screen == ScreenRoles {
		m.say(idle, fmt.Sprintf("resumed the saved plan (%s): check the roles, %s to scan again", plural(len(o.Plan.Boards), "board", "boards"), keyName(m.keys.Back)))
	}

	return m
}

// Init starts listening to the event stream and the clock.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{waitEvents(m.o.Events), m.tick()}
	if m.o.Background != nil {
		cmds = append(cmds, waitProgress(m.o.Background))
	}

	return tea.Batch(cmds...)
}

// Lab is the picture the screens draw (for tests and for cmd to inspect on exit).
func (m *Model) Lab() *probe.Lab { return m.lab }

// Plan is the plan as the wizard left it.
func (m *Model) Plan() *plan.Plan { return clonePlan(m.plan) }

// Screen is the screen showing.
func (m *Model) Screen() Screen { return m.screen }

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
	case tea.ColorProfileMsg:
		m.colour = msg.Profile > colorprofile.ASCII
	case tickMsg:
		m.now = m.clock()

		return m, m.tick()
	case ClockTick:
		m.now = m.clock()
	case Events:
		m.fold(msg)

		return m, waitEvents(m.o.Events)
	case eventsEndedMsg:
		m.ended = true
	case progressMsg:
		m.onProgress(msg.Progress)

		return m, waitProgress(msg.from)
	case Progress:
		m.onProgress(msg)
	case planSavedMsg:
		m.save.said, m.save.saving = "✓ plan saved", false
		if msg.err != nil {
			m.save.said = "✗ plan not saved"
			m.say(bad, "the plan could not be saved: "+msg.err.Error())
		}

		if m.save.again {
			m.save.again = false

			return m, m.savePlan()
		}
	case kubeconfigMsg:
		m.onKubeconfig(msg)
	case repairPreparedMsg:
		m.onRepairPrepared(msg)
	case movePreparedMsg:
		m.onMovePrepared(msg)
	case mediaMsg:
		m.onMedia(msg)
	case previewMsg:
		m.review.previews, m.review.previewErr, m.review.previewing, m.review.preflight = msg.previews, msg.err, false, msg.checks
	case tea.KeyPressMsg:
		return m, m.onKey(msg)
	}

	return m, nil
}

// clock never goes backwards past the newest event: a replay or a board
// with a fast clock still gets sensible "for 3m" figures.
func (m *Model) clock() time.Time {
	now := m.o.Clock()
	if now.Before(m.lab.Last) {
		return m.lab.Last
	}

	return now
}

func (m *Model) fold(evs []probe.Event) {
	for _, e := range evs {
		m.record(e) // before Apply: it compares with the previous answer
		m.lab.Apply(e)

		if e.Kind == probe.Discovered {
			m.discover.addFound(e.Node, e.Detail, false)
		}
	}

	m.now = m.clock()

	if m.screen == ScreenBootstrap && m.bootstrapped() {
		m.bringup.bootstrapping = false
		m.screen = ScreenKubeconfig
		m.kubeconfig.sel = 0
		m.say(good, "etcd is bootstrapped: Kubernetes is coming up")
	}
}

// foldPlanned tells the Lab what the plan wants of each board, so role
// rules (tailscale only on the gateway) work before the backend says so.
func (m *Model) foldPlanned() {
	by, install := m.plan.AwaitsCNI()

	for _, b := range m.plan.Boards {
		m.lab.Apply(probe.Event{
			Time: m.now, Node: b.Name, Kind: probe.Planned, State: b.Machine, Name: b.Role,
			Detail: strings.Join(image.Extensions(m.plan, b.Role), " "),
		})
		m.lab.Apply(probe.Event{Time: m.now, Node: b.Name, Kind: probe.Hardware, Name: b.Model, State: plan.Overlay(b.Model)})

		if by != "" {
			m.lab.Apply(probe.Event{Time: m.now, Node: b.Name, Kind: probe.AwaitsCNI, Name: by, Detail: install})
		}
	}
}

func (m *Model) onProgress(p Progress) {
	switch p.Op {
	case OpScan:
		m.discover.scan = p
		m.discover.scanning = !p.Finished

		if p.Err != nil {
			m.say(bad, "scan failed: "+p.Err.Error())
		} else if p.Finished {
			m.say(good, "scan done: "+plural(p.Total, "address", "addresses")+" tried")
		}
	case OpApply:
		if p.Finished && !m.bringup.applying {
			break // cancelled: the person was told so
		}

		if p.Err != nil {
			m.say(bad, "apply failed: "+p.Err.Error())
		}

		if p.Finished {
			m.bringup.applying = false

			if p.Err == nil {
				m.say(good, "every board has its config; watch them install and reboot")
			}
		}
	case OpRegister:
		m.review.register = p

		switch {
		case p.Err != nil:
			m.review.registering = false
			m.say(bad, "the schematics are not registered: "+p.Err.Error()+" — "+keyName(m.keys.Enter)+" tries again")
		case p.Finished:
			m.review.registering = false
			m.say(good, "each role's schematic is registered — "+keyName(m.keys.Enter)+" applies the configs")
		case p.Step != "":
			m.review.registered = append(m.review.registered, p.Step)
		}
	case OpRepair:
		m.onRepairProgress(p)
	case OpMove:
		m.onMoveProgress(p)
	case OpFlash:
		m.onFlash(p)
	case OpTools:
		m.tools = p

		switch {
		case p.Err != nil:
			m.say(bad, p.Err.Error())
		case p.Finished:
			m.say(good, "the control plane is built: the bootstrap starts it")
		}
	case OpBootstrap:
		if p.Err != nil {
			m.bringup.bootstrapping = false
			m.bringup.bootErr = p.Err.Error()
			m.say(bad, "bootstrap failed: "+p.Err.Error()+" — "+keyName(m.keys.Retry)+" retries")
		} else if p.Step != "" {
			m.say(busy, p.Step)
		}
	}
}

func (m *Model) say(t tone, s string) { m.notice, m.noticeTone = s, t }

func (m *Model) busy() bool {
	return m.bringup.applying || m.bringup.bootstrapping || m.fix != nil && m.fix.running || m.media.flashing || m.move != nil && m.move.running
}

func (m *Model) quit() tea.Cmd {
	if m.bringup.cancel != nil {
		m.bringup.cancel()
	}

	if m.fix != nil && m.fix.cancel != nil {
		m.fix.cancel()
	}

	if m.move != nil && m.move.cancel != nil {
		m.move.cancel()
	}

	if m.media.cancel != nil {
		m.media.cancel() // a write stopped leaves the card's first MiB zeroed
	}

	return tea.Quit
}

func (m *Model) ask(question string, yes func() tea.Cmd) {
	m.confirm = &confirm{question: question, yes: yes}
}

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	// ctrl+c quits from anywhere, even a prompt; q only where it is not text.
	if key.Matches(k, m.keys.Interrupt) {
		if m.busy() && m.confirm == nil {
			m.askQuit()

			return nil
		}

		return m.quit()
	}

	switch {
	case m.confirm != nil:
		c := m.confirm

		switch {
		case key.Matches(k, m.keys.Yes):
			m.confirm = nil

			return c.yes()
		case key.Matches(k, m.keys.No):
			m.confirm = nil

			if c.no != nil {
				c.no()
			}
		}

		return nil
	case m.input != nil:
		return m.onInput(k)
	case m.showHelp:
		m.showHelp = !key.Matches(k, m.keys.Help, m.keys.Back, m.keys.Quit)

		return nil
	}

	switch {
	case key.Matches(k, m.keys.Help):
		m.showHelp = true

		return nil
	case key.Matches(k, m.keys.Quit):
		if m.busy() {
			m.askQuit()

			return nil
		}

		return m.quit()
	}

	return m.current().update(m, k)
}

func (m *Model) askQuit() {
	what := "applying configs"

	switch {
	case m.bringup.bootstrapping:
		what = "bootstrapping"
	case m.fix != nil && m.fix.running:
		what = "repairing " + m.fix.repair.Node
	case m.media.flashing:
		what = "writing a boot medium (it is left unbootable)"
	}

	m.ask("Quit while "+what+"? The boards carry on; start liftoff again with the same --dir to resume from the saved plan.", m.quit)
}

// View draws the current screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.frame())
	v.AltScreen = true
	v.WindowTitle = "liftoff · " + m.plan.Cluster.Name

	if m.theme.Background != nil && m.colour {
		v.BackgroundColor, v.ForegroundColor = m.theme.Background, m.theme.Foreground
	}

	return v
}

func (m *Model) frame() string {
	m.ink = newInks(m.theme)
	w, h := m.w, m.h
	if w <= 0 || h <= 0 {
		w, h = 80, 24
	}

	header := m.header(w)
	footer := m.footer(w)
	bodyH := max(1, h-2-1)

	var body string

	if m.showHelp {
		body = m.helpView(w)
	} else {
		body = m.current().view(m, w, bodyH)
	}

	lines := strings.Split(body, "\n")
	for len(lines) < bodyH {
		lines = append(lines, "")
	}

	return fit(header+"\n"+strings.Join(lines[:bodyH], "\n")+"\n"+footer, w, h)
}

// header: the product, the cluster, where we are, and the clock.
func (m *Model) header(w int) string {
	t := m.theme
	left := t.Accent.Render("liftoff") + " " + t.Title.Render(m.plan.Cluster.Name)

	var mid string

	if m.screen <= ScreenKubeconfig || m.screen == ScreenMedia {
		mid = m.stepper(w - lipWidth(left) - 2)
	} else {
		mid = m.summary()
	}

	right := m.now.Format("15:04:05")

	switch {
	case m.ended:
		right = "■ ended " + right
	case m.o.Events != nil, m.o.Still: // a still is a frame of a live run
		right = "● live " + right
	}

	if m.save.said != "" && m.screen <= ScreenReview {
		// The plan is saved as it is made: say so while it is being made.
		right = m.save.said + " · " + right
	}

	if m.tools.Op != "" && !m.tools.Finished {
		right = toolsBuilding(m.tools) + " · " + right
	}

	right = t.Dim.Render(right)
	gap := w - lipWidth(left) - lipWidth(mid) - lipWidth(right) - 2

	if gap < 1 {
		return left + "  " + mid
	}

	return left + "  " + mid + strings.Repeat(" ", gap) + right
}

// toolsBuilding is the control plane's build in a few words: the header's
// corner has room for little, and the bootstrap step says the rest.
func toolsBuilding(p Progress) string {
	if p.Total == 0 {
		return "building " + p.Step + "…"
	}

	return "building " + p.Step + " " + itoa(min(99, p.Done*100/p.Total)) + "%"
}

// stepper shows the wizard's steps, the current one marked ▸ and bold.
func (m *Model) stepper(w int) string {
	names, cur := stepNames, int(m.screen)
	if m.screen == ScreenMedia {
		names, cur = append([]string{"boot media"}, stepNames...), 0
	}

	full := ""

	for i, s := range names {
		if i > 0 {
			full += " › "
		}

		if i == cur {
			full += "▸" + s
		} else {
			full += s
		}
	}

	if lipWidth(full) > w {
		return m.theme.Title.Render("▸ step " + itoa(cur+1) + "/" + itoa(len(names)) + " " + names[cur])
	}

	var parts []string

	for i, s := range names {
		switch {
		case i == cur:
			parts = append(parts, m.theme.Accent.Render("▸"+s))
		case i < cur:
			parts = append(parts, m.theme.Text.Render(s))
		default:
			parts = append(parts, m.theme.Dim.Render(s))
		}
	}

	return strings.Join(parts, m.theme.Dim.Render(" › "))
}

// footer: one status line (question, input, notice) and the key help.
func (m *Model) footer(w int) string {
	t := m.theme

	var status string

	switch {
	case m.confirm != nil:
		status = t.Warn.Render("? "+m.confirm.question) + "  " + t.Key.Render(keyName(m.keys.Yes)) + " yes  " + t.Key.Render(keyName(m.keys.No)) + " no"
	case m.input != nil:
		status = t.Key.Render(m.input.label+": ") + m.input.value + "█"
	case m.notice != "":
		icon := map[tone]string{good: "✓", bad: "✗", warn: "!", busy: "…", idle: "·"}[m.noticeTone]
		status = t.tone(m.noticeTone).Render(icon + " " + m.notice)
	case m.filter != "" && m.screen >= ScreenDashboard:
		status = t.Dim.Render("filter: ") + m.filter + t.Dim.Render("  ("+keyName(m.keys.Filter)+" to change, "+keyName(m.keys.Back)+" to clear)")
	}

	return pad(status, w) + "\n" + m.help.View(m.screenKeys())
}
