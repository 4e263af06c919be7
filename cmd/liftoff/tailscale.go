package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"tailscale.com/client/local"
	tsapi "tailscale.com/client/tailscale/v2"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/probe/check"
)

// routeOptions point the route probe at this machine's tailscaled and, with
// an API key, at the Tailscale control API.
func routeOptions(p *plan.Plan, apiKeyFile string) (probe.RouteOptions, error) {
	ro := probe.RouteOptions{Local: &local.Client{}, Gateway: p.Tailscale.Hostname}

	for _, r := range p.Routes() {
		pfx, err := netip.ParsePrefix(r)
		if err != nil {
			return ro, fmt.Errorf("the plan's route %q: %w", r, err)
		}

		ro.CIDRs = append(ro.CIDRs, pfx)
	}

	if apiKeyFile != "" {
		key, err := readAPIKey(apiKeyFile)
		if err != nil {
			return ro, err
		}

		ro.API = &tsapi.Client{APIKey: key, Tailnet: "-"}
	}

	return ro, nil
}

// readAPIKey reads a Tailscale API key from a file: keys never travel as
// flag values, which end up in shell history and process lists.
func readAPIKey(path string) (string, error) {
	b, err := fileio.ReadFile(path, fileio.APIKey)
	if err != nil {
		return "", fmt.Errorf("--tailscale-api-key-file: %w", err)
	}

	key := strings.TrimSpace(string(b))
	if !strings.HasPrefix(key, "tskey-api-") {
		return "", errors.New("--tailscale-api-key-file: the file does not hold a Tailscale API key (tskey-api-…); create one under Settings → Keys in the admin console")
	}

	return key, nil
}

// observeTailscale is the operator's view of the route for check: this
// machine's tailscaled, its routes and the system dialer through them.
func observeTailscale(ctx context.Context, p *plan.Plan, apiKeyFile string) (*check.TailscaleView, error) {
	ro, err := routeOptions(p, apiKeyFile)
	if err != nil {
		return nil, err
	}

	if _, err := ro.Local.Status(ctx); err != nil {
		return nil, fmt.Errorf("no tailscaled answers on this machine (%v): join the tailnet here and accept routes (tailscale up --accept-routes)", err)
	}

	v, err := probe.RouteSnapshot(ctx, ro)
	if err != nil {
		return nil, err
	}

	var d net.Dialer

	return &check.TailscaleView{Route: v, Dial: d.DialContext}, nil
}
