package kube

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Images the simulated kubelet knows how to "run". Anything else runs idle:
// Running, but serving nothing.
const (
	// SpinHelloRepository is SpinKube's hello example; pods of it answer
	// GET /hello with SpinHelloText from a real WebAssembly guest.
	SpinHelloRepository = "ghcr.io/spinkube/containerd-shim-spin/examples/spin-rust-hello"
	SpinHelloText       = "Hello world from Spin!"
	// HTTPEchoRepository is the plain container hello: hashicorp/http-echo,
	// served natively in Go with its flags (-listen, default :5678; -text;
	// -status-code) and its quirk of ending the body with a newline.
	HTTPEchoRepository = "docker.io/hashicorp/http-echo"
	// CoreDNSRepository is Talos's CoreDNS image (constants.CoreDNSImage):
	// its pods answer the health (:8080/health) and ready (:8181/ready)
	// plugins the Deployment's probes ask.
	CoreDNSRepository = "registry.k8s.io/coredns/coredns"
)

// repository is an image reference without tag or digest, with Docker Hub
// names spelled out.
func repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}

	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}

	first, _, hasSlash := strings.Cut(image, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !hasSlash {
			image = "library/" + image
		}

		image = "docker.io/" + image
	}

	return image
}

// app is a container's behaviour: an HTTP handler per listening port.
type app map[int32]http.Handler

// errExit is a container that exits at start, as a real one would with bad
// arguments; the kubelet reports it as CrashLoopBackOff.
type errExit struct {
	code int
	msg  string
}

func (e *errExit) Error() string { return fmt.Sprintf("exit code %d: %s", e.code, e.msg) }

func appFor(c corev1.Container) (app, error) {
	switch repository(c.Image) {
	case SpinHelloRepository:
		g, err := wasmEngine()
		if err != nil {
			return nil, err
		}

		// The Spin shim always listens on :80, whatever the spec says.
		return app{80: g}, nil
	case HTTPEchoRepository:
		return httpEcho(append(append([]string(nil), c.Command...), c.Args...))
	case CoreDNSRepository:
		return coreDNSApp(), nil
	default:
		return app{}, nil
	}
}

// httpEcho behaves like hashicorp/http-echo 1.0 given these arguments.
func httpEcho(args []string) (app, error) {
	fs := flag.NewFlagSet("http-echo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", ":5678", "")
	text := fs.String("text", "", "")
	status := fs.Int("status-code", 200, "")

	if err := fs.Parse(args); err != nil {
		return nil, &errExit{code: 2, msg: err.Error()}
	}

	if *text == "" {
		return nil, &errExit{code: 127, msg: "Missing -text option!"}
	}

	_, p, err := net.SplitHostPort(*listen)
	if err != nil {
		return nil, &errExit{code: 1, msg: err.Error()}
	}

	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return nil, &errExit{code: 1, msg: "bad -listen " + *listen}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-App-Name", "http-echo")
		w.Header().Set("X-App-Version", "1.0.0")
		w.WriteHeader(*status)
		_, _ = io.WriteString(w, *text+"\n")
	})

	return app{int32(port): mux}, nil
}

// coreDNSApp answers what CoreDNS's health, ready and prometheus plugins
// serve; DNS itself is not simulated.
func coreDNSApp() app {
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "OK") }

	return app{
		8080: http.HandlerFunc(ok),
		8181: http.HandlerFunc(ok),
		9153: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "# TYPE coredns_build_info gauge\ncoredns_build_info 1\n")
		}),
	}
}
