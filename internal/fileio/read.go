// Package fileio is how liftoff touches files a person hands it and files
// it owns: reads bounded in size and limited to regular files, path flags
// that refuse secrets pasted in their place, and writes that land whole or
// not at all.
package fileio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Kind is what a file is meant to hold: its name in messages and the most
// liftoff reads of it. The caps are far above any honest file of the kind
// and far below what hurts (a /dev/zero passed as a plan).
type Kind struct {
	Name string
	Max  int64
}

// The kinds of file liftoff reads.
var (
	Plan          = Kind{"plan", 1 << 20}
	SimSpec       = Kind{"sim spec", 64 << 10}
	AuthKey       = Kind{"Tailscale auth key file", 4 << 10}
	APIKey        = Kind{"Tailscale API key file", 4 << 10}
	Secrets       = Kind{"secrets bundle", 1 << 20}
	Talosconfig   = Kind{"talosconfig", 4 << 20}
	Kubeconfig    = Kind{"kubeconfig", 16 << 20}
	MachineConfig = Kind{"machine config", 4 << 20}
	Recording     = Kind{"recording", 256 << 20}
	Schematics    = Kind{"schematic record", 1 << 20}
	// DiskImage is a boot medium's image (liftoff flash): streamed, never
	// read whole; the cap is far above any Talos disk image.
	DiskImage = Kind{"disk image", 64 << 30}
	// System is a kernel table: a sysfs attribute, /proc/self/mountinfo.
	System = Kind{"system table", 1 << 20}
	// Own is what liftoff itself wrote and reads back (PEM files, logs,
	// go.mod, fixtures): still bounded, still regular files.
	Own = Kind{"file", 64 << 20}
)

// ErrNotRegular is returned for directories, FIFOs, devices and sockets.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned for a file over its kind's cap.
var ErrTooLarge = errors.New("too large")

// ReadFile reads a whole file of the given kind: only a regular file, and
// no more than the kind's cap. A FIFO or device never blocks or floods the
// read; the error names the path and what is wrong with it.
func ReadFile(path string, k Kind) ([]byte, error) {
	f, err := Open(path, k)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read-only

	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}

	return data, nil
}

// File is an open file whose reads stop with ErrTooLarge past its cap.
type File struct {
	f    *os.File
	path string
	k    Kind
	n    int64
}

// Open opens a regular file for reading, bounded by its kind's cap (for
// streams such as recordings).
func Open(path string, k Kind) (*File, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer. It does not
	// change reads of a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}

	st, err := f.Stat()
	if err != nil {
		f.Close() //nolint:errcheck

		return nil, err
	}

	if !st.Mode().IsRegular() {
		f.Close() //nolint:errcheck

		return nil, &fs.PathError{Op: "read " + k.Name, Path: path, Err: fmt.Errorf("%w (%s): give the path of a %s", ErrNotRegular, what(st.Mode()), k.Name)}
	}

	if st.Size() > k.Max {
		f.Close() //nolint:errcheck

		return nil, tooLarge(path, k)
	}

	return &File{f: f, path: path, k: k}, nil
}

// Read reads, failing once more than the cap has been read (a file that
// grows while it is read).
func (r *File) Read(p []byte) (int, error) {
	if r.n > r.k.Max {
		return 0, tooLarge(r.path, r.k)
	}

	if rest := r.k.Max + 1 - r.n; int64(len(p)) > rest {
		p = p[:rest]
	}

	n, err := r.f.Read(p)
	r.n += int64(n)

	if r.n > r.k.Max {
		return 0, tooLarge(r.path, r.k)
	}

	return n, err
}

// ReadAt reads at an offset within the cap (an index at a file's end).
func (r *File) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.k.Max {
		return 0, tooLarge(r.path, r.k)
	}

	return r.f.ReadAt(p, off)
}

// Close closes the file.
func (r *File) Close() error { return r.f.Close() }

// Stat describes the open file.
func (r *File) Stat() (fs.FileInfo, error) { return r.f.Stat() }

func tooLarge(path string, k Kind) error {
	return &fs.PathError{Op: "read " + k.Name, Path: path, Err: fmt.Errorf("%w: over %s, far more than a %s holds — check the path", ErrTooLarge, size(k.Max), k.Name)}
}

func what(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}

	return "not a regular file"
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}

	return fmt.Sprintf("%d bytes", n)
}
