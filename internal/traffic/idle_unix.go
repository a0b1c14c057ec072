//go:build unix

package traffic

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// idleOpen reports whether an idle connection, raw being its socket, is
// still open and holds nothing unread: a peek that would block. A backend
// that closed it (EOF), reset it, or sent bytes nobody asked for fails it.
// Without a socket it is taken to be open.
func idleOpen(raw syscall.RawConn) bool {
	if raw == nil {
		return true
	}
	open := false
	var b [1]byte
	err := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true // never wait
	})
	return err == nil && open
}

// sysWriter writes to a connection's socket with write(2) made as a raw
// system call (syscall.RawSyscall), which the Go runtime does not see as
// one. A write to a loopback or local socket does the receiver's TCP work
// too and can last tens of microseconds; the runtime's monitor (sysmon)
// takes a goroutine that long in a system call, with work waiting, for
// blocked, and hands its processor to another thread: under load, a
// thread wake and switch came with many of the fast path's writes. The
// socket is non-blocking, so the write never waits in the kernel: when
// its buffer is full (EAGAIN), the writer waits, as net.Conn.Write does,
// in the network poller (syscall.RawConn.Write), under the connection's
// write deadline.
type sysWriter struct {
	raw   syscall.RawConn
	p     []byte
	n     int
	err   error
	write func(fd uintptr) bool
}

// writerTo returns the writer the fast path writes to c with: a
// sysWriter for a socket, c itself otherwise.
func writerTo(c net.Conn) io.Writer {
	raw := rawConn(c)
	if raw == nil {
		return c
	}
	w := &sysWriter{raw: raw}
	w.write = w.writeFD
	return w
}

// writeFD writes what is left of w.p to fd; false when fd takes no more
// before it is writable again.
func (w *sysWriter) writeFD(fd uintptr) bool {
	for len(w.p) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.p[0])), uintptr(len(w.p)))
		switch e {
		case 0:
			w.n += int(n)
			w.p = w.p[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = e
			return true
		}
	}
	return true
}

// Write implements io.Writer. Its errors are the network poller's (a
// deadline: os.ErrDeadlineExceeded, a closed connection: net.ErrClosed) or
// write(2)'s (syscall.EPIPE, syscall.ECONNRESET).
func (w *sysWriter) Write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.raw.Write(w.write)
	w.p = nil
	if err == nil {
		err = w.err
	}
	return w.n, err
}
