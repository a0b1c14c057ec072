package traffic

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// frontConfig is the http.Server both paths run: the fast path's fallback
// and the old path's server, with the same limits.
func frontConfig(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, MaxHeaderBytes: 4 << 10}
}

// fastFront is a Server on a loopback listener with the splitter behind
// both its fast path and its fallback.
type fastFront struct {
	addr   string
	srv    *Server
	served chan error    // Serve's result
	handed atomic.Int64  // connections the fallback received
	slow   atomic.Int64  // requests the fallback served
	closed chan net.Conn // the fallback's connections, when they close
}

// startFast serves s through a Server; configure, when set, changes the
// fallback's configuration first.
func startFast(t *testing.T, s *Splitter, configure func(*http.Server)) *fastFront {
	t.Helper()
	f := &fastFront{served: make(chan error, 1), closed: make(chan net.Conn, 64)}
	fallback := frontConfig(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.slow.Add(1)
		s.ServeHTTP(w, r)
	}))
	fallback.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			f.handed.Add(1)
		case http.StateClosed:
			select {
			case f.closed <- c:
			default:
			}
		}
	}
	if configure != nil {
		configure(fallback)
	}
	f.srv = &Server{Fallback: fallback, Route: func(r *http.Request) (Route, bool) {
		return Route{Splitter: s, URL: r.URL}, true
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	go func() { f.served <- f.srv.Serve(ln) }()
	t.Cleanup(func() { f.srv.Close() })
	return f
}

// startSlow serves s as before the fast path: an http.Server.
func startSlow(t *testing.T, s http.Handler) string {
	t.Helper()
	return startSlowWith(t, s, nil)
}

// startSlowWith is startSlow with configure, when set, changing the
// server's configuration first (as startFast's).
func startSlowWith(t *testing.T, s http.Handler, configure func(*http.Server)) string {
	t.Helper()
	srv := frontConfig(s)
	if configure != nil {
		configure(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// answer is what a client read of one response.
type answer struct {
	Status  int
	Early   []string // 1xx answers before it: status and fields
	Header  http.Header
	Body    string
	Trailer http.Header
	Close   bool // Connection: close
}

// dial opens a client connection to addr, closed at the test's end.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// readAnswer reads one response (past 1xx ones) to a request of method.
func readAnswer(br *bufio.Reader, method string) (answer, error) {
	var a answer
	for {
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return a, err
		}
		if res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			a.Early = append(a.Early, fmt.Sprintf("%d %v", res.StatusCode, res.Header))
			continue
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		a.Status, a.Header, a.Body, a.Close = res.StatusCode, res.Header, string(body), res.Close
		if len(res.Trailer) > 0 {
			a.Trailer = res.Trailer
		}
		return a, err
	}
}

// exchange writes raw to addr in one write and reads an answer to each of
// methods, as many as come.
func exchangeRaw(t *testing.T, addr, raw string, methods ...string) []answer {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var got []answer
	for _, m := range methods {
		a, err := readAnswer(br, m)
		if err != nil {
			break
		}
		got = append(got, a)
	}
	return got
}

// seen is a request as the backend saw it.
type seen struct {
	Method, URI, Proto, Host, Body string
	Header                         http.Header
}

// recordingBackend starts a backend that records what it is sent on
// saw, then answers with handle (the path, when nil).
func recordingBackend(t *testing.T, version string, handle http.HandlerFunc) (Backend, chan seen) {
	t.Helper()
	saw := make(chan seen, 16)
	_, b := backendServer(t, version, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		saw <- seen{r.Method, r.RequestURI, r.Proto, r.Host, string(body), r.Header.Clone()}
		if handle == nil {
			io.WriteString(w, r.URL.Path)
			return
		}
		handle(w, r)
	})
	return b, saw
}

func drain(saw chan seen) []seen {
	var got []seen
	for {
		select {
		case s := <-saw:
			got = append(got, s)
		default:
			return got
		}
	}
}

var cookieValue = regexp.MustCompile(`^promote_client=[0-9a-z]+;`)

// normalize leaves out of a's header what differs between two answers by
// design: the Date's value (a second may pass; its presence on the
// splitter's answers is checked; net/http's own error answers have none)
// and the random value of a sticky cookie.
func normalize(t *testing.T, path string, a *answer) {
	t.Helper()
	if a.Header.Get(HeaderTrack) != "" {
		if len(a.Header["Date"]) != 1 {
			t.Errorf("%s: answer %d has Date %q, want one", path, a.Status, a.Header["Date"])
		}
	}
	delete(a.Header, "Date")
	for i, c := range a.Header["Set-Cookie"] {
		a.Header["Set-Cookie"][i] = cookieValue.ReplaceAllString(c, "promote_client=*;")
	}
}

// normalizeSeen leaves out of what the backend saw what differs by
// design: the transport of the old path asks for gzip when the client did
// not say what it accepts (and decodes the answer before the client sees
// it: the client gets the same bytes either way), which the fast path,
// sending the client's request as it is, does not.
func normalizeSeen(s []seen, raw string) {
	if strings.Contains(strings.ToLower(raw), "\naccept-encoding:") {
		return
	}
	for _, r := range s {
		if slicesEqual(r.Header["Accept-Encoding"], []string{"gzip"}) {
			delete(r.Header, "Accept-Encoding")
		}
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// request builds a raw request: lines joined with CRLF, then a blank line
// and body.
func request(body string, lines ...string) string {
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

// TestServerMatchesNetHTTP sends the same bytes to a Server and to an
// http.Server serving the splitter (the path the fast path replaces):
// the backend must see the same request and the client the same answer,
// and the fast path must serve exactly the plain requests.
func TestServerMatchesNetHTTP(t *testing.T) {
	chunkedAnswer := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "part 1, ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part 2")
		w.Header().Set("X-Sum", "12")
		w.Header().Set(http.TrailerPrefix+"X-Unannounced", "yes")
	}
	hopByHopAnswer := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Drop")
		h.Set("X-Drop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set(HeaderTrack, "lies")
		h.Set(HeaderVersion, "lies")
		h.Add("X-Multi", "a")
		h.Add("X-Multi", "b")
		h.Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		io.WriteString(w, "hop")
	}
	status := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Type", "text/plain")
			if code == http.StatusNotModified {
				w.Header().Set("Content-Length", "10")
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	earlyHints := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "after hints")
	}
	const host = "Host: model.example"
	long := strings.Repeat("x", 9<<10)
	tests := []struct {
		name    string
		base    string // the backend URL's path and query
		handle  http.HandlerFunc
		raw     string
		methods []string // of the answers to read; GET when nil
		fast    bool     // the fast path serves every request
	}{
		{name: "get", raw: request("", "GET /predict HTTP/1.1", host), fast: true},
		{name: "base path and queries", base: "/base?k=v", raw: request("", "GET /v1/predict?x=1&y=%20 HTTP/1.1", host), fast: true},
		{name: "base path with slash", base: "/base/", raw: request("", "GET /predict HTTP/1.1", host), fast: true},
		{name: "escaped path", base: "/base", raw: request("", "GET /a%2Fb/c%3F HTTP/1.1", host), fast: true},
		{name: "escaped base path", base: "/ba%2Fse/", raw: request("", "GET /a%2Fb HTTP/1.1", host), fast: true},
		{name: "escaped base, plain path", base: "/ba%2Fse", raw: request("", "GET /predict HTTP/1.1", host), fast: true},
		{name: "force query", raw: request("", "GET /predict? HTTP/1.1", host), fast: true},
		{name: "force query with base query", base: "/?k=v", raw: request("", "GET /predict? HTTP/1.1", host), fast: true},
		{name: "unicode path", raw: request("", "GET /caf%C3%A9/../x HTTP/1.1", host), fast: true},
		{name: "escapes in query", raw: request("", "GET /p?b=%20%2f&a=%C3%A9 HTTP/1.1", host), fast: true},
		{name: "post", raw: request(`{"x": 1}`, "POST /predict HTTP/1.1", host, "Content-Type: application/json", "Content-Length: 8"), fast: true},
		{name: "post empty", raw: request("", "POST /predict HTTP/1.1", host, "Content-Length: 0"), fast: true},
		{name: "post no length", raw: request("", "POST /predict HTTP/1.1", host), fast: true},
		{name: "put patch delete", raw: request("", "PUT /p HTTP/1.1", host, "Content-Length: 0") + request("", "PATCH /p HTTP/1.1", host) +
			request("", "DELETE /p HTTP/1.1", host, "Content-Length: 0"), methods: []string{"PUT", "PATCH", "DELETE"}, fast: true},
		{name: "get with body", raw: request("hello", "GET /p HTTP/1.1", host, "Content-Length: 5"), fast: true},
		{name: "hop-by-hop request fields", raw: request("", "GET /p HTTP/1.1", host, "Connection: keep-alive, X-Named",
			"X-Named: 1", "Keep-Alive: 300", "Proxy-Connection: keep-alive", "Proxy-Authorization: Basic eA==",
			"Te: trailers, deflate", "Trailer: X-T", "X-Kept: 1", "Accept-Encoding: br"), fast: true},
		{name: "te without trailers", raw: request("", "GET /p HTTP/1.1", host, "Te: deflate"), fast: true},
		{name: "forwarding fields replaced", raw: request("", "GET /p HTTP/1.1", host, "X-Forwarded-For: 203.0.113.9",
			"X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "Forwarded: for=203.0.113.9"), fast: true},
		{name: "repeated fields and user agent", raw: request("", "GET /p HTTP/1.1", host, "X-A: 1", "X-A: 2", "User-Agent: curl/8",
			"Accept-Encoding: gzip"), fast: true},
		{name: "sticky cookie sent", raw: request("", "GET /p HTTP/1.1", host, "Cookie: promote_client=abc"), fast: true},
		{name: "connection close", raw: request("", "GET /p HTTP/1.1", host, "Connection: close"), fast: true},
		{name: "response hop-by-hop fields", handle: hopByHopAnswer, raw: request("", "GET /p HTTP/1.1", host), fast: true},
		{name: "chunked answer with trailers", handle: chunkedAnswer, raw: request("", "GET /p HTTP/1.1", host, "Te: trailers"), fast: true},
		{name: "head", handle: status(200, "twelve bytes"), raw: request("", "HEAD /p HTTP/1.1", host), methods: []string{"HEAD"}, fast: true},
		{name: "head unknown length", handle: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) },
			raw: request("", "HEAD /p HTTP/1.1", host), methods: []string{"HEAD"}, fast: true},
		{name: "204", handle: status(204, ""), raw: request("", "GET /p HTTP/1.1", host), fast: true},
		{name: "304", handle: status(304, ""), raw: request("", "GET /p HTTP/1.1", host, "If-None-Match: \"v1\""), fast: true},
		{name: "500", handle: status(500, "boom"), raw: request("", "GET /p HTTP/1.1", host), fast: true},
		{name: "unknown status", handle: status(599, "odd"), raw: request("", "GET /p HTTP/1.1", host), fast: true},
		{name: "103 first", handle: earlyHints, raw: request("", "GET /p HTTP/1.1", host), fast: true},
		// Old clients end a POST's body with a CRLF more, which net/http
		// skips before the next request (and only after a POST).
		{name: "CRLF after a POST", raw: request("ab", "POST /p HTTP/1.1", host, "Content-Length: 2") + "\r\n" +
			request("", "GET /q HTTP/1.1", host), methods: []string{"POST", "GET"}, fast: true},
		{name: "CRLFs after a POST, then a handover", raw: request("ab", "POST /p HTTP/1.1", host, "Content-Length: 2") + "\r\n\r\n" +
			request("", "GET /q HTTP/1.0", host), methods: []string{"POST", "GET"}},
		{name: "CRLF after a GET", raw: request("", "GET /p HTTP/1.1", host) + "\r\n" +
			request("", "GET /q HTTP/1.1", host), methods: []string{"GET", "GET"}},

		// Not plain: net/http serves them.
		{name: "expect 100-continue", raw: request("12345", "POST /p HTTP/1.1", host, "Expect: 100-continue", "Content-Length: 5")},
		{name: "chunked request", raw: request("5\r\nhello\r\n0\r\n\r\n", "POST /p HTTP/1.1", host, "Transfer-Encoding: chunked")},
		{name: "body over 64 KiB", raw: request(strings.Repeat("b", MaxFastBody+1), "POST /p HTTP/1.1", host,
			fmt.Sprintf("Content-Length: %d", MaxFastBody+1))},
		{name: "http/1.0", raw: request("", "GET /p HTTP/1.0", host)},
		{name: "http/1.0 keep-alive", raw: request("", "GET /p HTTP/1.0", host, "Connection: keep-alive") +
			request("", "GET /q HTTP/1.0", host), methods: []string{"GET", "GET"}},
		{name: "absolute form", raw: request("", "GET http://model.example/p?q=1 HTTP/1.1", host)},
		{name: "options star", raw: request("", "OPTIONS * HTTP/1.1", host), methods: []string{"OPTIONS"}},
		{name: "no host", raw: request("", "GET /p HTTP/1.1")},
		{name: "malformed request line", raw: request("", "GET /p HTTP/1.1 extra", host)},
		{name: "invalid header value", raw: request("", "GET /p HTTP/1.1", host, "X-Bad: a\x01b")},
		{name: "header over MaxHeaderBytes", raw: request("", "GET /p HTTP/1.1", host, "X-Long: "+long)},
		{name: "expect other", raw: request("", "GET /p HTTP/1.1", host, "Expect: nothing")},
		// ReverseProxy drops what url.ParseQuery refuses.
		{name: "semicolon in query", raw: request("", "GET /p?b=1;a=2&c=3 HTTP/1.1", host)},
		{name: "bad escape in query", raw: request("", "GET /p?b=%zz&a=1 HTTP/1.1", host)},
		{name: "short escape in query", raw: request("", "GET /p?b=1&a=%2 HTTP/1.1", host)},
		{name: "transfer-encoding identity", raw: request("", "POST /p HTTP/1.1", host, "Transfer-Encoding: identity")},

		// Smuggling: never forwarded as plain; net/http answers.
		{name: "content-length and transfer-encoding", raw: request("5\r\nhello\r\n0\r\n\r\n", "POST /p HTTP/1.1", host,
			"Content-Length: 4", "Transfer-Encoding: chunked")},
		{name: "two content-lengths", raw: request("hello", "POST /p HTTP/1.1", host, "Content-Length: 5", "Content-Length: 4")},
		{name: "obs-fold", raw: request("", "GET /p HTTP/1.1", host, "X-Folded: a", " b")},
		{name: "bare LF", raw: "GET /p HTTP/1.1\nHost: model.example\nX-A: 1\n\n"},
		{name: "space before colon", raw: request("", "GET /p HTTP/1.1", host, "X-A : 1")},
		{name: "two hosts", raw: request("", "GET /p HTTP/1.1", host, "Host: other.example")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, saw := recordingBackend(t, "v1", tt.handle)
			if tt.base != "" {
				u, err := url.Parse(b.URL.String() + tt.base)
				if err != nil {
					t.Fatal(err)
				}
				b.URL = u
			}
			canary := b
			canary.Version = "v2"
			s, _ := newSplitter(t, Config{Sticky: Sticky{Cookie: "promote_client"}})
			if err := s.SetStable(b); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCanary(&canary, 1); err != nil {
				t.Fatal(err)
			}
			methods := tt.methods
			if methods == nil {
				methods = []string{"GET"}
			}
			fast := startFast(t, s, nil)
			slow := startSlow(t, s)

			wantAnswers := exchangeRaw(t, slow, tt.raw, methods...)
			wantSeen := drain(saw)
			gotAnswers := exchangeRaw(t, fast.addr, tt.raw, methods...)
			gotSeen := drain(saw)
			if len(wantAnswers) == 0 {
				t.Fatal("net/http did not answer")
			}
			for i := range wantAnswers {
				normalize(t, "net/http", &wantAnswers[i])
			}
			for i := range gotAnswers {
				normalize(t, "fast path", &gotAnswers[i])
			}
			normalizeSeen(wantSeen, tt.raw)
			normalizeSeen(gotSeen, tt.raw)
			if diff := cmp.Diff(wantSeen, gotSeen); diff != "" {
				t.Errorf("the backend saw (-net/http +fast path):\n%s", diff)
			}
			if diff := cmp.Diff(wantAnswers, gotAnswers); diff != "" {
				t.Errorf("the client got (-net/http +fast path):\n%s", diff)
			}
			switch handed := fast.handed.Load(); {
			case tt.fast && (handed != 0 || fast.slow.Load() != 0):
				t.Errorf("the fallback got %d connections and %d requests of a plain exchange, want none", handed, fast.slow.Load())
			case !tt.fast && handed != 1:
				t.Errorf("the fallback got %d connections, want the one handed over", handed)
			}
		})
	}
}

// stableOn returns a splitter for cfg with b for stable, on a Server.
func stableOn(t *testing.T, cfg Config, b Backend) (*Splitter, *fastFront) {
	t.Helper()
	s, _ := newSplitter(t, cfg)
	if err := s.SetStable(b); err != nil {
		t.Fatal(err)
	}
	return s, startFast(t, s, nil)
}

// oneBackend returns a splitter whose stable backend answers with handle
// (the path, when nil), on a Server, and what the backend saw.
func oneBackend(t *testing.T, cfg Config, handle http.HandlerFunc) (*Splitter, *fastFront, chan seen) {
	t.Helper()
	b, saw := recordingBackend(t, "v1", handle)
	s, front := stableOn(t, cfg, b)
	return s, front, saw
}

// Requests written in one write are answered in order, on the fast path.
func TestServerPipelining(t *testing.T) {
	const host = "Host: model.example"
	_, front, _ := oneBackend(t, Config{}, nil)
	var raw string
	var methods []string
	for i := range 5 {
		raw += request("", fmt.Sprintf("GET /r%d HTTP/1.1", i), host)
		methods = append(methods, "GET")
	}
	got := exchangeRaw(t, front.addr, raw, methods...)
	var bodies []string
	for _, a := range got {
		bodies = append(bodies, a.Body)
	}
	if want := []string{"/r0", "/r1", "/r2", "/r3", "/r4"}; !slicesEqual(bodies, want) {
		t.Errorf("pipelined answers %q, want %q", bodies, want)
	}
	if n := front.handed.Load(); n != 0 {
		t.Errorf("the fallback got %d connections of plain requests, want none", n)
	}
}

// When a pipelined request is not plain, the answers to those before it
// still go out first, and net/http reads exactly the bytes of the rest.
func TestServerPipeliningHandsOver(t *testing.T) {
	const host = "Host: model.example"
	_, front, saw := oneBackend(t, Config{}, nil)
	tests := []struct{ name, last string }{
		{"chunked", request("5\r\nhello\r\n0\r\n\r\n", "POST /last HTTP/1.1", host, "Transfer-Encoding: chunked")},
		{"expect", request("hello", "POST /last HTTP/1.1", host, "Content-Length: 5", "Expect: 100-continue")},
		{"http/1.0", request("", "GET /last HTTP/1.0", host)},
		// A stray CRLF after a body, as old clients send: net/http's
		// parser refuses it, the answers before it still go out.
		{"stray CRLF", "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := front.handed.Load()
			raw := request("ab", "POST /first HTTP/1.1", host, "Content-Length: 2") + request("", "GET /second HTTP/1.1", host) + tt.last
			got := exchangeRaw(t, front.addr, raw, "POST", "GET", "POST")
			var answers []string
			for _, a := range got {
				answers = append(answers, fmt.Sprintf("%d %s", a.Status, a.Body))
			}
			want := []string{"200 /first", "200 /second", "200 /last"}
			if tt.last == "\r\n" {
				want[2] = "400 400 Bad Request"
			}
			if !slicesEqual(answers, want) {
				t.Errorf("answers %q, want %q", answers, want)
			}
			if n := front.handed.Load() - before; n != 1 {
				t.Errorf("the fallback got %d connections, want 1", n)
			}
			var paths []string
			for _, r := range drain(saw) {
				paths = append(paths, r.Method+" "+r.URI+" "+r.Body)
			}
			wantPaths := []string{"POST /first ab", "GET /second "}
			if tt.last != "\r\n" {
				wantPaths = append(wantPaths, "POST /last hello")
				if tt.name == "http/1.0" {
					wantPaths[2] = "GET /last "
				}
			}
			if !slicesEqual(paths, wantPaths) {
				t.Errorf("the backend saw %q, want %q", paths, wantPaths)
			}
		})
	}
}

