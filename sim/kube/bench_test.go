package kube

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// BenchmarkHello compares the two hello-worlds. "inprocess" calls the
// handlers directly: a fresh WebAssembly instance per request against a
// native Go handler. "service" goes the probes' way, over HTTP through the
// Service's ClusterIP on the simulated network (needs the control plane).
func BenchmarkHello(b *testing.B) {
	g, err := wasmEngine()
	if err != nil {
		b.Fatal(err)
	}

	echo, err := httpEcho([]string{"-listen=:80", "-text=Hello world from a container!"})
	if err != nil {
		b.Fatal(err)
	}

	for name, h := range map[string]http.Handler{"wasm/inprocess": g, "container/inprocess": echo[80]} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/hello", nil)

			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)

				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}

	if missing != "" || startupErr != nil {
		b.Log("no control plane: skipping the service benchmarks")

		return
	}

	startTestKubelet(b, "bench-1", "spin")
	until(b, 30*time.Second, nodeLW("bench-1"), func(n *corev1.Node) bool { return n.Labels[plan.ExtensionLabel("spin")] == "true" })

	ns := namespace(b, "t-bench")
	spinRuntimeClass(b, "wasmtime-spin-v2", true)

	rc := "wasmtime-spin-v2"
	helloApp(b, ns, "wasm", 1, corev1.PodSpec{RuntimeClassName: &rc, Containers: []corev1.Container{helloContainer(spinImage, []string{"/"}, nil)}})
	helloApp(b, ns, "container", 1, corev1.PodSpec{Containers: []corev1.Container{
		helloContainer("hashicorp/http-echo:1.0", nil, []string{"-listen=:80", "-text=Hello world from a container!"}),
	}})

	for _, svc := range []string{"wasm", "container"} {
		eventually(b, 10*time.Second, func() error {
			_, err := shared.Network().Get(b.Context(), ns, svc, "/hello")

			return err
		})

		b.Run(svc+"/service", func(b *testing.B) {
			for b.Loop() {
				if _, err := shared.Network().Get(b.Context(), ns, svc, "/hello"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
