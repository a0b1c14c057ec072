package traffic

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// fastResult is what Splitter.serveFast did with a request.
type fastResult int

const (
	// fastServed: answered; the connection may serve the next request.
	fastServed fastResult = iota
	// fastDeclined: nothing read past the request's header nor written;
	// net/http is to serve it.
	fastDeclined
	// fastClose: answered as far as could be; the connection must close.
	fastClose
)

// exchange is a plain request on a Server's connection.
type exchange struct {
	req    *http.Request
	url    *url.URL    // the request's URL as the splitter sees it (Route.URL)
	header http.Header // Route.Header
	// clientIP is the client's address without its port, for
	// X-Forwarded-For; empty when it has none.
	clientIP string
	br       *bufio.Reader
	bw       *bufio.Writer
	rd       *lazyDeadline // the client connection's read deadline
	// readBy is when the fallback's ReadTimeout, readTimeout, ends for
	// this request (body included); zero when it has none.
	readBy      time.Time
	readTimeout time.Duration
	// closing reports whether the server is shutting down: the answer
	// then closes the connection.
	closing func() bool
}

// Fast-path limits, as the default transport's.
const (
	fastMaxIdlePerBackend = 256
	fastIdleTimeout       = 90 * time.Second
	fastKeepAlive         = 30 * time.Second
	// freshIdle is how long a connection may have been idle and still
	// be used without a peek (connPool.get).
	freshIdle = time.Millisecond
)

// serveFast serves a plain request (Server) as ServeHTTP would through
// ReverseProxy and the default transport, or declines it, having read
// nothing past its header and written nothing, when it needs what only
// that path does: a shadow mirror, a transport given in Config, an https
// backend or one reached through a proxy, no stable backend yet, a query
// that ReverseProxy rewrites.
func (s *Splitter) serveFast(x *exchange) fastResult {
	rt := s.routes.Load()
	if rt.stable == nil || (rt.shadow != nil && rt.share > 0) || rewritesQuery(x.url.RawQuery) {
		return fastDeclined
	}
	r := x.req
	b, setCookie := s.pick(rt, r)
	tm := b.tm
	pinned := s.pinned(rt, r)
	if pinned != nil {
		b, setCookie, tm = pinned, "", s.tracks[trackIndex(TrackPinned)]
	}
	if b.pool == nil {
		return fastDeclined
	}
	start := time.Now()
	deadline := start.Add(s.cfg.Timeout)
	resp := fastResponse{s: s, x: x, b: b, setCookie: setCookie}
	account := func(o outcome, gone bool) {
		s.account(b, tm, pinned != nil, o, gone, time.Since(start).Seconds())
	}

	var body []byte
	if n := r.ContentLength; n > 0 {
		buf := fastBodies.Get().(*[]byte)
		defer fastBodies.Put(buf)
		body = (*buf)[:n]
		// The body is bounded by the request's timeout, or by the
		// fallback's ReadTimeout when that ends first (as on net/http's
		// path, whose server stops reading it then). The deadline stays:
		// the connection's loop sets the next one.
		bodyBy, within := deadline, s.cfg.Timeout
		if !x.readBy.IsZero() && x.readBy.Before(bodyBy) {
			bodyBy, within = x.readBy, x.readTimeout
		}
		x.rd.by(bodyBy, slackOf(within))
		_, err := io.ReadFull(x.br, body)
		if err != nil {
			// The client's fault, not the backend's, as in ServeHTTP.
			if isTimeout(err) {
				resp.error(http.StatusRequestTimeout, fmt.Sprintf("the request body did not arrive within %s", within))
			}
			account(outcomeClientError, true)
			resp.flush()
			return fastClose
		}
	}

	sendHeld(x.bw) // before a dial or a backend's answer is awaited
	bc, res, err := b.pool.roundTrip(b, x, body, deadline, slackOf(s.cfg.Timeout), resp.informational)
	if err != nil {
		o := outcomeConnectionError
		if isTimeout(err) {
			o = outcomeTimeout
			resp.error(http.StatusGatewayTimeout, fmt.Sprintf("the %s backend of %s in %s (version %s) did not answer within %s",
				b.track, s.cfg.Model, s.cfg.Env, b.Version, s.cfg.Timeout))
		} else {
			resp.error(http.StatusBadGateway, fmt.Sprintf("the %s backend of %s in %s (version %s) did not answer: %v",
				b.track, s.cfg.Model, s.cfg.Env, b.Version, err))
		}
		account(o, false)
		if resp.flush(); resp.failed {
			return fastClose
		}
		return fastServed
	}
	o, gone, reusable := resp.relay(res, bc.r)
	if reusable {
		b.pool.put(bc)
	} else {
		bc.c.Close()
	}
	// Counted, and the backend connection back in the pool, before the
	// answer's end goes out, as on the net/http path (where the handler
	// returns before the server flushes): a client that has its answer
	// finds it counted, and its next request finds the connection.
	account(o, gone)
	if resp.flush(); resp.failed {
		return fastClose
	}
	if o == outcomeOK || o == outcomeServerError || (o == outcomeClientError && !gone) {
		return fastServed
	}
	return fastClose
}

