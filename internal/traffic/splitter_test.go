package traffic

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/promote-ml/promote/internal/telemetry"
)

// backendServer starts a model server for version that answers with
// handler, or with its version when handler is nil.
func backendServer(t *testing.T, version string, handler http.HandlerFunc) (*httptest.Server, Backend) {
	t.Helper()
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, version) }
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return srv, Backend{Version: version, URL: u}
}

// refusedBackend returns a backend at a loopback address nothing listens
// on.
func refusedBackend(t *testing.T, version string) Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u, _ := url.Parse("http://" + addr)
	return Backend{Version: version, URL: u}
}

// newSplitter returns a splitter for cfg (model m, env prod by default) and
// the registry its metrics are on.
func newSplitter(t *testing.T, cfg Config) (*Splitter, *telemetry.Registry) {
	t.Helper()
	reg := telemetry.NewRegistry()
	if cfg.Model == "" {
		cfg.Model = "m"
	}
	if cfg.Env == "" {
		cfg.Env = "prod"
	}
	cfg.Registry = reg
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reg
}

// splitBetween returns a splitter for cfg (as newSplitter) with stable
// and canary at weight, and the registry its metrics are on.
func splitBetween(t *testing.T, cfg Config, stable, canary Backend, weight float64) (*Splitter, *telemetry.Registry) {
	t.Helper()
	s, reg := newSplitter(t, cfg)
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, weight); err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// seeded returns a deterministic Rand, safe for concurrent use.
func seeded(seed uint64) func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}

// stratified returns a Rand that yields (i+0.5)/n for i = 0, 1, ...: n
// points spread evenly over [0, 1), so that a weight w sends exactly the
// points below it to the canary.
func stratified(n int) func() float64 {
	var i atomic.Int64
	return func() float64 {
		k := i.Add(1) - 1
		return (float64(k%int64(n)) + 0.5) / float64(n)
	}
}

// serve sends r through s in process (the backends are real servers).
func serve(s http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// tracks sends n requests through s and counts the tracks that answered.
func tracks(t *testing.T, s http.Handler, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		w := serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET /predict = %d %s, want 200", w.Code, w.Body)
		}
		got[w.Header().Get(HeaderTrack)]++
	}
	return got
}

