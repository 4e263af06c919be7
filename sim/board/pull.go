package board

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrNotFound is a registry's answer that an image does not exist (what
// containerd's resolver calls errdefs.ErrNotFound).
var ErrNotFound = errors.New("not found")

// Talos v1.13.3's installer pull (internal/pkg/containers/image/image.go,
// Pull): it retries with exponential backoff in 5 s units
// (go-retry's Exponential: 0, 0, 5, 15, 35, 75 s … apart) for up to
// PullTimeout, but gives up on a not-found error after MaxNotFoundRetries.
const (
	pullUnit           = 5 * time.Second
	pullTimeout        = 20 * time.Minute
	maxNotFoundRetries = 5
	// What machined does when the install sequence fails (machined's
	// handle in internal/app/machined/main.go): log, count down, reboot.
	rebootCountdown = 10 * time.Second
)

// pullBackoff is go-retry's exponential wait before retry n (1-based; the
// first attempt does not wait): Duration((2^(n-1)-1)/2) units, truncated
// as upstream's conversion truncates — 0, 0, 5, 15, 35 s.
func pullBackoff(n int) time.Duration {
	return time.Duration((math.Pow(2, float64(n-1))-1)/2) * pullUnit
}

// pullLocked asks the Pull hook for the installer, attempt after attempt,
// and calls pulled (with the lock held) once it is there. Talos's console
// says "pulling", then "retrying error: …" once per distinct error (go-retry
// logs an error it has not seen before). When the pull gives up, the
// install task, its phase and the install sequence fail, machined logs the
// error and reboots after a countdown; the board comes back from its boot
// medium in maintenance mode, the config it was given gone with the RAM
// it lived in.
func (b *Board) pullLocked(ref string, attempt int, pulled func()) {
	if attempt == 0 {
		b.kmsg("[talos] phase install (2/8): 1 tasks(s)")
		b.kmsg("[talos] task install (1/1): starting")
		b.kmsg("[talos] task install (1/1): waiting for the image cache")
		b.kmsg("[talos] task install (1/1): installing Talos to disk %s", b.cfg.Machine().Install().Disk())
		b.kmsg("[talos] pulling %q", ref)
		b.logLocked("installer", fmt.Sprintf("pulling %q", ref))
	}

	epoch, hook := b.epoch, b.opts.Hooks.Pull

	b.wg.Go(func() {
		err := hook(b.ctx, ref)

		b.mu.Lock()
		defer b.mu.Unlock()

		if b.epoch != epoch || b.ctx.Err() != nil {
			return
		}

		if err == nil {
			pulled()

			return
		}

		err = fmt.Errorf("failed to pull image %q: %w", ref, err)

		if attempt == 0 {
			b.kmsg("[talos] retrying error: %s", err)
			b.logLocked("installer", "retrying error: "+err.Error())
		}

		next := attempt + 1

		var waited time.Duration
		for n := 1; n <= next; n++ {
			waited += pullBackoff(n)
		}

		if errors.Is(err, ErrNotFound) && next > maxNotFoundRetries || waited > pullTimeout {
			b.installFailedLocked(err)

			return
		}

		b.afterLocked(pullBackoff(next), func() { b.pullLocked(ref, next, pulled) })
	})
}

// installFailedLocked is the end of a failed install sequence, in the
// words the sequencer and machined log (v1alpha1_controller.go, main.go).
func (b *Board) installFailedLocked(err error) {
	// go-retry's ErrorSet: the distinct errors, one per line.
	set := "1 error(s) occurred:\n\t" + err.Error()

	for _, line := range []string{
		"[talos] task install (1/1): failed: " + set,
		"[talos] phase install (2/8): failed",
		"[talos] install sequence: failed",
		"[talos] error running phase 2 in install sequence: task 1/1: failed, " + set,
	} {
		b.kmsg("%s", strings.ReplaceAll(line, "\n\t", " "))
	}

	b.logLocked("installer", "install failed: "+err.Error())
	b.kmsg("[talos] rebooting in %d seconds", int(rebootCountdown/time.Second))
	b.x.stuck = "install failed: " + err.Error()

	b.afterLocked(rebootCountdown, func() {
		b.cfg, b.cfgBytes, b.image = nil, nil, Image{}
		b.rebootLocked(b.opts.Timing.Reboot)
	})
}