// account counts a proxied request's outcome on tm, the metrics of the
// track it counts on, and, unless the candidate header pinned it, in b's
// passive health (see finish) and for the attached judge (SetJudge).
func (s *Splitter) account(b *backend, tm *trackMetrics, pinned bool, o outcome, gone bool, elapsed float64) {
	tm.observe(o, elapsed)
	if h := s.judge.Load(); h != nil && !pinned {
		s.judged(h, b.track, o, elapsed)
	}
	switch {
	case pinned:
	case o.failure():
		s.failed(b)
	case !gone:
		s.succeeded(b)
	}
}

// fastBodies pools the buffers of request bodies, MaxFastBody each.
var fastBodies = sync.Pool{New: func() any { b := make([]byte, MaxFastBody); return &b }}

// fastResponse writes a request's answer to the client.
type fastResponse struct {
	s         *Splitter
	x         *exchange
	b         *backend
	setCookie string
	failed    bool // a write to the client failed
}

// head writes the status line and the header of an answer to the client:
// h's fields but the hop-by-hop ones, those the fast path frames itself
// and those the splitter and the route set, then the splitter's, the
// route's, the sticky cookie and a Date when h has none.
func (w *fastResponse) head(code int, h http.Header, framing func(bw *bufio.Writer)) {
	bw := w.x.bw
	writeStatusLine(bw, code)
	connection := h["Connection"]
	for k, vv := range h {
		if skipResponseField(k, connection) || splitterField(k, w.s.drop) || w.x.header[k] != nil {
			continue
		}
		writeField(bw, k, vv)
	}
	writeField(bw, HeaderTrack, w.b.hdrTrack)
	writeField(bw, HeaderVersion, w.b.hdrVersion)
	for k, vv := range w.x.header {
		writeField(bw, k, vv)
	}
	if w.setCookie != "" && code >= 200 {
		bw.WriteString("Set-Cookie: ")
		bw.WriteString(w.setCookie)
		bw.WriteString("\r\n")
	}
	if _, ok := h["Date"]; !ok && code >= 200 {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate(time.Now()))
		bw.WriteString("\r\n")
	}
	if framing != nil {
		framing(bw)
	}
	if code >= 200 && (w.x.req.Close || w.x.closing()) {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

// writeStatusLine writes an answer's status line as net/http does.
func writeStatusLine(bw *bufio.Writer, code int) {
	bw.WriteString("HTTP/1.1 ")
	if text := http.StatusText(code); text != "" {
		bw.WriteString(strconv.Itoa(code))
		bw.WriteByte(' ')
		bw.WriteString(text)
		bw.WriteString("\r\n")
	} else {
		fmt.Fprintf(bw, "%03d status code %d\r\n", code, code)
	}
}

// informational relays a 1xx answer of the backend's (a 103 Early
// Hints) at once, as ReverseProxy does: its status and its fields but the
// framing ones (which net/http leaves out of a 1xx) and the splitter's
// (splitterField), then the route's,
// which replace any of the same name (as the router in front of
// ServeHTTP sets them on every answer).
func (w *fastResponse) informational(res *http.Response) {
	bw := w.x.bw
	writeStatusLine(bw, res.StatusCode)
	for k, vv := range res.Header {
		if k != "Content-Length" && k != "Transfer-Encoding" && !splitterField(k, w.s.drop) && w.x.header[k] == nil {
			writeField(bw, k, vv)
		}
	}
	for k, vv := range w.x.header {
		writeField(bw, k, vv)
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.failed = true
	}
}

// error writes an error of the splitter's (as writeError); flush sends
// it.
func (w *fastResponse) error(status int, msg string) {
	body := errorJSON(msg)
	h := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	w.head(status, h, func(bw *bufio.Writer) {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.Itoa(len(body)))
		bw.WriteString("\r\n")
	})
	w.x.bw.Write(body)
}

