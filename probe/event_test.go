package probe

import (
	"testing"
	"time"
)

// One line per event for people: the same in headless output and in a
// support bundle's timeline.txt.
func TestEventString(t *testing.T) {
	at := time.Date(2026, 11, 30, 4, 5, 6, 7_000_000, time.UTC)

	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Time: at, Node: "pi-1", Kind: Service, Name: "ext-tailscale", State: "Waiting", Detail: "Waiting for extension service config"},
			"2026-11-30 04:05:06.007 pi-1     service       ext-tailscale Waiting not ready Waiting for extension service config"},
		{Event{Time: at, Kind: Hello, Name: "wasm", Ready: true, Latency: 1500 * time.Microsecond, Detail: "Hello from Spin"},
			"2026-11-30 04:05:06.007 –        hello         wasm in 1.5ms Hello from Spin"},
		{Event{Time: at, Node: "pi-2", Kind: Log, Count: 3, Detail: "EXT4-fs error"},
			"2026-11-30 04:05:06.007 pi-2     log           count=3 EXT4-fs error"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}
