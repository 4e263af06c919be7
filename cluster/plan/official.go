package plan

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
)

// officialList is official-extensions.txt: the official system extensions
// of Talos v1.13.3, as data with its source in its header.
//
//go:embed official-extensions.txt
var officialList string

// Official are the official extensions' short names, sorted.
var Official = parseOfficial(officialList)

func parseOfficial(text string) []string {
	var out []string

	for line := range strings.SplitSeq(text, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}

	slices.Sort(out)

	return out
}

// IsOfficial tells an official extension's short name.
func IsOfficial(name string) bool {
	_, ok := slices.BinarySearch(Official, name)

	return ok
}

// officialProblem says why an extension entry of a plan is not an official
// extension Image Factory can build in, with the fix; "" when it is. An
// entry is NAME or siderolabs/NAME.
func officialProblem(entry string) (why, fix string) {
	entry = strings.TrimSpace(entry)
	name := ShortExtension(entry)

	if owner, _, ok := strings.Cut(entry, "/"); ok && (owner != "siderolabs" || strings.Count(entry, "/") > 1) {
		return fmt.Sprintf("extension %q is not an official extension name: Image Factory builds in only siderolabs/NAME", entry),
			"write it as " + name + " or siderolabs/" + name + " (the official list: github.com/siderolabs/extensions), or build your own image (images.custom)"
	}

	if IsOfficial(name) {
		return "", ""
	}

	if lower := strings.ToLower(name); IsOfficial(lower) {
		return fmt.Sprintf("extension %q is not an official extension name: names are lowercase", entry), "write " + lower
	}

	if near := nearest(name); near != "" {
		return fmt.Sprintf("extension %q is not an official extension of Talos v1.13.3", entry), "did you mean " + near + "? (the official list: github.com/siderolabs/extensions)"
	}

	return fmt.Sprintf("extension %q is not an official extension of Talos v1.13.3", entry),
		"use a name from github.com/siderolabs/extensions (e.g. zfs, drbd, spin, tailscale), or build your own image (images.custom)"
}

// nearest is the official name within two edits of name, if one is.
func nearest(name string) string {
	best, dist := "", 3

	for _, o := range Official {
		if d := editDistance(strings.ToLower(name), o); d < dist {
			best, dist = o, d
		}
	}

	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}

	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i

		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}

			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}

		prev = cur
	}

	return prev[len(b)]
}
