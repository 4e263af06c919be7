package apply

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

const kubeToken = "kube-admin-token-rely-0000000000000000"

// apiserver is a stand-in kube-apiserver on 127.0.3.x: /readyz fails
// (503, with its checks) until ready says otherwise.
func apiserver(t *testing.T, addr string, ready func(call int) bool) (kubeconfig []byte, calls *atomic.Int32) {
	t.Helper()

	calls = &atomic.Int32{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Header.Get("Authorization") != "Bearer "+kubeToken {
			http.Error(w, "no", http.StatusUnauthorized)

			return
		}

		if !ready(int(calls.Add(1))) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "[+]ping ok\n[-]etcd failed: reason withheld\n[+]log ok\nreadyz check failed\n")

			return
		}

		fmt.Fprint(w, "ok")
	}))

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}

	srv.Listener = lis
	srv.StartTLS()
	t.Cleanup(srv.Close)

	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: rely
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %s}
contexts:
- name: admin@rely
  context: {cluster: rely, user: admin}
current-context: admin@rely
`, srv.URL, kubeToken), calls
}

// Right after bootstrap neither the kubeconfig nor the Kubernetes API is
// there yet: KubeconfigReady waits for both, with events that say which.
func TestKubeconfigWaitsForTheControlPlaneAndTheAPI(t *testing.T) {
	l := newLab(t, 10)
	kc, readyz := apiserver(t, "127.0.3.109:0", func(call int) bool { return call > 2 })

	var asked atomic.Int32

	l.start(t, "cp", func(o *board.Options) {
		o.Hooks.Kubeconfig = func() ([]byte, error) {
			if asked.Add(1) <= 2 {
				return nil, errors.New("the control plane is starting")
			}

			return kc, nil
		}
	})

	if err := Board(context.Background(), l.board("cp"), l.path("cp"), fast, func(e probe.Event) {}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	rec := newRecorder()

	got, err := KubeconfigReady(ctx, l.plan, l.tc, fast, rec.emit)
	if err != nil || string(got) != string(kc) {
		t.Fatalf("%v\n%s", err, rec.text())
	}

	waits := details(rec.notes("waiting"))
	if !strings.Contains(waits, "kubeconfig: waiting for cp") || !strings.Contains(waits, "kubeconfig: the control plane is starting") {
		t.Errorf("no wait for the kubeconfig:\n%s", waits)
	}

	if !strings.Contains(waits, "kubernetes: waiting for the API (attempt 2") ||
		!strings.Contains(waits, "the API answers but is not ready (HTTP 503): [-]etcd failed: reason withheld") {
		t.Errorf("no wait for the API:\n%s", waits)
	}

	if done := rec.notes("done"); len(done) == 0 || done[len(done)-1].Detail != "kubernetes: the API answers ready" {
		t.Errorf("done:\n%s", rec.text())
	}

	if readyz.Load() != 3 || strings.Contains(rec.text(), kubeToken) {
		t.Errorf("readyz calls %d; token in events: %v", readyz.Load(), strings.Contains(rec.text(), kubeToken))
	}
}

// An API that never gets ready: WaitKubernetes returns when ctx ends, and
// says what it waited for.
func TestWaitKubernetesIsCancellable(t *testing.T) {
	l := newLab(t, 11)
	kc, _ := apiserver(t, "127.0.3.119:0", func(int) bool { return false })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rec := newRecorder()
	done := make(chan error, 1)

	go func() { done <- WaitKubernetes(ctx, l.plan, kc, fast, rec.emit) }()

	rec.waitNote(t, "waiting")
	cancel()

	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "[-]etcd failed") {
			t.Errorf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitKubernetes ignored its ctx")
	}

	// Nothing listening at all: the wait says so.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	nobody := []byte(strings.Replace(string(kc), "127.0.3.119", "127.0.3.118", 1))
	if err := WaitKubernetes(ctx, l.plan, nobody, fast, func(probe.Event) {}); err == nil || !strings.Contains(err.Error(), "nothing answers on the Kubernetes API port") {
		t.Errorf("nothing listening: %v", err)
	}
}
