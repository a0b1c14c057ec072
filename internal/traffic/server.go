package traffic

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Server serves HTTP/1.1 on a listener for one or more splitters, with a
// fast path of its own for the plain requests that make up a model's
// traffic and net/http for everything else (see the package doc, "Fast
// path"). Each connection is read by a loop that parses requests with
// net/http's parser; a plain request that Route sends to a splitter is
// forwarded on a kept-alive backend connection and answered in that loop,
// with none of the server's, the transport's or ReverseProxy's per-request
// goroutines and copies. At the first request that is not plain, the
// connection, with the bytes read of that request, is handed to Fallback
// for the rest of its life, so that net/http answers it (and every error)
// as it would have. It serves plain HTTP: TLS is terminated in front of
// it (a TLS listener's requests would go on as http, X-Forwarded-Proto
// and the sticky cookie's Secure included, and the fallback would not see
// the connection as TLS).
type Server struct {
	// Fallback serves the connections the fast path hands over; its
	// Handler must serve every request, the plain ones included, as the
	// fast path would (a ServeMux with the splitters behind it). Its
	// ReadHeaderTimeout, IdleTimeout (or ReadTimeout), ReadTimeout (of a
	// whole request, its body included) and MaxHeaderBytes bound the fast
	// path's reading of requests too. Serve serves it;
	// Shutdown and Close stop it.
	Fallback *http.Server
	// Route returns where a plain request goes: the splitter that
	// serves it and the request's URL as that splitter is to see it.
	// False hands the connection over to Fallback. It must not keep r.
	Route func(r *http.Request) (Route, bool)

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*serverConn]struct{}
	handoff *handoffListener
	closing atomic.Bool
}

// Route is where Server.Route sends a plain request.
type Route struct {
	// Splitter serves the request.
	Splitter *Splitter
	// URL is the request's URL as the splitter is to see it: its path
	// below the route's prefix (as a router in front of ServeHTTP strips
	// it), its query as it came.
	URL *url.URL
	// Header is set on every response after the backend's headers and
	// the splitter's, replacing any of the same name (the agent's route
	// headers). It must not change once returned.
	Header http.Header
}

// MaxFastBody is the largest request body the fast path forwards: it reads
// it whole before it sends the request (as nginx buffers request bodies),
// so that a backend that answers before reading it cannot stall the
// exchange, and a request on a backend connection found closed can be
// sent again. A larger body hands the connection over to net/http, which
// streams it.
const MaxFastBody = 64 << 10

// serverConn is one client connection served by the fast path.
type serverConn struct {
	net.Conn
	idle atomic.Bool // waiting for the next request
	// mu orders closeIdle's wake-up deadline with the end of idleness:
	// once a request's header is in, no wake-up lands.
	mu sync.Mutex
}

// Serve accepts connections on ln until Shutdown or Close, and serves them;
// it returns http.ErrServerClosed after those, like http.Server.Serve.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.conns = map[*serverConn]struct{}{}
	s.handoff = &handoffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	s.mu.Unlock()
	// Its error is Shutdown's or Close's to report: it ends when the
	// handoff listener closes.
	go s.Fallback.Serve(s.handoff)
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// As http.Server does: too many open files, say.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			s.handoff.close()
			return err
		}
		delay = 0
		sc := &serverConn{Conn: c}
		if !s.track(sc, true) {
			c.Close()
			return http.ErrServerClosed
		}
		go s.serve(sc)
	}
}

// track adds or removes a connection; it reports false when the server is
// closing (nothing is added).
func (s *Server) track(c *serverConn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// Shutdown stops accepting connections, closes the idle ones, waits for
// the requests in flight on the fast path to be answered, and shuts the
// fallback server down; like http.Server.Shutdown, it returns ctx's error
// when ctx ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	fallback := make(chan error, 1)
	go func() { fallback <- s.Fallback.Shutdown(ctx) }()
	wait := 5 * time.Millisecond
	for {
		s.closeIdle()
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			<-fallback
			return ctx.Err()
		case <-time.After(wait):
			wait = min(2*wait, 500*time.Millisecond)
		}
	}
	return <-fallback
}

