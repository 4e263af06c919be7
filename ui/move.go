package ui

import (
	"context"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/gateway"
	"github.com/liftoff-lab/liftoff/probe"
)

// moveView is moving the gateway to another board: previewed (the backend
// prepared it), confirmed, then running until the route answers through
// the new gateway. The troubleshoot view shows the preview in place of the
// board's details; the route panel shows the handover.
type moveView struct {
	to      string
	mv      *gateway.Move
	err     error
	loading bool
	running bool
	cancel  context.CancelFunc // stops it while it runs
}

// startMove previews making n the gateway; nothing runs yet.
func (m *Model) startMove(n *probe.Node) tea.Cmd {
	switch gw, ok := m.plan.Gateway(); {
	case m.move != nil && m.move.running:
		m.say(warn, "the gateway is moving to "+m.move.to+": "+keyName(m.keys.CancelFix)+" cancels it until a board reboots")

		return nil
	case m.fix != nil && m.fix.running:
		m.say(warn, "a repair is running on "+m.fix.repair.Node+": the gateway moves once it is done")

		return nil
	case !ok:
		m.say(warn, "the plan has no gateway to move (tailscale disabled)")

		return nil
	case gw.Name == n.Name:
		m.say(idle, n.Name+" is the gateway already: pick another board and press "+keyName(m.keys.MoveGateway))

		return nil
	case m.o.Backend == nil:
		m.say(warn, "the gateway moves on a live lab (liftoff up, liftoff sim), not in a replay: liftoff move-gateway "+n.Name)

		return nil
	}

	m.move = &moveView{to: n.Name, loading: true}
	m.fix = nil
	m.troubleshoot.scroll = 0
	m.screen = ScreenTroubleshoot
	be, ctx, to := m.o.Backend, m.ctx, n.Name

	return func() tea.Msg {
		mv, err := be.PrepareMove(ctx, to)

		return movePreparedMsg{mv: mv, err: err}
	}
}

func (m *Model) onMovePrepared(msg movePreparedMsg) {
	if m.move == nil || m.move.running {
		return
	}

	m.move.mv, m.move.err, m.move.loading = msg.mv, msg.err, false

	if msg.err != nil {
		m.say(bad, "the gateway cannot move: "+msg.err.Error())

		return
	}

	mv := msg.mv
	m.ask("Move the gateway from "+mv.From.Name+" to "+mv.To.Name+"?", func() tea.Cmd { return m.runMove(mv) })
	m.confirm.no = func() { m.move = nil }
}

func (m *Model) runMove(mv *gateway.Move) tea.Cmd {
	ctx, cancel := context.WithCancel(m.ctx)
	m.move.cancel = cancel
	m.move.running = true
	m.say(busy, "moving the gateway to "+mv.To.Name+" — "+keyName(m.keys.CancelFix)+" cancels until it reboots")

	be := m.o.Backend

	return await(OpMove, mv.To.Name, func() error { return be.MoveGateway(ctx, mv) })
}

func (m *Model) onMoveProgress(p Progress) {
	if !p.Finished {
		return
	}

	if m.move != nil && m.move.cancel != nil {
		m.move.cancel()
		m.move.cancel = nil
	}

	if p.Err != nil {
		if m.move != nil {
			m.move.running = false
		}

		m.say(bad, "moving the gateway stopped: "+p.Err.Error())

		return
	}

	if m.move != nil && m.move.mv != nil {
		m.plan = clonePlan(m.move.mv.Plan)
	}

	m.move = nil
	m.say(good, "the gateway moved: "+p.Node+" routes the cluster (the route panel shows the outage)")
}

// cancelMoving stops the move (a board already rebooting carries on).
func (m *Model) cancelMoving() bool {
	if m.move == nil || m.move.cancel == nil {
		return false
	}

	m.move.cancel()
	m.say(warn, "cancelling the move to "+m.move.to)

	return true
}

// movePreview is what the move will do, for its confirmation.
func (m *Model) movePreview(w int) []string {
	t, v, k := m.theme, m.move, m.keys

	out := []string{t.Title.Render("Make " + v.to + " the gateway"), ""}

	switch {
	case v.loading:
		return append(out, t.Busy.Render("… preparing: editing the plan, regenerating both configs from the secrets bundle"))
	case v.err != nil:
		return append(out, t.Bad.Render("✗ it cannot move: ")+v.err.Error(), "", t.Dim.Render(keyName(k.Back)+" goes back"))
	}

	mv := v.mv
	out = append(out, indent("  What     ", mv.Summary(), w)...)
	out = append(out, indent("  "+pad(mv.To.Name, max(8, len(mv.To.Name)))+" ", "→ gateway image "+mv.ToInstaller, w)...)
	out = append(out, indent("  "+pad(mv.From.Name, max(8, len(mv.From.Name)))+" ", "→ compute image "+mv.FromInstaller, w)...)
	out = append(out, indent("  Reboots  ", "both, once: "+mv.To.Name+" first, so the route fails over to it when "+mv.From.Name+" leaves", w)...)
	out = append(out, "", t.Dim.Render("  In this order (the talosctl equivalent):"))

	for i, s := range mv.Steps {
		out = append(out, indent("  "+string(rune('1'+i))+".      ", s, w)...)
	}

	diff := func(title, d string) {
		out = append(out, "", t.Dim.Render("  "+title))

		for _, l := range strings.Split(d, "\n") {
			switch {
			case l == "" || strings.HasPrefix(l, "---") || strings.HasPrefix(l, "+++"):
			case strings.HasPrefix(l, "+"):
				out = append(out, t.Good.Render("  "+l))
			case strings.HasPrefix(l, "-"):
				out = append(out, t.Bad.Render("  "+l))
			default:
				out = append(out, t.Dim.Render("  "+l))
			}
		}
	}

	diff("lab.yaml", mv.PlanDiff)
	diff(mv.To.Name+"'s config (secrets redacted)", mv.ConfigDiffs[mv.To.Name])
	diff(mv.From.Name+"'s config (secrets redacted)", mv.ConfigDiffs[mv.From.Name])

	return append(out, "", t.Dim.Render(keyName(k.Yes)+" moves it, touching "+mv.To.Name+" and "+mv.From.Name+" only · "+keyName(k.No)+" or "+keyName(k.Back)+" leaves it"))
}

// handoverLines are the route panel's account of the gateway moving.
func (m *Model) handoverLines(w int) []string {
	t, h := m.theme, m.lab.Handover
	if h.State == "" {
		return nil
	}

	switch h.State {
	case "done":
		return wrapStyled(t.Good, "✓ handover: "+h.To+" primary, "+h.From+" gone · outage "+latency(h.Outage), w)
	case "failed", "cancelled":
		return wrapStyled(t.Bad, "✗ gateway move "+h.From+" → "+h.To+" "+h.State+": "+h.Detail, w)
	case "standby":
		return wrapStyled(t.tone(busy), "… handover "+h.From+" → "+h.To+": "+h.To+" joins as a second router; "+h.From+" still primary", w)
	case "failover":
		return wrapStyled(t.tone(busy), "… handover "+h.From+" → "+h.To+": "+h.From+" leaves, its routes fail over", w)
	}

	return wrapStyled(t.tone(busy), "… handover "+h.From+" → "+h.To+": "+h.State, w)
}