// A protocol upgrade goes to net/http, which switches protocols through
// to the backend.
func TestServerUpgrade(t *testing.T) {
	_, front, _ := oneBackend(t, Config{Timeout: time.Second}, func(w http.ResponseWriter, r *http.Request) {
		if !echoUpgrade(w, r) {
			io.WriteString(w, r.URL.Path)
		}
	})
	c := dial(t, front.addr)
	// A plain request first: the upgrade comes on a connection the fast
	// path served.
	io.WriteString(c, request("", "GET /plain HTTP/1.1", "Host: x"))
	br := bufio.NewReader(c)
	if a, err := readAnswer(br, "GET"); err != nil || a.Status != 200 {
		t.Fatalf("plain request = %+v, %v", a, err)
	}
	io.WriteString(c, request("", "GET /ws HTTP/1.1", "Host: x", "Connection: Upgrade", "Upgrade: echo"))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade = %v, %v; want 101", res, err)
	}
	io.WriteString(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("the upgraded connection read %q, %v; want the echo", line, err)
	}
	if n := front.handed.Load(); n != 1 {
		t.Errorf("the fallback got %d connections, want 1", n)
	}
}

// countingBackend starts a backend that answers with handle and counts
// the connections it accepts; idle receives each connection when it goes
// idle.
func countingBackend(t *testing.T, version string, handle http.HandlerFunc) (b Backend, conns *atomic.Int64, idle chan net.Conn) {
	t.Helper()
	conns, idle = new(atomic.Int64), make(chan net.Conn, 64)
	srv := httptest.NewUnstartedServer(handle)
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateIdle:
			select {
			case idle <- c:
			default:
			}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return Backend{Version: version, URL: u}, conns, idle
}