// Close closes the listener and every connection at once, the fallback
// server's included.
func (s *Server) Close() error {
	s.stop()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return s.Fallback.Close()
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Swap(true) {
		return
	}
	if s.ln != nil {
		s.ln.Close()
		s.handoff.close()
	}
}

// closeIdle wakes the connections waiting for a request: they see the
// server closing and close.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.mu.Lock()
		if c.idle.Load() {
			c.SetReadDeadline(time.Unix(1, 0))
		}
		c.mu.Unlock()
	}
}

// timeouts returns the fallback's bounds on reading a request: how long
// a connection may wait for the next one, how long its header may take,
// and how large it may be, as http.Server reads them. Its WriteTimeout
// bounds the writing of each answer, from the end of the request's header,
// as there.
func (s *Server) timeouts() (idle, header time.Duration, maxHeader int) {
	f := s.Fallback
	idle, header = f.IdleTimeout, f.ReadHeaderTimeout
	if idle == 0 {
		idle = f.ReadTimeout
	}
	if header == 0 {
		header = f.ReadTimeout
	}
	maxHeader = f.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = http.DefaultMaxHeaderBytes
	}
	// http.Server allows 4096 bytes more for the request line and
	// buffering slop.
	return max(idle, 0), max(header, 0), maxHeader + 4096
}

// serve runs a connection's loop until it closes or is handed over.
func (s *Server) serve(c *serverConn) {
	idleTimeout, headerTimeout, maxHeader := s.timeouts()
	readTimeout, writeTimeout := s.Fallback.ReadTimeout, s.Fallback.WriteTimeout
	bw := bufio.NewWriterSize(writerTo(c.Conn), 4<<10)
	rc := &recordingConn{Conn: c.Conn, limit: maxHeader, held: bw}
	br := bufio.NewReaderSize(rc, 4<<10)
	handed := false
	rd, wd := lazyDeadline{set: c.SetReadDeadline}, lazyDeadline{set: c.SetWriteDeadline}
	defer func() {
		s.track(c, false)
		if !handed {
			// The answers held back while the client pipelined go
			// out before the connection closes.
			bw.Flush()
			c.Close()
		}
	}()
	var remoteAddr, clientIP, lastMethod string
	for {
		c.idle.Store(true)
		if s.closing.Load() {
			return
		}
		rc.release()
		if !s.await(br, &rd, idleTimeout, headerTimeout) {
			return
		}
		// As http.Server, ReadTimeout bounds the whole request, its body
		// included, from its first byte.
		var readBy time.Time
		if readTimeout > 0 {
			readBy = time.Now().Add(readTimeout)
		}
		// The connection counts as idle until its request's header is
		// in (as net/http's StateIdle): Shutdown closes one whose client
		// is still sending it.
		if lastMethod == http.MethodPost {
			// Old clients end a POST's body with a CRLF more: net/http
			// skips up to 4 CR or LF bytes before the request that
			// follows one (RFC 9112, section 2.2), and so does the fast
			// path, before it records the bytes a handover replays.
			// Past a POST only, as there: elsewhere they are malformed.
			peek, _ := br.Peek(4) // ReadRequest gets the error below
			br.Discard(leadingCRLF(peek))
		}
		rc.start(br)
		req, err := http.ReadRequest(br)
		rc.recording = false
		c.mu.Lock()
		c.idle.Store(false)
		c.mu.Unlock()
		if s.closing.Load() {
			// closeIdle may have set its wake-up deadline while the
			// header came in, behind rd's back: the request is served
			// under the deadline rd meant.
			rd.force(rd.at)
		}
		if writeTimeout > 0 {
			wd.by(time.Now().Add(writeTimeout), slackOf(writeTimeout))
		}
		switch {
		case err == nil:
		case isTimeout(err) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			// A client too slow to send its header, or gone: net/http
			// closes these without an answer too.
			return
		default:
			// A malformed request, or one past MaxHeaderBytes: net/http
			// answers it as it would have.
			handed = s.handOver(c, rc, bw)
			return
		}
		lastMethod = req.Method
		if remoteAddr == "" {
			remoteAddr = c.RemoteAddr().String()
			clientIP, _, _ = net.SplitHostPort(remoteAddr)
		}
		req.RemoteAddr = remoteAddr
		if !plain(req) || !strictHeader(rc.rec) {
			handed = s.handOver(c, rc, bw)
			return
		}
		route, ok := s.Route(req)
		if !ok || route.Splitter == nil {
			handed = s.handOver(c, rc, bw)
			return
		}
		x := exchange{req: req, url: route.URL, header: route.Header, clientIP: clientIP, br: br, bw: bw, rd: &rd,
			readBy: readBy, readTimeout: readTimeout, closing: s.closing.Load}
		switch route.Splitter.serveFast(&x) {
		case fastDeclined:
			handed = s.handOver(c, rc, bw)
			return
		case fastClose:
			return
		}
		if req.Close || s.closing.Load() {
			return
		}
	}
}

