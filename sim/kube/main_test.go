package kube

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"k8s.io/client-go/kubernetes"
)

// One control plane serves every integration test: starting it is the
// expensive part (seconds), the tests themselves are short.
var (
	shared     *ControlPlane
	sharedCS   kubernetes.Interface
	sharedCtx  context.Context
	bundle     *secrets.Bundle
	missing    string // why the integration tests skip
	startupErr error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sharedCtx = ctx

	var err error
	if bundle, err = secrets.NewBundle(secrets.NewClock(), config.TalosVersionCurrent); err != nil {
		fmt.Fprintln(os.Stderr, "secrets bundle:", err)

		return 1
	}

	var why []string

	for _, tool := range []string{"kube", "etcd"} {
		if _, err := findTool(tool); err != nil {
			why = append(why, err.Error())
		}
	}

	missing = strings.Join(why, "; ")

	if missing != "" && os.Getenv("LIFTOFF_REQUIRE_TOOLS") != "" {
		fmt.Fprintln(os.Stderr, "LIFTOFF_REQUIRE_TOOLS is set but:", missing)

		return 1
	}

	if os.Getenv("LIFTOFF_KUBE_HELPER") != "" {
		return m.Run() // a helper process of TestChildDiesWithParent
	}

	if missing == "" {
		shared, startupErr = Start(ctx, Options{
			Secrets: bundle, ClusterName: "sim-test", Address: testAddress(), Port: -1,
			Log: os.Stderr, NodeMonitorGracePeriod: 6 * time.Second,
			WorkDir: os.Getenv("LIFTOFF_KUBE_WORKDIR"), // to keep the children's logs
		})
		if startupErr == nil {
			sharedCS, startupErr = clientFor(shared.Kubeconfig())
		}

		if startupErr == nil {
			st := shared.Stats()
			fmt.Fprintf(os.Stderr, "control plane: start-up %s, RSS total %d MiB %v\n", st.StartUp.Round(time.Millisecond), st.TotalRSS()>>20, mib(st.RSS))
		}
	}

	code := m.Run()

	if shared != nil {
		_ = shared.Stop()
	}

	return code
}

// testAddress is a loopback address of its own, so a parallel test run (or
// the lab on 127.0.0.11) does not collide.
func testAddress() string {
	return fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), rand.IntN(250), 2+rand.IntN(250))
}

func mib(m map[string]uint64) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprintf("%d MiB", v>>20)
	}

	return out
}

// needControlPlane skips (or, with LIFTOFF_REQUIRE_TOOLS, TestMain already
// failed) when the binaries are absent.
func needControlPlane(t testing.TB) {
	t.Helper()

	if missing != "" {
		t.Skipf("skipping: %s (set LIFTOFF_REQUIRE_TOOLS=1 to make this a failure)", missing)
	}

	if startupErr != nil {
		t.Fatalf("control plane did not start: %v", startupErr)
	}
}