// get sends a request on c and reads its answer.
func get(t *testing.T, c net.Conn, br *bufio.Reader, method, path, body string) answer {
	t.Helper()
	raw := request(body, method+" "+path+" HTTP/1.1", "Host: x", fmt.Sprintf("Content-Length: %d", len(body)))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	a, err := readAnswer(br, method)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// The fast path keeps its backend connections alive: one serves many
// requests, from several clients; one the backend closes after its answer
// serves no other.
func TestServerBackendKeepAlive(t *testing.T) {
	b, conns, _ := countingBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, r.URL.Path)
	})
	_, front := stableOn(t, Config{Timeout: 50 * time.Millisecond}, b)
	for range 4 {
		c := dial(t, front.addr)
		br := bufio.NewReader(c)
		for range 5 {
			if a := get(t, c, br, "GET", "/p", ""); a.Status != 200 || a.Body != "/p" {
				t.Fatalf("GET /p = %d %q", a.Status, a.Body)
			}
		}
		c.Close()
	}
	// Idle past the timeout of the requests: the connection is still good.
	time.Sleep(100 * time.Millisecond)
	c := dial(t, front.addr)
	br := bufio.NewReader(c)
	if a := get(t, c, br, "GET", "/p", ""); a.Status != 200 {
		t.Fatalf("GET /p = %d %q", a.Status, a.Body)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the backend accepted %d connections for 21 requests in turn, want 1", n)
	}
	for range 2 {
		if a := get(t, c, br, "GET", "/close", ""); a.Status != 200 || a.Close {
			t.Fatalf("GET /close = %d %q, close %v; want 200 and the client's connection kept", a.Status, a.Body, a.Close)
		}
	}
	if a := get(t, c, br, "GET", "/p", ""); a.Status != 200 {
		t.Fatalf("GET /p = %d %q", a.Status, a.Body)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("the backend accepted %d connections, want 3: one per answer that closed it", n)
	}
	if n := front.handed.Load(); n != 0 {
		t.Errorf("the fallback got %d connections, want none", n)
	}
}

