package toolbuild

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// A checkout of its own with a Makefile shaped like hack/tools.mk's
// targets: real make, real pipes, no Go build.
func fakeCheckout(t *testing.T, makefile string) string {
	t.Helper()

	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}

	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "Makefile"), []byte(makefile), 0o644); err != nil {
		t.Fatal(err)
	}

	return root
}

type statuses struct {
	mu  sync.Mutex
	all []Status
}

func (s *statuses) add(st Status) {
	s.mu.Lock()
	s.all = append(s.all, st)
	s.mu.Unlock()
}

func TestBuildCountsPackagesAgainstTheList(t *testing.T) {
	root := fakeCheckout(t, `
tool-deps-%:
	@echo "go: downloading example.com/m v1.0.0" >&2
	@printf 'a\nb\nc\nd\n'
bin/%:
	@echo "building $* from its module…"
	@printf 'a\nc\n' >&2
	@mkdir -p bin && touch $@
`)

	var got statuses

	b := Start(context.Background(), root, []string{"kube", "etcd"}, io.Discard, got.add)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}

	for _, tool := range []string{"kube", "etcd"} {
		if _, err := os.Stat(filepath.Join(root, "bin", tool)); err != nil {
			t.Errorf("bin/%s not built: %v", tool, err)
		}
	}

	var kube []Status

	for _, st := range got.all {
		if st.Tool == "kube" {
			kube = append(kube, st)
		}
	}

	// listing, compiling 0/4, 1/4, 2/4: the download and make's own line
	// are not packages.
	if len(kube) != 4 || kube[1].Total != 4 || kube[3].Done != 2 || kube[3].Phase != "compiling" {
		t.Fatalf("kube's statuses: %+v", kube)
	}

	last := got.all[len(got.all)-1]
	if !last.Finished || last.Err != nil {
		t.Fatalf("last status %+v", last)
	}

	if !strings.Contains(kube[3].String(), "building kube: 2 of at most 4 packages compiled") {
		t.Errorf("status in words: %q", kube[3].String())
	}
}

func TestBuildFailureNamesTheToolAndGoSaysWhy(t *testing.T) {
	root := fakeCheckout(t, `
tool-deps-%:
	@echo a
bin/%:
	@echo "./main.go:3:1: syntax error: unexpected }" >&2
	@exit 1
`)

	var got statuses

	err := Start(context.Background(), root, []string{"etcd"}, io.Discard, got.add).Wait(context.Background())
	if err == nil || !strings.Contains(err.Error(), "building etcd") || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("error %v: want the tool and the compiler's last line", err)
	}

	if last := got.all[len(got.all)-1]; !last.Finished || !errors.Is(last.Err, err) && last.Err.Error() != err.Error() {
		t.Fatalf("last status %+v", last)
	}
}

func TestCancelStopsTheBuild(t *testing.T) {
	root := fakeCheckout(t, `
tool-deps-%:
	@sh -c 'echo $$$$ > compiler.pid; echo started; exec sleep 60'
`)

	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})

	var once sync.Once

	b := start(ctx, root, []string{"kube"}, io.Discard, nil, func(ctx context.Context, root string, args []string, line func(string)) error {
		return runMake(ctx, root, args, func(l string) {
			once.Do(func() { close(started) })
			line(l)
		})
	})

	<-started
	cancel()

	if err := b.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}

	// make's child (go build, in real life) went with it: dead or a zombie.
	pid, err := os.ReadFile(filepath.Join(root, "compiler.pid"))
	if err != nil {
		t.Fatal(err)
	}

	// SIGKILL is delivered asynchronously: wait (bounded) for the exit.
	deadline := time.Now().Add(5 * time.Second)
	for alive(strings.TrimSpace(string(pid))) {
		if time.Now().After(deadline) {
			t.Fatalf("make's child %s still runs 5 s after the cancel", pid)
		}

		runtime.Gosched()
	}
}

// alive: the process exists and is not a zombie.
func alive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}

	f := strings.Fields(string(stat))

	return len(f) > 2 && f[2] != "Z"
}
