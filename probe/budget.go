package probe

import "time"

// StageTime is what liftoff expects of one Talos stage: how long it usually
// takes, and how long before it counts as stuck. One table serves the
// dashboard's labels, Diagnose and the timeline.
type StageTime struct {
	// Typical is the usual duration, drawn faintly behind the stage on the
	// timeline so a slow one stands out: a Raspberry Pi 4 installing to a
	// decent SD card, the figures the simulated lab's boards are built to
	// (sim/board's PiTiming). Not a measurement of every model: liftoff has
	// no per-model figures, so every board gets these.
	Typical time.Duration
	// Stuck is when the stage counts as stuck. Generous: a Raspberry Pi on
	// a slow SD card is slow, not broken.
	Stuck time.Duration
}

var stageTimes = map[MachineStage]StageTime{
	StageInstalling: {Typical: 90 * time.Second, Stuck: 10 * time.Minute},
	StageRebooting:  {Typical: 40 * time.Second, Stuck: 5 * time.Minute},
	StageBooting:    {Typical: 30 * time.Second, Stuck: 5 * time.Minute},
}

// StageBudget is what liftoff expects of a stage; false for stages without
// an expectation (running, maintenance: they last as long as they last).
func StageBudget(stage MachineStage) (StageTime, bool) {
	st, ok := stageTimes[stage]

	return st, ok
}

// Stuck tells whether the node has been in its stage past the stage's
// budget at now, and what that budget is.
func (n *Node) Stuck(now time.Time) (time.Duration, bool) {
	st, ok := stageTimes[n.Stage]
	if !ok || n.StageSince.IsZero() || now.Sub(n.StageSince) < st.Stuck {
		return st.Stuck, false
	}

	return st.Stuck, true
}
