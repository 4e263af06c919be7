package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/textdiff"
	"go.yaml.in/yaml/v4"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// File names in an output directory; the layout talosctl users know. The
// whole list of what liftoff owns there is plan.OwnedFiles.
const (
	SecretsFile     = plan.SecretsFile
	TalosconfigFile = plan.TalosconfigFile
	PlanFile        = plan.PlanCopyFile
)

// Actions reported per file.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
	Kept      = "kept"  // exists and is never rewritten (the secrets bundle, the plan passed in)
	Stale     = "stale" // a board config no longer in the plan; left alone
)

// Change says what Write did to one file.
type Change struct {
	Path   string
	Action string
	Detail string // e.g. "+2 -1 lines", "mode 644 → 600"
	Diff   string // unified diff of an update, secrets redacted
	// Warning is what a person must not miss about this change: shown
	// loudly, on its own line.
	Warning string
}

// WriteOptions tune Write.
type WriteOptions struct {
	// AuthKey is the Tailscale auth key for the gateway.
	AuthKey string
	// NewSecrets allows creating a secrets bundle in a directory that already
	// holds configs: those configs belong to other secrets, and nodes running
	// them will not accept the new ones.
	NewSecrets bool
	// PlanPath is the file the plan was read from. Nothing is ever written
	// over it; when it is the output directory's lab.yaml it stays exactly
	// as its author wrote it.
	PlanPath string
	// Now names a talosconfig moved aside (default time.Now).
	Now func() time.Time
}

// planCopyHeader marks the plan copy as liftoff's, so a lab.yaml without
// it is never taken for one and overwritten.
const planCopyHeader = "# Written by liftoff gen: the plan the configs next to it were made from. Edit your own plan\n" +
	"# and run liftoff gen again; liftoff rewrites this copy.\n"

// Write generates every file of a lab into dir. Everything is generated
// and checked first; then every file is written or none is (temporary
// files renamed into place). The secrets bundle is created once and never
// replaced; files holding secrets are 0600, and a looser mode found on one
// is tightened and reported. Nothing is written over a file liftoff did
// not make for that purpose, nor over the plan it was given.
func Write(dir string, p *plan.Plan, opts WriteOptions) ([]Change, error) {
	if err := p.Validate().Err(); err != nil {
		return nil, err
	}

	if err := CheckDir(dir); err != nil {
		return nil, err
	}

	if opts.Now == nil {
		opts.Now = time.Now
	}

	bundle, fresh, err := loadOrNewSecrets(dir, p, opts.NewSecrets)
	if err != nil {
		return nil, err
	}

	boards, err := Generate(p, bundle, opts.AuthKey)
	if err != nil {
		return nil, err
	}

	w := &writer{dir: dir, planPath: opts.PlanPath}

	secretsPath := filepath.Join(dir, SecretsFile)

	if fresh {
		data, err := yaml.Marshal(bundle)
		if err != nil {
			return nil, err
		}

		c := Change{Path: secretsPath, Action: Created}
		if existing := existingConfigs(dir, p); len(existing) > 0 {
			c.Warning = fmt.Sprintf("new secrets next to configs made with other ones (%s): a board running one of those refuses the new configs and the new talosconfig — reset it to maintenance mode before applying", strings.Join(existing, ", "))
		}

		// Never replaced, even by a bundle that appears meanwhile.
		w.set.Add(secretsPath, data, 0o600, true)
		w.changes = append(w.changes, c)
	} else {
		w.keep(secretsPath, 0o600)
	}

	for _, b := range boards {
		data, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("board %s: encoding config: %w", b.Board.Name, err)
		}

		name := b.Board.Name
		if err := w.file(plan.ConfigFile(name), data, 0o600, fileio.MachineConfig, func(old []byte) error {
			if _, err := configloader.NewFromBytes(old); err != nil {
				return fmt.Errorf("it is not a Talos machine config, so liftoff did not write it: move it away, or rename board %s in the plan", name)
			}

			return nil
		}); err != nil {
			return nil, err
		}
	}

	if err := w.talosconfig(p, bundle, opts.Now()); err != nil {
		return nil, err
	}

	if err := w.planCopy(p); err != nil {
		return nil, err
	}

	made, err := mkdir(dir)
	if err != nil {
		return nil, err
	}

	if err := w.set.Commit(); err != nil {
		if made {
			_ = os.Remove(dir) //nolint:errcheck // only if still empty
		}

		return nil, err
	}

	w.tightenOthers()
	w.tighten()

	stale, err := staleConfigs(dir, p)
	if err != nil {
		return w.changes, err
	}

	for _, s := range stale {
		w.changes = append(w.changes, Change{Path: s, Action: Stale, Detail: "not in the plan any more; left alone (delete it yourself if the board is gone)"})
	}

	return w.changes, nil
}

