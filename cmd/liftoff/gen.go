package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/liftoff-lab/liftoff/cluster/config"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

func newGenCmd() *cobra.Command {
	var (
		path       string
		out        string
		fac        string
		keyFile    string
		newSecrets bool
		showDiff   bool
	)

	c := &cobra.Command{
		Use:   "gen",
		Short: "Generate Talos machine configs for every board",
		Long: `Generates, with Talos's own machinery, into --out:
  secrets.yaml     the cluster's secrets bundle (created once, never replaced)
  <board>.yaml     one machine config per board (controlplane or worker,
                   hostname, install disk, the installer of its role; the
                   gateway alone also carries the tailscale
                   ExtensionServiceConfig advertising the pod and service CIDRs)
  talosconfig      client config for talosctl and liftoff
  lab.yaml         a copy of the plan these were made from (when --plan is
                   that very file, it is left exactly as you wrote it)

The layout is talosctl's: talosctl apply-config --insecure -n ADDR --file <board>.yaml
Register the installers' schematics with the Image Factory first (liftoff
images --register; liftoff up does it itself): the factory serves no
installer for a schematic it does not know, and the install fails.

Re-running is safe: unchanged files are left alone and each changed one is
reported. Every file is written or none is (a failure changes nothing), and
gen never writes over a file it did not make for that purpose. Files
holding secrets are 0600; a looser mode found on one is tightened, and
reported. No board may be named after a file liftoff owns here (secrets,
lab, talosconfig, kubeconfig, wizard-plan …).

The Tailscale auth key comes from --tailscale-authkey-file, else
$LIFTOFF_TS_AUTHKEY / $TS_AUTHKEY, else tailscale.authKeyFile in the plan —
never from a flag value.`,
		Example: `  liftoff gen --plan examples/lab.yaml --out ./homelab --tailscale-authkey-file ~/.config/liftoff/tskey
  TS_AUTHKEY=$(cat key) liftoff gen --out ./homelab`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out is required: the directory for configs and secrets, e.g. --out ./homelab")}
			}

			if err := config.CheckDir(out); err != nil {
				return usageError{err}
			}

			p, err := loadValid(c.ErrOrStderr(), path)
			if err != nil {
				return err
			}

			if err := useFactory(p, fac); err != nil {
				return err
			}

			key, err := gatewayKey(p, keyFile, c.ErrOrStderr())
			if err != nil {
				return err
			}

			changes, err := config.Write(out, p, config.WriteOptions{AuthKey: key, NewSecrets: newSecrets, PlanPath: path})
			if err != nil {
				return err
			}

			if err := printChanges(c.OutOrStdout(), c.ErrOrStderr(), changes, showDiff); err != nil {
				return err
			}

			if p.Images.Custom == "" {
				fmt.Fprintf(c.ErrOrStderr(), "before applying by hand: liftoff images --plan %s --register --lab %s (the factory serves no installer for a schematic it does not know)\n", path, out)
			}

			return nil
		},
	}

	addPlanFlag(c, &path)
	c.Flags().StringVarP(&out, "out", "o", "", "output directory (created 0700 if missing)")
	c.Flags().StringVar(&keyFile, "tailscale-authkey-file", "", "file holding the Tailscale auth key for the gateway")
	c.Flags().BoolVar(&newSecrets, "new-secrets", false, "allow a new secrets bundle where configs from another one exist (only when those nodes are being wiped); the talosconfig gets a new context, the old one is kept as talosconfig.replaced-TIME")
	c.Flags().BoolVar(&showDiff, "diff", false, "show what changed in updated files (secrets redacted)")
	addFactoryFlag(c, &fac)

	return c
}

// warnChanges prints what a person must not miss about files gen wrote,
// one loud block per file, on stderr.
func warnChanges(w io.Writer, changes []config.Change) {
	for _, ch := range changes {
		if ch.Warning != "" {
			fmt.Fprintf(w, "\nWARNING (%s): %s\n", ch.Path, ch.Warning)
		}
	}
}

// gatewayKey is the gateway's Tailscale auth key ("" for a plan without a
// gateway), from where ResolveAuthKey finds it; a plan with a gateway and
// no key is refused. Where it came from, and a warning about the file,
// go to errw when it is not nil — never the key.
func gatewayKey(p *plan.Plan, keyFile string, errw io.Writer) (string, error) {
	if _, ok := p.Gateway(); !ok {
		return "", nil
	}

	src, err := config.ResolveAuthKey(keyFile, p.Tailscale.AuthKeyFile)
	if err != nil {
		return "", err
	}

	if src.Key == "" {
		return "", config.ErrNoAuthKey
	}

	if errw != nil {
		if src.Warning != "" {
			fmt.Fprintln(errw, "warning:", src.Warning)
		}

		fmt.Fprintf(errw, "tailscale auth key from %s\n", src.Origin)
	}

	return src.Key, nil
}

// printChanges lists what gen wrote, one file a line, warns about what
// needs attention, and shows each diff when asked.
func printChanges(out, errw io.Writer, changes []config.Change, showDiff bool) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, ch := range changes {
		fmt.Fprintf(w, "%s\t%s\t%s\n", ch.Action, ch.Path, ch.Detail)
	}

	if err := w.Flush(); err != nil {
		return err
	}

	warnChanges(errw, changes)

	if showDiff {
		for _, ch := range changes {
			if ch.Diff != "" {
				fmt.Fprintln(out, ch.Diff)
			}
		}
	}

	return nil
}