// A backend that closes an idle connection: the next request goes on a
// new one, a GET and a POST alike. A request the backend took on a
// kept-alive connection and then dropped without an answer is sent once
// more on a new one when it is a GET, as the default transport does, and
// not when it is a POST.
func TestServerBackendClosesIdle(t *testing.T) {
	var posts, crashes atomic.Int64
	b, conns, idle := countingBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		if r.URL.Path == "/crash" {
			crashes.Add(1)
		}
		if r.URL.Path == "/crash" {
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close()
			return
		}
		fmt.Fprintf(w, "%s %s", r.Method, body)
	})
	s, front := stableOn(t, Config{}, b)
	reg := s.cfg.Registry
	c := dial(t, front.addr)
	br := bufio.NewReader(c)
	closeIdle := func() {
		t.Helper()
		select {
		case bc := <-idle:
			bc.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("the backend's connection did not go idle")
		}
		time.Sleep(20 * time.Millisecond) // the FIN arrives
	}
	for _, method := range []string{"GET", "POST"} {
		get(t, c, br, "GET", "/warm", "")
		closeIdle()
		posts.Store(0)
		if a := get(t, c, br, method, "/p", "x"); a.Status != 200 || a.Body != method+" x" {
			t.Errorf("%s after the backend closed the idle connection = %d %q, want 200", method, a.Status, a.Body)
		}
		if method == "POST" && posts.Load() != 1 {
			t.Errorf("the backend got the POST %d times, want once", posts.Load())
		}
	}
	get(t, c, br, "GET", "/warm", "")
	posts.Store(0)
	if a := get(t, c, br, "POST", "/crash", "x"); a.Status != http.StatusBadGateway {
		t.Errorf("POST to a backend that dropped it = %d %q, want 502", a.Status, a.Body)
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("the backend got the dropped POST %d times, want once: it is not sent again", n)
	}
	if got := requests(t, reg, TrackStable, OutcomeConnectionError); got != 1 {
		t.Errorf("requests{outcome=connection_error} = %v, want 1", got)
	}
	if n := conns.Load(); n < 3 {
		t.Errorf("the backend accepted %d connections, want a new one after each close", n)
	}
	for _, method := range []string{"GET", "POST"} {
		var tries []int64
		for _, addr := range []string{startSlow(t, s), front.addr} {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			get(t, c, br, "GET", "/warm", "")
			crashes.Store(0)
			if a := get(t, c, br, method, "/crash", ""); a.Status != http.StatusBadGateway {
				t.Errorf("%s to a backend that dropped it = %d %q, want 502", method, a.Status, a.Body)
			}
			tries = append(tries, crashes.Load())
		}
		if tries[0] != tries[1] {
			t.Errorf("a %s the backend dropped was sent %d times by net/http, %d times by the fast path", method, tries[0], tries[1])
		}
	}
}

