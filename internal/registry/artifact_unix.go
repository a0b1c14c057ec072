//go:build unix

package registry

import (
	"os"
	"syscall"
)

// openNonblocking makes openRegular's opening of a file swapped for a
// named pipe return at once instead of waiting for a writer.
const openNonblocking = syscall.O_NONBLOCK

// setBlocking has f, a regular file, read as usual: a file system that
// honours O_NONBLOCK (FUSE, some network ones) would otherwise answer a
// read that must wait with EAGAIN.
func setBlocking(f *os.File) error { return syscall.SetNonblock(int(f.Fd()), false) }
