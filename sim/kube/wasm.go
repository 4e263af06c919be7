package kube

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

//go:generate go run ./wasm/gen ./wasm/hello hello.wasm.gz

// helloWasmGz is wasm/hello built for wasip1, gzipped (see wasm/gen).
//
//go:embed hello.wasm.gz
var helloWasmGz []byte

// wasmEngine is one wazero runtime per process: compiling the 2 MB Go guest
// costs about a second, so every Spin pod shares the compiled module, like
// nodes sharing a pulled image.
var wasmEngine = sync.OnceValues(func() (*wagi, error) {
	zr, err := gzip.NewReader(bytes.NewReader(helloWasmGz))
	if err != nil {
		return nil, err
	}

	code, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}

	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig())
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)

	mod, err := rt.CompileModule(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("compiling the hello module: %w", err)
	}

	return &wagi{rt: rt, mod: mod}, nil
})

// wagi serves HTTP by running a WASI command per request, as Spin (and WAGI)
// instantiate a fresh guest for every request.
type wagi struct {
	rt  wazero.Runtime
	mod wazero.CompiledModule
}

func (g *wagi) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var stdout, stderr bytes.Buffer

	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous, so requests run concurrently
		WithArgs("hello").
		WithStdin(r.Body).
		WithStdout(&stdout).
		WithStderr(&stderr)

	for k, v := range cgiEnv(r) {
		cfg = cfg.WithEnv(k, v)
	}

	m, err := g.rt.InstantiateModule(r.Context(), g.mod, cfg)
	if m != nil {
		_ = m.Close(r.Context())
	}

	var exit *sys.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 0) {
		http.Error(w, fmt.Sprintf("guest failed: %v %s", err, stderr.String()), http.StatusInternalServerError)

		return
	}

	writeCGI(w, &stdout)
}

// cgiEnv is the request as CGI variables (RFC 3875) plus WAGI's X_FULL_URL.
func cgiEnv(r *http.Request) map[string]string {
	host, port, _ := net.SplitHostPort(r.Host)
	if host == "" {
		host = r.Host
	}

	env := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"REQUEST_METHOD":    r.Method,
		"PATH_INFO":         r.URL.Path,
		"QUERY_STRING":      r.URL.RawQuery,
		"SERVER_PROTOCOL":   r.Proto,
		"SERVER_NAME":       host,
		"SERVER_PORT":       port,
		"REMOTE_ADDR":       r.RemoteAddr,
		"X_FULL_URL":        "http://" + r.Host + r.URL.RequestURI(),
	}

	if r.ContentLength > 0 {
		env["CONTENT_LENGTH"] = strconv.FormatInt(r.ContentLength, 10)
	}

	if ct := r.Header.Get("Content-Type"); ct != "" {
		env["CONTENT_TYPE"] = ct
	}

	for k, vs := range r.Header {
		env["HTTP_"+strings.ReplaceAll(strings.ToUpper(k), "-", "_")] = strings.Join(vs, ", ")
	}

	return env
}

// writeCGI turns a CGI response (headers, blank line, body) into HTTP.
func writeCGI(w http.ResponseWriter, out *bytes.Buffer) {
	tp := textproto.NewReader(bufio.NewReader(out))

	hdr, err := tp.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "malformed CGI response: "+err.Error(), http.StatusBadGateway)

		return
	}

	code := http.StatusOK

	if s := hdr.Get("Status"); s != "" {
		if c, err := strconv.Atoi(strings.Fields(s)[0]); err == nil {
			code = c
		}

		hdr.Del("Status")
	}

	for k, vs := range hdr {
		w.Header()[k] = vs
	}

	w.WriteHeader(code)
	_, _ = io.Copy(w, tp.R)
}
