package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// Item 15 of issue 21: something that is not a Talos API at a board's
// address — a web server, a TLS server without HTTP/2, a gRPC server
// without Talos's services — is named as such, with the fix, never as a
// raw gRPC or ALPN error.
func TestNonTalosServersAreNamed(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)

	tlsOnly := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsOnly.StartTLS() // HTTP/1.1 only: no h2 in ALPN
	t.Cleanup(tlsOnly.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	g := grpc.NewServer()
	go g.Serve(ln) //nolint:errcheck
	t.Cleanup(g.Stop)

	for name, endpoint := range map[string]string{
		"plain HTTP":         strings.TrimPrefix(plain.URL, "http://"),
		"TLS without HTTP/2": strings.TrimPrefix(tlsOnly.URL, "https://"),
		"gRPC without Talos": ln.Addr().String(),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := Connect(ctx, Target{Node: "x", Endpoint: endpoint})

		cancel()

		o := Explain(err)
		if o.Kind != OutageNotTalos || !strings.Contains(o.Words, "not a Talos API") || !strings.Contains(o.Fix, "50000") {
			t.Errorf("%s: %v → %+v", name, err, o)
		}
	}
}

// One classifier for every place errors become words: each kind of error
// a board gives reads as its cause, with a fix that fits.
func TestExplainClassifies(t *testing.T) {
	for msg, kind := range map[string]string{
		"dial tcp 127.0.0.11:50000: connect: connection refused": OutageRefused,
		"context deadline exceeded":                              OutageTimeout,
		"rpc error: code = Unavailable desc = connection error: desc = \"error reading server preface: EOF\"":                          OutageNotTalos,
		"read tcp 127.0.0.1:1->127.0.0.11:50000: read: connection reset by peer":                                                       OutageDropped,
		"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority": OutageOtherCluster,
		"remote error: tls: unknown certificate authority":                                                                             OutageOtherCluster,
		"remote error: tls: certificate required":                                                                                      OutageConfigured,
		"x509: certificate signed by unknown authority (and without a client certificate: remote error: tls: certificate required)":    OutageOtherCluster,
	} {
		o := Explain(errorString(msg))
		if o.Kind != kind || o.Words == "" || o.Fix == "" {
			t.Errorf("%q → %+v, want %s", msg, o, kind)
		}

		if kind == OutageOtherCluster && !strings.Contains(o.Fix, "belongs to another cluster") {
			t.Errorf("%q: fix %q", msg, o.Fix)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
