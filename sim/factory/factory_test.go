package factory

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

func start(t *testing.T) *Factory {
	t.Helper()

	f, err := Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { f.Close() }) //nolint:errcheck

	return f
}

func do(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()

	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	data, _ := io.ReadAll(resp.Body)

	return resp.StatusCode, resp.Header, string(data)
}

const rpi5 = "a636242df247ad4aad2e36d1026d8d4727b716a3061749bd7b19651e548f65e4"

// The documented contract, route by route, before and after registration.
func TestContract(t *testing.T) {
	f := start(t)

	// Unknown: the installer, the disk image and the schematic are 404s.
	for _, path := range []string{"/v2/metal-installer/" + rpi5 + "/manifests/v1.13.3", "/image/" + rpi5 + "/v1.13.3/metal-arm64.raw.xz"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			code, _, body := do(t, method, f.URL()+path, "")
			if code != http.StatusNotFound || method == http.MethodGet && !strings.Contains(body, `schematic ID "`+rpi5+`" not found`) {
				t.Errorf("%s %s before registration: %d %q", method, path, code, body)
			}
		}
	}

	if code, _, _ := do(t, http.MethodGet, f.URL()+"/schematics/"+rpi5, ""); code != http.StatusNotFound {
		t.Errorf("GET an unknown schematic: %d", code)
	}

	// A misspelt field is refused as the factory's strict parser does.
	code, _, body := do(t, http.MethodPost, f.URL()+"/schematics", "customization: {systemExtension: {}}")
	if code != http.StatusBadRequest || !strings.Contains(body, "systemExtension") {
		t.Errorf("unknown field: %d %q", code, body)
	}

	// JSON is YAML: the factory's own overlay spelling, twice: 201 both times.
	for range 2 {
		code, hdr, body := do(t, http.MethodPost, f.URL()+"/schematics", `{"overlay": {"name": "rpi_5", "image": "siderolabs/sbc-raspberrypi"}}`)

		var answer struct{ ID, Schematic string }
		if err := json.Unmarshal([]byte(body), &answer); err != nil || code != http.StatusCreated || answer.ID != rpi5 ||
			hdr.Get("Content-Type") != "application/json" || !strings.Contains(answer.Schematic, "name: rpi_5") {
			t.Fatalf("POST: %d %s %q (%v)", code, hdr.Get("Content-Type"), body, err)
		}
	}

	if !f.Known(rpi5) || f.Posts() != 2 {
		t.Errorf("known %v, posts %d", f.Known(rpi5), f.Posts())
	}

	if code, hdr, body := do(t, http.MethodGet, f.URL()+"/schematics/"+rpi5, ""); code != http.StatusOK || hdr.Get("Content-Type") != "application/yaml" || !strings.Contains(body, "rpi_5") {
		t.Errorf("GET the schematic: %d %q", code, body)
	}

	for _, kind := range []string{"metal-installer", "installer", "metal-installer-secureboot"} {
		code, hdr, body := do(t, http.MethodGet, f.URL()+"/v2/"+kind+"/"+rpi5+"/manifests/v1.13.3", "")
		if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Docker-Content-Digest"), "sha256:") || !strings.Contains(body, `"architecture":"arm64"`) {
			t.Errorf("%s manifest: %d %v %q", kind, code, hdr, body)
		}
	}

	code, hdr, _ := do(t, http.MethodHead, f.URL()+"/image/"+rpi5+"/v1.13.3/metal-arm64.raw.xz", "")
	if code != http.StatusOK || hdr.Get("Content-Length") == "" || !strings.Contains(hdr.Get("Content-Disposition"), "metal-arm64.raw.xz") {
		t.Errorf("HEAD image: %d %v", code, hdr)
	}

	code, _, body = do(t, http.MethodGet, f.URL()+"/image/"+rpi5+"/v1.13.3/metal-arm64.raw.xz", "")
	if code != http.StatusOK {
		t.Fatalf("GET image: %d", code)
	}

	zr, err := xz.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}

	raw, err := io.ReadAll(zr)
	if err != nil || len(raw) != diskImageSize || !bytes.Contains(raw[:200], []byte("schematic "+rpi5)) {
		t.Errorf("the image does not decompress to the simulated disk: %v, %d bytes", err, len(raw))
	}

	_, _, again := do(t, http.MethodGet, f.URL()+"/image/"+rpi5+"/v1.13.3/metal-arm64.raw.xz", "")
	if again != body {
		t.Error("the image is not deterministic")
	}

	if code, _, _ := do(t, http.MethodGet, f.URL()+"/image/"+rpi5+"/v1.13.3/metal-amd64.iso", ""); code != http.StatusNotFound {
		t.Errorf("an asset the stand-in does not make: %d", code)
	}
}
