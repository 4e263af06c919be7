package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// BenchmarkTimelineView is one frame of the timeline: half-way through the
// bring-up (boards in every phase, heads animated) and with every board
// Ready. Only the rows on screen are derived and drawn; the shared axis
// reads every board's bounds, which costs next to nothing per board, so
// a frame costs about the same at 5 boards and at 1000.
func BenchmarkTimelineView(b *testing.B) {
	for _, n := range []int{5, 50, 200, 1000} {
		p := benchPlan(n)
		stream := benchStream(p)
		end := stream[len(stream)-1].Time.Add(10 * time.Second)

		for _, phase := range []string{"bringup", "ready"} {
			events, clock := stream, end
			if phase == "bringup" {
				events = stream[:len(stream)/2]
				clock = events[len(events)-1].Time
			}

			for _, sz := range [][2]int{{120, 36}, {80, 24}} {
				b.Run(fmt.Sprintf("boards=%d/%s/%dx%d", n, phase, sz[0], sz[1]), func(b *testing.B) {
					m := benchModel(p, events, clock, sz[0], sz[1])
					m.onKey(tea.KeyPressMsg{Code: 'p', Text: "p"})

					if !strings.Contains(m.View().Content, "Bring-up timeline") {
						b.Fatal("not the timeline")
					}

					benchFrames(b, m, sz[1])
				})
			}
		}
	}
}
