package tailnet

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"

	"tailscale.com/tailcfg"
)

// apiHandler is a shim of the Tailscale public API (api.tailscale.com),
// because testcontrol serves only the node protocol. It serves exactly what
// the route probe and an admin need, in the public API's JSON, so the real
// tailscale.com/client/tailscale/v2 client works against it:
//
//	GET  /api/v2/tailnet/{tailnet}/devices[?fields=all]  Devices().List
//	GET  /api/v2/device/{id}                             Devices().Get
//	GET  /api/v2/device/{id}/routes                      Devices().SubnetRoutes
//	POST /api/v2/device/{id}/routes                      Devices().SetSubnetRoutes (= Approve)
//
// Every answer is read from testcontrol's live node table (names, IDs,
// addresses, Hostinfo's advertised routes) plus this package's approvals
// (enabledRoutes). The key is APIKey, as HTTP basic auth like the real API.
// Any tailnet name is accepted; there is one.
func (t *Tailnet) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/tailnet/{tailnet}/devices", t.apiDevices)
	mux.HandleFunc("GET /api/v2/device/{id}", t.apiDevice)
	mux.HandleFunc("GET /api/v2/device/{id}/routes", t.apiRoutes)
	mux.HandleFunc("POST /api/v2/device/{id}/routes", t.apiSetRoutes)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, _, ok := r.BasicAuth(); !ok || user != t.apiKey {
			apiError(w, http.StatusUnauthorized, "API token invalid")

			return
		}

		mux.ServeHTTP(w, r)
	})
}

// apiDevice is a device in the public API's JSON.
type apiDevice struct {
	ID                 string   `json:"id"`
	NodeID             string   `json:"nodeId"`
	Name               string   `json:"name"`
	Hostname           string   `json:"hostname"`
	Addresses          []string `json:"addresses"`
	Authorized         bool     `json:"authorized"`
	OS                 string   `json:"os"`
	ClientVersion      string   `json:"clientVersion"`
	NodeKey            string   `json:"nodeKey"`
	ConnectedToControl bool     `json:"connectedToControl"`
	AdvertisedRoutes   []string `json:"advertisedRoutes,omitempty"`
	EnabledRoutes      []string `json:"enabledRoutes,omitempty"`
}

type apiRoutes struct {
	Advertised []string `json:"advertisedRoutes"`
	Enabled    []string `json:"enabledRoutes"`
}

func (t *Tailnet) apiDevices(w http.ResponseWriter, r *http.Request) {
	all := r.URL.Query().Get("fields") == "all"
	devices := []apiDevice{}

	for _, n := range t.control.AllNodes() {
		devices = append(devices, t.device(n, all))
	}

	apiJSON(w, map[string][]apiDevice{"devices": devices})
}

func (t *Tailnet) apiDevice(w http.ResponseWriter, r *http.Request) {
	n := t.lookup(r.PathValue("id"))
	if n == nil {
		apiError(w, http.StatusNotFound, "device not found")

		return
	}

	apiJSON(w, t.device(n, r.URL.Query().Get("fields") == "all"))
}

func (t *Tailnet) apiRoutes(w http.ResponseWriter, r *http.Request) {
	n := t.lookup(r.PathValue("id"))
	if n == nil {
		apiError(w, http.StatusNotFound, "device not found")

		return
	}

	d := t.device(n, true)
	apiJSON(w, apiRoutes{Advertised: orEmpty(d.AdvertisedRoutes), Enabled: orEmpty(d.EnabledRoutes)})
}

func (t *Tailnet) apiSetRoutes(w http.ResponseWriter, r *http.Request) {
	n := t.lookup(r.PathValue("id"))
	if n == nil {
		apiError(w, http.StatusNotFound, "device not found")

		return
	}

	var body struct {
		Routes []string `json:"routes"`
	}

	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		apiError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())

		return
	}

	prefixes := make([]netip.Prefix, 0, len(body.Routes))

	for _, s := range body.Routes {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			apiError(w, http.StatusBadRequest, "invalid route "+strconv.Quote(s))

			return
		}

		prefixes = append(prefixes, p.Masked())
	}

	t.approve(n.Key, prefixes)

	d := t.device(t.control.Node(n.Key), true)
	apiJSON(w, apiRoutes{Advertised: orEmpty(d.AdvertisedRoutes), Enabled: orEmpty(d.EnabledRoutes)})
}

// lookup finds a device by nodeId or legacy numeric id.
func (t *Tailnet) lookup(id string) *tailcfg.Node {
	for _, n := range t.control.AllNodes() {
		if string(n.StableID) == id || strconv.FormatInt(int64(n.ID), 10) == id {
			return n
		}
	}

	return nil
}

func (t *Tailnet) device(n *tailcfg.Node, all bool) apiDevice {
	d := apiDevice{
		ID:         strconv.FormatInt(int64(n.ID), 10),
		NodeID:     string(n.StableID),
		Name:       n.Name,
		Authorized: n.MachineAuthorized,
		NodeKey:    n.Key.String(),
	}

	for _, a := range n.Addresses {
		d.Addresses = append(d.Addresses, a.Addr().String())
	}

	if hi := n.Hostinfo; hi.Valid() {
		d.Hostname, d.OS, d.ClientVersion = hi.Hostname(), hi.OS(), hi.IPNVersion()

		if all {
			for _, p := range hi.RoutableIPs().All() {
				d.AdvertisedRoutes = append(d.AdvertisedRoutes, p.String())
			}
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()

	for _, m := range t.nodes {
		if m.key == n.Key {
			d.ConnectedToControl = true
		}
	}

	if all {
		for _, p := range t.approved[n.Key] {
			d.EnabledRoutes = append(d.EnabledRoutes, p.String())
		}
	}

	return d
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}

	return s
}

func apiJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"message": msg})
}
