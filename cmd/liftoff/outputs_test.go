package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liftoff-lab/liftoff/probe/check"
)

// Item 7 of issue 21, as a class: every file a command writes at its end
// (a report, a recording, an archive) is checked before any work, so a
// typo costs nothing; and a report that cannot be written never loses the
// results, which are printed first.
func TestOutputPathsAreCheckedBeforeAnyWork(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "homelab")
	plan := writePlan(t, "cluster: {name: x}\nnetwork: {lan: 192.168.1.0/24}\ntailscale: {disabled: true}\nboards:\n  - {name: a, address: 192.168.1.2, model: rpi5, machine: controlplane, role: compute}\n")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--sim", "happy", "--junit", "/nonexistent/dir/x.xml"}, "--junit /nonexistent/dir/x.xml: its directory /nonexistent/dir does not exist"},
		{[]string{"check", "--sim", "happy", "--junit", dir}, "is a directory"},
		{[]string{"check", "--sim", "happy", "--plan", plan, "--junit", plan}, "is the plan"},
		{[]string{"up", "--headless", "--plan", plan, "--out", out, "--record", "/nonexistent/r.jsonl"}, "--record /nonexistent/r.jsonl: its directory"},
		{[]string{"up", "--headless", "--plan", plan, "--out", out, "--record", filepath.Join(out, "secrets.yaml")}, "a file liftoff writes in " + out},
		{[]string{"sim", "--headless", "--record", "/nonexistent/r.jsonl"}, "--record /nonexistent/r.jsonl: its directory"},
		{[]string{"bundle", "a", "--plan", plan, "--out", "/nonexistent/b.tar.gz"}, "--out /nonexistent/b.tar.gz: its directory"},
	} {
		text, err := run(t, tc.args...)

		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.args, err)
		}

		if strings.Contains(text, "starting a simulated lab") || strings.Contains(text, "bringing up") {
			t.Errorf("%v: work started before the output was checked:\n%s", tc.args, text)
		}
	}

	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run created --out")
	}
}

func TestResultsArePrintedEvenWhenTheReportCannotBeSaved(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	if err := os.Mkdir(gone, 0o700); err != nil {
		t.Fatal(err)
	}

	// The directory disappears while the suite runs.
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}

	var printed strings.Builder

	results := []check.Result{{Suite: "cluster-formation", Name: "compute-only-cluster", Status: check.Pass, Summary: "3 compute nodes Ready"}}

	err := report(&printed, results, checkFlags{junit: filepath.Join(gone, "x.xml")}, picture{})
	if err == nil || !strings.Contains(err.Error(), "--junit") || !strings.Contains(err.Error(), "results above") {
		t.Errorf("err = %v", err)
	}

	if !strings.Contains(printed.String(), "3 compute nodes Ready") {
		t.Errorf("the results were not printed:\n%s", printed.String())
	}
}

// Item 15 of issue 21: each of these says what is wrong, naming the path,
// and what to do.
func TestMistakesNameTheirPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	dangling := filepath.Join(dir, "dangling")
	garbage := filepath.Join(dir, "kubeconfig")

	for _, p := range []string{file, garbage} {
		if err := os.WriteFile(p, []byte("{{ not yaml"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	if err := os.Symlink(filepath.Join(dir, "gone"), dangling); err != nil {
		t.Fatal(err)
	}

	t.Setenv("TS_AUTHKEY", testKey)

	out := filepath.Join(dir, "out")
	if text, err := run(t, "gen", "--plan", "../../examples/lab.yaml", "--out", out); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"gen", "--plan", "../../examples/lab.yaml", "--out", file}, []string{file, "is a file, not a directory"}},
		{[]string{"gen", "--plan", "../../examples/lab.yaml", "--out", dangling}, []string{dangling, "symbolic link to " + filepath.Join(dir, "gone") + ", which does not exist"}},
		{[]string{"up", "--plan", "../../examples/lab.yaml", "--out", dangling, "--headless"}, []string{dangling, "which does not exist"}},
		{[]string{"check", "--plan", "../../examples/lab.yaml", "--talosconfig", filepath.Join(out, "talosconfig"), "--kubeconfig", garbage}, []string{garbage, "not a usable kubeconfig", "liftoff up saved"}},
	} {
		_, err := run(t, tc.args...)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %v lacks %q", tc.args, err, want)
			}
		}
	}
}

// Item 9 of issue 21, end to end: gen --out . next to the plan keeps the
// person's lab.yaml byte for byte (comments included), and says so.
func TestGenOutDotKeepsThePlan(t *testing.T) {
	example, err := os.ReadFile("../../examples/lab.yaml")
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	mine := append([]byte("# my own notes stay\n"), example...)

	if err := os.WriteFile(filepath.Join(dir, "lab.yaml"), mine, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Chdir(dir)
	t.Setenv("TS_AUTHKEY", testKey)

	text, err := run(t, "gen", "--plan", "lab.yaml", "--out", ".")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	if got, _ := os.ReadFile(filepath.Join(dir, "lab.yaml")); string(got) != string(mine) {
		t.Error("gen --out . rewrote the plan it was given")
	}

	if !strings.Contains(text, "kept") || !strings.Contains(text, "it is the plan you passed") {
		t.Errorf("the report does not say the plan was kept:\n%s", text)
	}
}