// metric returns the value of the series of name whose labels include
// labels: a counter's or gauge's value, a histogram's sample count. ok is
// false when there is no such series.
func metric(t *testing.T, g *telemetry.Registry, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, want := range labels {
				if have[k] != want {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func requests(t *testing.T, g *telemetry.Registry, track Track, o Outcome) float64 {
	t.Helper()
	v, _ := metric(t, g, MetricRequests, map[string]string{LabelModel: "m", LabelEnv: "prod", LabelTrack: string(track), LabelOutcome: string(o)})
	return v
}

// errorResponse decodes a JSON error body.
func errorResponse(t *testing.T, body []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

func TestNewValidates(t *testing.T) {
	reg := telemetry.NewRegistry()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{"every problem at once", Config{Model: "", Env: "a b", Timeout: -1, Shadow: ShadowConfig{MaxConcurrent: -1}},
			[]string{"model is empty", `environment "a b"`, "no metrics", "timeout -1ns is negative", "shadow concurrency -1"}},
		{"sticky names", Config{Model: "m", Env: "prod", Registry: reg, Sticky: Sticky{Header: "X User", Cookie: "a;b"}},
			[]string{`sticky header "X User"`, `sticky cookie "a;b"`}},
		{"headers the server keeps apart", Config{Model: "m", Env: "prod", Registry: reg, CandidateHeader: "host", Sticky: Sticky{Header: "Transfer-Encoding"}},
			[]string{`candidate header "host" cannot be used: the server takes it out of a request's headers`, `sticky header "Transfer-Encoding" cannot be used`}},
		{"hop-by-hop headers", Config{Model: "m", Env: "prod", Registry: reg, CandidateHeader: "Keep-Alive", Sticky: Sticky{Header: "connection"}},
			[]string{`candidate header "Keep-Alive" cannot be used: it is a hop-by-hop header`, `sticky header "connection" cannot be used: it is a hop-by-hop header`}},
		{"headers that frame the body", Config{Model: "m", Env: "prod", Registry: reg, CandidateHeader: "content-length"},
			[]string{`candidate header "content-length" cannot be used: it frames the request's body`}},
		{"health path", Config{Model: "m", Env: "prod", Registry: reg, HealthPath: "healthz?x"},
			[]string{`health path "healthz?x"`}},
		{"cool-offs", Config{Model: "m", Env: "prod", Registry: reg, CoolOff: time.Minute, MaxCoolOff: time.Second},
			[]string{"maximum cool-off 1s is shorter than the cool-off 1m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New(%+v) = nil error, want one", tt.cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestNoStableBackend(t *testing.T) {
	s, _ := newSplitter(t, Config{})
	w := serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET = %d, want 503", w.Code)
	}
	e := errorResponse(t, w.Body.Bytes())
	if e.Error.Code != "internal" || !strings.Contains(e.Error.Message, "no stable backend") {
		t.Errorf("error = %+v, want internal, no stable backend", e.Error)
	}
}

func TestWeights(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	tests := []struct {
		name      string
		weight    float64
		rand      func() float64
		n         int
		tolerance float64 // of the canary share
	}{
		{"10% at random", 0.10, seeded(1), 5000, 0.02},
		{"1% in even points", 0.01, stratified(1000), 1000, 0},
		{"0.5% in even points", 0.005, stratified(1000), 1000, 0},
		{"0.1% in even points", 0.001, stratified(1000), 1000, 0},
		{"0 sends none", 0, seeded(2), 200, 0},
		{"1 sends all", 1, seeded(3), 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reg := newSplitter(t, Config{Rand: tt.rand})
			if err := s.SetStable(stable); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCanary(&canary, tt.weight); err != nil {
				t.Fatal(err)
			}
			got := tracks(t, s, tt.n)
			share := float64(got["canary"]) / float64(tt.n)
			if d := share - tt.weight; d > tt.tolerance+1e-9 || d < -tt.tolerance-1e-9 {
				t.Errorf("canary share = %.4f (%v), want %.4f ± %.3f", share, got, tt.weight, tt.tolerance)
			}
			if got["canary"]+got["stable"] != tt.n {
				t.Errorf("tracks = %v, want only stable and canary", got)
			}
			if v, _ := metric(t, reg, MetricCanaryWeight, map[string]string{LabelModel: "m", LabelEnv: "prod"}); v != tt.weight {
				t.Errorf("%s = %v, want %v", MetricCanaryWeight, v, tt.weight)
			}
			if v := requests(t, reg, TrackCanary, OutcomeOK); v != float64(got["canary"]) {
				t.Errorf("canary ok requests = %v, want %d", v, got["canary"])
			}
		})
	}
}

func TestSetWeightAtRunTime(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	s, reg := newSplitter(t, Config{Rand: stratified(100)})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWeight(0.5); err == nil {
		t.Error("SetWeight(0.5) without a canary = nil error, want one")
	}
	if err := s.SetCanary(&canary, 0); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()
	get := func() (track, version string) {
		resp, err := front.Client().Get(front.URL + "/predict")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, want := string(body), resp.Header.Get(HeaderVersion); got != want {
			t.Errorf("body %q from version %q", got, want)
		}
		return resp.Header.Get(HeaderTrack), resp.Header.Get(HeaderVersion)
	}
	for _, step := range []struct {
		weight float64
		want   map[string]int
	}{
		{0, map[string]int{"stable": 100}},
		{0.05, map[string]int{"stable": 95, "canary": 5}},
		{0.25, map[string]int{"stable": 75, "canary": 25}},
		{1, map[string]int{"canary": 100}},
		{0, map[string]int{"stable": 100}},
	} {
		if err := s.SetWeight(step.weight); err != nil {
			t.Fatalf("SetWeight(%v): %v", step.weight, err)
		}
		if got := s.Weights(); got != step.weight {
			t.Errorf("Weights() = %v, want %v", got, step.weight)
		}
		if v, _ := metric(t, reg, MetricCanaryWeight, map[string]string{LabelModel: "m"}); v != step.weight {
			t.Errorf("%s = %v, want %v", MetricCanaryWeight, v, step.weight)
		}
		got := map[string]int{}
		for range 100 {
			track, version := get()
			if want := map[string]string{"stable": "v1", "canary": "v2"}[track]; version != want {
				t.Errorf("track %s served version %q, want %q", track, version, want)
			}
			got[track]++
		}
		if diff := cmp.Diff(step.want, got); diff != "" {
			t.Errorf("weight %v: tracks (-want +got):\n%s", step.weight, diff)
		}
	}
	for _, bad := range []float64{-0.1, 1.01} {
		if err := s.SetWeight(bad); err == nil {
			t.Errorf("SetWeight(%v) = nil error, want one", bad)
		}
		if err := s.SetCanary(&canary, bad); err == nil {
			t.Errorf("SetCanary(%v) = nil error, want one", bad)
		}
	}
	if got := s.Weights(); got != 0 {
		t.Errorf("after bad weights, Weights() = %v, want 0", got)
	}
	if err := s.SetCanary(nil, 0.3); err != nil {
		t.Fatal(err)
	}
	if got := s.Weights(); got != 0 {
		t.Errorf("without a canary, Weights() = %v, want 0", got)
	}
	if track, _ := get(); track != "stable" {
		t.Errorf("without a canary, track = %s, want stable", track)
	}
}

func TestBackendValidation(t *testing.T) {
	s, _ := newSplitter(t, Config{})
	ftp, _ := url.Parse("ftp://host/x")
	noHost, _ := url.Parse("http:///x")
	for _, b := range []Backend{{Version: "v1"}, {URL: &url.URL{Scheme: "http", Host: "h"}}, {Version: "v1", URL: ftp}, {Version: "v1", URL: noHost}} {
		if err := s.SetStable(b); err == nil {
			t.Errorf("SetStable(%+v) = nil error, want one", b)
		}
		if err := s.SetCanary(&b, 0.1); err == nil {
			t.Errorf("SetCanary(%+v) = nil error, want one", b)
		}
		if err := s.SetShadow(&b, 0.1); err == nil {
			t.Errorf("SetShadow(%+v) = nil error, want one", b)
		}
	}
	if rt := s.routes.Load(); rt.stable != nil || rt.canary != nil || rt.shadow != nil {
		t.Errorf("after bad backends, routes = %+v, want none", rt)
	}
}

func TestStickyHeader(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	// A Rand that fails the test: sticky requests must not be random.
	s, _ := newSplitter(t, Config{Sticky: Sticky{Header: "x-client-id"}, Rand: func() float64 { t.Error("Rand called"); return 0 }})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	const users = 500
	trackOf := func() map[string]string {
		got := map[string]string{}
		for i := range users {
			id := fmt.Sprintf("user-%d", i)
			r := httptest.NewRequest(http.MethodGet, "/predict", nil)
			r.Header.Set("X-Client-Id", id)
			got[id] = serve(s, r).Header().Get(HeaderTrack)
		}
		return got
	}
	var before map[string]string
	prev := 0.0
	for _, weight := range []float64{0.2, 0.2, 0.5, 0.1} {
		if err := s.SetCanary(&canary, weight); err != nil {
			t.Fatal(err)
		}
		got := trackOf()
		canaries := 0
		for id, track := range got {
			want := "stable"
			if s.point(id) < weight {
				want, canaries = "canary", canaries+1
			}
			if track != want {
				t.Errorf("weight %v: %s on %s, want %s (point %.4f)", weight, id, track, want, s.point(id))
			}
			// Raising the weight moves clients to the canary only,
			// lowering it to stable only.
			if before != nil && before[id] != track && (weight > prev) != (track == "canary") {
				t.Errorf("weight %v to %v: %s moved from %s to %s", prev, weight, id, before[id], track)
			}
		}
		// The hash spreads clients evenly: within 4 standard deviations.
		if d := float64(canaries)/users - weight; d*d > 16*weight*(1-weight)/users {
			t.Errorf("weight %v: %d of %d clients on canary", weight, canaries, users)
		}
		before, prev = got, weight
	}
}

func TestStickyCookie(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	s, _ := newSplitter(t, Config{Sticky: Sticky{Cookie: "promote_client"}, Rand: seeded(4)})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	// Without a canary there is nothing to stick to: no cookie.
	if c := serve(s, httptest.NewRequest(http.MethodGet, "/", nil)).Result().Cookies(); len(c) != 0 {
		t.Errorf("without a canary, cookies = %v, want none", c)
	}
	if err := s.SetCanary(&canary, 0.5); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 40 {
		w := serve(s, httptest.NewRequest(http.MethodGet, "/", nil))
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != "promote_client" || cookies[0].Value == "" || !cookies[0].HttpOnly || cookies[0].Path != "/" {
			t.Fatalf("cookies = %v, want one promote_client cookie", cookies)
		}
		first := w.Header().Get(HeaderTrack)
		if want := map[bool]string{true: "canary", false: "stable"}[s.point(cookies[0].Value) < 0.5]; first != want {
			t.Errorf("first request on %s, want %s by its new cookie", first, want)
		}
		seen[first]++
		for range 5 {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(cookies[0])
			w := serve(s, r)
			if got := w.Header().Get(HeaderTrack); got != first {
				t.Fatalf("with cookie %s: track %s, then %s", cookies[0].Value, first, got)
			}
			if c := w.Result().Cookies(); len(c) != 0 {
				t.Errorf("a request with the cookie got cookies %v", c)
			}
		}
	}
	if seen["canary"] == 0 || seen["stable"] == 0 {
		t.Errorf("new clients' tracks = %v, want both", seen)
	}
}

// The sticky cookie goes on the final response, not on a 1xx before it
// (after which the proxy clears the header): a backend's 103 Early Hints
// and a client's Expect: 100-continue keep it.
func TestStickyCookieAfterInformationalResponses(t *testing.T) {
	hints := func(version string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, version)
		}
	}
	_, stable := backendServer(t, "v1", hints("v1"))
	_, canary := backendServer(t, "v2", hints("v2"))
	s, _ := newSplitter(t, Config{Sticky: Sticky{Cookie: "promote_client"}})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 0.5); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	t.Cleanup(front.Close)
	for _, expect := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/predict", strings.NewReader(`{"x": 1}`))
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if c := resp.Cookies(); resp.StatusCode != http.StatusOK || len(c) != 1 || c[0].Name != "promote_client" {
			t.Errorf("expect 100-continue %v: status %d, cookies %v; want 200 with the sticky cookie", expect, resp.StatusCode, c)
		}
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		status int
		want   Outcome
	}{
		{200, OutcomeOK},
		{302, OutcomeOK},
		{404, OutcomeClientError},
		{429, OutcomeClientError},
		{500, OutcomeServerError},
		{503, OutcomeServerError},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(tt.status)
			})
			s, reg := newSplitter(t, Config{})
			if err := s.SetStable(stable); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if w := serve(s, httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader("{}"))); w.Code != tt.status {
					t.Fatalf("POST = %d, want %d", w.Code, tt.status)
				}
			}
			for _, o := range outcomes {
				want := 0.0
				if o == tt.want {
					want = 3
				}
				if got := requests(t, reg, TrackStable, o); got != want {
					t.Errorf("requests{outcome=%s} = %v, want %v", o, got, want)
				}
			}
			// 5xx is the model's answer, not a reason to eject.
			if !s.Healthy(TrackStable) {
				t.Errorf("Healthy(stable) = false after %d responses", tt.status)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	s, reg := newSplitter(t, Config{Timeout: 50 * time.Millisecond})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()
	resp, err := front.Client().Get(front.URL + "/predict")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("GET = %d %s, want 504", resp.StatusCode, body)
	}
	if got := resp.Header.Get(HeaderTrack) + " " + resp.Header.Get(HeaderVersion); got != "stable v1" {
		t.Errorf("headers name %q, want stable v1", got)
	}
	e := errorResponse(t, body)
	if e.Error.Code != "internal" || !strings.Contains(e.Error.Message, "did not answer within 50ms") {
		t.Errorf("error = %+v", e.Error)
	}
	if got := requests(t, reg, TrackStable, OutcomeTimeout); got != 1 {
		t.Errorf("requests{outcome=timeout} = %v, want 1", got)
	}
	if got, _ := metric(t, reg, MetricRequestDuration, map[string]string{LabelTrack: "stable"}); got != 1 {
		t.Errorf("duration samples = %v, want 1", got)
	}
}

