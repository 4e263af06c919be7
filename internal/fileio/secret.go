package fileio

import (
	"fmt"
	"regexp"
	"strings"
)

// Shapes of secrets people paste where a path belongs. Each is specific
// enough that no file name a person picks matches it by accident.
var secretShapes = []struct {
	what string
	re   *regexp.Regexp
	mask string // what Redact leaves in its place
}{
	{"a Tailscale key", regexp.MustCompile(`(?i)tskey-[^\s"',;]*`), "tskey-<redacted>"},
	{"a PEM key or certificate", regexp.MustCompile(`-----BEGIN[\s\S]*?(?:-----END[^-]*-----|\z)`), "<redacted PEM block>"},
	{"a JSON Web Token", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?`), "<redacted>"},
	{"an access token", regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,})`), "<redacted>"},
	{"a cloud access key", regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_-]{35}\b`), "<redacted>"},
	{"a Kubernetes bootstrap token", regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`), "<redacted>"},
}

// opaque is a long run of key material with nothing of a path in it: no
// directory, no extension. Checked on path values only (a schematic ID is
// a fine argument, not a fine file name).
var opaque = regexp.MustCompile(`^[A-Za-z0-9+=_-]{32,}$`)

// LooksSecret names the kind of secret s looks like, or "" when it looks
// like none.
func LooksSecret(s string) string {
	for _, sh := range secretShapes {
		if sh.re.MatchString(s) {
			return sh.what
		}
	}

	return ""
}

// CheckPath refuses a value given where a path belongs that looks like a
// secret (a key pasted instead of the file holding it) or holds a control
// character. The message never repeats the value: it would land in a
// terminal's scrollback, a CI log or a bug report.
func CheckPath(flag, value string) error {
	what := LooksSecret(value)

	if what == "" && opaque.MatchString(value) && strings.ContainsAny(value, "0123456789") &&
		strings.IndexFunc(value, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) >= 0 {
		what = "a key or token"
	}

	if what != "" {
		return fmt.Errorf("%s takes a path, but its value looks like %s (not shown, not used): save the secret in a file with mode 0600 and give that file's path (a file really named like that: write it as ./NAME)", flag, what)
	}

	if strings.ContainsFunc(value, isControl) {
		return fmt.Errorf("%s: the path holds a line break or control character (not shown): give the path on its own", flag)
	}

	return nil
}

// CheckValue refuses a flag value or argument that looks like a secret:
// nothing liftoff takes on its command line is one, and command lines end
// up in shell history and process lists.
func CheckValue(name, value string) error {
	if what := LooksSecret(value); what != "" {
		return fmt.Errorf("%s: the value looks like %s (not shown, not used): liftoff never takes a secret on its command line — put it in a file with mode 0600 (see --help for the flag that reads it)", name, what)
	}

	return nil
}

// Secret values in text that is not a bare secret: YAML keys of Talos and
// Kubernetes configs, TS_AUTHKEY lines, Authorization headers. Only the
// value goes; the key stays, so a diff or a log still says what changed.
var (
	secretLine = regexp.MustCompile(`(?m)((?:TS_AUTHKEY|TS_AUTH_KEY)=|(?:\b(?:key|token|secret|bootstraptoken|secretboxEncryptionSecret|aescbcEncryptionSecret)\s*:\s*))\S+`)
	bearer     = regexp.MustCompile(`(?i)(bearer\s+)\S+`)
)

// Redact hides anything secret-shaped in text shown to people — errors
// that quote what they were given, config diffs, the review screen, logs
// in support bundles. It is the one redactor: every such text passes here.
func Redact(text string) string {
	text = secretLine.ReplaceAllString(text, "${1}<redacted>")
	text = bearer.ReplaceAllString(text, "${1}<redacted>")

	for _, sh := range secretShapes {
		text = sh.re.ReplaceAllLiteralString(text, sh.mask)
	}

	return text
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
