package traffic

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/testtool"
)

// newClock returns a Config.Now that moves only when told to.
func newClock() *testtool.Clock {
	return testtool.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// flaky returns a handler that answers with version, or breaks the
// connection without answering while broken is set.
func flaky(version string, broken *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte(version))
	}
}

func TestKilledCanaryIsEjected(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	canarySrv, canary := backendServer(t, "v2", nil)
	clk := newClock()
	s, reg := newSplitter(t, Config{Now: clk.Now, Rand: seeded(5)})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 1); err != nil {
		t.Fatal(err)
	}
	if got := tracks(t, s, 3); got["canary"] != 3 {
		t.Fatalf("before the kill, tracks = %v, want 3 canary", got)
	}
	canarySrv.Close()
	for i := range DefaultFailureThreshold {
		w := serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil))
		if w.Code != http.StatusBadGateway || w.Header().Get(HeaderTrack) != "canary" {
			t.Fatalf("request %d after the kill = %d from %s, want 502 from canary", i, w.Code, w.Header().Get(HeaderTrack))
		}
		if e := errorResponse(t, w.Body.Bytes()); e.Error.Code != "internal" || e.Error.Message == "" {
			t.Errorf("error = %+v", e.Error)
		}
	}
	if s.Healthy(TrackCanary) {
		t.Errorf("Healthy(canary) = true after %d connection errors", DefaultFailureThreshold)
	}
	if got := requests(t, reg, TrackCanary, OutcomeConnectionError); got != DefaultFailureThreshold {
		t.Errorf("canary connection errors = %v, want %d", got, DefaultFailureThreshold)
	}
	// The canary's share, all of it, goes to stable.
	if got := tracks(t, s, 20); got["stable"] != 20 {
		t.Errorf("with the canary ejected, tracks = %v, want 20 stable", got)
	}
	for track, want := range map[Track]float64{TrackStable: 1, TrackCanary: 0} {
		if v, ok := metric(t, reg, MetricBackendHealthy, map[string]string{LabelModel: "m", LabelEnv: "prod", LabelTrack: string(track)}); !ok || v != want {
			t.Errorf("%s{track=%s} = %v (present %v), want %v", MetricBackendHealthy, track, v, ok, want)
		}
	}
	if _, ok := metric(t, reg, MetricBackendHealthy, map[string]string{LabelTrack: "shadow"}); ok {
		t.Errorf("%s{track=shadow} exists without a shadow", MetricBackendHealthy)
	}
	// Setting the same canary again keeps it ejected.
	if err := s.SetCanary(&canary, 0.5); err != nil {
		t.Fatal(err)
	}
	if s.Healthy(TrackCanary) {
		t.Error("Healthy(canary) = true after setting the same canary again")
	}
	// Removing the canary removes its health series.
	if err := s.SetCanary(nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := metric(t, reg, MetricBackendHealthy, map[string]string{LabelTrack: "canary"}); ok {
		t.Errorf("%s{track=canary} exists without a canary", MetricBackendHealthy)
	}
}

func TestEjectionCoolOff(t *testing.T) {
	var broken atomic.Bool
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", flaky("v2", &broken))
	clk := newClock()
	s, reg := newSplitter(t, Config{Now: clk.Now, FailureThreshold: 3, CoolOff: 10 * time.Second, MaxCoolOff: 30 * time.Second})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 1); err != nil {
		t.Fatal(err)
	}
	gauge := func() float64 {
		v, _ := metric(t, reg, MetricBackendHealthy, map[string]string{LabelTrack: "canary"})
		return v
	}
	// send sends one request and returns the track that answered.
	send := func() string {
		return serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil)).Header().Get(HeaderTrack)
	}
	broken.Store(true)
	// Failures in a row count: a success in between starts over.
	send()
	send()
	broken.Store(false)
	send()
	broken.Store(true)
	send()
	send()
	if !s.Healthy(TrackCanary) {
		t.Fatal("ejected after 2 failures, a success and 2 failures; want 3 in a row")
	}
	send()
	if s.Healthy(TrackCanary) || gauge() != 0 {
		t.Fatalf("Healthy(canary) = true, gauge %v after 3 failures in a row", gauge())
	}
	steps := []struct {
		advance time.Duration
		fail    bool // whether the canary is still broken when readmitted
		healthy bool
	}{
		{9 * time.Second, true, false},
		{1 * time.Second, true, true}, // readmitted on probation: one failure ejects it for 20 s
		{19 * time.Second, true, false},
		{1 * time.Second, true, true}, // for 30 s: the cap
		{29 * time.Second, true, false},
		{1 * time.Second, false, true}, // a success ends the probation
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		if got := s.Healthy(TrackCanary); got != st.healthy {
			t.Fatalf("step %d: Healthy(canary) = %v, want %v", i, got, st.healthy)
		}
		if !st.healthy {
			if got := send(); got != "stable" {
				t.Fatalf("step %d: an ejected canary's request went to %s", i, got)
			}
			continue
		}
		if want := map[bool]float64{true: 1, false: 0}[st.healthy]; gauge() != want {
			t.Errorf("step %d: gauge = %v, want %v", i, gauge(), want)
		}
		broken.Store(st.fail)
		if got := send(); got != "canary" {
			t.Fatalf("step %d: a readmitted canary's request went to %s", i, got)
		}
	}
	// Out of probation, it takes 3 failures again, and the cool-off is
	// back to 10 s.
	broken.Store(true)
	send()
	send()
	if !s.Healthy(TrackCanary) {
		t.Fatal("ejected after 2 failures out of probation")
	}
	send()
	clk.Advance(10 * time.Second)
	if !s.Healthy(TrackCanary) {
		t.Error("after a success, the next ejection lasts longer than 10 s")
	}
}

