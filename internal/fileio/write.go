package fileio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Set is files written together: every one of them lands, or none does.
// Each is staged as a temporary file in its own directory (fsynced), then
// renamed over its target; a failure on the way puts back what was there.
type Set struct {
	files []pending
}

type pending struct {
	path      string
	data      []byte
	mode      fs.FileMode
	noReplace bool

	tmp, backup string
	existed     bool
	installed   bool
}

// Add queues a file. noReplace makes the commit fail rather than replace a
// file that exists by then (the secrets bundle).
func (s *Set) Add(path string, data []byte, mode fs.FileMode, noReplace bool) {
	s.files = append(s.files, pending{path: path, data: data, mode: mode, noReplace: noReplace})
}

// Len is how many files are queued.
func (s *Set) Len() int { return len(s.files) }

// Commit writes every queued file or none. Its error says which file
// stopped it and that nothing was changed (or, should even putting back
// fail, exactly which files are in which state).
func (s *Set) Commit() error {
	for _, f := range s.files {
		if err := checkTarget(f.path); err != nil {
			return fmt.Errorf("%w; nothing was written", err)
		}
	}

	defer s.cleanup()

	for i := range s.files {
		if err := s.files[i].stage(); err != nil {
			return fmt.Errorf("%w; nothing was written", err)
		}
	}

	for i := range s.files {
		if err := s.files[i].install(); err != nil {
			return s.rollback(err)
		}
	}

	dirs := map[string]bool{}
	for _, f := range s.files {
		dirs[filepath.Dir(f.path)] = true
	}

	for d := range dirs {
		syncDir(d)
	}

	return nil
}

// checkTarget refuses to write over anything but a regular file: a
// directory or a device where a file belongs is a mistake to report, not
// to replace.
func checkTarget(path string) error {
	st, err := os.Lstat(path)

	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case st.Mode().IsRegular():
		return nil
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: liftoff writes its files in place and will not follow or replace a link — remove it or choose another directory", path)
	}

	return fmt.Errorf("%s is %s where liftoff writes a file: move it away or choose another directory", path, what(st.Mode()))
}

func (f *pending) stage() error {
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.path, err)
	}

	f.tmp = tmp.Name()

	err = tmp.Chmod(f.mode)
	if err == nil {
		_, err = tmp.Write(f.data)
	}

	if err == nil {
		err = tmp.Sync()
	}

	if cerr := tmp.Close(); err == nil {
		err = cerr
	}

	if err != nil {
		return fmt.Errorf("writing %s: %w", f.path, err)
	}

	return nil
}

func (f *pending) install() error {
	if _, err := os.Lstat(f.path); err == nil {
		if f.noReplace {
			return fmt.Errorf("%s appeared while liftoff was writing: it is never replaced", f.path)
		}

		f.existed = true
		f.backup = f.tmp + ".old"

		// A hard link keeps the old file to put back; nothing is copied.
		// Where links are not supported, the old file moves aside.
		if err := os.Link(f.path, f.backup); err != nil {
			if err := os.Rename(f.path, f.backup); err != nil {
				f.backup = ""

				return fmt.Errorf("writing %s: keeping the old file to put back on failure: %w", f.path, err)
			}
		}
	}

	var err error
	if f.noReplace {
		// link(2) fails when the target exists: never replaced, even in a race.
		if err = os.Link(f.tmp, f.path); err == nil {
			_ = os.Remove(f.tmp) //nolint:errcheck // the link is the file now
		} else if !errors.Is(err, fs.ErrExist) {
			err = os.Rename(f.tmp, f.path)
		}
	} else {
		err = os.Rename(f.tmp, f.path)
	}

	if err != nil {
		if f.existed {
			f.installed = true // so the rollback puts the old file back
		}

		return fmt.Errorf("writing %s: %w", f.path, err)
	}

	f.installed = true

	return nil
}

func (s *Set) rollback(cause error) error {
	var stuck []string

	for i := range s.files {
		f := &s.files[i]
		if !f.installed {
			continue
		}

		var err error
		if f.existed {
			err = os.Rename(f.backup, f.path)
		} else {
			err = os.Remove(f.path)
		}

		if err != nil {
			stuck = append(stuck, f.path)
		} else {
			f.installed, f.backup = false, ""
		}
	}

	if len(stuck) > 0 {
		return fmt.Errorf("%w; putting back the earlier files failed too: %s now hold the new content, the others are unchanged", cause, strings.Join(stuck, ", "))
	}

	return fmt.Errorf("%w; nothing was changed", cause)
}

func (s *Set) cleanup() {
	for _, f := range s.files {
		if f.tmp != "" {
			_ = os.Remove(f.tmp) //nolint:errcheck // gone after a rename
		}

		if f.backup != "" {
			_ = os.Remove(f.backup) //nolint:errcheck // only a second link
		}
	}
}

// syncDir makes the renames in dir durable. Best effort: not every file
// system lets a directory be fsynced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()  //nolint:errcheck // best effort
		_ = d.Close() //nolint:errcheck
	}
}

// WriteFile writes one file whole or not at all.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	var s Set

	s.Add(path, data, mode, false)

	return s.Commit()
}

// CheckOutput makes sure a report or recording can be written to path
// before the work that produces it starts: its directory exists and takes
// new files, and path is not a directory.
func CheckOutput(flag, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s is a directory: name a file in it, e.g. %s", flag, path, filepath.Join(path, "report"))
	}

	dir := filepath.Dir(path)

	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s %s: its directory %s does not exist: create it first or choose another path", flag, path, dir)
	}

	if !st.IsDir() {
		return fmt.Errorf("%s %s: %s is not a directory", flag, path, dir)
	}

	probe, err := os.CreateTemp(dir, ".liftoff-probe-*")
	if err != nil {
		return fmt.Errorf("%s %s: cannot create files in %s: %w", flag, path, dir, unwrapPath(err))
	}

	_ = probe.Close()           //nolint:errcheck
	_ = os.Remove(probe.Name()) //nolint:errcheck

	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}

	return err
}
