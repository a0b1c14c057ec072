package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/promote"
)

func TestProxyKeepsPathAndQuery(t *testing.T) {
	g := newGitOps(t)
	b := newBackend(t, "v1")
	tests := []struct {
		name     string
		base     string // the endpoint's path
		method   string
		target   string
		body     string
		wantPath string
		wantRaw  string
		wantQ    string
	}{
		{name: "path and query", target: "/prod/credit-risk/predict?x=1&y=a%20b", wantPath: "/predict", wantQ: "x=1&y=a%20b"},
		{name: "deeper path", target: "/prod/credit-risk/v1/models/credit-risk:predict", wantPath: "/v1/models/credit-risk:predict"},
		{name: "escaped slash", target: "/prod/credit-risk/a%2Fb/c", wantPath: "/a/b/c", wantRaw: "/a%2Fb/c"},
		{name: "no path", target: "/prod/credit-risk", wantPath: "/"},
		{name: "root", target: "/prod/credit-risk/", wantPath: "/"},
		{name: "endpoint with a base path", base: "/base", target: "/prod/credit-risk/predict?q", wantPath: "/base/predict", wantQ: "q"},
		{name: "base path with a slash", base: "/base/", target: "/prod/credit-risk/predict", wantPath: "/base/predict"},
		{name: "post body", method: http.MethodPost, target: "/prod/credit-risk/predict", body: `{"income": 52000}`, wantPath: "/predict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAgent(t, g, "", nil, func(c *Config) {
				c.Environments = []string{"prod"}
				c.Resolve = func(overlay.Pin) (string, bool) { return b.URL + tc.base, true }
			})
			if _, err := a.Sync(context.Background()); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, httptest.NewRequest(method, tc.target, strings.NewReader(tc.body)))
			if rec.Code != http.StatusOK {
				t.Fatalf("%s %s = %d %s, want 200", method, tc.target, rec.Code, rec.Body)
			}
			var got echo
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			want := echo{Backend: "v1", Method: method, Path: tc.wantPath, RawPath: tc.wantRaw, RawQuery: tc.wantQ, Body: tc.body}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s %s reached the endpoint as (-want +got):\n%s", method, tc.target, diff)
			}
		})
	}
}

