package probe

import (
	"strings"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Words says what went wrong talking to a board in words a person can act
// on, with anything secret-shaped hidden: the one way an error becomes
// text in events, in apply's progress and in the bundle.
func Words(err error) string {
	if err == nil {
		return "no error"
	}

	return fileio.Redact(Explain(err).Words)
}

// OrDash is s, or a dash where there is nothing to show.
func OrDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "–"
	}

	return s
}
