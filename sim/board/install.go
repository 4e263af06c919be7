package board

import (
	"fmt"
	"slices"
	"strings"
	"time"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
)

// installDiskErrLocked is the Install task's disk step: the config's
// install disk must exist (its filepath.EvalSymlinks fails otherwise).
func (b *Board) installDiskErrLocked(cfg coreconfig.Provider) error {
	disk := cfg.Machine().Install().Disk()
	if disk == "" {
		return nil // a disk selector: the simulated disks match it
	}

	if slices.ContainsFunc(b.opts.Spec.Disks, func(d Disk) bool { return d.Path == disk }) {
		return nil
	}

	return fmt.Errorf("lstat %s: no such file or directory", disk)
}

// serveBootLocked starts apid and boots on. A worker's apid needs a
// certificate from a control plane's trustd: until one issues it the
// board keeps booting without an API, as Talos's secrets.APIController
// retries (internal/app/machined/pkg/controllers/secrets/api.go), and the
// console says why.
func (b *Board) serveBootLocked(attempt int) {
	b.bootOnLocked(b.serveLocked(), attempt)
}

// bootOnLocked boots on if apid serves (err is its start's), or waits for
// its certificate and tries again.
func (b *Board) bootOnLocked(err error, attempt int) {
	if err == nil {
		b.x.stuck = ""
		b.bootServedLocked()

		return
	}

	why := b.apiWaitReasonLocked(err)
	b.x.stuck = why
	b.kmsg("[talos] controller failed {\"controller\": \"secrets.APIController\", \"error\": %q}", why)

	// controller-runtime's restart backoff: doubling, up to a minute.
	wait := min(time.Second<<min(attempt, 6), time.Minute)
	epoch := b.epoch

	b.afterLocked(wait, func() {
		if b.epoch == epoch && b.stage == "booting" && b.server == nil {
			b.serveBootLocked(attempt + 1)
		}
	})
}

// apiWaitReasonLocked says why apid cannot serve, as the trustd client
// would find the control plane.
func (b *Board) apiWaitReasonLocked(err error) string {
	if !strings.Contains(err.Error(), "trustd") || b.cfg == nil || b.cfg.Cluster() == nil || b.cfg.Cluster().Endpoint() == nil {
		return err.Error()
	}

	host := b.cfg.Cluster().Endpoint().Hostname()
	target := fmt.Sprintf("%s:50001", host)

	var p *Board
	if lab := b.opts.Lab; lab != nil {
		p = lab.Peer(host)
	}

	theirs := ""
	if p != nil {
		if ca := p.x.ca.Load(); ca != nil {
			theirs = *ca
		}
	}

	if theirs == "" || theirs == b.osCALocked() {
		// Nobody there, or our control plane not serving yet.
		return fmt.Sprintf("failed to sign API server CSR: rpc error: code = Unavailable desc = connection error: dial tcp %s: connect: connection refused", target)
	}

	return fmt.Sprintf("failed to sign API server CSR: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: "+
		"tls: failed to verify certificate: x509: certificate signed by unknown authority\" (trustd at %s answers with another cluster's CA)", target)
}

// StageReport is what the lab's watchdog reads of a board: its stage,
// since when, how long its timing allows it there (0: any time), and the
// wait Talos itself would be in, if any.
type StageReport struct {
	Stage   string
	Since   time.Time
	Allowed time.Duration
	Waiting string
}

// Report is the board's stage as the watchdog sees it.
func (b *Board) Report() StageReport {
	b.mu.Lock()
	defer b.mu.Unlock()

	t := b.opts.Timing
	slow := max(b.opts.Faults.SlowDisk, 1)
	reboot := t.Reboot * time.Duration(max(b.opts.Faults.SlowReboot, 1))

	var allowed time.Duration

	switch b.stage {
	case "installing":
		var pulls time.Duration
		for n := 1; n <= maxNotFoundRetries+1; n++ {
			pulls += pullBackoff(n)
		}

		allowed = time.Duration(float64(t.Install)*slow) + pulls + rebootCountdown
	case "rebooting", "resetting":
		allowed = reboot + b.dropFor()
	case "upgrading":
		allowed = b.upgradeAllowed()
	case "booting":
		allowed = t.Boot + 2*t.Service + t.Restart
	}

	return StageReport{Stage: b.stage, Since: b.x.stageSince, Allowed: b.scaled(allowed), Waiting: b.waitingLocked()}
}

// waitingLocked is the wait Talos itself is in, if any: one the board
// recorded (apid without its certificate, a failed install's countdown, a
// Pi 5's bootloader that never hands over), or a boot sequence that waits
// for a service which waits on something other than a service (its
// config, a device node, a restart interval) or for etcd's bootstrap:
// startAllServices waits for those up to BootTimeout (boot.go).
func (b *Board) waitingLocked() string {
	if b.x.stuck != "" || b.stage != "booting" || b.seq == nil || b.seq.done {
		return b.x.stuck
	}

	for _, id := range b.seq.waitFor {
		s := b.services[id]

		switch {
		case s == nil || s.up():
		case s.state == "Waiting" && s.wait == nil:
			return "service " + id + " waits to restart"
		case s.state == "Waiting":
			for _, c := range s.wait {
				if !c.met() && !strings.HasPrefix(c.desc, "service ") {
					return "service " + id + " waits for " + c.desc
				}
			}
		case s.held:
			return "service " + id + " waits in its pre state"
		}
	}

	return ""
}
