package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// watchdogSlack is how much longer than its timing a board may stay in a
// stage before the lab calls it a fault of its own: three times, plus a
// moment for a busy machine.
const (
	watchdogFactor = 3
	watchdogGrace  = 2 * time.Second
)

// watchdog reports, once per stall, a board that stays in one stage far
// longer than its timing allows and is not in a wait Talos itself would be
// in (board.StageReport.Waiting): the simulation has stalled, which a real
// board never does. It runs until ctx ends.
func (l *Lab) watchdog(ctx context.Context, emit func(probe.Event)) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()

	reported := map[*board.Board]time.Time{}

	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}

		for i, b := range l.Peers() {
			r := b.Report()
			limit := watchdogFactor*r.Allowed + watchdogGrace

			if r.Allowed == 0 || r.Waiting != "" || r.Since.IsZero() || time.Since(r.Since) < limit || reported[b].Equal(r.Since) {
				continue
			}

			reported[b] = r.Since
			name := l.plan.Boards[i].Name
			detail := fmt.Sprintf("%s has been %s for %s while its timing allows %s (×%g): the simulated board stopped moving and says nothing of why",
				name, r.Stage, time.Since(r.Since).Round(100*time.Millisecond), r.Allowed.Round(100*time.Millisecond), l.opts.Speed)

			fmt.Fprintf(l.opts.Log, "lab fault: %s\n", detail)
			emit(probe.Event{Time: time.Now(), Node: name, Kind: probe.LabFault, State: r.Stage, Detail: detail})
		}
	}
}
