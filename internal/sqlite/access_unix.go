//go:build unix

package sqlite

import (
	"errors"
	"syscall"
)

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