// A client that is still sending its body at the deadline gets 408, and it
// counts as the client's error: a handful of slow uploaders never eject a
// healthy backend.
func TestSlowUploadIsTheClients(t *testing.T) {
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "v1")
	})
	s, reg := newSplitter(t, Config{Timeout: 100 * time.Millisecond, FailureThreshold: 2})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()
	for range 3 {
		body, write := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, front.URL+"/predict", body)
		req.ContentLength = 10
		go func() {
			// Half the body, and the rest well past the deadline.
			write.Write([]byte("12345"))
			time.Sleep(300 * time.Millisecond)
			write.Write([]byte("67890"))
			write.Close()
		}()
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(got), "the request body did not arrive within 100ms") {
			t.Fatalf("slow upload = %d %s, want 408 naming the body", resp.StatusCode, got)
		}
	}
	if got := requests(t, reg, TrackStable, OutcomeClientError); got != 3 {
		t.Errorf("requests{outcome=client_error} = %v, want 3", got)
	}
	if got := requests(t, reg, TrackStable, OutcomeTimeout); got != 0 {
		t.Errorf("requests{outcome=timeout} = %v, want 0: the backend was not slow", got)
	}
	if !s.Healthy(TrackStable) {
		t.Error("three slow uploads ejected a healthy stable (threshold 2)")
	}
}

