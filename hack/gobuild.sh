#!/usr/bin/env bash
# gobuild.sh OUT PKG [go build flags…]: go build with its progress shown —
# the first build on a fresh machine compiles ~2000 packages for minutes,
# and a silent wait looks like a hang. Each tenth of the packages `go list
# -deps` names is one line; packages already in the build cache are not
# compiled again, so a warm build prints little or nothing.
set -euo pipefail

out=$1 pkg=$2
shift 2
go=${GO:-go}

total=$("$go" list -deps "$pkg" | wc -l)

"$go" build -v "$@" -o "$out" "$pkg" 2>&1 | awk -v total="$total" -v what="$(basename "$out")" '
	/^go: / || /^#/ || / / { print; next }   # downloads and errors, as go said them
	{
		n++
		step = int(n * 10 / total)
		if (step > last && step <= 10) { last = step; printf "building %s: %d of at most %d packages\n", what, n, total; fflush() }
	}'
