package board

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// logKeep bounds each service's log and dmesg.
const logKeep = 500

// service is one Talos service as machined's service runner keeps it
// (internal/app/machined/pkg/system/service_runner.go at talos v1.13.3):
// Starting, then Waiting for its conditions, Preparing, then what its
// runner reports (Running, Finished, Failed; Waiting again between the
// restarts of a restart policy).
type service struct {
	id      string
	state   string // Starting, Waiting, Preparing, Running, Finished, Failed
	healthy bool
	unknown bool // health not known: no health check, or not checked yet
	// checked: the service has a health check (HealthcheckedService), so
	// it is up only once healthy.
	checked bool
	events  []serviceEvent
	board   *Board

	// wait is what the runner waits for before the service runs (service
	// dependencies, then the service's own conditions), nil once met.
	wait []condition
	// waiting is the description last reported in the Waiting state.
	waiting string
	// run starts the service once its conditions hold.
	run func(*service)
	// hold keeps the service in its pre state while it says so (etcd
	// before a bootstrap); whoever ends it calls resume.
	hold func() bool
	// held: the pre state holds the service until resume.
	held bool
	// restart is an extension service's restart policy (always, never,
	// untilSuccess); "" for the services the simulation runs to the end.
	restart string
}

// condition is one thing a service waits for, described as Talos's
// condition's String() does (pkg/conditions, system/service_events.go).
type condition struct {
	desc string
	met  func() bool
}

type serviceEvent struct {
	msg   string
	state string
	at    time.Time
}

// set records a state change, as ServiceRunner.UpdateState does: an event
// in the service's history, and machined's log line for it, which goes to
// the console too (kmsg.SetupLogger in v1alpha1_controller.go). A service
// that starts running prints its own first line.
func (s *service) set(state, msg string) {
	first := state == "Running" && (len(s.events) == 0 || s.events[len(s.events)-1].state != "Running")

	s.state = state
	s.events = append(s.events, serviceEvent{msg: msg, state: state, at: time.Now()})

	// events.MaxEventsToKeep
	if len(s.events) > 64 {
		s.events = s.events[len(s.events)-64:]
	}

	s.board.kmsg("[talos] service[%s](%s): %s", s.id, state, msg)
	s.board.serviceEventLocked(s.id, state, msg, first)
	s.board.servicesChangedLocked()
}

// running marks the service running; health checked services report their
// first check at once, the others stay unknown (extension services).
func (s *service) running(msg string) {
	s.healthy, s.unknown = s.checked, !s.checked
	s.set("Running", msg)

	if s.checked {
		s.set("Running", "Health check successful")
	}
}

// stopped leaves the running state: health is not known any more.
func (s *service) stopped(state, msg string) {
	s.healthy, s.unknown = false, true
	s.set(state, msg)
}

// up is StateEventUp (ServiceRunner.inStateLocked): finished or skipped,
// or running and, with a health check, healthy.
func (s *service) up() bool {
	switch s.state {
	case "Finished", "Skipped":
		return true
	case "Running":
		return !s.checked || s.healthy
	}

	return false
}

// upCondition is system.WaitForService(StateEventUp, id).
func (b *Board) upCondition(id string) condition {
	return condition{
		desc: fmt.Sprintf("service %q to be %q", id, "up"),
		met: func() bool {
			s := b.services[id]

			return s != nil && s.up()
		},
	}
}

// describe is what a condition list says while some of it is unmet, as
// conditions.WaitForAll's String(): the unmet ones, in order (all of them
// before the wait began). A service that is not loaded yet is waited for
// to be registered.
func (b *Board) describe(conds []condition, all bool) string {
	var out []string

	for _, c := range conds {
		if !all && c.met() {
			continue
		}

		desc := c.desc
		if id, ok := strings.CutPrefix(desc, "service "); ok {
			if name, _, _ := strings.Cut(id, " "); b.services[strings.Trim(name, `"`)] == nil {
				desc = "service " + name + " to be registered"
			}
		}

		out = append(out, desc)
	}

	return strings.Join(out, ", ")
}

