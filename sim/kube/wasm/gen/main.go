// Command gen builds the WAGI hello guest for wasip1 and writes it gzipped
// next to the package that embeds it. Run through `go generate ./sim/kube`.
// The build is reproducible (-trimpath, no VCS stamp, stripped) and gzip
// carries no name or time, so regenerating yields the same bytes.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen <package dir> <out.wasm.gz>")
		os.Exit(2)
	}

	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(pkg, out string) error {
	tmp, err := os.MkdirTemp("", "wasm-gen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	wasm := filepath.Join(tmp, "hello.wasm")

	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", wasm, pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr

	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}

	raw, err := fileio.ReadFile(wasm, fileio.Own)
	if err != nil {
		return err
	}

	var buf bytes.Buffer

	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}

	if _, err := zw.Write(raw); err != nil {
		return err
	}

	if err := zw.Close(); err != nil {
		return err
	}

	return os.WriteFile(out, buf.Bytes(), 0o644)
}