// A backend that is down: 502 with the splitter's JSON error and track,
// counted as connection errors, ejected after FailureThreshold of them as
// on the old path.
func TestServerBackendDown(t *testing.T) {
	s, reg := newSplitter(t, Config{FailureThreshold: 2})
	if err := s.SetStable(refusedBackend(t, "v1")); err != nil {
		t.Fatal(err)
	}
	front := startFast(t, s, nil)
	c := dial(t, front.addr)
	br := bufio.NewReader(c)
	for i := range 2 {
		if !s.Healthy(TrackStable) {
			t.Fatalf("stable ejected after %d failures, want after 2", i)
		}
		a := get(t, c, br, "GET", "/p", "")
		if a.Status != http.StatusBadGateway || a.Header.Get(HeaderTrack) != "stable" || a.Header.Get(HeaderVersion) != "v1" ||
			a.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET = %d %v, want 502 JSON from stable v1", a.Status, a.Header)
		}
		if e := errorResponse(t, []byte(a.Body)); e.Error.Code != "internal" || !strings.Contains(e.Error.Message, "the stable backend of m in prod (version v1) did not answer") {
			t.Errorf("error = %+v", e.Error)
		}
	}
	if got := requests(t, reg, TrackStable, OutcomeConnectionError); got != 2 {
		t.Errorf("requests{outcome=connection_error} = %v, want 2", got)
	}
	if s.Healthy(TrackStable) {
		t.Error("stable still healthy after 2 connection errors (threshold 2)")
	}
	if n := front.handed.Load(); n != 0 {
		t.Errorf("the fallback got %d connections, want none", n)
	}
}

// A backend slower than the timeout: 504, counted as a timeout; the
// client's connection serves on.
func TestServerBackendTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s, front, _ := oneBackend(t, Config{Timeout: 100 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
		io.WriteString(w, r.URL.Path)
	})
	c := dial(t, front.addr)
	br := bufio.NewReader(c)
	a := get(t, c, br, "GET", "/slow", "")
	if a.Status != http.StatusGatewayTimeout || a.Header.Get(HeaderTrack) != "stable" || !strings.Contains(a.Body, "did not answer within 100ms") {
		t.Fatalf("GET /slow = %d %v %q, want 504 from stable", a.Status, a.Header, a.Body)
	}
	if a := get(t, c, br, "GET", "/fast", ""); a.Status != 200 || a.Body != "/fast" {
		t.Errorf("GET /fast after a timeout = %d %q", a.Status, a.Body)
	}
	reg := s.cfg.Registry
	if got := requests(t, reg, TrackStable, OutcomeTimeout); got != 1 {
		t.Errorf("requests{outcome=timeout} = %v, want 1", got)
	}
	if got, _ := metric(t, reg, MetricRequestDuration, map[string]string{LabelTrack: "stable"}); got != 2 {
		t.Errorf("duration samples = %v, want 2", got)
	}
}

// A client whose body stalls gets 408 at the timeout: its error, not the
// backend's, which never sees the request.
func TestServerSlowBody(t *testing.T) {
	s, front, saw := oneBackend(t, Config{Timeout: 100 * time.Millisecond, FailureThreshold: 1}, nil)
	c := dial(t, front.addr)
	io.WriteString(c, "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
	a, err := readAnswer(bufio.NewReader(c), "POST")
	if err != nil || a.Status != http.StatusRequestTimeout || !strings.Contains(a.Body, "the request body did not arrive within 100ms") ||
		a.Header.Get(HeaderTrack) != "stable" {
		t.Fatalf("stalled body = %+v, %v; want 408", a, err)
	}
	reg := s.cfg.Registry
	if got := requests(t, reg, TrackStable, OutcomeClientError); got != 1 {
		t.Errorf("requests{outcome=client_error} = %v, want 1", got)
	}
	if got := requests(t, reg, TrackStable, OutcomeTimeout); got != 0 {
		t.Errorf("requests{outcome=timeout} = %v, want 0", got)
	}
	if !s.Healthy(TrackStable) {
		t.Error("a stalled upload ejected the backend (threshold 1)")
	}
	if got := drain(saw); len(got) != 0 {
		t.Errorf("the backend saw %d requests, want none", len(got))
	}
}

// A streamed answer reaches the client chunk by chunk as the backend
// sends it, and its trailers after.
func TestServerStreams(t *testing.T) {
	next := make(chan struct{})
	_, front, _ := oneBackend(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Count")
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "second\n")
		w.Header().Set("X-Count", "2")
	})
	c := dial(t, front.addr)
	io.WriteString(c, request("", "GET /p HTTP/1.1", "Host: x", "Te: trailers"))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(res.TransferEncoding, []string{"chunked"}) {
		t.Errorf("Transfer-Encoding %q, want chunked", res.TransferEncoding)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk = %q, %v", line, err)
	}
	close(next)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != "second\n" {
		t.Errorf("rest = %q, %v", rest, err)
	}
	if got := res.Trailer.Get("X-Count"); got != "2" {
		t.Errorf("trailer X-Count = %q, want 2", got)
	}
}

// The fast path counts its requests in the same series as the old path.
func TestServerMetrics(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	handle := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/404":
			w.WriteHeader(404)
		case "/500":
			w.WriteHeader(500)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}
	paths := []string{"/ok", "/ok", "/404", "/500", "/500", "/slow", "/other"}
	count := func(t *testing.T, addr string) {
		c := dial(t, addr)
		br := bufio.NewReader(c)
		for _, p := range paths {
			get(t, c, br, "GET", p, "")
		}
	}
	fastS, fastFront, _ := oneBackend(t, Config{Timeout: 100 * time.Millisecond}, handle)
	count(t, fastFront.addr)
	slowS, slowFront, _ := oneBackend(t, Config{Timeout: 100 * time.Millisecond}, handle)
	count(t, startSlow(t, slowS))
	_ = slowFront
	for _, o := range outcomes {
		if got, want := requests(t, fastS.cfg.Registry, TrackStable, o), requests(t, slowS.cfg.Registry, TrackStable, o); got != want {
			t.Errorf("requests{outcome=%s} = %v on the fast path, %v on net/http", o, got, want)
		}
	}
	for _, track := range []string{"stable", "canary"} {
		got, _ := metric(t, fastS.cfg.Registry, MetricRequestDuration, map[string]string{LabelTrack: track})
		want, _ := metric(t, slowS.cfg.Registry, MetricRequestDuration, map[string]string{LabelTrack: track})
		if got != want {
			t.Errorf("%s duration samples = %v on the fast path, %v on net/http", track, got, want)
		}
	}
	if got := requests(t, fastS.cfg.Registry, TrackStable, OutcomeOK); got != 3 {
		t.Errorf("requests{outcome=ok} = %v, want 3", got)
	}
	if n := fastFront.handed.Load(); n != 0 {
		t.Errorf("the fallback got %d connections, want none", n)
	}
}

