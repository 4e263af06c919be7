// Package factory is the simulated lab's Image Factory: a loopback HTTP
// server implementing the part of Image Factory's documented contract a lab
// meets (siderolabs/image-factory docs/api.md, and its handlers in
// internal/frontend/http at v1.5.0):
//
//   - POST /schematics: the body is parsed strictly (an unknown field is a
//     400 with the parser's message, as schematic.Unmarshal refuses it);
//     201 Created with {"id", "schematic"} for a new and a known schematic
//     alike; the ID is the SHA-256 of the canonical YAML, liftoff's own
//     algorithm (cluster/image), tested against the factory's vectors.
//   - GET /schematics/{id}: 200 application/yaml, or 404 "schematic not found".
//   - GET/HEAD /image/{id}/{version}/metal-{arch}.raw.xz: 404 for an unknown
//     schematic (`schematic ID "…" not found`, the factory's storage error);
//     a small deterministic xz-compressed disk image otherwise.
//   - GET/HEAD /v2/…/manifests/{tag} of {platform}-installer/{id} and the
//     legacy installer/{id}: 404 with the same text for an unknown schematic
//     — the factory checks the schematic before any registry is asked, so
//     the answer is its plain-text error, not a registry's MANIFEST_UNKNOWN —
//     and an OCI image index for a known one.
//
// The real factory cannot run here: its module requires the Talos main
// module v1.14.0-rc.1, which the module registry refuses, and serving an
// installer means building it with Talos's imager pulled from ghcr.io. See
// docs/architecture.md.
package factory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/liftoff-lab/liftoff/cluster/image"
)

// Factory is a running stand-in.
type Factory struct {
	ln  net.Listener
	srv *http.Server

	mu         sync.Mutex
	schematics map[string][]byte // ID → canonical YAML
	images     map[string][]byte // "id/version/arch" → xz image
	posts      int
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves until ctx ends or
// Close.
func Start(ctx context.Context, addr string) (*Factory, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the simulated image factory: %w", err)
	}

	f := &Factory{ln: ln, schematics: map[string][]byte{}, images: map[string][]byte{}}

	// A GET pattern answers HEAD too, without the body.
	mux := http.NewServeMux()
	mux.HandleFunc("POST /schematics", f.create)
	mux.HandleFunc("GET /schematics/{id}", f.get)
	mux.HandleFunc("GET /image/{id}/{version}/{path}", f.image)
	mux.HandleFunc("GET /v2/{$}", ping)
	mux.HandleFunc("GET /v2/{rest...}", f.registry)

	f.srv = &http.Server{Handler: withServer(mux), ReadHeaderTimeout: 10 * time.Second}

	go f.srv.Serve(ln) //nolint:errcheck // ends with Close

	go func() {
		<-ctx.Done()
		f.Close() //nolint:errcheck
	}()

	return f, nil
}

// URL is the factory's base URL, e.g. http://127.0.0.1:40123: what a plan's
// images.factory names.
func (f *Factory) URL() string { return "http://" + f.ln.Addr().String() }

// Host is host:port, what installer references name.
func (f *Factory) Host() string { return f.ln.Addr().String() }

// Known tells whether a schematic was registered.
func (f *Factory) Known(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()

	_, ok := f.schematics[id]

	return ok
}

// Posts counts POST /schematics requests answered 201.
func (f *Factory) Posts() int {
	f.mu.Lock()
	defer f.mu.Unlock()

	return f.posts
}

// Close stops serving.
func (f *Factory) Close() error {
	err := f.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}

	return err
}

func withServer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "liftoff-simulated-image-factory")
		h.ServeHTTP(w, r)
	})
}

func ping(http.ResponseWriter, *http.Request) {}

func (f *Factory) create(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)

		return
	}

	s, err := image.ParseSchematic(data)
	if err != nil {
		http.Error(w, strings.TrimPrefix(err.Error(), "invalid schematic: "), http.StatusBadRequest)

		return
	}

	if s.Owner != "" {
		// Community edition (schematic.validate): owner needs Enterprise.
		http.Error(w, "owner field is only supported in Enterprise edition", http.StatusBadRequest)

		return
	}

	canonical, _ := s.Marshal()
	id, _ := s.ID()

	f.mu.Lock()
	f.schematics[id] = canonical
	f.posts++
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)

	json.NewEncoder(w).Encode(struct { //nolint:errcheck,errchkjson
		ID        string `json:"id"`
		Schematic string `json:"schematic"`
	}{id, string(canonical)})
}

