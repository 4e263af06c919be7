package kube

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestWasmHello(t *testing.T) {
	g, err := wasmEngine()
	if err != nil {
		t.Fatal(err)
	}

	for path, want := range map[string]int{"/hello": 200, "/": 404, "/hello/x": 404} {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))

		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}

		if path == "/hello" && rec.Body.String() != SpinHelloText {
			t.Errorf("GET /hello: %q", rec.Body.String())
		}
	}
}

func TestHTTPEcho(t *testing.T) {
	a, err := httpEcho([]string{"-listen=:80", "-text=hi there"})
	if err != nil {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	a[80].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/anything", nil))

	if b, _ := io.ReadAll(rec.Body); string(b) != "hi there\n" {
		t.Errorf("body %q", b)
	}

	if _, err := httpEcho(nil); err == nil {
		t.Error("http-echo without -text must exit")
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"hashicorp/http-echo:1.0":                  HTTPEchoRepository,
		"docker.io/hashicorp/http-echo@sha256:abc": HTTPEchoRepository,
		spinImage:              SpinHelloRepository,
		"nginx":                "docker.io/library/nginx",
		"localhost:5000/x/y:1": "localhost:5000/x/y",
		"registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:1": "registry.k8s.io/e2e-test-images/agnhost",
	} {
		if got := repository(in); got != want {
			t.Errorf("repository(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWasmUpToDate rebuilds the guest: the embedded module must be what
// `go generate` makes from wasm/hello today.
func TestWasmUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the wasm guest")
	}

	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain")
	}

	out := filepath.Join(t.TempDir(), "hello.wasm.gz")

	cmd := exec.Command("go", "run", "./wasm/gen", "./wasm/hello", out)
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	if !bytes.Equal(b, helloWasmGz) {
		t.Error("hello.wasm.gz is stale: run `go generate ./sim/kube`")
	}
}
