package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/textdiff"
	"go.yaml.in/yaml/v4"

	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// File names in an output directory; the layout talosctl users know.
const (
	SecretsFile     = "secrets.yaml"
	TalosconfigFile = "talosconfig"
	PlanFile        = "lab.yaml"
)

// Actions reported per file.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
	Kept      = "kept"  // exists and is never rewritten (the secrets bundle)
	Stale     = "stale" // a board config no longer in the plan; left alone
)

// Change says what Write did to one file.
type Change struct {
	Path   string
	Action string
	Detail string // e.g. "+2 -1 lines"
	Diff   string // unified diff of an update, secrets redacted
}

// WriteOptions tune Write.
type WriteOptions struct {
	// AuthKey is the Tailscale auth key for the gateway.
	AuthKey string
	// NewSecrets allows creating a secrets bundle in a directory that already
	// holds configs: those configs belong to other secrets, and nodes running
	// them will not accept the new ones.
	NewSecrets bool
}

// Write generates every file of a lab into dir. Nothing is written unless
// everything generated and validated; the secrets bundle is created once and
// never replaced; files holding secrets are 0600.
func Write(dir string, p *plan.Plan, opts WriteOptions) ([]Change, error) {
	if err := p.Validate().Err(); err != nil {
		return nil, err
	}

	bundle, fresh, err := loadOrNewSecrets(dir, p, opts.NewSecrets)
	if err != nil {
		return nil, err
	}

	boards, err := Generate(p, bundle, opts.AuthKey)
	if err != nil {
		return nil, err
	}

	type file struct {
		name string
		data []byte
		mode fs.FileMode
	}

	var files []file

	for _, b := range boards {
		data, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("board %s: encoding config: %w", b.Board.Name, err)
		}

		files = append(files, file{b.Board.Name + ".yaml", data, 0o600})
	}

	tc, err := talosconfigFor(dir, p, bundle)
	if err != nil {
		return nil, err
	}

	files = append(files, file{TalosconfigFile, tc, 0o600})

	planBytes, err := p.Marshal()
	if err != nil {
		return nil, err
	}

	files = append(files, file{PlanFile, planBytes, 0o644})

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}

	var changes []Change

	secretsPath := filepath.Join(dir, SecretsFile)

	if fresh {
		data, err := yaml.Marshal(bundle)
		if err != nil {
			return nil, err
		}

		// O_EXCL: a bundle that appeared meanwhile is never overwritten.
		if err := writeNew(secretsPath, data, 0o600); err != nil {
			return nil, err
		}

		changes = append(changes, Change{Path: secretsPath, Action: Created})
	} else {
		changes = append(changes, Change{Path: secretsPath, Action: Kept})
	}

	for _, f := range files {
		c, err := writeIfChanged(filepath.Join(dir, f.name), f.data, f.mode)
		if err != nil {
			return changes, err
		}

		changes = append(changes, c)
	}

	stale, err := staleConfigs(dir, p)
	if err != nil {
		return changes, err
	}

	for _, s := range stale {
		changes = append(changes, Change{Path: s, Action: Stale, Detail: "not in the plan any more; left alone (delete it yourself if the board is gone)"})
	}

	return changes, nil
}

// loadOrNewSecrets reads the bundle in dir, or makes a new one in memory
// when there is none. It refuses to invent secrets next to configs that
// were made with other ones.
func loadOrNewSecrets(dir string, p *plan.Plan, allowNew bool) (*secrets.Bundle, bool, error) {
	path := filepath.Join(dir, SecretsFile)

	bundle, err := secrets.LoadBundle(path)
	switch {
	case err == nil:
		if verr := bundle.Validate(); verr != nil {
			return nil, false, fmt.Errorf("%s is not a valid secrets bundle (%v): liftoff never replaces a bundle — restore it from backup or move it away yourself", path, verr)
		}

		return bundle, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("%s cannot be read as a secrets bundle (%v): liftoff never replaces a bundle — restore it from backup or move it away yourself", path, err)
	}

	if !allowNew {
		if existing := existingConfigs(dir, p); len(existing) > 0 {
			return nil, false, fmt.Errorf("%s is missing but %s already hold(s) configs made with it: new secrets would lock you out of nodes running them — restore secrets.yaml, or pass --new-secrets if those nodes are being wiped", path, strings.Join(existing, ", "))
		}
	}

	contract, err := coreconfig.ParseContractFromVersion(p.Cluster.TalosVersion)
	if err != nil {
		return nil, false, err
	}

	bundle, err = secrets.NewBundle(secrets.NewClock(), contract)
	if err != nil {
		return nil, false, fmt.Errorf("generating secrets: %w", err)
	}

	return bundle, true, nil
}