// A client that stalls for good in the middle of its body gets its 408 at
// the deadline too, and the connection closes: net/http would otherwise
// read the rest of the body, which never comes, before it sends the
// answer.
func TestStalledUploadGetsItsAnswer(t *testing.T) {
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "v1")
	})
	s, _ := newSplitter(t, Config{Timeout: 100 * time.Millisecond})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()
	c, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /predict HTTP/1.1\r\nHost: model\r\nContent-Length: 1000\r\n\r\n12345")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("stalled upload = %d (close %v) %s, want 408 and the connection closed", resp.StatusCode, resp.Close, body)
	}
}

// A protocol upgrade (a WebSocket) is bounded by the timeout only until the
// backend switches protocols: the connection then outlives it, and counts
// as one request that succeeded, with the latency of the switch.
func TestUpgradeOutlivesTheTimeout(t *testing.T) {
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if !echoUpgrade(w, r) {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
		}
	})
	s, reg := newSplitter(t, Config{Timeout: 100 * time.Millisecond, FailureThreshold: 1})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()
	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade = %v, %v; want 101", resp, err)
	}
	for i := range 3 {
		time.Sleep(100 * time.Millisecond) // past the timeout, each time
		msg := fmt.Sprintf("ping %d\n", i)
		io.WriteString(conn, msg)
		line, err := br.ReadString('\n')
		if err != nil || line != msg {
			t.Fatalf("after %d ms the upgraded connection read %q, %v; want %q", (i+1)*100, line, err, msg)
		}
	}
	conn.Close()
	for deadline := time.Now().Add(10 * time.Second); requests(t, reg, TrackStable, OutcomeOK) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the closed upgraded connection was not counted as one ok request: %v", requests(t, reg, TrackStable, OutcomeOK))
		}
	}
	if got := requests(t, reg, TrackStable, OutcomeTimeout); got != 0 {
		t.Errorf("requests{outcome=timeout} = %v, want 0", got)
	}
	if !s.Healthy(TrackStable) {
		t.Error("a long upgraded connection ejected the backend")
	}
	if h := durations(t, reg)[string(TrackStable)]; h.GetSampleCount() == 1 && h.GetSampleSum() > 0.1 {
		t.Errorf("the upgrade's latency = %v s, want the switch's, not the connection's life (over 0.3 s)", h.GetSampleSum())
	}
}