func TestBothDown(t *testing.T) {
	stableSrv, stable := backendServer(t, "v1", nil)
	canarySrv, canary := backendServer(t, "v2", nil)
	s, _ := newSplitter(t, Config{Rand: seeded(6)})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 0.5); err != nil {
		t.Fatal(err)
	}
	stableSrv.Close()
	canarySrv.Close()
	for range 4 * DefaultFailureThreshold {
		serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil))
	}
	if s.Healthy(TrackStable) || s.Healthy(TrackCanary) {
		t.Fatalf("Healthy = %v, %v; want both ejected", s.Healthy(TrackStable), s.Healthy(TrackCanary))
	}
	for range 10 {
		w := serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil))
		if w.Code != http.StatusBadGateway || w.Header().Get(HeaderTrack) != "stable" {
			t.Fatalf("with both ejected: %d from %s, want 502 from stable", w.Code, w.Header().Get(HeaderTrack))
		}
	}
}

func TestActiveHealth(t *testing.T) {
	var failing atomic.Bool
	health := func(version string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/base/healthz" && failing.Load() {
				http.Error(w, "loading", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(version))
		}
	}
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", health("v2"))
	canary.URL.Path = "/base/"
	s, reg := newSplitter(t, Config{HealthPath: "/healthz", HealthInterval: 10 * time.Millisecond, Rand: seeded(7)})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 0.5); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	failing.Store(true)
	s.CheckHealth(ctx)
	if s.Healthy(TrackCanary) {
		t.Fatal("Healthy(canary) = true with its probe failing")
	}
	if !s.Healthy(TrackStable) {
		t.Fatal("Healthy(stable) = false with its probe passing")
	}
	if got := tracks(t, s, 20); got["stable"] != 20 {
		t.Errorf("with the canary's probe failing, tracks = %v, want 20 stable", got)
	}
	if v, _ := metric(t, reg, MetricBackendHealthy, map[string]string{LabelTrack: "canary"}); v != 0 {
		t.Errorf("%s{track=canary} = %v, want 0", MetricBackendHealthy, v)
	}
	failing.Store(false)
	s.CheckHealth(ctx)
	if !s.Healthy(TrackCanary) {
		t.Fatal("Healthy(canary) = false with its probe passing again")
	}
	if got := tracks(t, s, 40); got["canary"] == 0 {
		t.Errorf("with the canary's probe passing, tracks = %v, want some canary", got)
	}

	// Run probes on its own, and returns when ctx ends.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}()
	failing.Store(true)
	waitFor(t, "Run to notice the failing probe", func() bool { return !s.Healthy(TrackCanary) })
	failing.Store(false)
	waitFor(t, "Run to notice the passing probe", func() bool { return s.Healthy(TrackCanary) })
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKilledStableFailsOver(t *testing.T) {
	tests := []struct {
		name   string
		weight float64
		want   string // the track that takes the requests once stable is out
		status int
	}{
		{"to a canary with a weight", 0.3, "canary", http.StatusOK},
		{"not to a canary at weight 0", 0, "stable", http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stableSrv, stable := backendServer(t, "v1", nil)
			_, canary := backendServer(t, "v2", nil)
			s, _ := newSplitter(t, Config{Rand: seeded(9)})
			if err := s.SetStable(stable); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCanary(&canary, tt.weight); err != nil {
				t.Fatal(err)
			}
			stableSrv.Close()
			for range 4 * DefaultFailureThreshold {
				serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil))
			}
			if s.Healthy(TrackStable) {
				t.Fatal("Healthy(stable) = true after it was killed")
			}
			for range 20 {
				w := serve(s, httptest.NewRequest(http.MethodGet, "/predict", nil))
				if got := w.Header().Get(HeaderTrack); got != tt.want || w.Code != tt.status {
					t.Fatalf("with stable ejected: %d from %s, want %d from %s", w.Code, got, tt.status, tt.want)
				}
			}
		})
	}
}