// CheckDir says what is wrong with an output directory before anything
// is generated: a file where the directory belongs, a dangling link.
func CheckDir(dir string) error {
	st, err := os.Stat(dir)

	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("output directory %s is a file, not a directory: choose a directory (it is created if missing)", dir)
	case err == nil, !errors.Is(err, fs.ErrNotExist):
		return err
	}

	if target, lerr := os.Readlink(dir); lerr == nil {
		return fmt.Errorf("output directory %s is a symbolic link to %s, which does not exist: create %s, or choose another directory", dir, target, target)
	}

	return nil
}

// mkdir creates the output directory (0700) when missing, and says
// whether it did.
func mkdir(dir string) (bool, error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating %s: %w", dir, err)
	}

	return true, nil
}

// writer gathers one Write: what goes to disk together, and the report.
type writer struct {
	dir      string
	planPath string
	set      fileio.Set
	changes  []Change
	// modes are the modes files holding secrets must have, by path.
	modes map[string]fs.FileMode
}

// file queues one file unless it is unchanged. owns says whether an
// existing file is liftoff's to replace.
func (w *writer) file(name string, data []byte, mode fs.FileMode, kind fileio.Kind, owns func(old []byte) error) error {
	path := filepath.Join(w.dir, name)

	if w.isPlan(path) {
		return fmt.Errorf("%s is the plan you passed: liftoff never writes over it — keep your plan outside the output directory, or under another name", path)
	}

	old, err := fileio.ReadFile(path, kind)

	switch {
	case errors.Is(err, fs.ErrNotExist):
		w.set.Add(path, data, mode, false)
		w.changes = append(w.changes, Change{Path: path, Action: Created})

		return nil
	case errors.Is(err, fileio.ErrNotRegular):
		return fmt.Errorf("%s is not a regular file: liftoff writes the %s there — move it away; nothing was written", path, kind.Name)
	case err != nil:
		return fmt.Errorf("%w; nothing was written", err)
	case owns != nil:
		if err := owns(old); err != nil {
			return fmt.Errorf("%s exists and %w; nothing was written", path, err)
		}
	}

	if bytes.Equal(old, data) {
		w.keepAs(path, mode, Unchanged)

		return nil
	}

	diff := labelledDiff(path, fileio.Redact(string(old)), fileio.Redact(string(data)))
	plus, minus := countDiff(diff)

	c := Change{Path: path, Action: Updated, Detail: fmt.Sprintf("+%d -%d lines", plus, minus), Diff: diff}
	if m := looser(path, mode); m != "" {
		c.Detail += ", " + m
	}

	w.set.Add(path, data, mode, false)
	w.changes = append(w.changes, c)

	return nil
}

// keep reports a file that stays as it is (tightening its mode after the
// write, when it holds secrets).
func (w *writer) keep(path string, mode fs.FileMode) { w.keepAs(path, mode, Kept) }

func (w *writer) keepAs(path string, mode fs.FileMode, action string) {
	w.changes = append(w.changes, Change{Path: path, Action: action})

	if w.modes == nil {
		w.modes = map[string]fs.FileMode{}
	}

	w.modes[path] = mode
}

// tighten narrows the mode of kept files someone loosened, and says so on
// their line of the report. It never loosens.
func (w *writer) tighten() {
	for i, c := range w.changes {
		mode, ok := w.modes[c.Path]
		if !ok {
			continue
		}

		m := looser(c.Path, mode)
		if m == "" {
			continue
		}

		st, _ := os.Stat(c.Path)
		if err := os.Chmod(c.Path, st.Mode().Perm()&mode); err != nil {
			w.changes[i].Warning = fmt.Sprintf("%s is readable by others (%s) and could not be tightened: %v — chmod 600 %s", c.Path, m, err, c.Path)

			continue
		}

		w.changes[i].Detail = strings.TrimPrefix(w.changes[i].Detail+", "+m+" (tightened: it holds secrets)", ", ")
	}
}

