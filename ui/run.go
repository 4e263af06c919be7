package ui

import (
	"context"
	"errors"

	tea "charm.land/bubbletea/v2"
)

// Run shows the wizard or the dashboard in the terminal until the person
// quits or ctx ends; neither is an error. The program loop lives here so
// that nothing outside ui drives bubbletea.
func Run(ctx context.Context, o Options) error {
	if o.Context == nil {
		o.Context = ctx
	}

	_, err := tea.NewProgram(New(o), tea.WithContext(ctx)).Run()
	if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, context.Canceled) {
		return nil
	}

	return err
}