func TestProxyErrors(t *testing.T) {
	g := newGitOps(t)
	b := newBackend(t, "v1")
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	resolveTo := func(u string) func(*Config) {
		return func(c *Config) { c.Resolve = func(overlay.Pin) (string, bool) { return u, true } }
	}
	tests := []struct {
		name      string
		configure func(*Config)
		sync      bool
		target    string
		status    int
		code      promote.Code
		message   string
	}{
		{
			name: "nothing applied yet", configure: resolveTo(b.URL), target: "/prod/credit-risk/x",
			status: http.StatusServiceUnavailable, code: promote.Internal, message: "environment prod has nothing applied yet",
		},
		{
			name: "unknown environment", configure: resolveTo(b.URL), sync: true, target: "/qa/credit-risk/x",
			status: http.StatusNotFound, code: promote.NotFound, message: `no environment "qa" (the agent serves dev, prod, staging)`,
		},
		{
			name: "unknown model", configure: resolveTo(b.URL), sync: true, target: "/prod/fraud/x",
			status: http.StatusNotFound, code: promote.NotFound, message: `environment prod serves no model "fraud" (it serves credit-risk)`,
		},
		{
			name: "no model in the path", configure: resolveTo(b.URL), sync: true, target: "/prod",
			status: http.StatusNotFound, code: promote.NotFound, message: "no route for /prod: want /{env}/{model}/...",
		},
		{
			name: "not a name", configure: resolveTo(b.URL), sync: true, target: "/prod/..x/predict",
			status: http.StatusNotFound, code: promote.NotFound, message: "no route for /prod/..x/predict: want /{env}/{model}/...",
		},
		{
			name: "configured environment that never applied",
			configure: func(c *Config) {
				resolveTo(b.URL)(c)
				c.Environments = []string{"prod", "qa"}
			},
			sync: true, target: "/qa/credit-risk/x",
			status: http.StatusServiceUnavailable, code: promote.Internal, message: "environment qa has nothing applied: deploy/overlays/qa does not exist at commit ",
		},
		{
			name: "endpoint down", configure: resolveTo(downURL), sync: true, target: "/prod/credit-risk/x",
			status: http.StatusBadGateway, code: promote.Internal, message: "the endpoint " + downURL + " of credit-risk 1 in prod did not answer: ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAgent(t, g, "", nil, tc.configure)
			if tc.sync {
				a.Sync(context.Background()) // the outcome is what the request shows
			}
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.target, nil))
			var got errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("GET %s: body %q is not a JSON error: %v", tc.target, rec.Body, err)
			}
			if rec.Code != tc.status || got.Error.Code != tc.code || !strings.HasPrefix(got.Error.Message, tc.message) {
				t.Errorf("GET %s = %d %+v, want %d %s with a message starting %q", tc.target, rec.Code, got.Error, tc.status, tc.code, tc.message)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("GET %s: Content-Type %q, want application/json", tc.target, ct)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	g := newGitOps(t)
	b := newBackend(t, "v1")
	a := newAgent(t, g, "", nil, func(c *Config) {
		c.Environments = []string{"dev"}
		c.Resolve = func(overlay.Pin) (string, bool) { return b.URL, true }
	})
	if _, ok := a.Lookup("dev", "credit-risk"); ok {
		t.Error("Lookup before any sync found a route")
	}
	st, err := a.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	got, ok := a.Lookup("dev", "credit-risk")
	if !ok {
		t.Fatal("Lookup(dev, credit-risk) found nothing after a sync")
	}
	if diff := cmp.Diff(envStatus(t, st, "dev").Routes[0].Route, got); diff != "" {
		t.Errorf("Lookup(dev, credit-risk) differs from the status's route (-status +lookup):\n%s", diff)
	}
	if _, ok := a.Lookup("dev", "fraud"); ok {
		t.Error("Lookup(dev, fraud) found a route for a model nobody pins")
	}
}

// TestProxyRefusesDotSegments sends raw requests to the agent mounted as
// promote serve mounts it: the mux cleans a literal ../ away, but an
// escaped dot segment reaches the agent and must not reach the endpoint,
// where a server that resolves it would serve a path above the endpoint's
// base path.
func TestProxyRefusesDotSegments(t *testing.T) {
	g := newGitOps(t)
	var (
		mu   sync.Mutex
		hits []string
	)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.URL.EscapedPath())
		mu.Unlock()
	}))
	t.Cleanup(b.Close)
	a := newAgent(t, g, "", nil, func(c *Config) {
		c.Resolve = func(overlay.Pin) (string, bool) { return b.URL + "/models/credit-risk/v1", true }
	})
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/-/status", a.StatusHandler())
	mux.Handle("/", a)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	send := func(target string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n", target)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		defer mu.Unlock()
		return resp.StatusCode, string(body)
	}
	for _, target := range []string{
		"/prod/credit-risk/%2e%2e/%2e%2e/admin",
		"/prod/credit-risk/%2E%2E%2F%2E%2E%2Fadmin",
		"/prod/credit-risk/..%2F..%2Fadmin",
		"/prod/credit-risk/..%5C..%5Cadmin",
		"/prod/credit-risk/predict/%2e/x",
		"/prod/credit-risk/%2e%2e",
	} {
		mu.Lock()
		hits = nil
		mu.Unlock()
		code, body := send(target)
		if code != http.StatusBadRequest || len(hits) != 0 {
			t.Errorf("GET %s = %d %s, the endpoint got %q; want 400 and nothing sent on", target, code, body, hits)
		}
	}
	for _, target := range []string{"/prod/credit-risk/v..1/a.b/..c/.well-known", "/prod/credit-risk/predict"} {
		mu.Lock()
		hits = nil
		mu.Unlock()
		if code, body := send(target); code != http.StatusOK || len(hits) != 1 {
			t.Errorf("GET %s = %d %s, the endpoint got %q; want 200 from the endpoint", target, code, body, hits)
		}
	}
}