// tightenOthers reports, for tightening, the other files of the directory
// that hold secrets (the kubeconfig up saved, talosconfigs moved aside)
// when someone loosened them; untouched ones are not reported.
func (w *writer) tightenOthers() {
	others := []string{filepath.Join(w.dir, plan.KubeconfigFile)}

	aside, _ := filepath.Glob(filepath.Join(w.dir, plan.ReplacedTalosconfigPrefix+"*"))
	others = append(others, aside...)

	for _, path := range others {
		if looser(path, 0o600) != "" && !slices.ContainsFunc(w.changes, func(c Change) bool { return c.Path == path }) {
			w.keep(path, 0o600)
		}
	}
}

// looser describes a file's mode when it allows more than mode: "mode 644 → 600".
func looser(path string, mode fs.FileMode) string {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&^mode == 0 {
		return ""
	}

	return fmt.Sprintf("mode %o → %o", st.Mode().Perm(), st.Mode().Perm()&mode)
}

// isPlan tells whether path is the plan file Write was given, by file
// identity: another spelling of the path, a symbolic or a hard link.
func (w *writer) isPlan(path string) bool {
	if w.planPath == "" {
		return false
	}

	a, err := os.Stat(path)
	if err != nil {
		return false
	}

	b, err := os.Stat(w.planPath)

	return err == nil && os.SameFile(a, b)
}

// planCopy keeps the plan next to the configs made from it, unless the
// plan given is that very file: then it stays as its author wrote it.
func (w *writer) planCopy(p *plan.Plan) error {
	path := filepath.Join(w.dir, PlanFile)

	if w.isPlan(path) {
		w.changes = append(w.changes, Change{Path: path, Action: Kept, Detail: "it is the plan you passed: left as you wrote it"})

		return nil
	}

	data, err := p.Marshal()
	if err != nil {
		return err
	}

	return w.file(PlanFile, append([]byte(planCopyHeader), data...), 0o644, fileio.Plan, func(old []byte) error {
		if isPlanCopy(old) {
			return nil
		}

		return errors.New("it is not the copy liftoff keeps (no liftoff header, not in liftoff's form): it may be your own plan — pass it with --plan, or move it away")
	})
}

// isPlanCopy tells a plan copy liftoff wrote: with its header, or (from
// liftoff versions before the header) exactly a plan in liftoff's form.
func isPlanCopy(data []byte) bool {
	if bytes.HasPrefix(data, []byte(planCopyHeader)) {
		return true
	}

	p, err := plan.Parse(data)
	if err != nil {
		return false
	}

	again, err := p.Marshal()

	return err == nil && bytes.Equal(again, data)
}

