package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"
)

// Target is one board to watch through its Talos API.
type Target struct {
	Node     string // board name, as events carry it
	Endpoint string // host:port of the board's apid
	// Talosconfig authenticates once the board runs a config from these
	// secrets; nil watches a board only in maintenance mode.
	Talosconfig *clientconfig.Config
}

// Connect opens a client to a board: mutual TLS with the talosconfig when
// the board has a config, else maintenance mode's unauthenticated TLS. It
// tells which one worked.
func Connect(ctx context.Context, t Target) (*client.Client, bool, error) {
	if t.Talosconfig != nil {
		c, err := client.New(ctx, client.WithConfig(t.Talosconfig), client.WithEndpoints(t.Endpoint))
		if err == nil {
			if _, err = c.Version(ctx); err == nil {
				return c, true, nil
			}

			c.Close() //nolint:errcheck
		}

		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
	}

	c, err := client.New(ctx, client.WithEndpoints(t.Endpoint),
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // maintenance mode has no CA yet
	if err != nil {
		return nil, false, err
	}

	if _, err := c.Version(ctx); err != nil {
		c.Close() //nolint:errcheck

		return nil, false, err
	}

	return c, false, nil
}

// WatchTalos follows one board for as long as ctx lives: through reboots,
// the switch from maintenance to mutual TLS, and outages. It never gives up
// on its own; every outage is an event, not an error.
func WatchTalos(ctx context.Context, t Target, emit func(Event)) error {
	backoff := 250 * time.Millisecond
	wasUp := true // so the first failure is reported

	for ctx.Err() == nil {
		err := watchOnce(ctx, t, emit)
		if ctx.Err() != nil {
			break
		}

		if wasUp {
			emit(Event{Time: time.Now(), Node: t.Node, Kind: Reachable, Detail: reason(err)})
		}

		wasUp = false

		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}

		backoff = min(backoff*2, 4*time.Second)

		if errors.Is(err, errWasConnected) {
			backoff, wasUp = 250*time.Millisecond, true
		}
	}

	return nil
}

// errWasConnected marks a watch that ran before it broke: reconnect fast.
var errWasConnected = errors.New("connection lost")

func watchOnce(ctx context.Context, t Target, emit func(Event)) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, secure, err := Connect(cctx, t)

	cancel()

	if err != nil {
		return err
	}
	defer c.Close() //nolint:errcheck

	mode := "maintenance (no client certificate)"
	if secure {
		mode = "mutual TLS"
	}

	emit(Event{Time: time.Now(), Node: t.Node, Kind: Reachable, Ready: true, Detail: mode})

	wctx, stop := context.WithCancel(ctx)
	defer stop()

	ch := make(chan state.Event, 64)

	for _, md := range watched() {
		if err := c.COSI.WatchKind(wctx, md, ch, state.WithBootstrapContents(true)); err != nil {
			return fmt.Errorf("watching %s: %w", md.Type(), err)
		}
	}

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-ch:
			if ev.Type == state.Errored {
				return fmt.Errorf("%w: %v", errWasConnected, ev.Error)
			}

			for _, e := range translate(t.Node, ev) {
				emit(e)
			}
		}
	}
}

// Snapshot reads a board's current state once (a List per kind, not a
// watch): what check judges an existing cluster by.
func Snapshot(ctx context.Context, t Target) ([]Event, error) {
	c, secure, err := Connect(ctx, t)
	if err != nil {
		return []Event{{Time: time.Now(), Node: t.Node, Kind: Reachable, Detail: reason(err)}}, nil
	}
	defer c.Close() //nolint:errcheck

	mode := "maintenance (no client certificate)"
	if secure {
		mode = "mutual TLS"
	}

	out := []Event{{Time: time.Now(), Node: t.Node, Kind: Reachable, Ready: true, Detail: mode}}

	for _, md := range watched() {
		list, err := c.COSI.List(ctx, md)
		if err != nil {
			return out, fmt.Errorf("%s: listing %s: %w", t.Node, md.Type(), err)
		}

		for _, r := range list.Items {
			out = append(out, translate(t.Node, state.Event{Type: state.Created, Resource: r})...)
		}
	}

	return out, nil
}

// watched are the resource kinds liftoff follows on every board.
func watched() []resource.Metadata {
	return []resource.Metadata{
		resource.NewMetadata(runtime.NamespaceName, runtime.MachineStatusType, "", resource.VersionUndefined),
		resource.NewMetadata(runtime.NamespaceName, runtime.ExtensionStatusType, "", resource.VersionUndefined),
		resource.NewMetadata(v1alpha1.NamespaceName, v1alpha1.ServiceType, "", resource.VersionUndefined),
	}
}

// translate turns a COSI event into liftoff events.
func translate(node string, ev state.Event) []Event {
	now := time.Now()

	switch r := ev.Resource.(type) {
	case *runtime.MachineStatus:
		s := r.TypedSpec()

		var unmet []string
		for _, u := range s.Status.UnmetConditions {
			unmet = append(unmet, u.Name+": "+u.Reason)
		}

		return []Event{
			{Time: now, Node: node, Kind: Stage, State: s.Stage.String()},
			{Time: now, Node: node, Kind: MachineReady, Ready: s.Status.Ready, Detail: strings.Join(unmet, "; ")},
		}
	case *runtime.ExtensionStatus:
		m := r.TypedSpec().Metadata
		st := "present"

		if ev.Type == state.Destroyed {
			st = "missing"
		}

		return []Event{{Time: now, Node: node, Kind: Extension, Name: m.Name, State: st, Detail: m.Version}}
	case *v1alpha1.Service:
		s := r.TypedSpec()
		st := "Running"

		if !s.Running || ev.Type == state.Destroyed {
			st = "Stopped"
		}

		up := st == "Running" && (s.Healthy || s.Unknown)

		return []Event{{Time: now, Node: node, Kind: Service, Name: r.Metadata().ID(), State: st, Ready: up}}
	}

	return nil
}

// reason is an outage in words a person can act on.
func reason(err error) string {
	if err == nil {
		return "not reachable"
	}

	msg := err.Error()

	switch {
	case strings.Contains(msg, "connection refused"):
		return "not reachable yet: nothing answers on the Talos port (booting or rebooting)"
	case strings.Contains(msg, "deadline exceeded"), strings.Contains(msg, "i/o timeout"):
		return "not reachable yet: no answer (powered off, rebooting, or another address now)"
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "authentication handshake"):
		return "the board refused liftoff's client certificate: its config comes from other secrets — check the talosconfig matches secrets.yaml"
	}

	return "not reachable: " + msg
}
