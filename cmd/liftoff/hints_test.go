package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
)

// Item 14 of issue 21, as a class: every talosctl command liftoff prints
// or documents parses with the official talosctl (v1.12.6 takes its flags
// only after the subcommand: `talosctl -n X version` is refused). Each
// hint in the code's messages and in the docs is run with --help, which
// parses the flags and runs nothing.
func TestEveryTalosctlHintParses(t *testing.T) {
	talosctl := toolpathtest.Need(t, "talosctl")[0]

	help, err := exec.Command(talosctl, "--help").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}

	// Command lines of the help: two spaces, the name, two or more spaces,
	// its description (in several groups).
	commands := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z][a-z-]*)  +\S`).FindAllStringSubmatch(string(help), -1) {
		commands[m[1]] = true
	}

	concat := regexp.MustCompile(`"\s*\+\s*[^"+]+?\s*\+\s*"|"\s*\+\s*[^"+]+$`)
	hint := regexp.MustCompile("talosctl ([^\"`;,)\\n]*)")
	placeholder := regexp.MustCompile(`<[^>]*>|%[sdvq]|\b[A-Z][A-Z0-9_-]{1,}\b`)

	root := filepath.Join("..", "..")
	seen := 0
	tried := map[string]bool{}

	var wg sync.WaitGroup

	slots := make(chan struct{}, 4)

	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}

		rel, _ := filepath.Rel(root, path)

		if d.IsDir() {
			if rel == "hack" || rel == "screenshots" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}

			return nil
		}

		isGo := strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go")
		if !isGo && !strings.HasSuffix(path, ".md") {
			return nil
		}

		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}

		for i, line := range strings.Split(string(data), "\n") {
			if isGo {
				line = strings.ReplaceAll(concat.ReplaceAllString(line, " X "), `\n`, " ")
			}

			for _, m := range hint.FindAllStringSubmatch(line, -1) {
				text, _, _ := strings.Cut(m[1], " #")
				text, _, _ = strings.Cut(text, " — ")
				words := strings.Fields(placeholder.ReplaceAllString(text, "x"))

				if len(words) == 0 {
					continue
				}

				if strings.HasPrefix(words[0], "-") {
					t.Errorf("%s:%d: flags before the subcommand, which talosctl refuses: talosctl %s", rel, i+1, m[1])

					continue
				}

				if !commands[words[0]] {
					continue // prose: "talosctl and liftoff"
				}

				seen++

				key := strings.Join(words, " ")
				if tried[key] {
					continue
				}

				tried[key] = true
				where := fmt.Sprintf("%s:%d", rel, i+1)

				wg.Go(func() {
					slots <- struct{}{}
					defer func() { <-slots }()

					out, err := exec.Command(talosctl, append(words, "--help")...).CombinedOutput()
					if err != nil {
						t.Errorf("%s: talosctl %s: %v\n%s", where, key, err, firstLine(string(out)))
					}
				})
			}
		}

		return nil
	})
	wg.Wait()

	if err != nil {
		t.Fatal(err)
	}

	if seen < 15 {
		t.Errorf("only %d hints found: the scan is broken", seen)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")

	return line
}
