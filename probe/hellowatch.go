package probe

import (
	"context"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// HelloWatch says where WatchHello deploys and asks the hello-worlds.
type HelloWatch struct {
	Kube  kubernetes.Interface
	Fetch Fetcher
	// Through, when set, is the operator's way into the tailnet: each round
	// then also asks the Spin hello-world's ClusterIP through the gateway's
	// route. nil for a cluster without a gateway.
	Through func(ctx context.Context) (Dial, error)
	// Every is the time between rounds (default 2 s).
	Every time.Duration
}

// WatchHello keeps both hello-worlds deployed and asks each of them every
// round, so the Spin panel is live for as long as ctx runs. What goes
// wrong is an event, never the end of the watch: a hello-world that does
// not answer now may answer on the next round.
func WatchHello(ctx context.Context, w HelloWatch, emit func(Event)) error {
	if w.Every <= 0 {
		w.Every = 2 * time.Second
	}

	for _, f := range Flavours {
		res := RunHello(ctx, w.Kube, w.Fetch, f, HelloOptions{Requests: 5, Keep: true}, emit)
		if res.Err != nil {
			emit(Event{Time: time.Now(), Kind: Hello, Name: f.Name, Detail: res.Err.Error()})
		}
	}

	through := w.through(ctx, emit)

	t := time.NewTicker(w.Every)
	defer t.Stop()

	for {
		if through != nil {
			through()
		}

		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}

		for _, f := range Flavours {
			emit(askHello(ctx, w.Fetch, f))
		}
	}
}

// through is one ask of the Spin hello-world's ClusterIP through the
// route, or nil when there is no way in.
func (w HelloWatch) through(ctx context.Context, emit func(Event)) func() {
	if w.Through == nil {
		return nil
	}

	dial, err := w.Through(ctx)
	if err != nil {
		emit(Event{Time: time.Now(), Kind: Error, Detail: err.Error()})

		return nil
	}

	addr, err := HelloAddr(ctx, w.Kube, Spin)
	if err != nil {
		emit(Event{Time: time.Now(), Kind: Error, Detail: err.Error()})

		return nil
	}

	if dial == nil {
		return nil
	}

	return func() {
		f := TrafficFlow(ctx, dial, addr, "/hello", Spin.Text)
		emit(f.Event(addr, time.Now()))
	}
}

// askHello is one request to a hello-world, as an event.
func askHello(ctx context.Context, fetch Fetcher, f Flavour) Event {
	start := time.Now()
	body, err := fetch(ctx, helloNamespace, "hello-"+f.Name, "/hello")
	body = strings.TrimSpace(body)

	e := Event{Time: time.Now(), Kind: Hello, Name: f.Name, Latency: time.Since(start), Ready: err == nil && body == f.Text, Detail: body}
	if err != nil {
		e.Detail = err.Error()
	}

	return e
}
