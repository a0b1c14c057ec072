package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// NotWritableError is Open's error when this process cannot write where
// the store must: the data directory (SQLite creates promote.db-wal and
// promote.db-shm beside the database), the database file or those beside
// it, or, for a data directory still to be made, the directory that would
// hold it. It is bad input, like a missing file: Open found it before
// creating or changing anything, and no retry mends it.
type NotWritableError struct {
	// What says what Path is, for a person: "the data directory", "the
	// database file", "the parent directory" (of a data directory to be
	// made); empty when Path is a file that stands where a directory must.
	What string
	// Path is the directory or file, absolute.
	Path string
	// Err is the system's reason (a syscall.Errno such as EACCES or EROFS),
	// or SQLite's error when SQLite found the file read-only.
	Err error
}

func (e *NotWritableError) Error() string {
	what := strings.TrimSpace(e.What + " " + e.Path)
	switch {
	case errors.Is(e.Err, syscall.EROFS):
		return fmt.Sprintf("%s is on a read-only file system: choose a data directory on a writable one", what)
	case errors.Is(e.Err, syscall.ENOTDIR):
		return fmt.Sprintf("%s is a file, not a directory: choose another data directory", what)
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("%s is not writable by %s: permission denied; give the user write access to it, or choose another data directory",
			what, thisUser())
	}
	return fmt.Sprintf("%s cannot be written (%v): give %s write access to it, or choose another data directory",
		what, e.Err, thisUser())
}

// thisUser names the user this process runs as, by uid where there is one
// (not on Windows).
func thisUser() string {
	if uid := os.Geteuid(); uid >= 0 {
		return fmt.Sprintf("this user (uid %d)", uid)
	}
	return "this user"
}

func (e *NotWritableError) Unwrap() error { return e.Err }

// notWritable returns err as a NotWritableError of path when it says that
// path cannot be written for a reason no retry mends, and err otherwise.
func notWritable(what, path string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch {
		case errors.Is(errno, fs.ErrPermission), errno == syscall.EROFS, errno == syscall.ENOTDIR:
			return &NotWritableError{What: what, Path: path, Err: errno}
		}
	}
	return err
}

// makeDir creates the data directory dir (absolute) when it is missing;
// when that cannot be, the error names the directory at fault: the parent
// that is not writable, or the file that stands where a directory must.
func makeDir(dir string) error {
	err := os.MkdirAll(dir, 0o700)
	var pe *fs.PathError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, syscall.ENOTDIR) {
		// MkdirAll names the file on the way.
		return notWritable("", pe.Path, err)
	}
	return notWritable("the parent directory", filepath.Dir(pe.Path), err)
}

// probeWritable is checkWritable where there is no access(2) (Windows):
// it creates a file in the data directory dir and removes it, and opens
// each database file at path that exists for writing, changing none.
func probeWritable(dir, path string) error {
	f, err := os.CreateTemp(dir, ".promote-writable-*")
	if err != nil {
		return notWritable("the data directory", dir, err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("remove %s: %w", f.Name(), err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return notWritable("the database file", p, err)
		}
		f.Close()
	}
	return nil
}

// readOnly returns err as a NotWritableError of the database file at path
// when SQLite says that it could not write it (SQLITE_READONLY and its
// extended codes): what checkWritable did not foresee, such as a file made
// read-only since.
func readOnly(path string, err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_READONLY {
		return &NotWritableError{What: "the database file", Path: path, Err: err}
	}
	return err
}