// handOver gives the connection, with what was read of its current
// request, to the fallback server; false when that is shutting down. The
// answers held back while the client pipelined (fastResponse.flush) go
// out first, so that they come before net/http's.
func (s *Server) handOver(c *serverConn, rc *recordingConn, bw *bufio.Writer) bool {
	if err := bw.Flush(); err != nil {
		return false
	}
	c.SetDeadline(time.Time{})
	rc.recording = false
	if s.handoff.give(&replayConn{Conn: c.Conn, pending: rc.rec, failed: rc.timedOut}) {
		return true
	}
	// The fallback takes no more connections: the request read gets a
	// 503, not a close that leaves its client guessing whether it was
	// served.
	body := errorJSON("the server is shutting down; send the request again")
	writeStatusLine(bw, http.StatusServiceUnavailable)
	bw.WriteString("Content-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	bw.WriteString("\r\n\r\n")
	bw.Write(body)
	bw.Flush()
	return false
}

// leadingCRLF counts the CR and LF bytes b starts with.
func leadingCRLF(b []byte) int {
	for i, c := range b {
		if c != '\r' && c != '\n' {
			return i
		}
	}
	return len(b)
}

// await waits for the first byte of the connection's next request, then
// sets the deadline of its header: as http.Server, it lets the client
// take the idle timeout to begin a request and then the header timeout
// to send its header. A client's next request mostly follows its answer
// at once, so the wait begins with the header timeout, counted from now,
// and the deadline then mostly stays as it is (lazyDeadline) rather than
// being set twice per request; a client quiet for longer than that has
// the rest of the idle timeout. It reports false when the connection is
// to close: the client went away or stayed quiet, or the server is
// closing.
func (s *Server) await(br *bufio.Reader, rd *lazyDeadline, idle, header time.Duration) bool {
	now := time.Now()
	idleBy, headerBy := after(now, idle), after(now, header)
	waitBy, slack := idleBy, slackOf(idle)
	if !headerBy.IsZero() && (idleBy.IsZero() || headerBy.Before(idleBy)) {
		waitBy, slack = headerBy, slackOf(header)
	}
	rd.by(waitBy, slack)
	for {
		_, err := br.Peek(1)
		if err == nil {
			break
		}
		if !isTimeout(err) || s.closing.Load() || waitBy.Equal(idleBy) {
			return false
		}
		waitBy = idleBy
		rd.force(idleBy)
	}
	rd.by(after(time.Now(), header), slackOf(header))
	return true
}

// plain reports whether the fast path serves req: HTTP/1.1, a path (not
// an absolute URL, "*" or CONNECT), one well-formed Host, well-formed
// header fields, no protocol upgrade or Expect, and a body of known length
// within MaxFastBody. Anything else is net/http's, which answers the
// malformed ones as it would have.
func plain(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.Method == http.MethodConnect ||
		len(req.RequestURI) == 0 || req.RequestURI[0] != '/' ||
		len(req.TransferEncoding) != 0 || req.ContentLength < 0 || req.ContentLength > MaxFastBody {
		return false
	}
	// ReadRequest refused a second Host and took the one out of the
	// header; an empty one is net/http's to judge.
	if req.Host == "" || !httpguts.ValidHostHeader(req.Host) {
		return false
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	if _, ok := req.Header["Expect"]; ok {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	return true
}

// strictHeader reports whether a request's header, the start of raw,
// ends each line with CRLF and folds none (obs-fold: a line that starts
// with a space or a tab). net/http's parser takes a bare LF for a line's
// end and joins folded lines, which servers and proxies elsewhere read
// otherwise: such a request is net/http's to answer, not the fast path's
// to forward.
func strictHeader(raw []byte) bool {
	for i := 0; ; {
		n := bytes.IndexByte(raw[i:], '\n')
		if n < 0 {
			return false
		}
		end := i + n
		if end == 0 || raw[end-1] != '\r' {
			return false
		}
		if end-i == 1 {
			return true // the blank line
		}
		i = end + 1
		if i < len(raw) && (raw[i] == ' ' || raw[i] == '\t') {
			return false
		}
	}
}

// recordingConn keeps the bytes read of the current request while its
// header is parsed, so that the connection can be handed over with them;
// past limit bytes it fails the read (MaxHeaderBytes). Before it waits for
// the client, it sends the answers held back (sendHeld).
type recordingConn struct {
	net.Conn
	recording bool
	rec       []byte
	limit     int
	held      *bufio.Writer
	// timedOut is the timeout a read of the request's header failed
	// with: a handover replays it after the bytes read, so that net/http
	// answers the header that stalled at once, as it would have, rather
	// than waiting a header timeout more for the rest.
	timedOut error
}

// errHeaderTooLarge fails a read past the header limit: ReadRequest then
// fails, and the connection goes to net/http, which answers 431.
var errHeaderTooLarge = errors.New("request header too large")

// start begins a request: what br holds already is its first bytes.
func (rc *recordingConn) start(br *bufio.Reader) {
	buffered, _ := br.Peek(br.Buffered())
	rc.rec = append(rc.rec[:0], buffered...)
	rc.recording = true
	rc.timedOut = nil
}

// sendHeld sends the answers held back while the client's next request
// was in already (fastResponse.flush) before the connection's loop waits:
// for the client, which may have sent part of its next request and wait
// for them before it sends the rest, or for a backend, whose slow answer
// must not hold back one that is ready (net/http sends each answer when
// it is done). A write that fails fails the next one too, which the
// answer's own flush sees.
func sendHeld(bw *bufio.Writer) {
	if bw.Buffered() > 0 {
		bw.Flush()
	}
}

// maxKeptRecording is the largest recording buffer a connection keeps
// for its next request: one that sent a larger header (up to
// MaxHeaderBytes) would otherwise hold that much while it idles.
const maxKeptRecording = 8 << 10

// release drops the recording of a request that is done with, when it is
// larger than what a common header needs.
func (rc *recordingConn) release() {
	if cap(rc.rec) > maxKeptRecording {
		rc.rec = nil
	}
}

// Read implements io.Reader.
func (rc *recordingConn) Read(p []byte) (int, error) {
	sendHeld(rc.held)
	if !rc.recording {
		return rc.Conn.Read(p)
	}
	if len(rc.rec) >= rc.limit {
		return 0, errHeaderTooLarge
	}
	n, err := rc.Conn.Read(p)
	rc.rec = append(rc.rec, p[:n]...)
	if isTimeout(err) {
		rc.timedOut = err
	}
	return n, err
}

// replayConn is a handed-over connection: its reads return the bytes the
// fast path read first, then the error the read after them failed with,
// if any (recordingConn.timedOut).
type replayConn struct {
	net.Conn
	pending []byte
	failed  error
}

// Read implements io.Reader.
func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if err := c.failed; err != nil {
		c.failed = nil
		return 0, err
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection when it can. net/http does so
// before it closes a connection whose request it did not read to the end
// (431, a body left unread), so that the client reads the answer rather
// than a reset: without it, the answer is lost.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handoffListener is the fallback server's listener: the connections the
// fast path hands over.
type handoffListener struct {
	addr      net.Addr
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept implements net.Listener.
func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) close() { l.closeOnce.Do(func() { close(l.done) }) }

// Close implements net.Listener.
func (l *handoffListener) Close() error { l.close(); return nil }

// Addr implements net.Listener.
func (l *handoffListener) Addr() net.Addr { return l.addr }
