package probe

import (
	"regexp"
	"strings"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
)

// What a board's console (its kernel log, where machined writes too) says
// that liftoff reads, in Talos v1.13.3's words:
//
//   - the boot sequence's startAllServices task repeats what it waits for
//     every 15 s: `[talos] task startAllServices (1/1): service "ext-zfs-service"
//     to be "up", service "kubelet" to be "up"` (v1alpha1_sequencer_tasks.go,
//     the aggregate condition of pkg/conditions and system/service_events.go);
//   - it ends with `... done, 35s` or, at BootTimeout, `... failed: 1 error
//     occurred:` followed by `[talos] boot sequence: failed` and a reboot;
//   - an install says `[talos] task install (1/1): installing Talos to disk
//     /dev/mmcblk0`, and the installer `running overlay installer "rpi_5"`
//     (cmd/installer/pkg/install/install.go).

const startAll = "task startAllServices (1/1): "

var (
	awaitedService = regexp.MustCompile(`service "([^"]+)" to be (?:"up"|registered)`)
	installDisk    = regexp.MustCompile(`installing Talos to disk (\S+)`)
	overlayRun     = regexp.MustCompile(`running overlay installer "([^"]+)"`)
)

// bootWait reads the services a startAllServices line waits for; the text
// after the task's prefix is the aggregate condition, as Talos wrote it.
func bootWait(line string) (text string, services []string, ok bool) {
	_, text, ok = strings.Cut(line, startAll)
	if !ok {
		return "", nil, false
	}

	for _, m := range awaitedService.FindAllStringSubmatch(text, -1) {
		services = append(services, m[1])
	}

	return text, services, len(services) > 0
}

// bootSequenceFailed tells the line machined writes when the boot sequence
// failed (at BootTimeout, when a service never came up).
func bootSequenceFailed(line string) bool {
	return strings.Contains(line, "[talos] boot sequence: failed")
}

// bootSequenceDone tells the line of a finished boot sequence.
func bootSequenceDone(line string) bool {
	return strings.Contains(line, "[talos] boot sequence: done")
}

// Restarts counts the restarts in a service's events: the restart runner
// says "going to restart" each time (runner/restart/restart.go).
func Restarts(events []*machineapi.ServiceEvent) int {
	n := 0

	for _, e := range events {
		if strings.Contains(e.GetMsg(), "going to restart") {
			n++
		}
	}

	return n
}

// LastEvent is a service's newest event message: what `talosctl services`
// shows as LAST EVENT (its health message is only the health check's).
func LastEvent(s *machineapi.ServiceInfo) string {
	evs := s.GetEvents().GetEvents()
	if len(evs) == 0 {
		return s.GetHealth().GetLastMessage()
	}

	return evs[len(evs)-1].GetMsg()
}
