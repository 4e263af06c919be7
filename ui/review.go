package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/probe"
)

// reviewScreen is the third step: what each board gets (image,
// extensions, config and its diff), the schematics' registration with the
// Image Factory, and what the boards say against the plan.
type reviewScreen struct {
	scroll   int
	showDiff bool // each board's config diff in full (d)

	previews   []config.Preview // the config diffs
	previewErr error
	previewing bool
	preflight  plan.Problems // what the boards said of themselves against the plan

	registering bool
	registered  []string // one line per schematic
	register    Progress // the last one
}

func (s *reviewScreen) keys(m *Model) (short, extra []key.Binding) {
	k := m.keys

	return []key.Binding{with(k.Enter, "apply"), k.Diff, with(k.Up, "scroll"), k.Back, k.Help, k.Quit},
		[]key.Binding{k.Down, k.PageUp, k.PageDown}
}

func (s *reviewScreen) update(m *Model, k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Up):
		s.scroll = max(0, s.scroll-1)
	case key.Matches(k, m.keys.Down):
		s.scroll++
	case key.Matches(k, m.keys.PageDown):
		s.scroll += 10
	case key.Matches(k, m.keys.PageUp):
		s.scroll = max(0, s.scroll-10)
	case key.Matches(k, m.keys.Diff):
		s.showDiff, s.scroll = !s.showDiff, 0
	case key.Matches(k, m.keys.Back):
		m.screen = ScreenRoles
	case key.Matches(k, m.keys.Enter):
		switch {
		case s.registering:
			m.say(busy, "registering the schematics with the Image Factory first")

			return nil
		case s.register.Err != nil:
			return m.registerSchematics()
		}

		return m.startApply()
	}

	return nil
}

// registerSchematics asks the backend to register the plan's schematics:
// the factory serves no installer for a schematic it does not know.
func (m *Model) registerSchematics() tea.Cmd {
	if m.o.Backend == nil {
		return nil
	}

	m.review.registering, m.review.registered, m.review.register = true, nil, Progress{Op: OpRegister}
	b, ctx, p := m.o.Backend, m.ctx, clonePlan(m.plan)

	return operation(ctx, OpRegister, "", func(report func(Progress)) (string, error) { return "", b.Register(ctx, p, report) })
}

// registerLines is the review's Image Factory step: each schematic as it
// registers, then one line for them all.
func (s *reviewScreen) registerLines(m *Model, w int) []string {
	t := m.theme
	head := t.Title.Render("Image Factory") + "  " + t.Dim.Render(probe.OrDash(m.plan.Images.Factory))

	if m.plan.Images.Custom != "" {
		return []string{head, t.Dim.Render("  self-built images (images.custom): nothing to register"), ""}
	}

	lines := []string{head}

	styled := func(style lipgloss.Style, label, text string) {
		for _, l := range indent(label, text, w) {
			lines = append(lines, style.Render(l))
		}
	}

	switch r := s.register; {
	case r.Err != nil:
		styled(t.Bad, "  ✗ ", r.Err.Error()+" — "+keyName(m.keys.Enter)+" tries again")
	case s.registering:
		for _, l := range s.registered {
			lines = append(lines, indent("  ✓ ", l, w)...)
		}

		lines = append(lines, t.Busy.Render(fmt.Sprintf("  … registering each role's schematic %d/%d", r.Done, r.Total)))
	case r.Finished:
		var keys []string
		for _, l := range s.registered {
			keys = append(keys, strings.Fields(l)[0])
		}

		styled(t.Good, "  ✓ ", fmt.Sprintf("the factory knows every schematic (%s): it serves their installers and disk images", strings.Join(keys, ", ")))
	}

	return append(lines, "")
}

// preview asks the backend for each board's config diff, off the UI loop.
func (m *Model) preview() tea.Cmd {
	if m.o.Backend == nil {
		return nil
	}

	m.review.previews, m.review.previewErr, m.review.previewing = nil, nil, true
	b, ctx, p := m.o.Backend, m.ctx, clonePlan(m.plan)

	return func() tea.Msg {
		pv, err := b.Preview(ctx, p)

		return previewMsg{previews: pv, err: err, checks: b.Preflight(ctx, p)}
	}
}

// diffLines is one board's config diff for the review: a summary line, and
// the diff itself when d is on.
func (s *reviewScreen) diffLines(t Theme, board string, w int) []string {
	switch {
	case s.previewing:
		return []string{"  diff       " + t.Busy.Render("… generating")}
	case s.previewErr != nil:
		return wrapStyled(t.Bad, "  diff       ✗ "+s.previewErr.Error(), w)
	}

	for _, pv := range s.previews {
		if pv.Board != board {
			continue
		}

		out := indent("  diff       ", fmt.Sprintf("+%d -%d lines against %s", pv.Plus, pv.Minus, pv.Against), w)
		if !s.showDiff {
			return out
		}

		if pv.Diff == "" {
			return append(out, t.Dim.Render("             (no change)"))
		}

		for _, l := range strings.Split(pv.Diff, "\n") {
			style := t.Dim

			switch {
			case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"), strings.HasPrefix(l, "@@"):
			case strings.HasPrefix(l, "+"):
				style = t.Good
			case strings.HasPrefix(l, "-"):
				style = t.Bad
			}

			out = append(out, style.Render(ansi.Truncate("    "+l, w, "…")))
		}

		return out
	}

	return nil
}