// echoUpgrade switches a request that asks for it to the echo protocol,
// which sends back what it reads until the client closes; false when the
// request asks for no upgrade.
func echoUpgrade(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Upgrade") != "echo" {
		return false
	}
	w.Header().Set("Connection", "Upgrade")
	w.Header().Set("Upgrade", "echo")
	w.WriteHeader(http.StatusSwitchingProtocols)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return true
	}
	defer conn.Close()
	io.Copy(conn, brw)
	return true
}

// durations returns the request duration histograms on reg, by track.
func durations(t *testing.T, reg *telemetry.Registry) map[string]*dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Histogram{}
	for _, mf := range mfs {
		if mf.GetName() != MetricRequestDuration {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == LabelTrack {
					out[l.GetValue()] = m.GetHistogram()
				}
			}
		}
	}
	return out
}

func TestTimeoutMidBody(t *testing.T) {
	release := make(chan struct{})
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	s, reg := newSplitter(t, Config{Timeout: 50 * time.Millisecond})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()
	resp, err := front.Client().Get(front.URL + "/predict")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err == nil {
		t.Errorf("GET = %d, body error %v; want 200 and a broken body", resp.StatusCode, err)
	}
	front.Close() // waits for the handler, and so for its accounting
	if got := requests(t, reg, TrackStable, OutcomeTimeout); got != 1 {
		t.Errorf("requests{outcome=timeout} = %v, want 1", got)
	}
	if got := requests(t, reg, TrackStable, OutcomeOK); got != 0 {
		t.Errorf("requests{outcome=ok} = %v, want 0", got)
	}
}

