//go:build !unix

package traffic

import (
	"io"
	"net"
	"syscall"
)

// idleOpen reports whether an idle connection is still open. Where a peek
// without waiting is not to hand it is taken to be: a request that finds
// it closed is sent again when that is safe (connPool.roundTrip).
func idleOpen(syscall.RawConn) bool { return true }

// writerTo returns the writer the fast path writes to c with: c.
func writerTo(c net.Conn) io.Writer { return c }
