package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/textdiff"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Regenerate is one board's config exactly as liftoff gen writes it, from
// the plan and the secrets bundle in dir. It never makes a bundle: without
// the one the boards run, a new config would lock them out.
func Regenerate(dir string, p *plan.Plan, board, authKey string) ([]byte, error) {
	if _, err := fileio.ReadFile(filepath.Join(dir, SecretsFile), fileio.Secrets); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: liftoff regenerates a board's config only with the secrets bundle its boards run (point --out at the directory liftoff gen wrote)", dir, SecretsFile)
	}

	bundle, _, err := loadOrNewSecrets(dir, p, false)
	if err != nil {
		return nil, err
	}

	boards, err := Generate(p, bundle, authKey)
	if err != nil {
		return nil, err
	}

	for _, b := range boards {
		if b.Board.Name == board {
			return b.Bytes()
		}
	}

	return nil, fmt.Errorf("%s is not a board of the plan", board)
}

// Diff is a unified diff from one config to another, secrets redacted,
// with its added and removed line counts.
func Diff(old, next []byte) (diff string, plus, minus int, err error) {
	diff, err = textdiff.Diff(fileio.Redact(string(old)), fileio.Redact(string(next)))
	if err != nil {
		return "", 0, 0, err
	}

	plus, minus = countDiff(diff)

	return strings.TrimRight(diff, "\n"), plus, minus, nil
}