func TestHistogram(t *testing.T) {
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond) // the latency to observe
		io.WriteString(w, "v1")
	})
	s, reg := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 3 {
		serve(s, httptest.NewRequest(http.MethodGet, "/", nil))
	}
	elapsed := time.Since(start).Seconds()
	hs := durations(t, reg)
	for track, h := range hs {
		if track != "stable" && h.GetSampleCount() != 0 {
			t.Errorf("%s: %d samples, want 0", track, h.GetSampleCount())
		}
	}
	h, ok := hs["stable"]
	if !ok {
		t.Fatalf("no %s{track=stable}", MetricRequestDuration)
	}
	if h.GetSampleCount() != 3 || h.GetSampleSum() < 0.09 || h.GetSampleSum() > elapsed {
		t.Errorf("stable: %d samples summing to %v s, want 3 summing to between 0.09 and %v", h.GetSampleCount(), h.GetSampleSum(), elapsed)
	}
	var bounds []float64
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		if b.GetUpperBound() <= 0.025 && b.GetCumulativeCount() != 0 {
			t.Errorf("bucket le=%v holds %d requests that took 30 ms", b.GetUpperBound(), b.GetCumulativeCount())
		}
		if b.GetUpperBound() >= 1 && b.GetCumulativeCount() != 3 {
			t.Errorf("bucket le=%v holds %d, want 3", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	if diff := cmp.Diff(DurationBuckets, bounds); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
}

func TestRequestReachesBackend(t *testing.T) {
	type seen struct {
		Method, Path, Query, Body, XFF, Host string
	}
	got := make(chan seen, 1)
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Get("X-Forwarded-For"), r.Host}
		w.Header().Set(HeaderTrack, "lies")
	})
	stable.URL.Path = "/base"
	s, _ := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/predict?x=1", strings.NewReader(`{"a":1}`))
	w := serve(s, r)
	if w.Code != http.StatusOK {
		t.Fatalf("POST = %d %s, want 200", w.Code, w.Body)
	}
	if h := w.Header().Values(HeaderTrack); !slices.Equal(h, []string{"stable"}) {
		t.Errorf("%s = %q, want [stable]", HeaderTrack, h)
	}
	want := seen{"POST", "/base/v1/predict", "x=1", `{"a":1}`, "192.0.2.1", stable.URL.Host}
	var saw seen
	select {
	case saw = <-got:
	default:
		t.Fatal("the backend saw no request")
	}
	if diff := cmp.Diff(want, saw); diff != "" {
		t.Errorf("backend saw (-want +got):\n%s", diff)
	}
}

