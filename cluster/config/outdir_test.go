package config

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// Item 1 of issue 21: no file gen did not write for that purpose is ever
// written over. A board config's path holding something else (a user's
// notes, another plan) stops gen before anything changes.
func TestGenNeverWritesOverAFileItDidNotMake(t *testing.T) {
	dir := t.TempDir()
	p := parsePlan(t, testPlan)

	if _, err := Write(dir, p, WriteOptions{AuthKey: testKey}); err != nil {
		t.Fatal(err)
	}

	changed := parsePlan(t, strings.Replace(testPlan, "model: amd64, machine", "model: amd64, installDisk: /dev/sdb, machine", 1))

	for name, content := range map[string]string{
		"nuc.yaml": "my notes about the nuc\n",
		PlanFile:   "# my own plan, with comments\ncluster: {name: homelab}\nboards: []\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}

		before := snapshot(t, dir)

		_, err := Write(dir, changed, WriteOptions{AuthKey: testKey})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, name)) || !strings.Contains(err.Error(), "move it away") {
			t.Errorf("%s holding someone else's file: %v", name, err)
		}

		if after := snapshot(t, dir); !maps.Equal(before, after) {
			t.Errorf("%s: files changed after a refusal", name)
		}

		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// Item 2 of issue 21: new secrets mean a new talosconfig. The context for
// the cluster is made anew from the new bundle (its CA is the new one), the
// old talosconfig — the only key left to boards still running the old
// secrets — is kept beside it, and the report warns, loudly, that those
// boards are unreachable with the new one.
func TestNewSecretsMakeANewTalosconfigAndKeepTheOld(t *testing.T) {
	dir := t.TempDir()
	p := parsePlan(t, testPlan)

	if _, err := Write(dir, p, WriteOptions{AuthKey: testKey}); err != nil {
		t.Fatal(err)
	}

	oldTC, err := os.ReadFile(filepath.Join(dir, TalosconfigFile))
	if err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, SecretsFile)); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	changes, err := Write(dir, p, WriteOptions{AuthKey: testKey, NewSecrets: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	aside := filepath.Join(dir, plan.ReplacedTalosconfigPrefix+"20260501T120000Z")

	got := map[string]Change{}
	for _, c := range changes {
		got[filepath.Base(c.Path)] = c
	}

	tc := got[TalosconfigFile]
	if tc.Action != Updated || !strings.Contains(tc.Warning, "unreachable") && !strings.Contains(tc.Warning, "refuses it") || !strings.Contains(tc.Warning, aside) {
		t.Errorf("talosconfig: %+v", tc)
	}

	if got[filepath.Base(aside)].Action != Created {
		t.Errorf("the old talosconfig was not kept: %v", actions(changes))
	}

	if kept, _ := os.ReadFile(aside); string(kept) != string(oldTC) {
		t.Error("the kept talosconfig is not the old one")
	}

	if st, _ := os.Stat(aside); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kept talosconfig mode: %v", st)
	}

	bundle, _, err := loadOrNewSecrets(dir, p, false)
	if err != nil {
		t.Fatal(err)
	}

	fresh, err := Talosconfig(p, bundle)
	if err != nil {
		t.Fatal(err)
	}

	want, _ := clientconfig.FromBytes(fresh)
	now2, err := OpenTalosconfig(filepath.Join(dir, TalosconfigFile))
	if err != nil {
		t.Fatal(err)
	}

	if now2.Contexts["homelab"].CA != want.Contexts[want.Context].CA {
		t.Error("the talosconfig's CA is not the new secrets' CA: nothing on disk reaches boards with the new configs")
	}

	// The next run is quiet again: the talosconfig matches its secrets.
	again, err := Write(dir, p, WriteOptions{AuthKey: testKey})
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range again {
		if c.Warning != "" || c.Action == Updated || c.Action == Created {
			t.Errorf("second run: %+v", c)
		}
	}
}

