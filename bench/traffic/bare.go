package traffic

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// Bare is a proxy with none of net/http's server, transport or
// httputil.ReverseProxy: a goroutine per client connection that reads a
// request, sends it on a kept-alive connection to one of two backends
// (every Every-th request to the canary) and copies the answer back. It
// is a measuring stick for the router benchmark (floor.sh), not a router:
// it forwards GET requests without a body, to backends that answer with a
// Content-Length, and checks nothing else. It tells what a Go proxy costs
// on this machine when the per-request machinery of net/http is left out,
// so that the splitter's gap to nginx can be split between Go itself and
// the libraries the splitter is built on.
//
// With Parse, requests and answers are read with net/http's own parsers
// (http.ReadRequest and http.ReadResponse), which check what a real
// router must check, and written back by hand; without it they are
// scanned for the end of their header and the answer's Content-Length
// only.
type Bare struct {
	Stable, Canary string // host:port
	Every          uint64 // every Every-th request goes to the canary
	Parse          bool

	n     atomic.Uint64
	pools [2]barePool
}

// Serve serves ln until it fails (it is closed).
func (b *Bare) Serve(ln net.Listener) error {
	b.pools[0].addr, b.pools[1].addr = b.Stable, b.Canary
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		if b.Parse {
			go b.serveParsed(c)
		} else {
			go b.serveScanned(c)
		}
	}
}

// pick returns the pool of the next request's backend.
func (b *Bare) pick() *barePool {
	if b.Every > 0 && b.n.Add(1)%b.Every == 0 {
		return &b.pools[1]
	}
	return &b.pools[0]
}

type barePool struct {
	addr string
	mu   sync.Mutex
	idle []*bareConn
}

type bareConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func (p *barePool) get() (*bareConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &bareConn{c, bufio.NewReader(c), bufio.NewWriter(c)}, nil
}

func (p *barePool) put(c *bareConn) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

var contentLength = []byte("content-length:")

// serveScanned serves one client connection, scanning for the ends of
// headers and the answer's Content-Length.
func (b *Bare) serveScanned(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	var head []byte
	for {
		head = head[:0]
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			head = append(head, line...)
		}
		p := b.pick()
		be, err := p.get()
		if err != nil {
			return
		}
		be.w.Write(head)
		be.w.WriteString("X-Forwarded-For: 127.0.0.1\r\n\r\n")
		if be.w.Flush() != nil {
			be.c.Close()
			return
		}
		length := -1
		for {
			line, err := be.r.ReadSlice('\n')
			if err != nil {
				be.c.Close()
				return
			}
			w.Write(line)
			if len(line) <= 2 {
				break
			}
			if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			}
		}
		if length < 0 {
			be.c.Close()
			return
		}
		if _, err := io.CopyN(w, be.r, int64(length)); err != nil {
			be.c.Close()
			return
		}
		p.put(be)
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// serveParsed serves one client connection with net/http's parsers.
func (b *Bare) serveParsed(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		p := b.pick()
		be, err := p.get()
		if err != nil {
			return
		}
		req.Header.Del("Connection")
		req.Header.Set("X-Forwarded-For", "127.0.0.1")
		fmt.Fprintf(be.w, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.RequestURI, req.Host)
		req.Header.Write(be.w)
		be.w.WriteString("\r\n")
		if be.w.Flush() != nil {
			be.c.Close()
			return
		}
		resp, err := http.ReadResponse(be.r, req)
		if err != nil || resp.ContentLength < 0 {
			be.c.Close()
			return
		}
		fmt.Fprintf(w, "HTTP/1.1 %s\r\n", resp.Status)
		resp.Header.Del("Content-Length")
		resp.Header.Write(w)
		fmt.Fprintf(w, "Content-Length: %d\r\n\r\n", resp.ContentLength)
		_, err = io.Copy(w, resp.Body)
		resp.Body.Close()
		if err != nil {
			be.c.Close()
			return
		}
		p.put(be)
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}
