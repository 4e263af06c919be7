// Package toolpathtest is the one rule for tests that need a built tool:
// skip with the way to get it, or fail where LIFTOFF_REQUIRE_TOOLS is set
// (CI), so CI never silently skips what the issue needs.
package toolpathtest

import (
	"testing"

	"github.com/liftoff-lab/liftoff/internal/toolpath"
)

// Need returns the path of each tool, in order, or ends the test.
func Need(t testing.TB, names ...string) []string {
	t.Helper()

	paths := make([]string, 0, len(names))

	for _, name := range names {
		p, err := toolpath.Find(name)
		if err != nil {
			if toolpath.Required() {
				t.Fatal(err)
			}

			t.Skipf("skipping: %v (set LIFTOFF_REQUIRE_TOOLS=1 to make this a failure)", err)
		}

		paths = append(paths, p)
	}

	return paths
}