// Item 9 of issue 21: the plan given is never written over, whichever
// name reaches it: the output directory's lab.yaml itself, another
// spelling of that path, a symbolic or a hard link to it.
func TestGenNeverWritesOverThePlanPassedIn(t *testing.T) {
	own := "# my plan: comments stay\n" + testPlan

	for _, how := range []string{"same path", "other spelling", "symlink", "hard link"} {
		dir := t.TempDir()
		outside := filepath.Join(t.TempDir(), "mine.yaml")
		planPath := filepath.Join(dir, PlanFile)

		switch how {
		case "same path":
			if err := os.WriteFile(planPath, []byte(own), 0o644); err != nil {
				t.Fatal(err)
			}
		case "other spelling":
			if err := os.WriteFile(planPath, []byte(own), 0o644); err != nil {
				t.Fatal(err)
			}

			planPath = filepath.Join(dir, ".", "..", filepath.Base(dir), PlanFile)
		case "symlink", "hard link":
			if err := os.WriteFile(outside, []byte(own), 0o644); err != nil {
				t.Fatal(err)
			}

			link := os.Symlink
			if how == "hard link" {
				link = os.Link
			}

			if err := link(outside, filepath.Join(dir, PlanFile)); err != nil {
				t.Fatal(err)
			}

			planPath = outside
		}

		changes, err := Write(dir, parsePlan(t, testPlan), WriteOptions{AuthKey: testKey, PlanPath: planPath})
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}

		if data, _ := os.ReadFile(filepath.Join(dir, PlanFile)); string(data) != own {
			t.Errorf("%s: the plan was rewritten:\n%s", how, data)
		}

		if c := changes[slices.IndexFunc(changes, func(c Change) bool { return filepath.Base(c.Path) == PlanFile })]; c.Action != Kept || !strings.Contains(c.Detail, "plan you passed") {
			t.Errorf("%s: %+v", how, c)
		}
	}
}

// Item 10 of issue 21: gen writes every file or none. A config path that
// is a directory stops the run before any file changes, and the error names
// it and says nothing was written.
func TestGenWritesAllFilesOrNone(t *testing.T) {
	dir := t.TempDir()

	if _, err := Write(dir, parsePlan(t, testPlan), WriteOptions{AuthKey: testKey}); err != nil {
		t.Fatal(err)
	}

	// Every config changes with the Kubernetes version.
	changed := parsePlan(t, strings.Replace(testPlan, "cluster: {name: homelab}", "cluster: {name: homelab, allowSchedulingOnControlPlanes: true}", 1))

	for _, name := range []string{"gw.yaml", "nuc.yaml", TalosconfigFile} {
		path := filepath.Join(dir, name)
		saved, _ := os.ReadFile(path)

		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}

		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}

		before := snapshot(t, dir)

		_, err := Write(dir, changed, WriteOptions{AuthKey: testKey})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "nothing was written") {
			t.Errorf("%s is a directory: %v", name, err)
		}

		if after := snapshot(t, dir); !maps.Equal(before, after) {
			t.Errorf("%s is a directory: other files changed", name)
		}

		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}

		if err := os.WriteFile(path, saved, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("a temporary file was left: %s", e.Name())
		}
	}
}

// Item 11 of issue 21: every file that holds secrets is tightened to 0600
// when someone loosened it — the kept secrets bundle and an unchanged
// talosconfig included — and the report says so.
func TestEveryLoosenedSecretFileIsTightenedAndReported(t *testing.T) {
	dir := t.TempDir()
	p := parsePlan(t, testPlan)

	if _, err := Write(dir, p, WriteOptions{AuthKey: testKey}); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(dir, plan.KubeconfigFile), []byte("apiVersion: v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	loose := []string{SecretsFile, TalosconfigFile, "gw.yaml", plan.KubeconfigFile}
	for _, name := range loose {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	changes, err := Write(dir, p, WriteOptions{AuthKey: testKey})
	if err != nil {
		t.Fatal(err)
	}

	for _, name := range loose {
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o", name, st.Mode().Perm())
		}

		i := slices.IndexFunc(changes, func(c Change) bool { return filepath.Base(c.Path) == name })
		if i < 0 || !strings.Contains(changes[i].Detail, "mode 644 → 600") {
			t.Errorf("%s: the tightening is not reported: %v", name, changes)
		}
	}
}

// Item 15 of issue 21: an updated file's diff names the file in its
// headers, so --diff output says which file each hunk belongs to.
func TestDiffsNameTheirFile(t *testing.T) {
	dir := t.TempDir()

	if _, err := Write(dir, parsePlan(t, testPlan), WriteOptions{AuthKey: testKey}); err != nil {
		t.Fatal(err)
	}

	changes, err := Write(dir, parsePlan(t, strings.Replace(testPlan, "model: amd64, machine", "model: amd64, installDisk: /dev/sdb, machine", 1)), WriteOptions{AuthKey: testKey})
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range changes {
		if c.Action == Updated && !strings.HasPrefix(c.Diff, "--- "+c.Path+" (before)\n+++ "+c.Path+" (now)\n") {
			t.Errorf("%s: diff without its file name:\n%s", c.Path, c.Diff)
		}
	}
}

// Item 15 of issue 21: --out naming a file or a dangling link says so.
func TestOutputDirectoryMistakesAreNamed(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	link := filepath.Join(base, "link")

	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := os.Symlink(filepath.Join(base, "gone"), link); err != nil {
		t.Fatal(err)
	}

	for dir, want := range map[string]string{file: "is a file, not a directory", link: "symbolic link to " + filepath.Join(base, "gone") + ", which does not exist"} {
		_, err := Write(dir, parsePlan(t, testPlan), WriteOptions{AuthKey: testKey})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v", dir, err)
		}
	}
}
