package ui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/repair"
	"github.com/liftoff-lab/liftoff/probe"
)

// fixView is the troubleshoot view's repair: previewed (the backend
// prepared it), confirmed, then running until the board is Ready.
type fixView struct {
	repair  probe.Repair
	job     *repair.Job
	err     error
	loading bool
	running bool
	cancel  context.CancelFunc // stops it while it runs
}

// startFix previews the focused board's first repair: the backend prepares
// it (the exact command, the diff) in a command; nothing runs yet.
func (m *Model) startFix(n *probe.Node) tea.Cmd {
	if m.fix != nil && m.fix.running {
		m.say(warn, "a repair is running on "+m.fix.repair.Node+": "+keyName(m.keys.CancelFix)+" cancels it")

		return nil
	}

	d, ok := probe.FirstRepair(m.lab, n, m.now)
	if !ok {
		m.say(idle, "liftoff has no repair to run for "+n.Name+": follow the fix shown")

		return nil
	}

	if m.o.Backend == nil {
		m.say(warn, "repairs run on a live lab (liftoff up, liftoff sim), not in a replay: "+d.Repair.Command)

		return nil
	}

	r := *d.Repair
	m.fix = &fixView{repair: r, loading: true}
	m.troubleshoot.scroll = 0
	be, ctx := m.o.Backend, m.ctx

	return func() tea.Msg {
		job, err := be.PrepareRepair(ctx, r)

		return repairPreparedMsg{job: job, err: err}
	}
}

func (m *Model) onRepairPrepared(msg repairPreparedMsg) {
	if m.fix == nil || m.fix.running {
		return
	}

	m.fix.job, m.fix.err, m.fix.loading = msg.job, msg.err, false

	if msg.err != nil {
		m.say(bad, "the repair cannot run: "+msg.err.Error())

		return
	}

	job := msg.job

	leave := func() { m.fix = nil }

	m.ask("Run it: "+job.Repair.Title+"?", func() tea.Cmd {
		if job.Confirm == "" {
			return m.runFix(job)
		}

		// A reset wipes the board: a second question names it and its disk.
		m.ask("Sure? "+job.Confirm, func() tea.Cmd { return m.runFix(job) })
		m.confirm.no = leave

		return nil
	})
	m.confirm.no = leave
}

func (m *Model) runFix(job *repair.Job) tea.Cmd {
	ctx, cancel := context.WithCancel(m.ctx)
	m.fix.cancel = cancel
	m.fix.running = true
	m.say(busy, "repairing "+job.Board.Name+": "+job.Repair.Title+" — "+keyName(m.keys.CancelFix)+" cancels until it reboots")

	be := m.o.Backend

	return await(OpRepair, job.Board.Name, func() error { return be.Repair(ctx, job) })
}

func (m *Model) onRepairProgress(p Progress) {
	if !p.Finished {
		return
	}

	if m.fix != nil && m.fix.cancel != nil {
		m.fix.cancel()
		m.fix.cancel = nil
	}

	if m.fix != nil {
		m.fix.running = false
	}

	if p.Err != nil {
		m.say(bad, "repair of "+p.Node+" stopped: "+p.Err.Error())

		return
	}

	m.fix = nil
	m.say(good, "repair done: "+p.Node+" is Ready")
}

// cancelRepair stops the running repair (the board carries on with what
// it was already told).
func (m *Model) cancelRepair() {
	if m.fix != nil && m.fix.cancel != nil {
		m.fix.cancel()
		m.say(warn, "cancelling the repair of "+m.fix.repair.Node)
	}
}

// fixPreview is what the repair will do, for its confirmation: the
// board, what happens to it, the equivalent command, reboot and time, and
// the diff of a re-applied config.
func (m *Model) fixPreview(w int) []string {
	t, f, k := m.theme, m.fix, m.keys
	r := f.repair

	out := []string{t.Title.Render("Repair: " + r.Title), ""}
	out = append(out, indent("  What     ", r.Does, w)...)

	switch {
	case f.loading:
		return append(out, "", t.Busy.Render("… preparing: regenerating the config and reading what "+r.Node+" runs"))
	case f.err != nil:
		return append(out, "", t.Bad.Render("✗ it cannot run: ")+f.err.Error(), "", t.Dim.Render(keyName(k.Back)+" goes back"))
	}

	j := f.job
	reboots := "no: Talos applies it live"

	if r.Reboots {
		reboots = "yes"
	}

	out = append(out, indent("  Command  ", j.Command, w)...)
	out = append(out, indent("  Reboots  ", reboots, w)...)

	if d := r.Takes(); d > 0 {
		var parts []string

		for _, st := range r.Stages {
			if b, ok := probe.StageBudget(st); ok {
				parts = append(parts, st.String()+" "+dur(b.Typical))
			}
		}

		out = append(out, indent("  Takes    ", "about "+dur(d)+" (usually "+strings.Join(parts, ", ")+")", w)...)
	}

	for i, s := range j.Manual {
		out = append(out, indent(fmt.Sprintf("  Step %d   ", i+1), s, w)...)
	}

	if j.Against != "" {
		out = append(out, "", t.Dim.Render(fmt.Sprintf("  Diff against %s: +%d −%d (secrets redacted)", j.Against, j.Plus, j.Minus)))
	}

	for _, l := range strings.Split(j.Diff, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "+"):
			out = append(out, t.Good.Render("  "+l))
		case strings.HasPrefix(l, "-"):
			out = append(out, t.Bad.Render("  "+l))
		default:
			out = append(out, t.Dim.Render("  "+l))
		}
	}

	return append(out, "", t.Dim.Render(keyName(k.Yes)+" runs it on "+r.Node+" only · "+keyName(k.No)+" or "+keyName(k.Back)+" leaves it"))
}
