package plan

import (
	"slices"
	"testing"
)

func TestModulesFor(t *testing.T) {
	got := ModulesFor([]string{"drbd", "siderolabs/spin", "zfs", "zfs"})

	var names []string
	for _, m := range got {
		names = append(names, m.Name)
	}

	if want := []string{"drbd", "drbd_transport_tcp", "zfs"}; !slices.Equal(names, want) {
		t.Fatalf("modules = %v, want %v", names, want)
	}

	if !slices.Equal(got[0].Parameters, []string{"usermode_helper=disabled"}) {
		t.Fatalf("drbd parameters = %v", got[0].Parameters)
	}

	if m := ModulesFor([]string{"spin", "notarealext"}); len(m) != 0 {
		t.Fatalf("spin and an unknown extension need no module, got %v", m)
	}
}

func TestServicesFor(t *testing.T) {
	svcs := ServicesFor([]string{"drbd", "spin", "tailscale", "zfs"})

	var ids []string
	for _, s := range svcs {
		ids = append(ids, s.ID())
	}

	if want := []string{"ext-tailscale", "ext-zfs-service"}; !slices.Equal(ids, want) {
		t.Fatalf("services = %v, want %v", ids, want)
	}

	if !svcs[0].Configuration || svcs[1].Configuration {
		t.Fatal("only tailscale waits for its ExtensionServiceConfig")
	}

	if !slices.Equal(svcs[1].Paths, []string{"/dev/zfs"}) {
		t.Fatalf("zfs-service waits for %v, want /dev/zfs", svcs[1].Paths)
	}
}