// flush sends what is buffered unless the client has sent its next
// request already (it is pipelining: the answer goes out with the next
// one's, or before the connection waits for the client or a backend,
// sendHeld).
func (w *fastResponse) flush() {
	if w.x.br.Buffered() > 0 {
		return
	}
	if err := w.x.bw.Flush(); err != nil {
		w.failed = true
	}
}

// relay sends the backend's answer on to the client but for what
// remains buffered, which flush sends. It reports the request's outcome,
// whether the client went away, and whether the backend connection may
// serve another request.
func (w *fastResponse) relay(res *http.Response, from *bufio.Reader) (o outcome, gone, reusable bool) {
	x := w.x
	noBody := x.req.Method == http.MethodHead || res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified
	var trailerKeys []string
	for k := range res.Trailer {
		if k = http.CanonicalHeaderKey(k); httpguts.ValidHeaderFieldName(k) && !hopByHop[k] {
			trailerKeys = append(trailerKeys, k)
		}
	}
	chunked := !noBody && res.ContentLength < 0
	w.head(res.StatusCode, res.Header, func(bw *bufio.Writer) {
		switch {
		case chunked:
			bw.WriteString("Transfer-Encoding: chunked\r\n")
			if len(trailerKeys) > 0 {
				bw.WriteString("Trailer: ")
				bw.WriteString(strings.Join(trailerKeys, ", "))
				bw.WriteString("\r\n")
			}
		case res.ContentLength >= 0 && res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusNotModified:
			bw.WriteString("Content-Length: ")
			bw.WriteString(strconv.FormatInt(res.ContentLength, 10))
			bw.WriteString("\r\n")
		}
	})
	if noBody {
		res.Body.Close()
		return outcomeOf(res.StatusCode), false, !res.Close
	}
	buf := bufferPool.Get().(*[]byte)
	defer bufferPool.Put(buf)
	for {
		n, rerr := res.Body.Read(*buf)
		if n > 0 {
			var werr error
			if chunked {
				x.bw.WriteString(strconv.FormatInt(int64(n), 16))
				x.bw.WriteString("\r\n")
				x.bw.Write((*buf)[:n])
				_, werr = x.bw.WriteString("\r\n")
			} else {
				_, werr = x.bw.Write((*buf)[:n])
			}
			if werr == nil && chunked && rerr == nil && from.Buffered() == 0 {
				// A streamed answer goes out as it comes.
				werr = x.bw.Flush()
			}
			if werr != nil {
				res.Body.Close()
				return outcomeClientError, true, false
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			res.Body.Close()
			if isTimeout(rerr) {
				return outcomeTimeout, false, false
			}
			return outcomeConnectionError, false, false
		}
	}
	res.Body.Close()
	if chunked {
		x.bw.WriteString("0\r\n")
		// The announced trailers and those the backend sent unannounced
		// (the body's reader adds them to res.Trailer), as ReverseProxy
		// passes both on.
		for k, vv := range res.Trailer {
			if k = http.CanonicalHeaderKey(k); httpguts.ValidHeaderFieldName(k) && !hopByHop[k] && len(vv) > 0 && validValues(vv) {
				writeField(x.bw, k, vv)
			}
		}
		x.bw.WriteString("\r\n")
	}
	return outcomeOf(res.StatusCode), false, !res.Close
}

func validValues(vv []string) bool {
	for _, v := range vv {
		if !httpguts.ValidHeaderFieldValue(v) {
			return false
		}
	}
	return true
}

func writeField(bw *bufio.Writer, k string, vv []string) {
	for _, v := range vv {
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(v)
		bw.WriteString("\r\n")
	}
}

// hopByHop are the fields meant for one connection only (RFC 9110,
// section 7.6.1), which a proxy does not forward (ReverseProxy's list).
var hopByHop = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// skipResponseField reports whether an answer's field k stays behind for
// the connection's sake: hop-by-hop, named by the answer's Connection, or
// framing the fast path writes itself.
func skipResponseField(k string, connection []string) bool {
	if k == "Content-Length" {
		return true
	}
	return hopByHop[k] || (len(connection) > 0 && httpguts.HeaderValuesContainsToken(connection, k))
}

// skipRequestField reports whether a request's field k stays behind:
// hop-by-hop, named by its Connection, the forwarding fields the fast path
// sets anew (as ReverseProxy with SetXForwarded), the framing it writes
// itself, and a client's Promote-Shadow, which only a mirror carries (a
// model server skips side effects for it).
func skipRequestField(k string, connection []string) bool {
	switch k {
	case "Content-Length", "Host", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", HeaderShadow:
		return true
	}
	return hopByHop[k] || (len(connection) > 0 && httpguts.HeaderValuesContainsToken(connection, k))
}

// dateCache keeps the Date field of the current second.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec int64
	s   string
}

