package cli

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRange is where lockFile locks a file on Windows: one byte at 4 GiB,
// past the process ID that serve.lock holds, since a range Windows locks
// cannot be read by another process, and lockHolder reads the ID.
var lockRange = windows.Overlapped{OffsetHigh: 1}

// lockFile takes a lock on f, exclusive or shared, without waiting
// (LockFileEx); it is errLockHeld when another holds a lock that
// conflicts. The lock goes when f is closed, or its process ends.
func lockFile(f *os.File, exclusive bool) error {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := lockRange
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errLockHeld
	}
	return err
}

// unlockFile releases lockFile's lock on f.
func unlockFile(f *os.File) {
	ol := lockRange
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

// processRuns reports whether the process pid exists and has not exited;
// one that cannot be opened for another reason (access) counts as running.
func processRuns(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
		return false
	}
	if err != nil {
		return true
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == 259 // STILL_ACTIVE
}
