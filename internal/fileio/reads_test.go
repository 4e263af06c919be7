package fileio

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Item 13 of issue 21, as a class: every file liftoff reads goes through
// this package's bounded reader. Any other way to read a file whole (or to
// open one for reading) in non-test code fails this test, so a new one
// cannot slip in unbounded.
func TestEveryReadIsBounded(t *testing.T) {
	unbounded := regexp.MustCompile(`\bos\.ReadFile\(|\bos\.Open\(|\bioutil\.ReadFile\(|\bsecrets\.LoadBundle\(|\bclientconfig\.Open\(|` +
		`\bconfigloader\.NewFromFile\(|\btls\.LoadX509KeyPair\(|\bclientcmd\.LoadFromFile\(`)
	readAll := regexp.MustCompile(`\bio\.ReadAll\(`)
	openRead := regexp.MustCompile(`\bos\.OpenFile\(`)

	// Reads that are bounded by what they read, each with its reason.
	allowed := map[string]string{
		"sim/kube/wasm.go": "io.ReadAll of the gzip-compressed WebAssembly module embedded in the binary",
	}

	root := filepath.Join("..", "..")

	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}

		rel, _ := filepath.Rel(root, path)

		if d.IsDir() {
			if rel == "hack" || rel == filepath.Join("internal", "fileio") || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}

			return nil
		}

		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || allowed[filepath.ToSlash(rel)] != "" {
			return nil
		}

		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}

		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}

			if unbounded.MatchString(line) ||
				readAll.MatchString(line) && !strings.Contains(line, "io.ReadAll(io.LimitReader(") ||
				openRead.MatchString(line) && !strings.Contains(line, "O_WRONLY") && !strings.Contains(line, "O_RDWR") {
				t.Errorf("%s:%d reads a file without a bound: use fileio.ReadFile or fileio.Open\n\t%s", rel, i+1, strings.TrimSpace(line))
			}
		}

		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