func TestRewritesQuery(t *testing.T) {
	many := strings.Repeat("a=1&", 10000)
	tests := []struct {
		q    string
		want bool
	}{
		{"", false},
		{"a=1&b=%20%C3%a9", false},
		{"a=1;b=2", true},
		{"a=%zz", true},
		{"a=%2", true},
		{"a=%", true},
		{many[:len(many)-1], false}, // 10,000 parameters
		{many + "a=1", true},
	}
	for _, tt := range tests {
		if got := rewritesQuery(tt.q); got != tt.want {
			t.Errorf("rewritesQuery(%.20q) = %v, want %v", tt.q, got, tt.want)
		}
		if tt.q == "" || len(tt.q) > 100 {
			continue
		}
		// What ReverseProxy forwards, against what the fast path would.
		want := tt.q
		if v, err := url.ParseQuery(tt.q); err != nil {
			want = v.Encode()
		}
		if rewritten := want != tt.q; rewritten != tt.want {
			t.Errorf("ParseQuery(%q) rewrites it: %v, rewritesQuery says %v", tt.q, rewritten, tt.want)
		}
	}
}

// A client that has its answer finds the request counted and the backend
// connection back in the pool, as on the net/http path, where the handler
// returns before the server sends the answer's end.
func TestServerCountsBeforeAnswering(t *testing.T) {
	b, conns, _ := countingBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/500" {
			w.WriteHeader(500)
		}
	})
	s, front := stableOn(t, Config{}, b)
	reg := s.cfg.Registry
	c := dial(t, front.addr)
	br := bufio.NewReader(c)
	for i := range 50 {
		path, o := "/ok", OutcomeOK
		if i%2 == 1 {
			path, o = "/500", OutcomeServerError
		}
		get(t, c, br, "GET", path, "")
		if got, want := requests(t, reg, TrackStable, o), float64(i/2+1); got != want {
			t.Fatalf("after answer %d, requests{outcome=%s} = %v, want %v", i+1, o, got, want)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("after answer %d, the backend accepted %d connections, want 1", i+1, n)
		}
	}
}

// closedWithin reports whether c's peer closes it within d, reading and
// dropping what comes first.
func closedWithin(c net.Conn, br *bufio.Reader, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, br)
	return err == nil || errors.Is(err, syscall.ECONNRESET)
}

// Shutdown closes the idle connections at once, the fast path's and the
// fallback's, lets a request in flight finish, and makes Serve return
// http.ErrServerClosed; Close closes everything at once.
func TestServerShutdown(t *testing.T) {
	for _, closeAll := range []bool{false, true} {
		name := "shutdown"
		if closeAll {
			name = "close"
		}
		t.Run(name, func(t *testing.T) {
			entered, release := make(chan struct{}, 1), make(chan struct{})
			_, front, _ := oneBackend(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/block" {
					entered <- struct{}{}
					<-release
				}
				io.WriteString(w, r.URL.Path)
			})
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			idle := dial(t, front.addr)
			idleR := bufio.NewReader(idle)
			get(t, idle, idleR, "GET", "/p", "")
			fresh := dial(t, front.addr) // has sent nothing yet
			handed := dial(t, front.addr)
			handedR := bufio.NewReader(handed)
			io.WriteString(handed, request("", "GET /old HTTP/1.0", "Host: x", "Connection: keep-alive"))
			if a, err := readAnswer(handedR, "GET"); err != nil || a.Body != "/old" {
				t.Fatalf("HTTP/1.0 request = %+v, %v", a, err)
			}
			partial := dial(t, front.addr) // mid-header, as net/http's StateIdle
			partialR := bufio.NewReader(partial)
			io.WriteString(partial, "GET /p HTTP/1.1\r\nHost: x\r\n")
			time.Sleep(50 * time.Millisecond) // for its first bytes to be read
			busy := dial(t, front.addr)
			busyR := bufio.NewReader(busy)
			io.WriteString(busy, request("", "GET /block HTTP/1.1", "Host: x"))
			<-entered

			stopped := make(chan error, 1)
			start := time.Now()
			go func() {
				if closeAll {
					stopped <- front.srv.Close()
				} else {
					stopped <- front.srv.Shutdown(context.Background())
				}
			}()
			for _, c := range []struct {
				name string
				c    net.Conn
				r    *bufio.Reader
			}{{"idle", idle, idleR}, {"fresh", fresh, bufio.NewReader(fresh)}, {"handed over", handed, handedR},
				{"mid-header", partial, partialR}} {
				if !closedWithin(c.c, c.r, 2*time.Second) {
					t.Errorf("the %s connection is still open %v after %s", c.name, time.Since(start), name)
				}
			}
			if closeAll {
				if !closedWithin(busy, busyR, 2*time.Second) {
					t.Error("Close left the busy connection open")
				}
			} else {
				select {
				case err := <-stopped:
					t.Fatalf("Shutdown returned %v with a request in flight", err)
				case <-time.After(50 * time.Millisecond):
				}
				close(release)
				a, err := readAnswer(busyR, "GET")
				if err != nil || a.Status != 200 || a.Body != "/block" || !a.Close {
					t.Errorf("the request in flight got %+v, %v; want 200 and Connection: close", a, err)
				}
				if !closedWithin(busy, busyR, 2*time.Second) {
					t.Error("the busy connection is still open after its answer")
				}
			}
			select {
			case err := <-stopped:
				if err != nil {
					t.Errorf("%s = %v", name, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s did not return", name)
			}
			select {
			case err := <-front.served:
				if !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve = %v, want http.ErrServerClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
			if c, err := net.DialTimeout("tcp", front.addr, time.Second); err == nil {
				c.Close()
				t.Errorf("a connection was accepted after %s", name)
			}
		})
	}
}

// The fallback's WriteTimeout bounds the fast path's writing of an
// answer as net/http's: a client that does not read a large answer is cut
// off, rather than holding the connection's goroutine for good.
func TestServerWriteTimeout(t *testing.T) {
	big := strings.Repeat("x", 16<<20)
	s, _ := newSplitter(t, Config{})
	b, _ := recordingBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	if err := s.SetStable(b); err != nil {
		t.Fatal(err)
	}
	front := startFast(t, s, func(f *http.Server) { f.WriteTimeout = 200 * time.Millisecond })
	c := dial(t, front.addr)
	io.WriteString(c, request("", "GET /big HTTP/1.1", "Host: x"))
	time.Sleep(time.Second) // not reading: the server's writes block, past its timeout
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		var n int64
		n, err = io.Copy(io.Discard, res.Body)
		if err == nil && n == int64(len(big)) {
			t.Fatalf("the whole %d-byte answer arrived after the write timeout", n)
		}
	}
	if front.slow.Load() != 0 {
		t.Errorf("the fallback served %d requests, want 0 (the fast path serves this one)", front.slow.Load())
	}
}

