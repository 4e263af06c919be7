package board

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// logKeep bounds each service's log and dmesg.
const logKeep = 500

// service is one Talos service as machined runs it.
type service struct {
	id       string
	state    string // Waiting, Preparing, Running, Failed, Finished
	healthy  bool
	unknown  bool // no health check (extension services)
	restarts int
	events   []serviceEvent
	board    *Board
}

type serviceEvent struct {
	msg   string
	state string
	at    time.Time
}

func (s *service) set(state string, healthy bool, msg string) {
	s.state, s.healthy, s.unknown = state, healthy, false
	s.event(state, msg)
}

func (s *service) setUnknown(state, msg string) {
	s.state, s.healthy, s.unknown = state, false, true
	s.event(state, msg)
}

func (s *service) event(state, msg string) {
	first := state == "Running" && (len(s.events) == 0 || s.events[len(s.events)-1].state != "Running")

	s.events = append(s.events, serviceEvent{msg: msg, state: state, at: time.Now()})
	if len(s.events) > 20 {
		s.events = s.events[len(s.events)-20:]
	}

	s.board.serviceEventLocked(s.id, state, msg, first)

	s.board.publishServicesLocked()
}

// published tells whether the service has a Service resource. Talos keeps
// one only while a service runs; the simulation also keeps extension
// services that wait or restart (Running=false), which is how the
// scenarios make a broken ext-tailscale hold the machine not ready.
func (s *service) published() bool {
	return s.state == "Running" || strings.HasPrefix(s.id, "ext-") && s.state != "Finished"
}

// up is Talos's rule: running and healthy, or running without a health check.
func (s *service) up() bool {
	return s.state == "Running" && (s.healthy || s.unknown)
}

func (b *Board) serviceLocked(id string) *service {
	s := b.services[id]
	if s == nil {
		s = &service{id: id, board: b}
		b.services[id] = s
	}

	return s
}

// logLocked appends a line to a source's log (a service, or the
// installer) and hands it to followers.
func (b *Board) logLocked(id, line string) {
	line = time.Now().UTC().Format(time.RFC3339Nano) + " " + line
	lines := append(b.logs[id], line)

	if len(lines) > logKeep {
		lines = lines[len(lines)-logKeep:]
	}

	b.logs[id] = lines
	b.fanout(id, line)
}

// kmsg appends a kernel message (callers may or may not hold the lock:
// it uses its own field under the board lock only through its callers).
func (b *Board) kmsg(format string, args ...any) {
	line := fmt.Sprintf("[%10.3f] %s", time.Since(startTime).Seconds(), fmt.Sprintf(format, args...))
	b.dmesg = append(b.dmesg, line)

	if len(b.dmesg) > logKeep {
		b.dmesg = b.dmesg[len(b.dmesg)-logKeep:]
	}

	b.fanout("dmesg", line)
}

var startTime = time.Now()

func (b *Board) fanout(id, line string) {
	for ch, want := range b.subs {
		if want != id {
			continue
		}

		select {
		case ch <- line:
		default: // a slow follower misses lines rather than stalling the board
		}
	}
}

// subscribe returns the tail of a source and a channel of new lines.
func (b *Board) subscribe(id string, tail int) ([]string, chan string) {
	b.mu.Lock()
	defer b.mu.Unlock()

	var lines []string
	if id == "dmesg" {
		lines = slices.Clone(b.dmesg)
	} else {
		lines = slices.Clone(b.logs[id])
	}

	if tail >= 0 && len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}

	ch := make(chan string, 64)
	b.subs[ch] = id

	return lines, ch
}

func (b *Board) unsubscribe(ch chan string) {
	b.mu.Lock()
	defer b.mu.Unlock()

	delete(b.subs, ch)
}
