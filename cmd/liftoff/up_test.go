package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/lab"
)

// liftoff up --headless brings a lab up from its plan with the real-lab
// path (gen with your key, apply, bootstrap, kubeconfig through the Talos
// API) — here against the simulated boards, which serve the real API.
func TestUpHeadlessBringsALabUp(t *testing.T) {
	if testing.Short() {
		t.Skip("brings a simulated lab up")
	}

	toolpathtest.Need(t, "kube", "etcd")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	l := startLab(ctx, t, lab.Spec{Cluster: "uptest", First: "127.0.56.11", Boards: cpAndGateway})

	dir := t.TempDir()
	planFile, keyFile, out := filepath.Join(dir, "lab.yaml"), filepath.Join(dir, "key"), filepath.Join(dir, "homelab")

	data, err := l.Plan().Marshal()
	if err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(planFile, data, 0o644); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(keyFile, []byte(lab.SimAuthKey), 0o600); err != nil {
		t.Fatal(err)
	}

	text, err := runCtx(ctx, t, "up", "--plan", planFile, "--out", out, "--headless", "--tailscale-authkey-file", keyFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	for _, want := range []string{"bringing up uptest: 2 boards", "bootstrapped", "kubeconfig: " + filepath.Join(out, "kubeconfig")} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	if strings.Contains(text, lab.SimAuthKey) {
		t.Error("the auth key was printed")
	}

	st, err := os.Stat(filepath.Join(out, "kubeconfig"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig: %v %v", st, err)
	}
}

func TestUpRefusesHeadlessWithoutAPlan(t *testing.T) {
	dir := t.TempDir()

	_, err := run(t, "up", "--headless", "--plan", filepath.Join(dir, "none.yaml"), "--out", filepath.Join(dir, "out"))
	if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("want a usage error naming the plan: %v", err)
	}

	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("a refused run created --out")
	}
}

// The wizard's saved plan in --out wins over --plan: that is the resume.
func TestUpResumesTheWizardsPlan(t *testing.T) {
	dir := t.TempDir()
	saved := &plan.Plan{Cluster: plan.Cluster{Name: "resumed"}, Boards: []plan.Board{
		{Name: "a", Address: "192.168.1.2", Model: "rpi5", Machine: plan.ControlPlane, Role: plan.Gateway},
	}}
	saved.Default()

	data, err := saved.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(dir, wizardPlan), data, 0o644); err != nil {
		t.Fatal(err)
	}

	p, resumed, err := upPlan(upFlags{out: dir, plan: "../../examples/lab.yaml"})
	if err != nil || !resumed || p.Cluster.Name != "resumed" {
		t.Errorf("%+v %v %v", p, resumed, err)
	}

	p, resumed, err = upPlan(upFlags{out: t.TempDir(), plan: "../../examples/lab.yaml"})
	if err != nil || resumed || p.Cluster.Name != "homelab" {
		t.Errorf("without a saved plan, --plan: %+v %v %v", p, resumed, err)
	}
}

// runCtx is run with a context (long commands end with the test's deadline).
func runCtx(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()

	var out strings.Builder

	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)

	err := root.ExecuteContext(ctx)

	return out.String(), err
}

// Re-applying to boards that run a config reviews the diff against what
// they run now, read from the boards themselves.
func TestReviewDiffsAgainstTheRunningConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("installs simulated boards")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	l := startLab(ctx, t, lab.Spec{Cluster: "rerun", First: "127.0.57.11", Boards: cpAndGateway})

	be := newSimBackend(ctx, l, t.TempDir())
	p := l.Plan()

	if err := be.apply(ctx, p); err != nil {
		t.Fatal(err)
	}

	// Wait for both boards to run their configs (the watch's own events);
	// the control plane, not bootstrapped, boots until etcd runs.
	running := map[string]bool{}
	for len(running) < 2 {
		select {
		case e := <-be.events:
			if e.Kind == probe.Stage && (e.State == "booting" || e.State == "running") {
				running[e.Node] = true
			}
		case <-ctx.Done():
			t.Fatalf("boards running: %v", running)
		}
	}

	p.Boards[1].InstallDisk = "/dev/sdb"

	previews, err := be.Preview(ctx, p)
	if err != nil {
		t.Fatal(err)
	}

	for _, pv := range previews {
		want := 0
		if pv.Board == "gw" {
			want = 1 // the install disk changed
		}

		if !strings.Contains(pv.Against, "runs now") || pv.Plus != want || pv.Minus != want {
			t.Errorf("%s: %+v\n%s", pv.Board, pv, pv.Diff)
		}
	}
}

// cpAndGateway is the smallest lab: a control plane and the gateway.
var cpAndGateway = []lab.BoardSpec{
	{Name: "cp", Model: "rpi5", Machine: "controlplane", Role: "compute"},
	{Name: "gw", Model: "amd64", Machine: "worker", Role: "gateway"},
}

// startLab starts a simulated lab at ×50 that the test's end stops.
func startLab(ctx context.Context, t *testing.T, spec lab.Spec) *lab.Lab {
	t.Helper()

	l, err := lab.Start(ctx, lab.Options{Spec: spec, Speed: 50})
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { _ = l.Close() })

	return l
}

// A factory that does not answer stops liftoff up before anything is
// written or applied, and says what to do.
func TestUpStopsWhenTheFactoryDoesNotAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.58.1:0")
	if err != nil {
		t.Fatal(err)
	}

	closed := "http://" + ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	out := filepath.Join(dir, "homelab")
	planFile := writePlan(t, `
cluster: {name: offline}
tailscale: {disabled: true}
boards:
  - {name: cp, address: 127.0.58.11, model: rpi5, machine: controlplane, role: compute}
`)

	text, err := runCtx(context.Background(), t, "up", "--plan", planFile, "--out", out, "--headless", "--factory", closed)
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "nothing was applied") ||
		!strings.Contains(err.Error(), "liftoff images --register") {
		t.Fatalf("err = %v\n%s", err, text)
	}

	if _, err := os.Stat(filepath.Join(out, "cp.yaml")); err == nil {
		t.Error("a config was written though the schematics were not registered")
	}
}
