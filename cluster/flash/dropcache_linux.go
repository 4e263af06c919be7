package flash

import "golang.org/x/sys/unix"

// dropCache asks the kernel to drop the target's cached pages after the
// sync (posix_fadvise(2) POSIX_FADV_DONTNEED), so the read-back reads the
// medium rather than memory. Best effort: a target that is not a file
// keeps its cache.
func dropCache(t Target) {
	if f, ok := t.(interface{ Fd() uintptr }); ok {
		_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
}
