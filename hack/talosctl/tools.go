//go:build tools

// Package tools pins the official talosctl, built from its own module so
// the tests run the real client against the simulated boards.
package tools

import _ "github.com/siderolabs/talos/cmd/talosctl"
