package main

import (
	"bytes"
	"fmt"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
	"github.com/liftoff-lab/liftoff/probe/svg"
)

// picture is what the HTML report's timeline is drawn from: a Lab folded
// from a watched bring-up, or note saying why there is none.
type picture struct {
	lab   *probe.Lab
	now   time.Time
	speed float64
	note  string
}

// recorded is the picture of a recording (--events).
func recorded(path string, speed float64) (picture, error) {
	events, err := readRecording(path)
	if err != nil {
		return picture{}, err
	}

	if len(events) == 0 {
		return picture{}, fmt.Errorf("--events %s holds no events: record a bring-up with liftoff up/sim --record FILE", path)
	}

	lab := probe.Fold(events)

	return picture{lab: lab, now: lab.Last, speed: speed}, nil
}

// timelineSVG draws the picture, or says why it cannot.
func (p picture) timelineSVG(title string) ([]byte, string) {
	if p.lab == nil || len(p.lab.Nodes) == 0 {
		return nil, orText(p.note, "No board was seen, so there is no timeline.")
	}

	watched := false

	for _, n := range p.lab.Nodes {
		if _, _, ok := n.TimelineBounds(p.now); ok {
			watched = true

			break
		}
	}

	if !watched && p.note != "" {
		return nil, p.note
	}

	return svg.Timeline(boards(p.lab), svg.Options{Now: p.now, Speed: p.speed, Title: title}), ""
}

// boards are the Lab's boards, without the addresses a scan saw before
// the boards had names.
func boards(lab *probe.Lab) []*probe.Node {
	var out []*probe.Node

	for _, n := range lab.Nodes {
		if n.Machine != "" || !n.AppliedAt.IsZero() {
			out = append(out, n)
		}
	}

	return out
}

func orText(s, fallback string) string {
	if s == "" {
		return fallback
	}

	return s
}

func checkTitle(f checkFlags) string {
	if f.sim != "" {
		return "liftoff check --sim " + f.sim
	}

	return "liftoff check --plan " + orText(f.plan, "lab.yaml")
}

// writeHTML writes the report whole or not at all.
func writeHTML(path string, results []check.Result, title string, pic picture) error {
	tl, note := pic.timelineSVG("Bring-up timeline (" + title + ")")

	var b bytes.Buffer
	if err := check.WriteHTML(&b, results, check.HTMLOptions{Title: title, Generated: time.Now(), Timeline: tl, TimelineNote: note}); err != nil {
		return err
	}

	if err := fileio.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}

	return nil
}
