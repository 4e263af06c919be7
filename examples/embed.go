// Package examples ships the example plan inside the binary, so
// `liftoff plan init` works from any directory.
package examples

import _ "embed"

// Lab is examples/lab.yaml.
//
//go:embed lab.yaml
var Lab []byte
