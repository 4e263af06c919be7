package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

func (m *Model) reviewKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "up", "k":
		m.scroll = max(0, m.scroll-1)
	case "down", "j":
		m.scroll++
	case "pgdown", "space":
		m.scroll += 10
	case "pgup":
		m.scroll = max(0, m.scroll-10)
	case "esc":
		m.screen = ScreenRoles
	case "enter":
		return m.startApply()
	}

	return nil
}

func (m *Model) reviewView(w, h int) string {
	t := m.theme
	p := m.plan
	top := []string{t.Title.Render("Review: what each board gets")}
	top = append(top, wrapStyled(t.Dim, fmt.Sprintf("Talos %s · Kubernetes %s · API %s · pods %s · services %s",
		p.Cluster.TalosVersion, p.Cluster.KubernetesVersion, orDash(p.EndpointURL()), p.Network.PodCIDR, p.Network.ServiceCIDR), w)...)
	top = append(top, "")

	var lines []string

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
		lines = append(lines, indent("  installer  ", strings.Replace(im.Installer, im.SchematicID, short(im.SchematicID, idW), 1), w)...)
		lines = append(lines, indent("  config     ", configSummary(p, b), w)...)
		lines = append(lines, "")
	}

	lines = append(lines, m.problemLines(w)...)
	lines = append(lines, "", t.Accent.Render(fmt.Sprintf("enter applies these configs to %s · esc goes back", plural(len(p.Boards), "board", "boards"))))

	return strings.Join(top, "\n") + "\n" + m.scrolled(lines, h-len(top), &m.scroll)
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

func orNot(ok bool, yes, no string) string {
	if ok {
		return yes
	}

	return no
}
