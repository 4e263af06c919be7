package main

import (
	"strings"
	"testing"
)

// Bad --include, --ready-budget and --profile values are refused before any
// lab starts, each naming what is accepted.
func TestCheckAndSimFlagsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--sim", "happy", "--include", "extension-isolation"}, "not an opt-in check; opt-in checks: cluster-dns"},
		{[]string{"check", "--sim", "happy", "--ready-budget", "pods=1m"}, `no budget "pods"`},
		{[]string{"check", "--sim", "happy", "--only", "gateway-dns"}, "no such check or suite"},
		{[]string{"sim", "--profile", "openstack"}, "profiles: cozystack"},
	} {
		_, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
