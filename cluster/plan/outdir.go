package plan

import "strings"

// The files liftoff owns in an output directory (gen's --out, up's --out,
// sim's --dir). Each board's machine config sits next to them as
// <board>.yaml, which is why no board may take one of their names.
const (
	SecretsFile     = "secrets.yaml"               // the cluster's secrets bundle: created once, never replaced
	TalosconfigFile = "talosconfig"                // talosctl's and liftoff's client config
	PlanCopyFile    = "lab.yaml"                   // the plan the configs were made from
	WizardPlanFile  = "wizard-plan.yaml"           // the wizard's plan, saved as it is made
	KubeconfigFile  = "kubeconfig"                 // the admin kubeconfig, after bootstrap
	SchematicsFile  = "registered-schematics.json" // schematics Image Factory confirmed
	SimLogFile      = "sim.log"                    // the simulated lab's own log
	FlashedFile     = "flashed-media.json"         // which role's image each board's boot medium carries
	// ReplacedTalosconfigPrefix starts the name of a talosconfig gen moved
	// aside because it belonged to other secrets (it still reaches the
	// boards of that cluster).
	ReplacedTalosconfigPrefix = TalosconfigFile + ".replaced-"
)

// OwnedFiles are the fixed names liftoff writes in an output directory.
var OwnedFiles = []string{SecretsFile, TalosconfigFile, PlanCopyFile, WizardPlanFile, KubeconfigFile, SchematicsFile, SimLogFile, FlashedFile}

// ConfigFile is the name of a board's machine config in an output directory.
func ConfigFile(board string) string { return board + ".yaml" }

// OwnedFile is the file of an output directory a board name would collide
// with: its machine config would be that file, or the name is the file's
// own (a board called "kubeconfig" next to the kubeconfig reads as a
// mistake even where the names differ). "" when the name is free.
func OwnedFile(board string) string {
	for _, f := range OwnedFiles {
		stem, _, _ := strings.Cut(f, ".")
		if board == stem || ConfigFile(board) == f {
			return f
		}
	}

	return ""
}