func existingConfigs(dir string, p *plan.Plan) []string {
	var out []string

	for _, name := range append(boardFiles(p), TalosconfigFile) {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			out = append(out, name)
		}
	}

	return out
}

func boardFiles(p *plan.Plan) []string {
	var out []string
	for _, b := range p.Boards {
		out = append(out, b.Name+".yaml")
	}

	return out
}

// staleConfigs finds machine configs of boards no longer in the plan.
func staleConfigs(dir string, p *plan.Plan) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}

	known := append(boardFiles(p), SecretsFile, PlanFile)

	var out []string

	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || slices.Contains(known, e.Name()) {
			continue
		}

		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && bytes.Contains(data, []byte("kind: HostnameConfig")) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}

	return out, nil
}

// talosconfigFor keeps an existing talosconfig (its client certificate is
// as much a credential as the bundle) and only refreshes endpoints and nodes.
func talosconfigFor(dir string, p *plan.Plan, bundle *secrets.Bundle) ([]byte, error) {
	fresh, err := Talosconfig(p, bundle)
	if err != nil {
		return nil, err
	}

	path := filepath.Join(dir, TalosconfigFile)

	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fresh, nil
	}

	old, err := clientconfig.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s exists but cannot be read (%v): move it away to have it recreated", path, err)
	}

	want, err := clientconfig.FromBytes(fresh)
	if err != nil {
		return nil, err
	}

	ctx := old.Contexts[p.Cluster.Name]
	if ctx == nil {
		// A talosconfig for another cluster: add this one's context.
		old.Contexts[p.Cluster.Name] = want.Contexts[want.Context]
	} else {
		ctx.Endpoints = want.Contexts[want.Context].Endpoints
		ctx.Nodes = want.Contexts[want.Context].Nodes
	}

	return old.Bytes()
}

func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}

	if _, err := f.Write(data); err != nil {
		f.Close()

		return fmt.Errorf("writing %s: %w", path, err)
	}

	return f.Close()
}

func writeIfChanged(path string, data []byte, mode fs.FileMode) (Change, error) {
	old, err := os.ReadFile(path)

	switch {
	case err == nil && bytes.Equal(old, data):
		return Change{Path: path, Action: Unchanged}, fixMode(path, mode)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return Change{}, fmt.Errorf("reading %s: %w", path, err)
	}

	if err := writeAtomic(path, data, mode); err != nil {
		return Change{}, err
	}

	if old == nil {
		return Change{Path: path, Action: Created}, nil
	}

	diff, _ := textdiff.Diff(Redact(string(old)), Redact(string(data)))
	plus, minus := countDiff(diff)

	return Change{Path: path, Action: Updated, Detail: fmt.Sprintf("+%d -%d lines", plus, minus), Diff: diff}, nil
}

// fixMode tightens a secret file someone loosened; it never loosens.
func fixMode(path string, mode fs.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}

	if st.Mode().Perm()&^mode != 0 {
		return os.Chmod(path, mode)
	}

	return nil
}

func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}

	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename

	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()

		return err
	}

	if _, err := tmp.Write(data); err != nil {
		tmp.Close()

		return fmt.Errorf("writing %s: %w", path, err)
	}

	if err := tmp.Close(); err != nil {
		return err
	}

	return os.Rename(tmp.Name(), path)
}

func countDiff(diff string) (plus, minus int) {
	for _, line := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
		case strings.HasPrefix(line, "+"):
			plus++
		case strings.HasPrefix(line, "-"):
			minus++
		}
	}

	return plus, minus
}

var secretLine = regexp.MustCompile(`(?m)((?:TS_AUTHKEY|TS_AUTH_KEY)=|(?:\b(?:key|token|secret|bootstraptoken|secretboxEncryptionSecret|aescbcEncryptionSecret)\s*:\s*))\S+`)

// Redact hides secret values in config text shown to people (diffs, the
// review screen, support bundles).
func Redact(text string) string {
	return secretLine.ReplaceAllString(text, "${1}<redacted>")
}

// OpenTalosconfig reads a talosconfig. Unlike the machinery's
// clientconfig.Open it never creates the file: a mistyped path must not
// leave an empty talosconfig behind (which would then pass for one).
func OpenTalosconfig(path string) (*clientconfig.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("talosconfig %s does not exist: liftoff gen writes one next to the configs", path)
		}

		return nil, fmt.Errorf("reading talosconfig %s: %w", path, err)
	}

	tc, err := clientconfig.FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("talosconfig %s: %w", path, err)
	}

	return tc, nil
}
