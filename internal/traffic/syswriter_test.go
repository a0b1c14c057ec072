//go:build unix

package traffic

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// sysWriter writes everything, in order, to a reader slower than the
// socket's buffer (the EAGAIN path), and fails as net.Conn.Write does at a
// deadline and on a connection the peer closed.
func TestSysWriter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-accepted
	w := writerTo(c)
	if _, ok := w.(*sysWriter); !ok {
		t.Fatalf("writerTo(a TCP connection) = %T, want *sysWriter", w)
	}

	// 16 MiB, far more than the socket buffers hold, read in small reads.
	want := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		io.CopyBuffer(&buf, io.LimitReader(peer, int64(len(want))), make([]byte, 1500))
		got <- buf.Bytes()
	}()
	if n, err := w.Write(want); n != len(want) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("the peer read other bytes than were written")
	}

	// Nobody reads: the buffers fill, and the deadline ends the write.
	// The receiver's buffer may have grown past 16 MiB while the peer
	// read (net.ipv4.tcp_rmem allows 32 MiB on some kernels), so write
	// until the buffers are full, up to 1 GiB.
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	var n, total int
	err = nil
	for total < 1<<30 && err == nil {
		n, err = w.Write(want)
		total += n
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || !isTimeout(err) || n >= len(want) {
		t.Fatalf("Write to a peer that does not read = %d (%d in all), %v; want a timeout", n, total, err)
	}
	c.SetWriteDeadline(time.Time{})

	// The peer is gone: the write fails, as net.Conn.Write's does.
	peer.Close()
	var werr error
	for range 100 { // the first writes may still be taken before the reset
		if _, werr = w.Write([]byte("after close")); werr != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
		t.Fatalf("Write to a closed peer = %v, want EPIPE or ECONNRESET", werr)
	}
	c.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on a closed connection = %v, want net.ErrClosed", err)
	}
}