func httpDate(now time.Time) string {
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.s
	}
	s := now.UTC().Format(http.TimeFormat)
	dateCache.Store(&cachedDate{sec: sec, s: s})
	return s
}

// rawConn returns c's socket, or nil when it has none.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// poolFor returns the fast path's pool of connections to u, or nil when
// the fast path does not reach it: the splitter was given a transport,
// u is https, or the environment names a proxy for it (as the default
// transport would use). It is called with mu held.
func (s *Splitter) poolFor(u *url.URL) *connPool {
	if s.owned == nil || u.Scheme != "http" {
		return nil
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
		return nil
	}
	host := u.Host
	if p := s.pools[host]; p != nil {
		return p
	}
	addr := host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	if s.pools == nil {
		s.pools = map[string]*connPool{}
	}
	// By host, not by address: two backends at one address named
	// otherwise (h and h:80) send other Host fields, and each keeps its
	// pool.
	p := &connPool{addr: addr, host: host}
	s.pools[host] = p
	return p
}

// reapPools closes the fast path's backend connections idle for
// fastIdleTimeout or longer, as the default transport does: a burst's
// connections do not stay open (or half-closed by their backend) for
// good. Run calls it at each health tick.
func (s *Splitter) reapPools(now time.Time) {
	s.mu.Lock()
	pools := make([]*connPool, 0, len(s.pools))
	for _, p := range s.pools {
		pools = append(pools, p)
	}
	s.mu.Unlock()
	for _, p := range pools {
		p.reap(now)
	}
}

// prunePools closes the pools of backends rt no longer has. It is called
// with mu held.
func (s *Splitter) prunePools(rt *routes) {
	for host, p := range s.pools {
		if (rt.stable == nil || rt.stable.pool != p) && (rt.canary == nil || rt.canary.pool != p) && (rt.shadow == nil || rt.shadow.pool != p) {
			p.close()
			delete(s.pools, host)
		}
	}
}

// connPool keeps the idle connections to one backend address, newest
// first out.
type connPool struct {
	addr   string // host:port
	host   string // the Host field: the backend URL's host
	mu     sync.Mutex
	idle   []*backendConn
	closed bool
}

type backendConn struct {
	c         net.Conn
	r         *bufio.Reader
	w         *bufio.Writer
	raw       syscall.RawConn // c's socket; nil when it has none
	dl        lazyDeadline    // c's read and write deadline
	idleSince time.Time
}