func TestStrictHeader(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\n\n", true}, // past the header
		{"GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", false},
		{"GET / HTTP/1.1\nHost: x\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\n", false},
		{"\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n", false}, // no end
	}
	for _, tt := range tests {
		if got := strictHeader([]byte(tt.raw)); got != tt.want {
			t.Errorf("strictHeader(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// An answer held back while the client's next request was in already
// goes out before the fast path waits for the client: a client that sent
// the start of its next request with the first (or a CRLF more after a
// POST's body) and waits for the first answer gets it at once, as from
// net/http, not at the header timeout.
func TestServerAnswersBeforeWaiting(t *testing.T) {
	const host = "Host: model.example"
	tests := []struct{ name, raw, method string }{
		{"start of the next request", request("", "GET /first HTTP/1.1", host) + "GET /sec", "GET"},
		{"CRLF after a POST", request("ab", "POST /first HTTP/1.1", host, "Content-Length: 2") + "\r\n", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, front, _ := oneBackend(t, Config{}, nil)
			c := dial(t, front.addr)
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			// frontConfig's header timeout is 5 s.
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			a, err := readAnswer(bufio.NewReader(c), tt.method)
			if err != nil || a.Status != http.StatusOK || a.Body != "/first" {
				t.Fatalf("answer = %d %q, %v; want 200 /first before the header timeout", a.Status, a.Body, err)
			}
		})
	}
}

// A connection that sent one large header (up to MaxHeaderBytes) does not
// keep a buffer of its size while it waits for its next request: an idle
// connection holds a few KiB, as with net/http, whatever it sent before.
func TestServerIdleConnectionsStaySmall(t *testing.T) {
	_, b := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s, _ := newSplitter(t, Config{})
	if err := s.SetStable(b); err != nil {
		t.Fatal(err)
	}
	front := startFast(t, s, func(f *http.Server) { f.MaxHeaderBytes = 1 << 20 })
	const conns, size = 16, 768 << 10
	raw := request("", "GET /p HTTP/1.1", "Host: x", "X-Big: "+strings.Repeat("b", size))
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range conns {
		c := dial(t, front.addr)
		io.WriteString(c, raw)
		if a, err := readAnswer(bufio.NewReader(c), "GET"); err != nil || a.Status != http.StatusOK {
			t.Fatalf("answer = %d %q, %v; want 200", a.Status, a.Body, err)
		}
	}
	if n := front.handed.Load(); n != 0 {
		t.Fatalf("the fallback got %d connections, want none", n)
	}
	// The connections are open and idle: what they hold is what stays.
	if grew := int64(heap()) - int64(before); grew > conns*size/4 {
		t.Errorf("%d idle connections hold %d KiB more heap, want under %d KiB", conns, grew>>10, conns*size/4>>10)
	}
}

// The answer to a pipelined request goes out before the fast path waits
// for the backend's answer to the next, as net/http sends each answer
// when it is done: a slow answer does not hold back one that is ready.
func TestServerPipelinedAnswerNotHeldBack(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, front, _ := oneBackend(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, r.URL.Path)
	})
	c := dial(t, front.addr)
	io.WriteString(c, request("", "GET /ready HTTP/1.1", "Host: x")+request("", "GET /slow HTTP/1.1", "Host: x"))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if a, err := readAnswer(bufio.NewReader(c), "GET"); err != nil || a.Body != "/ready" {
		t.Fatalf("first answer = %d %q, %v; want /ready while /slow waits", a.Status, a.Body, err)
	}
}

// The fast path's idle backend connections are closed once idle for
// fastIdleTimeout, as the default transport's: reapPools (each health
// tick of Run) closes them, and the next request dials anew.
func TestServerReapsIdleBackendConnections(t *testing.T) {
	b, conns, _ := countingBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	s, front := stableOn(t, Config{}, b)
	c := dial(t, front.addr)
	br := bufio.NewReader(c)
	get(t, c, br, "GET", "/p", "")
	s.reapPools(time.Now().Add(fastIdleTimeout - time.Second))
	get(t, c, br, "GET", "/p", "")
	if n := conns.Load(); n != 1 {
		t.Fatalf("the backend accepted %d connections before the idle timeout, want 1", n)
	}
	s.reapPools(time.Now().Add(fastIdleTimeout))
	get(t, c, br, "GET", "/p", "")
	if n := conns.Load(); n != 2 {
		t.Errorf("the backend accepted %d connections, want 2: the one idle past the timeout was kept", n)
	}
}

// Two backends at one address named otherwise (h and h:80 send other
// Host fields) keep a pool each: neither closes the other's.
func TestPoolsByHost(t *testing.T) {
	s, _ := newSplitter(t, Config{})
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.poolFor(&url.URL{Scheme: "http", Host: "model.internal"})
	b := s.poolFor(&url.URL{Scheme: "http", Host: "model.internal:80"})
	if a == b || a.addr != b.addr || a.host == b.host {
		t.Fatalf("pools %+v and %+v: want two pools to one address with their own Host", a, b)
	}
	if again := s.poolFor(&url.URL{Scheme: "http", Host: "model.internal"}); again != a || a.closed {
		t.Errorf("the first host's pool was replaced (%v) or closed (%v)", again != a, a.closed)
	}
}

