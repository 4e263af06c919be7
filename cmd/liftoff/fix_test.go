package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"

	"github.com/liftoff-lab/liftoff/cluster/apply"
	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/toolpath/toolpathtest"
	"github.com/liftoff-lab/liftoff/probe"
	"github.com/liftoff-lab/liftoff/sim/lab"
)

// Issue 14 item 3: liftoff fix on a healthy lab whose gateway was renamed
// by hand like the control plane finds the shared Node name, shows the
// regenerated config's diff, re-applies it (--yes), waits until the board
// is Ready and exits 0; run again it finds nothing to repair.
func TestFixReappliesAMisnamedBoard(t *testing.T) {
	if testing.Short() {
		t.Skip("brings a simulated lab up")
	}

	toolpathtest.Need(t, "kube", "etcd")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	u := upSim(ctx, t, "127.0.90.11", "happy", lab.SimAuthKey, "--timeout", "3m")
	if u.err != nil {
		t.Fatalf("%v\n%s", u.err, u.text)
	}

	p, err := plan.Load(u.planFile)
	if err != nil {
		t.Fatal(err)
	}

	misname(ctx, t, p, u.out, "gw", "cp")

	fix := []string{"fix", "gw", "--plan", u.planFile, "--out", u.out, "--tailscale-authkey-file", u.keyFile}

	// Answered no: nothing changes.
	text, err := runIn(ctx, "n\n", fix...)
	if err == nil || !strings.Contains(text, "nothing was changed") {
		t.Fatalf("without --yes and no answer it must not run: %v\n%s", err, text)
	}

	text, err = runCtx(ctx, t, append(fix, "--yes")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}

	if testing.Verbose() {
		t.Log(text)
	}

	for _, want := range []string{
		"✗ gw and cp share the Node name cp",
		"repair: re-apply gw's config",
		"talosctl apply-config -n 127.0.90.12 -e 127.0.90.12 --file " + filepath.Join(u.out, "gw.yaml") + " --mode auto",
		"+hostname: gw",
		"Applied configuration without a reboot",
		"done gw is Ready",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("fix's output lacks %q:\n%s", want, text)
		}
	}

	if text, err = runCtx(ctx, t, fix...); err != nil || !strings.Contains(text, "✓ gw is Ready: nothing to repair") {
		t.Errorf("after the repair: %v\n%s", err, text)
	}
}

// runIn runs liftoff with args, input on its standard input.
func runIn(ctx context.Context, input string, args ...string) (string, error) {
	var out strings.Builder

	root := newRoot()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(input))
	root.SetOut(&out)
	root.SetErr(&out)

	err := root.ExecuteContext(ctx)

	return out.String(), err
}

// misname applies board's config with another board's hostname, as a
// hand edit would.
func misname(ctx context.Context, t *testing.T, p *plan.Plan, out, board, as string) {
	t.Helper()

	data, err := os.ReadFile(filepath.Join(out, board+".yaml"))
	if err != nil {
		t.Fatal(err)
	}

	edited := regexp.MustCompile(`(?m)^hostname: `+board+`$`).ReplaceAll(data, []byte("hostname: "+as))
	if string(edited) == string(data) {
		t.Fatal("no hostname line to edit")
	}

	tc, err := config.OpenTalosconfig(filepath.Join(out, config.TalosconfigFile))
	if err != nil {
		t.Fatal(err)
	}

	b, _ := p.Board(board)

	c, _, err := probe.Connect(ctx, probe.Target{Node: board, Endpoint: apply.Endpoint(b, 0), Talosconfig: tc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() //nolint:errcheck

	if _, err := c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: edited, Mode: machine.ApplyConfigurationRequest_AUTO}); err != nil {
		t.Fatal(err)
	}
}
