package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// TestMetrics: requests are counted by route pattern and status code, and
// unmatched paths share one label.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.alice)
	if _, err := c.CreateModel(t.Context(), "churn", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateModel(t.Context(), "churn", ""); promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("duplicate CreateModel = %v", err)
	}
	f.do("GET", "/no/such/path/1", "", "", nil)
	f.do("GET", "/no/such/path/2", "", "", nil)

	for _, tt := range []struct {
		route, code string
		want        float64
	}{
		{"POST /api/v1/models", "201", 1},
		{"POST /api/v1/models", "409", 1},
		{"unmatched", "404", 2},
	} {
		got := requestCount(t, f.reg, tt.route, tt.code)
		if got != tt.want {
			t.Errorf("requests_total{route=%q,code=%q} = %v, want %v", tt.route, tt.code, got, tt.want)
		}
	}
	text, err := c.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`promote_http_requests_total{code="201",route="POST /api/v1/models"} 1`,
		`promote_http_request_duration_seconds_count{code="409",route="POST /api/v1/models"} 1`,
		`promote_http_requests_total{code="404",route="unmatched"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "/no/such/path") {
		t.Error("/metrics has a label from a client's path")
	}
}

// requestCount reads promote_http_requests_total{route, code} from the
// registry.
func requestCount(t *testing.T, g *telemetry.Registry, route, code string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "promote_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestMetricsSharedRegistry: two servers on one registry do not fail to
// start; they count together.
func TestMetricsSharedRegistry(t *testing.T) {
	f := newFixture(t)
	other := NewServer(f.svc, Options{Metrics: f.reg})
	rec := httptest.NewRecorder()
	other.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	f.do("GET", "/healthz", "", "", nil)
	if got := requestCount(t, f.reg, "GET /healthz", "200"); got != 2 {
		t.Errorf("healthz count = %v, want 2", got)
	}
}

// TestRequestLog: one line per request with method, route, status and
// duration, and never a token.
func TestRequestLog(t *testing.T) {
	f := newFixture(t)
	f.model("churn")
	f.do("GET", "/api/v1/models/churn", f.vera, "", nil)
	f.do("GET", "/api/v1/models", "prm_wrongwrongwrong", "", nil)
	logs := f.logs.String()
	for _, want := range []string{
		`method=GET route="GET /api/v1/models/{model}" path=/api/v1/models/churn status=200 duration=`,
		`actor=vera`,
		`route="GET /api/v1/models" path=/api/v1/models status=401`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range append(f.secrets, "prm_wrongwrongwrong") {
		if strings.Contains(logs, secret) {
			t.Fatalf("a token secret is in the log:\n%s", logs)
		}
	}
}

// TestPanicAndInternalErrors: a panicking handler and an unexpected error
// are 500s with a generic message and a request ID; the detail is logged,
// not sent.
func TestPanicAndInternalErrors(t *testing.T) {
	f := newFixture(t)
	f.server.handle("GET /test/panic", func(http.ResponseWriter, *http.Request) error { panic("secret detail 1") })
	f.server.handle("GET /test/error", func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("query: %w", errors.New("secret detail 2"))
	})
	f.server.handle("GET /test/internal", func(http.ResponseWriter, *http.Request) error {
		return promote.Errorf(promote.Internal, "secret detail 3")
	})
	for i, path := range []string{"/test/panic", "/test/error", "/test/internal"} {
		r := f.do("GET", path, "", "", nil)
		id := r.header.Get("X-Request-Id")
		if r.status != 500 || r.err.Error.Code != promote.Internal || !strings.Contains(r.err.Error.Message, "request "+id) || id == "" {
			t.Errorf("GET %s = %d %s, want 500 internal naming request %q", path, r.status, r.body, id)
		}
		detail := fmt.Sprintf("secret detail %d", i+1)
		if strings.Contains(string(r.body), detail) {
			t.Errorf("GET %s sent the internal detail: %s", path, r.body)
		}
		if !strings.Contains(f.logs.String(), detail) {
			t.Errorf("GET %s: the log lacks %q", path, detail)
		}
	}
	// The server still serves.
	if r := f.do("GET", "/healthz", "", "", nil); r.status != 200 {
		t.Errorf("healthz after a panic = %d", r.status)
	}
}

// TestRequestTimeout: a handler that outlives the request timeout gets a
// cancelled context, and the client a 503 saying so.
func TestRequestTimeout(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.RequestTimeout = 20 * time.Millisecond })
	f.server.handle("GET /test/slow", func(_ http.ResponseWriter, r *http.Request) error {
		<-r.Context().Done()
		return fmt.Errorf("slow: %w", r.Context().Err())
	})
	r := f.do("GET", "/test/slow", "", "", nil)
	if r.status != 503 || !strings.Contains(r.err.Error.Message, "took longer than 20ms") {
		t.Errorf("slow request = %d %s, want 503 naming the timeout", r.status, r.body)
	}
	hs := f.server.HTTPServer(":0")
	if hs.ReadHeaderTimeout == 0 || hs.ReadTimeout == 0 || hs.WriteTimeout == 0 || hs.IdleTimeout == 0 {
		t.Errorf("http.Server timeouts: header %s, read %s, write %s, idle %s; want all set",
			hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
}

// TestStoreUnavailable: a request that fails because the store cannot reach
// its database is a 503 that says so and when to try again, not a 500, and
// shows nothing of the driver's message (hosts, users).
func TestStoreUnavailable(t *testing.T) {
	f := newFixture(t)
	f.server.handle("GET /test/down", func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("list models: %w", fmt.Errorf("%w: failed to connect to `user=promote`: 10.0.0.5:5432: connection refused", promote.ErrUnavailable))
	})
	r := f.do("GET", "/test/down", "", "", nil)
	id := r.header.Get("X-Request-Id")
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.err.Error.Message, "request "+id) {
		t.Errorf("GET /test/down = %d (Retry-After %q) %s, want 503 with Retry-After naming request %q", r.status, r.header.Get("Retry-After"), r.body, id)
	}
	if strings.Contains(string(r.body), "10.0.0.5") || strings.Contains(string(r.body), "user=") {
		t.Errorf("GET /test/down sent the driver's detail: %s", r.body)
	}
	if !strings.Contains(f.logs.String(), "10.0.0.5") {
		t.Errorf("the log lacks the driver's detail:\n%s", f.logs.String())
	}
}

// TestHealthAndReady: /healthz is up while the process is, /readyz follows
// the store.
func TestHealthAndReady(t *testing.T) {
	storeDown := errors.New("connection refused at 10.0.0.5:5432")
	var down atomic.Bool
	f := newFixture(t, func(o *Options) {
		o.Ready = func(context.Context) error {
			if down.Load() {
				return storeDown
			}
			return nil
		}
	})
	c := f.client("")
	if err := c.Health(t.Context()); err != nil {
		t.Errorf("Health = %v", err)
	}
	if err := c.Ready(t.Context()); err != nil {
		t.Errorf("Ready = %v", err)
	}
	down.Store(true)
	r := f.do("GET", "/readyz", "", "", nil)
	if r.status != 503 || strings.Contains(string(r.body), "10.0.0.5") {
		t.Errorf("readyz with the store down = %d %s, want 503 without the detail", r.status, r.body)
	}
	if err := c.Health(t.Context()); err != nil {
		t.Errorf("Health with the store down = %v, want nil: the process is up", err)
	}
}

// TestServeShutsDown: Serve answers until its context ends, then returns.
func TestServeShutsDown(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.server.Serve(ctx, ln) }()
	c := NewClient("http://"+ln.Addr().String(), f.vera, nil)
	models, err := c.Models(t.Context(), promote.ModelFilter{})
	if err != nil || len(models) != 0 {
		t.Errorf("Models = %v, %v", models, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}
	_, err = c.Models(t.Context(), promote.ModelFilter{})
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "cannot reach the Promote server at http://"+ln.Addr().String()) {
		t.Errorf("Models after shutdown = %v, want UnreachableError naming the URL", err)
	}
}
