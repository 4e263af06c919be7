package scratch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Item 14 of issue 21: the next start removes what a killed lab left —
// directories whose owner process is gone (or whose PID now belongs to
// another process) — and nothing else: not a live lab's, not a directory
// without an owner record.
func TestSweepRemovesOnlyWhatADeadOwnerLeft(t *testing.T) {
	parent := t.TempDir()

	live, err := Dir(parent, "liftoff-kube-")
	if err != nil {
		t.Fatal(err)
	}

	// A process that has exited: its PID is free.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}

	dead := mkOwned(t, parent, "liftoff-kube-dead", fmt.Sprintf("%d 1\n", cmd.Process.Pid))
	reused := mkOwned(t, parent, "liftoff-kube-reused", fmt.Sprintf("%d 1\n", os.Getpid())) // our PID, another start time
	foreign := filepath.Join(parent, "liftoff-kube-someone-else")
	other := mkOwned(t, parent, "tailnet-dead", fmt.Sprintf("%d 1\n", cmd.Process.Pid)) // another prefix

	if err := os.Mkdir(foreign, 0o700); err != nil {
		t.Fatal(err)
	}

	removed := Sweep(parent, "liftoff-kube-")
	if len(removed) != 2 {
		t.Errorf("removed %v, want the dead and the reused owner's", removed)
	}

	for dir, want := range map[string]bool{live: true, dead: false, reused: false, foreign: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
}

func mkOwned(t *testing.T, parent, name, record string) string {
	t.Helper()

	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}

	return dir
}