// get returns an idle connection that is still open, or dials one, with
// its deadline at deadline or up to slack later. unchecked lets a
// connection back for less than freshIdle go without the peek: only for
// a request that is sent again should it find the connection closed.
func (p *connPool) get(deadline time.Time, slack time.Duration, unchecked bool) (bc *backendConn, reused bool, err error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		bc = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		// A backend closes an idle connection when it likes (its own idle
		// timeout, a restart): one it closed, or that holds bytes nobody
		// asked for, is dropped before a request goes out on it, as the
		// default transport, whose reader sees the close as soon as it is
		// scheduled, drops it. A request written on it would fail, and one
		// that cannot be sent again (a POST) would get a 502 and count
		// against a healthy backend. A connection back for less than
		// freshIdle has just delivered an answer: a close in that instant
		// is the race the default transport's reader (and nginx's event
		// loop) loses too, and the peek's system call, one per request
		// under load, is spared, when the request is sent again on a
		// checked connection should it lose (unchecked). A backend that
		// closes every connection after its answer (a restart, or one
		// that keeps none alive without saying so) would otherwise fail
		// each POST that follows an answer within freshIdle, and each
		// GET whose retry took another such connection.
		rest := time.Since(bc.idleSince)
		if rest >= fastIdleTimeout || bc.r.Buffered() > 0 {
			bc.c.Close()
			continue
		}
		// Before the peek, which fails once the last request's
		// deadline is past.
		bc.dl.by(deadline, slack)
		if (unchecked && rest < freshIdle) || idleOpen(bc.raw) {
			return bc, true, nil
		}
		bc.c.Close()
	}
	d := net.Dialer{Deadline: deadline, KeepAlive: fastKeepAlive}
	c, err := d.Dial("tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	bc = &backendConn{c: c, raw: rawConn(c), r: bufio.NewReaderSize(c, 4<<10), w: bufio.NewWriterSize(writerTo(c), 4<<10), dl: lazyDeadline{set: c.SetDeadline}}
	bc.dl.by(deadline, slack)
	return bc, false, nil
}

// put keeps a connection for the next request.
func (p *connPool) put(bc *backendConn) {
	bc.idleSince = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= fastMaxIdlePerBackend {
		p.mu.Unlock()
		bc.c.Close()
		return
	}
	p.idle = append(p.idle, bc)
	p.mu.Unlock()
}

// reap closes the connections idle since fastIdleTimeout before now or
// longer. The pool hands out its newest first, so the oldest are at the
// front.
func (p *connPool) reap(now time.Time) {
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= fastIdleTimeout {
		n++
	}
	old := make([]*backendConn, n)
	copy(old, p.idle[:n])
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.mu.Unlock()
	for _, bc := range old {
		bc.c.Close()
	}
}

// close closes the idle connections; connections put back after it are
// closed too.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, bc := range idle {
		bc.c.Close()
	}
}

// roundTrip sends x's request to b, with body, and reads the answer's
// header, handing 1xx answers to early. A request that found
// its kept-alive connection closed is sent again on a new one when that
// is safe (as the default transport does: its method is idempotent or
// it has an idempotency key).
func (p *connPool) roundTrip(b *backend, x *exchange, body []byte, deadline time.Time, slack time.Duration, early func(*http.Response)) (*backendConn, *http.Response, error) {
	for attempt := 0; ; attempt++ {
		bc, reused, err := p.get(deadline, slack, attempt == 0 && replayable(x.req))
		if err != nil {
			return nil, nil, err
		}
		writeRequest(bc.w, b, p.host, x, body)
		err = bc.w.Flush()
		var res *http.Response
		if err == nil {
			res, err = readFinal(bc.r, x.req, early)
		}
		if err == nil {
			return bc, res, nil
		}
		bc.c.Close()
		if attempt == 0 && reused && !isTimeout(err) && replayable(x.req) &&
			(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			continue
		}
		return nil, nil, err
	}
}

