package probe

import (
	"context"
	"errors"

	"github.com/cosi-project/runtime/pkg/safe"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	talosconfig "github.com/siderolabs/talos/pkg/machinery/resources/config"
)

// errMaintenance: a board in maintenance mode runs no config yet.
var errMaintenance = errors.New("the board runs no config yet (maintenance mode)")

// RunningConfig is the machine config a board runs now (Talos's
// MachineConfig resource), read with the talosconfig: what a re-apply
// would change is diffed against it.
func RunningConfig(ctx context.Context, t Target) ([]byte, error) {
	c, secure, err := Connect(ctx, t)
	if err != nil {
		return nil, err
	}
	defer c.Close() //nolint:errcheck

	if !secure {
		return nil, errMaintenance
	}

	mc, err := safe.StateGetByID[*talosconfig.MachineConfig](ctx, c.COSI, talosconfig.ActiveID)
	if err != nil {
		return nil, err
	}

	return mc.Provider().EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
}
