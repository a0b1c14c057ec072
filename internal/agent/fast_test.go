package agent

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
)

// Served as promote serve serves the agent — a traffic.Server taking its
// routes from FastRoute in front of the agent — a splitter's plain
// requests take the fast path and carry the same Promote-* fields as
// through ServeHTTP (the agent's, not the model server's), streamed
// answers included; what no splitter route takes goes to the agent's
// handler, which answers it.
func TestFastPathServesTheAgentsRoutes(t *testing.T) {
	g := newGitOps(t)
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, name := range []string{HeaderEnvironment, HeaderModel, HeaderVersion, HeaderCommit} {
			h.Set(name, "inner")
		}
		if r.URL.Path == "/upgrade" {
			h.Set("Connection", "Upgrade")
			h.Set("Upgrade", "test")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		if r.URL.Path == "/hints" {
			h.Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		if r.URL.Path == "/stream" {
			w.Write([]byte("first "))
			http.NewResponseController(w).Flush()
			<-release
		}
		w.Write([]byte("answer " + r.URL.Path))
	}))
	t.Cleanup(backend.Close)
	endpoints := writeEndpoints(t, filepath.Join(t.TempDir(), "endpoints.yaml"), map[overlay.Pin]string{v1: backend.URL})
	m, err := traffic.NewMetrics(telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, g, endpoints, nil, func(c *Config) { c.Traffic = m }) // the default transport
	t.Cleanup(a.closeSplitters)
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	commit := runGit(t, g.work, "rev-parse", "HEAD")

	var handled atomic.Int64  // requests the fallback served
	mux := http.NewServeMux() // as promote serve's
	mux.Handle("/-/status", a.StatusHandler())
	mux.Handle("/", a)
	srv := &traffic.Server{
		Fallback: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handled.Add(1)
			mux.ServeHTTP(w, r)
		}), ReadHeaderTimeout: 10 * time.Second},
		Route: a.FastRoute,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want http.ErrServerClosed", err)
		}
	})
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second}
	want := http.Header{HeaderEnvironment: {"prod"}, HeaderModel: {"credit-risk"}, HeaderVersion: {"1"}, HeaderCommit: {commit},
		traffic.HeaderTrack: {"stable"}}
	for _, path := range []string{"/predict", "/stream", "/a%2Fb"} {
		checkRouteFields(t, client, base+"/prod/credit-risk"+path, want, release)
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("the agent's handler served %d of the splitter's plain requests, want 0 (the fast path serves them)", n)
	}
	// The fallback's answers, redirects included, each on a connection
	// of its own (one handed over is the fallback's for good).
	noRedirect := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, code := range map[string]int{
		"/prod/fraud/predict":          http.StatusNotFound,   // no such model
		"/prod/credit-risk/x/%2e%2e/y": http.StatusBadRequest, // a dot segment
		"/-/status":                    http.StatusOK,         // the agent's status
		// The mux redirects a path that is not clean.
		"/prod/credit-risk//predict": http.StatusTemporaryRedirect,
		"/prod/credit-risk/a//b/":    http.StatusTemporaryRedirect,
		"/prod/credit-risk/x/../y":   http.StatusTemporaryRedirect,
	} {
		before := handled.Load()
		resp, err := noRedirect.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code || handled.Load() != before+1 {
			t.Errorf("GET %s = %d %q, the fallback served %d; want %d from the fallback", path, resp.StatusCode, body,
				handled.Load()-before, code)
		}
	}
	// A 103 carries the fields the agent's handler sends with it, the
	// route's own and not the model server's.
	slow := httptest.NewServer(mux)
	t.Cleanup(slow.Close)
	hints := func(base string) http.Header {
		t.Helper()
		var early http.Header
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			early = http.Header(h).Clone()
			return nil
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet,
			base+"/prod/credit-risk/hints", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return early
	}
	before := handled.Load()
	want103 := hints(slow.URL)
	if got := want103.Get(HeaderEnvironment); got != "prod" {
		t.Fatalf("through the agent's handler, the 103's %s = %q, want prod", HeaderEnvironment, got)
	}
	if diff := cmp.Diff(want103, hints(base)); diff != "" || handled.Load() != before {
		t.Errorf("the fast path's 103 (-agent's handler +fast path):\n%s", diff)
	}
	// A protocol upgrade goes to the agent's handler, through the
	// splitter's own transport: the model server's Promote-* fields are
	// dropped there too.
	before = handled.Load()
	checkUpgradeFields(t, ln.Addr().String(), "/prod/credit-risk/upgrade", want)
	if n := handled.Load() - before; n != 1 {
		t.Errorf("the agent's handler served %d upgrades, want 1", n)
	}
}
