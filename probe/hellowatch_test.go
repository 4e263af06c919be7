package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// WatchHello deploys both hello-worlds, then keeps asking each of them and
// the Spin one's ClusterIP through the route, round after round, and ends
// quietly with its ctx.
func TestWatchHelloKeepsAskingBothAndTheRoute(t *testing.T) {
	cs := helloCluster()

	// The route: whatever ClusterIP is asked, the Spin hello-world answers.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, Spin.Text) }))
	defer srv.Close()

	dialed := make(chan string, 64)
	through := func(context.Context) (Dial, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			select {
			case dialed <- addr:
			default:
			}

			var d net.Dialer

			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		}, nil
	}

	asked := map[string]int{}
	fetch := func(_ context.Context, ns, svc, path string) (string, error) {
		if ns != helloNamespace || path != "/hello" {
			return "", fmt.Errorf("asked %s/%s%s", ns, svc, path)
		}

		for _, f := range Flavours {
			if svc == "hello-"+f.Name {
				return f.Text + "\n", nil
			}
		}

		return "", fmt.Errorf("no service %s", svc)
	}

	ctx, cancel := context.WithCancel(t.Context())
	events := make(chan Event, 1024)
	done := make(chan error, 1)

	go func() {
		done <- WatchHello(ctx, HelloWatch{Kube: cs, Fetch: fetch, Through: through, Every: 1}, func(e Event) { events <- e })
	}()

	// Two rounds of answers from each, and a right answer through the route.
	var traffic bool

	for asked[Spin.Name] < 3 || asked[Container.Name] < 3 || !traffic {
		e := <-events
		switch e.Kind {
		case Hello:
			if !e.Ready {
				t.Fatalf("a hello-world did not answer: %+v", e)
			}

			asked[e.Name]++
		case Traffic:
			if !e.Ready {
				t.Fatalf("the route did not answer: %+v", e)
			}

			traffic = true
		case Error:
			t.Fatalf("error: %s", e.Detail)
		}
	}

	if addr := <-dialed; addr != "10.96.0.10:80" {
		t.Errorf("asked %s through the route, want the Spin Service's ClusterIP 10.96.0.10:80", addr)
	}

	cancel()

	if err := <-done; err != nil {
		t.Errorf("WatchHello ended with %v, want nil when its ctx ends", err)
	}

	for _, f := range Flavours {
		if _, err := cs.AppsV1().Deployments(helloNamespace).Get(t.Context(), "hello-"+f.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("the %s hello-world is not kept deployed: %v", f.Name, err)
		}
	}
}

// helloCluster is a fake API server where a Deployment is available once
// created and a Service gets a ClusterIP, as the controllers would make
// them, and lists honour metadata.name (the fake ignores field selectors).
func helloCluster() *fake.Clientset {
	cs := fake.NewClientset()

	cs.PrependReactor("create", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(*appsv1.Deployment).Status.AvailableReplicas = 1

		return false, nil, nil
	})
	cs.PrependReactor("create", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(*corev1.Service).Spec.ClusterIP = "10.96.0.10"

		return false, nil, nil
	})
	cs.PrependReactor("list", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name, ok := a.(k8stesting.ListAction).GetListRestrictions().Fields.RequiresExactMatch("metadata.name")
		if !ok {
			return false, nil, nil
		}

		d, err := cs.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), a.GetNamespace(), name)
		if err != nil {
			return true, &appsv1.DeploymentList{}, nil //nolint:nilerr // not there: an empty list
		}

		return true, &appsv1.DeploymentList{Items: []appsv1.Deployment{*d.(*appsv1.Deployment)}}, nil
	})

	return cs
}