func (s *reviewScreen) view(m *Model, w, h int) string {
	t := m.theme
	p := m.plan
	top := []string{t.Title.Render("Review: what each board gets")}
	top = append(top, wrapStyled(t.Dim, fmt.Sprintf("Talos %s · Kubernetes %s · API %s · pods %s · services %s",
		p.Cluster.TalosVersion, p.Cluster.KubernetesVersion, probe.OrDash(p.EndpointURL()), p.Network.PodCIDR, p.Network.ServiceCIDR), w)...)
	top = append(top, "")

	lines := s.registerLines(m, w)

	idW := 12
	if w >= 140 {
		idW = 64 // a projector shows the whole schematic ID
	}

	for _, b := range p.Boards {
		lines = append(lines, t.Title.Render(b.Name)+"  "+b.Address+"  "+t.Dim.Render(b.Model+" · "+b.Machine+" · ")+m.roleWord(b.Role))

		im, err := image.For(p, b)
		if err != nil {
			lines = append(lines, wrapStyled(t.Bad, "  ✗ no image: "+err.Error(), w)...)

			continue
		}

		lines = append(lines, indent("  image      ", im.Key()+" · "+orNot(im.SchematicID != "", "schematic "+short(im.SchematicID, idW), "custom image"), w)...)
		lines = append(lines, indent("  extensions ", strings.Join(im.Extensions, " "), w)...)
		lines = append(lines, indent("  modules    ", moduleSummary(im.Extensions), w)...)
		lines = append(lines, indent("  installer  ", strings.Replace(im.Installer, im.SchematicID, short(im.SchematicID, idW), 1), w)...)
		lines = append(lines, indent("  config     ", configSummary(p, b), w)...)
		lines = append(lines, s.diffLines(t, b.Name, w)...)
		lines = append(lines, "")
	}

	lines = append(lines, m.problemLines(w)...)

	if len(s.preflight) > 0 {
		lines = append(lines, "", t.Title.Render("What the boards say"))

		for _, pr := range s.preflight.Errors() {
			lines = append(lines, wrapStyled(t.Bad, "✗ "+pr.String(), w)...)
		}

		for _, pr := range s.preflight.Warnings() {
			lines = append(lines, wrapStyled(t.Warn, "! "+pr.String(), w)...)
		}
	}

	k := m.keys
	lines = append(lines, "", t.Accent.Render(fmt.Sprintf("%s applies these configs to %s · %s %s the diffs · %s goes back",
		keyName(k.Enter), plural(len(p.Boards), "board", "boards"), keyName(k.Diff), orNot(s.showDiff, "hides", "shows"), keyName(k.Back))))

	return strings.Join(top, "\n") + "\n" + m.scrolled(lines, h-len(top), &s.scroll)
}

func (m *Model) roleWord(role string) string {
	if role == plan.Gateway {
		return m.theme.Accent.Render("◆ gateway")
	}

	return role
}

// configSummary is the machine config in one sentence: what a person
// would check before applying it.
func configSummary(p *plan.Plan, b plan.Board) string {
	parts := []string{"hostname " + b.Name, "install to " + b.InstallDisk}

	if b.Machine == plan.ControlPlane {
		parts = append(parts, "control plane (etcd, API server)")
		if p.Cluster.VIP != "" {
			parts = append(parts, "shares VIP "+p.Cluster.VIP+" on "+b.Link)
		}
	} else {
		parts = append(parts, "worker joining "+p.EndpointURL())
	}

	if b.Role == plan.Gateway {
		parts = append(parts, fmt.Sprintf("Tailscale subnet router %s advertising %s and %s", p.Tailscale.Hostname, p.Network.PodCIDR, p.Network.ServiceCIDR))
	}

	return strings.Join(parts, " · ")
}

// moduleSummary is what the config's machine.kernel.modules loads for the
// image's extensions: Talos loads no extension module by itself.
func moduleSummary(extensions []string) string {
	var names []string
	for _, m := range plan.ModulesFor(extensions) {
		names = append(names, m.String())
	}

	if len(names) == 0 {
		return "none (no extension needs one)"
	}

	return strings.Join(names, " · ")
}

func orNot(ok bool, yes, no string) string {
	if ok {
		return yes
	}

	return no
}
