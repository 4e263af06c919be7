package apply

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// The gateway's card carries the compute image: applying its config does
// not change that (Talos installs nothing on an installed board), Upgrade
// to the gateway's installer does, through a reboot; a refused upgrade
// changes nothing; Reset(StartOver) takes it back to maintenance mode on
// the same install.
func TestUpgradeFixesACardsImageAndResetStartsOver(t *testing.T) {
	l := newLab(t, 14)
	gw := l.board("gw")

	own, err := image.For(l.plan, gw)
	if err != nil {
		t.Fatal(err)
	}

	gw.Role = plan.Compute

	other, err := image.For(l.plan, gw)
	if err != nil {
		t.Fatal(err)
	}

	compute, gateway := other.Installer, own.Installer

	bd := l.start(t, "gw", func(o *board.Options) {
		img, err := o.Resolve(compute)
		if err != nil {
			t.Fatal(err)
		}

		o.Spec.Card = &img
	})

	rec := newRecorder()
	opts := fast
	opts.Talosconfig = l.tc

	if err := Board(context.Background(), l.board("gw"), l.path("gw"), opts, rec.emit); err != nil {
		t.Fatal(err)
	}

	waitStage(t, bd, "running")

	if slices.Contains(bd.Extensions(), "tailscale") {
		t.Fatalf("the compute card runs tailscale after apply: %v", bd.Extensions())
	}

	missing := strings.Replace(gateway, "/metal-installer/", "/metal-installer/0", 1)
	if err := Upgrade(context.Background(), l.board("gw"), missing, opts, rec.emit); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("upgrade to an unknown installer: %v", err)
	}

	if bd.Stage() != "running" {
		t.Errorf("a refused upgrade left the board %s", bd.Stage())
	}

	if err := Upgrade(context.Background(), l.board("gw"), gateway, opts, rec.emit); err != nil {
		t.Fatal(err)
	}

	if !slices.Contains(bd.Extensions(), "tailscale") || bd.Stage() != "running" {
		t.Errorf("after the upgrade: %s, %v", bd.Stage(), bd.Extensions())
	}

	if len(rec.notes("upgrading")) < 2 || len(rec.notes("done")) != 1 {
		t.Errorf("upgrade progress: %v", rec.all())
	}

	if err := Reset(context.Background(), l.board("gw"), ResetOptions{Reboot: true, Wipe: []string{"DATA"}}, opts, rec.emit); err == nil || !strings.Contains(err.Error(), `label "DATA"`) {
		t.Errorf("reset of an unknown label: %v", err)
	}

	if err := Reset(context.Background(), l.board("gw"), StartOver, opts, rec.emit); err != nil {
		t.Fatal(err)
	}

	if bd.Stage() != "maintenance" || bd.Config() != nil || !bd.Installed() || !slices.Contains(bd.Extensions(), "tailscale") {
		t.Errorf("after StartOver: %s, config %v, installed %v, %v", bd.Stage(), bd.Config() != nil, bd.Installed(), bd.Extensions())
	}
}