// talosconfig queues the talosconfig: an existing one keeps its client
// certificate (as much a credential as the bundle) and has only its
// endpoints and nodes refreshed — unless its context for this cluster was
// made for other secrets. Then the context is made anew, and the old file
// is kept beside it: with the old secrets gone, it is the one key left to
// the boards still running them.
func (w *writer) talosconfig(p *plan.Plan, bundle *secrets.Bundle, now time.Time) error {
	fresh, err := Talosconfig(p, bundle)
	if err != nil {
		return err
	}

	path := filepath.Join(w.dir, TalosconfigFile)

	oldBytes, err := fileio.ReadFile(path, fileio.Talosconfig)
	if errors.Is(err, fs.ErrNotExist) {
		return w.file(TalosconfigFile, fresh, 0o600, fileio.Talosconfig, nil)
	}

	if errors.Is(err, fileio.ErrNotRegular) {
		return fmt.Errorf("%s is not a regular file: liftoff writes the talosconfig there — move it away; nothing was written", path)
	}

	if err != nil {
		return fmt.Errorf("%w: move it away to have it recreated; nothing was written", err)
	}

	old, err := clientconfig.FromBytes(oldBytes)
	if err != nil {
		return fmt.Errorf("%s exists but is not a talosconfig (%v): move it away to have it recreated", path, err)
	}

	want, err := clientconfig.FromBytes(fresh)
	if err != nil {
		return err
	}

	mine := want.Contexts[want.Context]
	ctx := old.Contexts[p.Cluster.Name]

	replaced := ctx != nil && ctx.CA != mine.CA

	switch {
	case ctx == nil:
		// A talosconfig for another cluster: add this one's context.
		old.Contexts[p.Cluster.Name] = mine
	case replaced:
		old.Contexts[p.Cluster.Name] = mine
	default:
		ctx.Endpoints, ctx.Nodes = mine.Endpoints, mine.Nodes
	}

	data, err := old.Bytes()
	if err != nil {
		return err
	}

	at := len(w.changes)

	if err := w.file(TalosconfigFile, data, 0o600, fileio.Talosconfig, nil); err != nil {
		return err
	}

	if !replaced {
		return nil
	}

	aside := filepath.Join(w.dir, plan.ReplacedTalosconfigPrefix+now.UTC().Format("20060102T150405Z"))
	w.set.Add(aside, oldBytes, 0o600, true)
	w.changes = append(w.changes, Change{Path: aside, Action: Created, Detail: "the talosconfig of the old secrets, kept"})

	c := &w.changes[at]
	c.Detail = strings.TrimPrefix(c.Detail+", context "+p.Cluster.Name+" made anew for the new secrets", ", ")
	c.Warning = fmt.Sprintf("new secrets: %s's context %q now holds a client certificate of the new secrets. "+
		"Any board still running a config from the old ones refuses it, and nothing but the old talosconfig, kept as %s, can reach it: "+
		"reset such a board to maintenance mode with it (talosctl reset --talosconfig %s -n ADDRESS -e ADDRESS --graceful=false --reboot --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL), then apply the new config",
		TalosconfigFile, p.Cluster.Name, aside, aside)

	return nil
}

// loadOrNewSecrets reads the bundle in dir, or makes a new one in memory
// when there is none. It refuses to invent secrets next to configs that
// were made with other ones.
func loadOrNewSecrets(dir string, p *plan.Plan, allowNew bool) (*secrets.Bundle, bool, error) {
	path := filepath.Join(dir, SecretsFile)

	data, err := fileio.ReadFile(path, fileio.Secrets)
	switch {
	case err == nil:
		bundle := &secrets.Bundle{Clock: secrets.NewClock()}
		if err := yaml.Unmarshal(data, bundle); err != nil {
			return nil, false, fmt.Errorf("%s cannot be read as a secrets bundle (%v): liftoff never replaces a bundle — restore it from backup or move it away yourself", path, err)
		}

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

	bundle, err := secrets.NewBundle(secrets.NewClock(), contract)
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
		out = append(out, plan.ConfigFile(b.Name))
	}

	return out
}

// staleConfigs finds machine configs of boards no longer in the plan.
func staleConfigs(dir string, p *plan.Plan) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}

	known := append(boardFiles(p), plan.OwnedFiles...)

	var out []string

	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".yaml") || slices.Contains(known, e.Name()) {
			continue
		}

		data, err := fileio.ReadFile(filepath.Join(dir, e.Name()), fileio.MachineConfig)
		if err == nil && bytes.Contains(data, []byte("kind: HostnameConfig")) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}

	return out, nil
}

// labelledDiff is a unified diff whose headers name the file, so hunks
// shown together say which file each belongs to.
func labelledDiff(path, old, now string) string {
	diff, err := textdiff.DiffWithCustomPaths(old, now, path+" (before)", path+" (now)")
	if err != nil {
		// A diff too large to show has no headers to patch.
		raw, _ := textdiff.Diff(old, now)
		diff = "--- " + path + " (before)\n+++ " + path + " (now)\n" + raw
	}

	return diff
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

// OpenTalosconfig reads a talosconfig. Unlike the machinery's
// clientconfig.Open it never creates the file: a mistyped path must not
// leave an empty talosconfig behind (which would then pass for one).
func OpenTalosconfig(path string) (*clientconfig.Config, error) {
	data, err := fileio.ReadFile(path, fileio.Talosconfig)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("talosconfig %s does not exist: liftoff gen writes one next to the configs", path)
		}

		return nil, err
	}

	tc, err := clientconfig.FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("talosconfig %s: %w", path, err)
	}

	return tc, nil
}