// serviceSpec is what a service is to the runner: its ID, whether it has a
// health check, what it waits for, how it runs, and its restart policy.
type serviceSpec struct {
	id      string
	checked bool
	wait    []condition
	run     func(*service)
	hold    func() bool
	restart string
}

// loadLocked loads and starts a service: it waits for its conditions
// (ServiceRunner.Run: "Starting service", then "Waiting for ..."), then
// runs.
func (b *Board) loadLocked(spec serviceSpec) *service {
	s := &service{id: spec.id, board: b, checked: spec.checked, unknown: true, wait: spec.wait, run: spec.run, hold: spec.hold, restart: spec.restart}
	b.services[spec.id] = s

	s.set("Starting", "Starting service")

	if len(s.wait) == 0 {
		s.wait = nil
		s.prepare()

		return s
	}

	s.waiting = b.describe(s.wait, true)
	s.set("Waiting", "Waiting for "+s.waiting)

	return s
}

// prepare is what the runner does once the conditions hold: the pre
// state, then the runner.
func (s *service) prepare() {
	s.set("Preparing", "Running pre state")

	if s.hold != nil && s.hold() {
		s.held = true

		return
	}

	s.resume()
}

// resume creates the runner and runs it.
func (s *service) resume() {
	s.held = false
	s.set("Preparing", "Creating service runner")
	s.run(s)
}

// servicesChangedLocked re-evaluates what waits on services, as the
// runner's conditions and the boot sequence's do. Changes made while it
// runs are taken in by its loop, not by a nested call.
func (b *Board) servicesChangedLocked() {
	if b.evaluating {
		b.dirty = true

		return
	}

	b.evaluating = true
	defer func() { b.evaluating = false }()

	for b.dirty = true; b.dirty; {
		b.dirty = false

		for _, id := range slices.Sorted(maps.Keys(b.services)) {
			s := b.services[id]
			if s.wait == nil || s.state != "Waiting" {
				continue
			}

			desc := b.describe(s.wait, false)
			if desc == "" {
				s.wait, s.waiting = nil, ""
				s.prepare()

				continue
			}

			// The runner reports a changed description (some conditions met).
			if desc != s.waiting {
				s.waiting = desc
				s.set("Waiting", "Waiting for "+desc)
			}
		}
	}

	b.publishServicesLocked()
	b.bootProgressLocked()
	b.updateMachineStatusLocked()
}

// exitedLocked is the end of a run: the restart policy decides what comes
// next (runner/restart/restart.go: Forever, UntilSuccess, Once), with the
// restart interval in between.
func (b *Board) exitedLocked(s *service, err error) {
	runner := fmt.Sprintf("Containerd(%s)", s.id)

	switch {
	case s.restart == "always" && err == nil:
		s.stopped("Waiting", "Runner "+runner+" exited without error, going to restart it")
	case s.restart == "always":
		s.stopped("Waiting", fmt.Sprintf("Error running %s, going to restart forever: %v", runner, err))
	case s.restart == "untilSuccess" && err != nil:
		s.stopped("Waiting", fmt.Sprintf("Error running %s, going to restart until it succeeds: %v", runner, err))
	case err == nil:
		s.stopped("Finished", "Service finished successfully")

		return
	default:
		s.stopped("Failed", "Failed running service: error running service: "+err.Error())

		return
	}

	b.afterLocked(b.opts.Timing.Restart, func() {
		if s.state == "Waiting" && s.wait == nil {
			s.run(s)
		}
	})
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

// kmsg appends a line to the console: the kernel log, where machined's
// own log goes too (kmsg.SetupLogger in v1alpha1_controller.go). Callers
// hold the lock, or own the board before it serves.
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

	ch := make(chan string, 256)
	b.subs[ch] = id

	return lines, ch
}

func (b *Board) unsubscribe(ch chan string) {
	b.mu.Lock()
	defer b.mu.Unlock()

	delete(b.subs, ch)
}

// loadOnlyLocked loads a service without starting it (system.Services
// Load): the runner is made, Initialized, and nothing runs it until a
// controller starts it.
func (b *Board) loadOnlyLocked(id string, checked bool) *service {
	s := &service{id: id, board: b, checked: checked, unknown: true}
	b.services[id] = s

	s.set("Initialized", "Service initialized")

	return s
}
