package lab

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// cardCheck runs card-wrong-image on 127.0.subnet.0/24, with or without
// the bring-up's card upgrade.
func cardCheck(t *testing.T, subnet int, keep bool) ([]check.Result, *bytes.Buffer) {
	t.Helper()

	return checkLab(t, Options{Scenario: "card-wrong-image", KeepCards: keep}, subnet,
		check.Env{ReadyBudget: 2 * time.Minute, Hello: probe.HelloOptions{Requests: 5, Timeout: time.Minute}})
}

// A Pi booted from a card runs the card's image whatever its config's
// installer says: the gateway whose card carries the compute image has no
// tailscale, so the route never comes — what a real Pi does, and what the
// lab shows when nobody upgrades it.
func TestCardWrongImageWithoutTheUpgrade(t *testing.T) {
	t.Parallel()

	results, rec := cardCheck(t, 46, true)
	lab := picture(t, rec)

	gw := lab.Node("pi-w-2")
	if gw == nil || gw.Extensions["tailscale"] != nil || gw.Extensions["spin"] == nil {
		t.Fatalf("the gateway runs its card's compute image: %+v", gw)
	}

	failsExactly(t, Scenario{Fails: []string{"extension-isolation", "subnet-router-config", "traffic-flow", "single-gateway-only"}}, results)

	ds := probe.Diagnose(gw, time.Now())
	if len(ds) == 0 || !slices.ContainsFunc(ds, func(d probe.Diagnosis) bool {
		return d.Title == "extensions missing: tailscale" && strings.Contains(d.Why, "booted from a card with another image") &&
			strings.Contains(d.Fix, "talosctl upgrade -n pi-w-2 --image")
	}) {
		t.Errorf("pi-w-2's diagnoses: %+v", ds)
	}

	if strings.Contains(rec.String(), "card: pi-w-2 runs schematic") {
		t.Error("the card was upgraded though KeepCards says not to")
	}
}

// liftoff's bring-up sees the gateway run another schematic than its
// config's installer, upgrades it through a reboot, and every check passes.
func TestCardWrongImageIsUpgradedByTheBringUp(t *testing.T) {
	t.Parallel()

	results, rec := cardCheck(t, 47, false)

	for _, r := range results {
		if r.Status == check.Fail {
			t.Errorf("%s/%s: %s — %s %s", r.Suite, r.Name, r.Status, r.Summary, r.Why)
		}
	}

	for _, want := range []string{"card: pi-w-2 runs schematic", "upgrade: accepted", "upgrade: pi-w-2 runs"} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("the recording lacks %q", want)
		}
	}

	if gw := picture(t, rec).Node("pi-w-2"); gw == nil || gw.Extensions["tailscale"] == nil {
		t.Errorf("the gateway after the upgrade: %+v", gw)
	}
}
