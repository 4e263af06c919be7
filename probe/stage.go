package probe

// MachineStage is a board's Talos machine stage, named as MachineStatus
// names it (talos v1.13.3 pkg/machinery/resources/runtime
// machinestage_enumer.go); "" until one is seen.
type MachineStage string

// The stages of Talos v1.13.3's MachineStage enum.
const (
	StageUnknown      MachineStage = "unknown"
	StageBooting      MachineStage = "booting"
	StageInstalling   MachineStage = "installing"
	StageMaintenance  MachineStage = "maintenance"
	StageRunning      MachineStage = "running"
	StageRebooting    MachineStage = "rebooting"
	StageShuttingDown MachineStage = "shutting down"
	StageResetting    MachineStage = "resetting"
	StageUpgrading    MachineStage = "upgrading"
)

// String is the stage's name.
func (s MachineStage) String() string { return string(s) }

// ExtensionState is whether an extension is in the image a board runs
// (Talos lists the image's extensions as ExtensionStatus resources).
// Which ones the role does not want is the fold's to say
// (Node.Unexpected), not a state of its own.
type ExtensionState string

// The two states the watch reports.
const (
	ExtensionPresent ExtensionState = "present"
	ExtensionMissing ExtensionState = "missing"
)
