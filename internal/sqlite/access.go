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
	case errors.Is(e.Err, syscall.EACCES), errors.Is(e.Err, syscall.EPERM):
		return fmt.Sprintf("%s is not writable by this user (uid %d): permission denied; give the user write access to it, or choose another data directory",
			what, os.Geteuid())
	}
	return fmt.Sprintf("%s cannot be written (%v): give this user (uid %d) write access to it, or choose another data directory",
		what, e.Err, os.Geteuid())
}

func (e *NotWritableError) Unwrap() error { return e.Err }

// notWritable returns err as a NotWritableError of path when it says that
// path cannot be written for a reason no retry mends, and err otherwise.
func notWritable(what, path string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EACCES, syscall.EPERM, syscall.EROFS, syscall.ENOTDIR:
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

// checkWritable refuses, before anything is created, a data directory dir
// or a database file path (both absolute) that this process cannot write:
// SQLite would open them and fail at the first write with only its own
// words ("attempt to write a readonly database"), which name neither the
// file nor the reason.
func checkWritable(dir, path string) error {
	if err := syscall.Access(dir, 2|1); err != nil { // W_OK|X_OK
		return notWritable("the data directory", dir, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		err := syscall.Access(p, 4|2) // R_OK|W_OK
		if errors.Is(err, syscall.ENOENT) {
			continue
		}
		if err != nil {
			return notWritable("the database file", p, err)
		}
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
