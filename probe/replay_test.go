package probe

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRecordReplayReproducesThePicture(t *testing.T) {
	evs := []Event{
		{Time: at(0), Node: "gw", Kind: Planned, Name: "gateway", State: "worker", Detail: "tailscale"},
		{Time: at(1), Node: "gw", Kind: Applied, Detail: "factory.talos.dev/metal-installer/x:v1.13.3"},
		{Time: at(40), Node: "gw", Kind: Stage, State: "running"},
		{Time: at(41), Node: "gw", Kind: Extension, Name: "tailscale", State: "present"},
		{Time: at(42), Node: "gw", Kind: Service, Name: "ext-tailscale", State: "Running", Ready: true, Count: 1},
		{Time: at(43), Node: "gw", Kind: MachineReady, Ready: true},
		{Time: at(61), Node: "gw", Kind: NodeReady, Ready: true},
		{Time: at(62), Kind: Hello, Name: "wasm", Ready: true, Latency: 3 * time.Millisecond, Detail: "Hello world from Spin!"},
	}

	var buf bytes.Buffer

	rec := NewRecorder(&buf)
	for _, e := range evs {
		rec.Record(e)
	}

	if rec.Err() != nil {
		t.Fatal(rec.Err())
	}

	read, err := ReadEvents(&buf)
	if err != nil || len(read) != len(evs) {
		t.Fatalf("%d events, %v", len(read), err)
	}

	live, replayed := NewLab(), NewLab()
	for _, e := range evs {
		live.Apply(e)
	}

	if err := Replay(context.Background(), read, 0, replayed.Apply); err != nil {
		t.Fatal(err)
	}

	a, b := live.Node("gw"), replayed.Node("gw")
	da, _ := a.ReadyAfter()
	db, _ := b.ReadyAfter()

	if da != db || da != time.Minute || a.Stage != b.Stage || b.Services["ext-tailscale"].Restarts != 1 || !b.Extensions["tailscale"].ActiveAt.After(b.AppliedAt) {
		t.Errorf("replay differs: %v vs %v", da, db)
	}

	if replayed.Hello["wasm"].Latency != 3*time.Millisecond {
		t.Errorf("hello: %+v", replayed.Hello["wasm"])
	}
}

func TestReplayIsCancellable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())

	var got int

	evs := []Event{{Time: at(0)}, {Time: at(3600)}}
	err := Replay(ctx, evs, 1, func(Event) { got++; cancel() })

	if err == nil || got != 1 {
		t.Errorf("err %v, emitted %d", err, got)
	}
}

func TestReadEventsRejectsGarbage(t *testing.T) {
	if _, err := ReadEvents(bytes.NewBufferString("{\"kind\":\"stage\"}\nnot json\n")); err == nil {
		t.Error("garbage accepted")
	}
}

// Played hands out the whole recording in order and then closes.
func TestPlayedClosesAfterTheLastEvent(t *testing.T) {
	at := time.Now()
	events := []Event{{Time: at, Node: "a", Kind: Stage, State: "booting"}, {Time: at.Add(time.Second), Node: "a", Kind: Stage, State: "running"}}

	var got []string
	for e := range Played(t.Context(), events, 0) {
		got = append(got, e.State)
	}

	if strings.Join(got, " ") != "booting running" {
		t.Errorf("played %v, want booting running", got)
	}
}
