package apply

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/board"
)

// logs is everything any logger in this test binary wrote: the standard
// logger, gRPC's and client-go's (klog).
var logs syncBuffer

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.b.String()
}

func TestMain(m *testing.M) {
	// Before any gRPC or client-go use: they read their loggers unlocked.
	log.SetOutput(&logs)
	grpclog.SetLoggerV2(grpclog.NewLoggerV2WithVerbosity(&logs, &logs, &logs, 99))

	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("v", "9")
	klog.SetOutput(&logs)

	os.Exit(m.Run())
}

// secretMaterial is every secret of a generated lab, in the forms it
// could leak in: raw, PEM body lines, and base64 as configs carry it.
func secretMaterial(t *testing.T, l *lab, extra ...string) map[string]string {
	t.Helper()

	b := l.bundle
	out := map[string]string{
		"cluster secret":  b.Cluster.Secret,
		"bootstrap token": b.Secrets.BootstrapToken,
		"bootstrap token secret": func() string {
			_, s, _ := strings.Cut(b.Secrets.BootstrapToken, ".")

			return s
		}(),
		"secretbox key":     b.Secrets.SecretboxEncryptionSecret,
		"aescbc key":        b.Secrets.AESCBCEncryptionSecret,
		"trustd token":      b.TrustdInfo.Token,
		"tailscale authkey": testKey,
	}

	keys := map[string][]byte{
		"etcd CA key": b.Certs.Etcd.Key, "kubernetes CA key": b.Certs.K8s.Key, "aggregator CA key": b.Certs.K8sAggregator.Key,
		"service account key": b.Certs.K8sServiceAccount.Key, "OS CA key": b.Certs.OS.Key,
	}

	for _, ctx := range l.tc.Contexts {
		key, err := base64.StdEncoding.DecodeString(ctx.Key)
		if err != nil {
			t.Fatal(err)
		}

		keys["talosconfig client key"] = key
	}

	for name, pem := range keys {
		if len(pem) == 0 {
			t.Fatalf("%s is empty: the test would prove nothing", name)
		}

		out[name+" (base64)"] = base64.StdEncoding.EncodeToString(pem)[:40]

		// A PEM body line is 64 characters of the key itself.
		lines := strings.Split(string(pem), "\n")
		out[name+" (PEM)"] = lines[1]
	}

	for i, s := range extra {
		out["extra "+string(rune('a'+i))] = s
	}

	for name, v := range out {
		if len(v) < 8 && name != "aescbc key" {
			t.Fatalf("%s is %q: too short to search for", name, v)
		}

		if v == "" {
			delete(out, name)
		}
	}

	return out
}

// gen → apply → bootstrap → kubeconfig against simulated boards, through
// faults and refusals, with every event, error and log line captured:
// none holds any of the bundle's secrets or the auth key.
func TestNoSecretsInEventsErrorsOrLogs(t *testing.T) {
	l := newLab(t, 12)
	kc, _ := apiserver(t, "127.0.3.129:0", func(call int) bool { return call > 1 })

	l.start(t, "cp", func(o *board.Options) {
		o.Faults = board.Faults{DropDuringApply: 1, DropFor: 100 * time.Second, SlowReboot: 3}
		o.Hooks.Kubeconfig = func() ([]byte, error) { return kc, nil }
		o.Hooks.Bootstrap = func(context.Context, *board.Board) error { return nil }
	})
	l.start(t, "w", func(o *board.Options) { o.Faults = board.Faults{DropAfterApply: true, StallAPI: 1} })
	l.start(t, "gw", func(o *board.Options) { o.Faults.StallAPI = 2 })

	rec := newRecorder()

	var errs []string

	collect := func(err error) {
		if err != nil {
			errs = append(errs, err.Error(), probe.Words(err))
		}
	}

	opts := fast
	opts.CallTimeout = 500 * time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if err := All(ctx, l.plan, l.dir, opts, rec.emit); err != nil {
		t.Fatalf("%v\n%s", err, rec.text())
	}

	if err := Bootstrap(ctx, l.plan, l.tc, opts, rec.emit); err != nil {
		t.Fatal(err)
	}

	if _, err := KubeconfigReady(ctx, l.plan, l.tc, opts, rec.emit); err != nil {
		t.Fatal(err)
	}

	// The resume path, and refusals: a re-run with and without talosconfig.
	collect(All(ctx, l.plan, l.dir, opts, rec.emit))

	noTC := opts
	noTC.Attempts = 2
	collect(All(ctx, l.plan, l.dir, noTC, rec.emit))

	// Broken configs that carry every secret: the errors about them must not.
	gw, err := os.ReadFile(l.path("gw"))
	if err != nil {
		t.Fatal(err)
	}

	cp, err := os.ReadFile(l.path("cp"))
	if err != nil {
		t.Fatal(err)
	}

	for i, broken := range []string{
		strings.Replace(string(gw), "token: ", "token: [", 1),
		strings.Replace(string(gw), "TS_AUTHKEY=", "TS_AUTHKEY:\n  - ", 1),
		strings.Replace(string(cp), "secretboxEncryptionSecret: ", "secretboxEncryptionSecret: {", 1),
		strings.Replace(string(cp), "version: v1alpha1", "version: v1alpha2", 1),
		string(gw[:len(gw)/2]),
	} {
		if broken == string(gw) || broken == string(cp) {
			t.Fatalf("broken config %d is not broken", i)
		}

		path := filepath.Join(t.TempDir(), "broken.yaml")
		if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}

		err := Board(ctx, l.board("gw"), path, opts, rec.emit)
		if err == nil {
			t.Errorf("broken config %d was applied", i)
		}

		collect(err)
	}

	// A bootstrap that gives up, and a wait that is cancelled.
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	collect(WaitKubernetes(short, l.plan, []byte(strings.Replace(string(kc), "127.0.3.129", "127.0.3.128", 1)), opts, rec.emit))
	stop()

	if len(errs) < 6 {
		t.Fatalf("only %d errors: the refusal paths did not run", len(errs))
	}

	captured := map[string]string{"events": rec.text(), "errors": strings.Join(errs, "\n"), "logs": logs.String()}

	for name, secret := range secretMaterial(t, l, kubeToken) {
		for where, text := range captured {
			if strings.Contains(text, secret) {
				t.Errorf("%s appears in %s", name, where)
			}
		}
	}

	// Every board took its config (a retried apply that had landed says
	// so again) and the control plane was bootstrapped once.
	applied := map[string]bool{}

	for _, e := range rec.all() {
		if e.Kind == probe.Applied {
			applied[e.Node] = true
		}
	}

	if len(applied) != 3 || rec.kinds(probe.Bootstrapped) != 1 {
		t.Errorf("the bring-up did not happen:\n%s", rec.text())
	}
}

// The search forms are right: every secret (but the PEM lines, which only
// a decoded key shows) is found in the files gen wrote. Otherwise the test
// above would pass for the wrong reason.
func TestSecretSearchFindsTheSecretsInGensFiles(t *testing.T) {
	l := newLab(t, 13)

	var all []byte

	for _, name := range []string{"cp.yaml", "gw.yaml", config.TalosconfigFile} {
		data, err := os.ReadFile(filepath.Join(l.dir, name))
		if err != nil {
			t.Fatal(err)
		}

		all = append(all, data...)
	}

	for name, secret := range secretMaterial(t, l) {
		if !strings.HasSuffix(name, "(PEM)") && !bytes.Contains(all, []byte(secret)) {
			t.Errorf("%s not found in gen's files: the search form is wrong", name)
		}
	}
}