func TestClientGoesAway(t *testing.T) {
	entered := make(chan struct{}, 1)
	_, stable := backendServer(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done() // answers only when the proxy gives up
	})
	s, reg := newSplitter(t, Config{FailureThreshold: 1})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(s)
	defer front.Close()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/predict", nil)
	go func() {
		<-entered
		cancel()
	}()
	if resp, err := front.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("GET = %d, want the client's cancellation", resp.StatusCode)
	}
	front.Close() // waits for the splitter's handler
	if got := requests(t, reg, TrackStable, OutcomeClientError); got != 1 {
		t.Errorf("requests{outcome=client_error} = %v, want 1", got)
	}
	if got := requests(t, reg, TrackStable, OutcomeTimeout) + requests(t, reg, TrackStable, OutcomeConnectionError); got != 0 {
		t.Errorf("timeouts and connection errors = %v, want 0", got)
	}
	// A client that leaves says nothing about the backend.
	if !s.Healthy(TrackStable) {
		t.Error("Healthy(stable) = false after a client went away")
	}
}

// TestStickyCookieAttributes checks the sticky cookie's attributes through
// both fronts: Path=/, HttpOnly, SameSite=Lax and 30 days always, and
// Secure when the client reached the splitter over TLS, directly or
// through a proxy in front that says so with X-Forwarded-Proto: https, so
// that the cookie is not sent again over plain HTTP.
func TestStickyCookieAttributes(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	s, _ := newSplitter(t, Config{Sticky: Sticky{Cookie: "promote_client"}})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 0.5); err != nil {
		t.Fatal(err)
	}
	tlsFront := httptest.NewTLSServer(s)
	t.Cleanup(tlsFront.Close)
	fast := startFast(t, s, nil)
	slow := startSlow(t, s)
	tests := []struct {
		name, url, proto string
		fast, secure     bool
	}{
		{"http", "http://" + slow + "/p", "", false, false},
		{"http, fast path", "http://" + fast.addr + "/p", "", true, false},
		{"https", tlsFront.URL + "/p", "", false, true},
		{"behind a proxy that terminated TLS", "http://" + slow + "/p", "https", false, true},
		{"behind a proxy that terminated TLS, fast path", "http://" + fast.addr + "/p", "https", true, true},
		{"behind a proxy, plain HTTP", "http://" + fast.addr + "/p", "http", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			before := fast.slow.Load()
			resp, err := tlsFront.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.fast && fast.slow.Load() != before {
				t.Fatal("the request did not take the fast path")
			}
			if len(resp.Header["Set-Cookie"]) != 1 {
				t.Fatalf("Set-Cookie = %q, want one", resp.Header["Set-Cookie"])
			}
			c, err := http.ParseSetCookie(resp.Header["Set-Cookie"][0])
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("Path=%s HttpOnly=%v SameSite=%v MaxAge=%d Secure=%v", c.Path, c.HttpOnly, c.SameSite, c.MaxAge, c.Secure)
			want := fmt.Sprintf("Path=/ HttpOnly=true SameSite=%v MaxAge=%d Secure=%v", http.SameSiteLaxMode, 30*24*60*60, tt.secure)
			if got != want {
				t.Errorf("Set-Cookie %q: %s, want %s", resp.Header["Set-Cookie"][0], got, want)
			}
		})
	}
}