func (f *Factory) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	s, ok := f.schematics[r.PathValue("id")]
	f.mu.Unlock()

	if !ok {
		http.Error(w, "schematic not found", http.StatusNotFound)

		return
	}

	w.Header().Set("Content-Type", "application/yaml")
	w.Write(s) //nolint:errcheck
}

// notFound is the factory's answer for an unknown schematic on the image
// and registry routes: storage's ErrNotFoundTag through MatchError.
func notFound(w http.ResponseWriter, id string) {
	http.Error(w, fmt.Sprintf("schematic ID %q not found", id), http.StatusNotFound)
}

var diskImage = regexp.MustCompile(`^metal-(amd64|arm64)\.raw\.xz$`)

func (f *Factory) image(w http.ResponseWriter, r *http.Request) {
	id, version, path := r.PathValue("id"), r.PathValue("version"), r.PathValue("path")

	if !f.Known(id) {
		notFound(w, id)

		return
	}

	m := diskImage.FindStringSubmatch(path)
	if m == nil {
		http.Error(w, "the simulated image factory serves only metal-amd64.raw.xz and metal-arm64.raw.xz", http.StatusNotFound)

		return
	}

	data, err := f.diskImage(id, version, m[1])
	if err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)

		return
	}

	w.Header().Set("Content-Type", "application/x-xz")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Disposition", `attachment; filename="`+path+`"`)

	if r.Method == http.MethodGet {
		w.Write(data) //nolint:errcheck
	}
}

// diskImageSize is the simulated disk image's raw size: small enough to
// generate in a test, a whole number of 512-byte sectors.
const diskImageSize = 1 << 20

// diskImage is a deterministic stand-in for the factory's raw disk image:
// a header naming what it stands for, then zeros, xz-compressed.
func (f *Factory) diskImage(id, version, arch string) ([]byte, error) {
	key := id + "/" + version + "/" + arch

	f.mu.Lock()
	defer f.mu.Unlock()

	if data, ok := f.images[key]; ok {
		return data, nil
	}

	raw := make([]byte, diskImageSize)
	copy(raw, fmt.Sprintf("liftoff simulated Talos %s metal-%s disk image, schematic %s\n", version, arch, id))

	var buf bytes.Buffer

	zw, err := xz.NewWriter(&buf)
	if err != nil {
		return nil, err
	}

	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}

	if err := zw.Close(); err != nil {
		return nil, err
	}

	f.images[key] = buf.Bytes()

	return buf.Bytes(), nil
}

// registryPath is /v2/<installer>/<schematic>/<manifests|blobs|referrers>/<reference>.
var registryPath = regexp.MustCompile(`^((?:[a-z0-9-]+-)?installer(?:-secureboot)?)/([0-9a-f]{64})/(manifests|blobs|referrers)/([^/]+)$`)

func (f *Factory) registry(w http.ResponseWriter, r *http.Request) {
	m := registryPath.FindStringSubmatch(r.PathValue("rest"))
	if m == nil {
		http.Error(w, "route not found", http.StatusNotFound)

		return
	}

	kind, id, what, ref := m[1], m[2], m[3], m[4]

	if !f.Known(id) {
		notFound(w, id)

		return
	}

	if what != "manifests" || !strings.HasPrefix(ref, "v") {
		registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "the simulated image factory serves installer manifests by version tag only")

		return
	}

	index := installerIndex(kind, id, ref)
	sum := sha256.Sum256(index)

	w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
	w.Header().Set("Content-Length", strconv.Itoa(len(index)))

	if r.Method == http.MethodGet {
		w.Write(index) //nolint:errcheck
	}
}

// installerIndex is a deterministic OCI image index with an arm64 and an
// amd64 manifest, as the factory's multi-arch installers have; its
// manifests are not served (no layers in a simulated lab).
func installerIndex(kind, id, version string) []byte {
	type platform struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	}

	type descriptor struct {
		MediaType string   `json:"mediaType"`
		Digest    string   `json:"digest"`
		Size      int      `json:"size"`
		Platform  platform `json:"platform"`
	}

	var manifests []descriptor

	for _, arch := range []string{"amd64", "arm64"} {
		sum := sha256.Sum256([]byte(kind + "/" + id + ":" + version + "/" + arch))
		manifests = append(manifests, descriptor{
			MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: 1024,
			Platform: platform{Architecture: arch, OS: "linux"},
		})
	}

	data, _ := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, "application/vnd.oci.image.index.v1+json", manifests})

	return data
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)

	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}}) //nolint:errcheck,errchkjson
}