// The fallback's ReadHeaderTimeout and IdleTimeout bound the fast path's
// reading as net/http's: a client may stay quiet between requests for the
// idle timeout (longer than the header timeout) and then has the header
// timeout from its request's first bytes; one quiet for longer, or that
// stalls mid-header for longer, is closed without an answer.
func TestServerReadTimeouts(t *testing.T) {
	const header, idle = 300 * time.Millisecond, 2 * time.Second
	timeouts := func(f *http.Server) { f.ReadHeaderTimeout, f.IdleTimeout = header, idle }
	b, _ := recordingBackend(t, "v1", nil)
	s, _ := newSplitter(t, Config{})
	if err := s.SetStable(b); err != nil {
		t.Fatal(err)
	}
	fast, slow := startFast(t, s, timeouts), startSlowWith(t, s, timeouts)

	first := request("", "GET /first HTTP/1.1", "Host: x")
	second := request("", "GET /second HTTP/1.1", "Host: x")
	for _, front := range []struct{ name, addr string }{{"fast path", fast.addr}, {"net/http", slow}} {
		t.Run(front.name, func(t *testing.T) {
			t.Parallel()
			open := func(t *testing.T) (net.Conn, *bufio.Reader) {
				c := dial(t, front.addr)
				br := bufio.NewReader(c)
				io.WriteString(c, first)
				if a, err := readAnswer(br, "GET"); err != nil || a.Body != "/first" {
					t.Fatalf("first answer = %+v, %v", a, err)
				}
				return c, br
			}
			t.Run("quiet past the header timeout", func(t *testing.T) {
				t.Parallel()
				c, br := open(t)
				time.Sleep(3 * header)
				io.WriteString(c, second[:4])
				time.Sleep(header / 2)
				io.WriteString(c, second[4:])
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if a, err := readAnswer(br, "GET"); err != nil || a.Body != "/second" {
					t.Fatalf("answer after %s quiet = %+v, %v; want /second", 3*header, a, err)
				}
			})
			t.Run("quiet past the idle timeout", func(t *testing.T) {
				t.Parallel()
				c, br := open(t)
				start := time.Now()
				if !closedWithin(c, br, 3*idle) {
					t.Fatal("the connection is open 3 idle timeouts after the answer")
				}
				if d := time.Since(start); d < idle/2 {
					t.Errorf("closed %s after the answer, want about the idle timeout (%s)", d, idle)
				}
			})
			t.Run("stalled mid-header", func(t *testing.T) {
				t.Parallel()
				c, _ := open(t)
				time.Sleep(3 * header)
				io.WriteString(c, second[:4])
				start := time.Now()
				c.SetReadDeadline(start.Add(3 * idle))
				got, err := io.ReadAll(c)
				d := time.Since(start)
				if err != nil && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("the connection is open %s after a stalled header: %v", d, err)
				}
				// net/http answers the malformed start of a request.
				if !strings.HasPrefix(string(got), "HTTP/1.1 400 Bad Request\r\n") {
					t.Errorf("answer to a stalled header = %q, want net/http's 400", got)
				}
				if d >= header*9/5 { // a second header timeout (the fallback waiting for the rest) is 2×
					t.Errorf("closed %s after the header stalled, want about the header timeout (%s)", d, header)
				}
			})
		})
	}
}

// lazyDeadline sets a deadline only when the one wanted lies past the one
// in force, or more than the slack before it, and clears it once.
func TestLazyDeadline(t *testing.T) {
	var sets []time.Time
	d := lazyDeadline{set: func(t time.Time) error { sets = append(sets, t); return nil }}
	t0 := time.Unix(1000, 0)
	const slack = 100 * time.Millisecond
	d.by(time.Time{}, slack) // none in force: nothing to clear
	d.by(t0, slack)          // set to t0+slack
	d.by(t0.Add(slack), slack)
	d.by(t0.Add(-slack), slack)   // at t0+slack, 2 slacks past: set
	d.by(t0.Add(-slack/2), slack) // at t0, within the slack: kept
	d.by(t0.Add(time.Millisecond), slack)
	d.by(time.Time{}, slack)
	d.by(time.Time{}, slack)
	want := []time.Time{t0.Add(slack), t0, t0.Add(time.Millisecond + slack), {}}
	if len(sets) != len(want) {
		t.Fatalf("set %v, want %v", sets, want)
	}
	for i := range want {
		if !sets[i].Equal(want[i]) {
			t.Errorf("set #%d = %v, want %v", i, sets[i], want[i])
		}
	}
	if got := slackOf(10 * time.Second); got != 250*time.Millisecond {
		t.Errorf("slackOf(10s) = %s, want 250ms", got)
	}
	if got := slackOf(160 * time.Millisecond); got != 10*time.Millisecond {
		t.Errorf("slackOf(160ms) = %s, want 10ms", got)
	}
}

// A 1xx of the backend's goes on without the fields the splitter sets or
// drops on a final answer, on either path: a model server's own
// Promote-Track does not reach the client.
func TestEarlyHintsCarryNoSplitterFields(t *testing.T) {
	b, _ := recordingBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Link", "</style.css>; rel=preload")
		h.Set(HeaderTrack, "lies")
		h.Set(HeaderVersion, "lies")
		h.Set("X-Internal", "secret")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "after hints")
	})
	s, _ := newSplitter(t, Config{DropResponseFields: []string{"x-internal"}})
	if err := s.SetStable(b); err != nil {
		t.Fatal(err)
	}
	raw := request("", "GET /p HTTP/1.1", "Host: x")
	for _, front := range []struct{ name, addr string }{{"fast path", startFast(t, s, nil).addr}, {"net/http", startSlow(t, s)}} {
		answers := exchangeRaw(t, front.addr, raw, "GET")
		if len(answers) != 1 || len(answers[0].Early) != 1 {
			t.Fatalf("%s: answers %+v, want one with one 103 before it", front.name, answers)
		}
		a := answers[0]
		if early := a.Early[0]; !strings.HasPrefix(early, "103 ") || !strings.Contains(early, "style.css") ||
			strings.Contains(early, "lies") || strings.Contains(early, "secret") {
			t.Errorf("%s: 103 = %s, want its Link without the backend's Promote-* fields and X-Internal", front.name, early)
		}
		if a.Header.Get(HeaderTrack) != "stable" || a.Header.Get(HeaderVersion) != "v1" || a.Header.Get("X-Internal") != "" {
			t.Errorf("%s: final answer's fields %v, want the splitter's track and version and no X-Internal", front.name, a.Header)
		}
	}
}

// A request whose header the fast path read as Shutdown began, and that
// goes to the fallback, which takes no more connections then, is answered
// 503 rather than dropped without an answer.
func TestServerShutdownAnswersHandedOverRequest(t *testing.T) {
	s, _ := newSplitter(t, Config{})
	routing, decide := make(chan struct{}), make(chan struct{})
	srv := &Server{Fallback: frontConfig(s), Route: func(r *http.Request) (Route, bool) {
		close(routing)
		<-decide
		return Route{}, false // to the fallback
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := dial(t, ln.Addr().String())
	io.WriteString(c, request("", "GET /p HTTP/1.1", "Host: x"))
	<-routing
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(context.Background()) }()
	for deadline := time.Now().Add(5 * time.Second); !srv.closing.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not begin")
		}
		time.Sleep(time.Millisecond)
	}
	close(decide)
	a, err := readAnswer(bufio.NewReader(c), "GET")
	if err != nil || a.Status != http.StatusServiceUnavailable || !a.Close || !strings.Contains(a.Body, "shutting down") {
		t.Fatalf("answer = %+v, %v; want 503 shutting down, Connection: close", a, err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Shutdown = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}
