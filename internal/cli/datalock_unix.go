//go:build unix

package cli

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes a flock on f, exclusive or shared, without waiting; it
// is errLockHeld when another holds a lock that conflicts. The lock goes
// when f is closed, or its process ends however it ends.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLockHeld
	}
	return err
}

// unlockFile releases lockFile's lock on f.
func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// processRuns reports whether the process pid exists (signal 0 checks
// without sending).
func processRuns(pid int) bool { return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
