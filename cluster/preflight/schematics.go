package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/liftoff-lab/liftoff/cluster/factory"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// Schematics asks the plan's Image Factory whether it knows the schematic
// of each board's installer (GET /schematics/{id}). An unknown one is a
// warning, not an error: liftoff up registers it before it applies. A
// factory that does not answer is a warning too, saying what that means.
func Schematics(ctx context.Context, p *plan.Plan) plan.Problems {
	c, err := factory.New(p.Images.Factory)
	if err != nil {
		return plan.Problems{{Severity: plan.Error, Field: "images.factory", Message: err.Error(), Fix: "write a host or a URL with no path"}}
	}

	var (
		out   plan.Problems
		asked = map[string]bool{}
	)

	for _, b := range p.Boards {
		im, err := image.For(p, b)
		if err != nil || im.SchematicID == "" || asked[im.SchematicID] {
			continue // a self-built image: no factory involved
		}

		asked[im.SchematicID] = true

		known, err := c.Known(ctx, im.SchematicID)

		switch {
		case err != nil:
			return append(out, plan.Problem{Severity: plan.Warning, Field: "images.factory",
				Message: fmt.Sprintf("could not ask whether the factory knows the installers' schematics: %v", err),
				Fix:     "liftoff up registers them before it applies and needs the factory then, unless it confirmed them before (" + factory.MemoryFile + " in --out)"})
		case !known:
			out = append(out, plan.Problem{Severity: plan.Warning, Board: strings.Join(boardsWith(p, im.SchematicID), ", "), Field: "images.factory",
				Message: fmt.Sprintf("the image factory %s does not know schematic %s (%s) yet: it serves the installer and disk image only once it is registered", c.URL(), im.SchematicID[:12], im.Key()),
				Fix:     "liftoff images --register (liftoff up registers it before it applies)"})
		}
	}

	return out
}

func boardsWith(p *plan.Plan, id string) []string {
	var out []string

	for _, b := range p.Boards {
		if im, err := image.For(p, b); err == nil && im.SchematicID == id {
			out = append(out, b.Name)
		}
	}

	return out
}