// errSwitched is a 101 answer to a request that asked for no upgrade.
var errSwitched = errors.New("the backend switched protocols unasked")

// readFinal reads the backend's final answer, past any 1xx, which it
// hands to early.
func readFinal(r *bufio.Reader, req *http.Request, early func(*http.Response)) (*http.Response, error) {
	for range 10 {
		res, err := http.ReadResponse(r, req)
		if err != nil {
			return nil, err
		}
		switch {
		case res.StatusCode == http.StatusSwitchingProtocols:
			return nil, errSwitched
		case res.StatusCode >= 200:
			return res, nil
		}
		early(res)
	}
	return nil, errors.New("the backend sent too many 1xx answers")
}

// replayable reports whether a request may be sent again after its
// connection closed before any answer (net/http's rule).
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := r.Header["Idempotency-Key"]
	_, xkey := r.Header["X-Idempotency-Key"]
	return key || xkey
}

// writeRequest writes x's request as ReverseProxy with SetURL and
// SetXForwarded and the default transport would send it to b: the
// backend's path joined with the request's, the queries joined, Host the
// backend's, the hop-by-hop fields and the client's forwarding fields
// dropped, X-Forwarded-For, -Host and -Proto set.
func writeRequest(w *bufio.Writer, b *backend, host string, x *exchange, body []byte) {
	r := x.req
	path, rawPath := joinURLPath(b.URL, x.url)
	q := b.URL.RawQuery
	switch {
	case q == "":
		q = x.url.RawQuery
	case x.url.RawQuery != "":
		q += "&" + x.url.RawQuery
	}
	u := url.URL{Path: path, RawPath: rawPath, RawQuery: q, ForceQuery: x.url.ForceQuery}
	w.WriteString(r.Method)
	w.WriteByte(' ')
	w.WriteString(u.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	connection := r.Header["Connection"]
	for k, vv := range r.Header {
		if skipRequestField(k, connection) {
			continue
		}
		writeField(w, k, vv)
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		w.WriteString("Te: trailers\r\n")
	}
	if x.clientIP != "" {
		w.WriteString("X-Forwarded-For: ")
		w.WriteString(x.clientIP)
		w.WriteString("\r\n")
	}
	w.WriteString("X-Forwarded-Host: ")
	w.WriteString(r.Host)
	w.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	switch {
	case len(body) > 0:
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		w.WriteString("\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		w.WriteString("Content-Length: 0\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
}

// rewritesQuery reports whether ReverseProxy (with Rewrite) would send
// the query q otherwise than it came: one that url.ParseQuery refuses (a
// semicolon, a malformed escape) or that has more parameters than it
// takes (10,000), ReverseProxy re-encodes from what it parses, dropping
// the rest. The fast path leaves such a request to it.
func rewritesQuery(q string) bool {
	if strings.Count(q, "&") >= 10000 {
		return true
	}
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return true
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return true
			}
			i += 2
		}
	}
	return false
}

// proxiedQuery returns the query q as ReverseProxy (with Rewrite) sends
// it: re-encoded from what url.ParseQuery makes of it when rewritesQuery
// says it does not pass as it came.
func proxiedQuery(q string) string {
	if !rewritesQuery(q) {
		return q
	}
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// joinURLPath joins a backend's path and a request's as
// httputil.ProxyRequest.SetURL does.
func joinURLPath(a, b *url.URL) (path, rawpath string) {
	if a.RawPath == "" && b.RawPath == "" {
		return singleJoiningSlash(a.Path, b.Path), ""
	}
	apath, bpath := a.EscapedPath(), b.EscapedPath()
	aslash, bslash := strings.HasSuffix(apath, "/"), strings.HasPrefix(bpath, "/")
	switch {
	case aslash && bslash:
		return a.Path + b.Path[1:], apath + bpath[1:]
	case !aslash && !bslash:
		return a.Path + "/" + b.Path, apath + "/" + bpath
	}
	return a.Path + b.Path, apath + bpath
}

func singleJoiningSlash(a, b string) string {
	aslash, bslash := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}
