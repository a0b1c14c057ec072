package traffic

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pinnedRequest is a GET /predict with the candidate header set to value
// ("" for none).
func pinnedRequest(value string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/predict", nil)
	if value != "" {
		r.Header.Set("x-promote-candidate", value)
	}
	return r
}

// A request carrying the candidate header with 1 or true reaches the
// canary whatever its weight, 0 included, and counts on the pinned track,
// never on the canary's (the analysis assumes the canary's share of
// requests is its weight), nor as the candidate's evidence; other values,
// and requests without it, are placed by the weight as before.
func TestCandidateHeaderPinsTheCanary(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	s, reg := newSplitter(t, Config{CandidateHeader: "X-Promote-Candidate"})
	var looks atomic.Int64
	s.metrics.OnCandidate(func() { looks.Add(1) })
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if v, ok := metric(t, reg, MetricRequests, map[string]string{LabelTrack: string(TrackPinned), LabelOutcome: string(OutcomeOK)}); !ok || v != 0 {
		t.Errorf("pinned ok requests before any = %v (series %t), want a series at 0", v, ok)
	}
	// No candidate deployed: the header changes nothing.
	if w := serve(s, pinnedRequest("1")); w.Body.String() != "v1" || w.Header().Get(HeaderTrack) != "stable" {
		t.Errorf("pinned request without a candidate = %q from %s, want stable's v1", w.Body, w.Header().Get(HeaderTrack))
	}
	if err := s.SetCanary(&canary, 0); err != nil { // deployed, before its first step
		t.Fatal(err)
	}
	for _, v := range []string{"1", "true", "TRUE", " true "} {
		w := serve(s, pinnedRequest(v))
		if w.Code != http.StatusOK || w.Body.String() != "v2" || w.Header().Get(HeaderTrack) != "canary" || w.Header().Get(HeaderVersion) != "v2" {
			t.Errorf("request with the candidate header %q at weight 0 = %d %q from %s %s, want the canary's v2",
				v, w.Code, w.Body, w.Header().Get(HeaderTrack), w.Header().Get(HeaderVersion))
		}
	}
	for _, v := range []string{"", "0", "false", "yes"} {
		if w := serve(s, pinnedRequest(v)); w.Body.String() != "v1" {
			t.Errorf("request with the candidate header %q at weight 0 = %q, want stable's v1", v, w.Body)
		}
	}
	if err := s.SetWeight(1); err != nil {
		t.Fatal(err)
	}
	serve(s, pinnedRequest("1"))
	got := map[Track]float64{}
	for _, tr := range []Track{TrackStable, TrackCanary, TrackPinned} {
		got[tr] = requests(t, reg, tr, OutcomeOK)
	}
	if diff := cmp.Diff(map[Track]float64{TrackStable: 5, TrackCanary: 0, TrackPinned: 5}, got); diff != "" {
		t.Errorf("ok requests by track (-want +got):\n%s", diff)
	}
	if n := looks.Load(); n != 0 {
		t.Errorf("pinned requests asked the analysis for %d looks, want none: they are no evidence", n)
	}
	if v, _ := metric(t, reg, MetricRequestDuration, map[string]string{LabelTrack: string(TrackPinned)}); v != 5 {
		t.Errorf("pinned duration samples = %v, want 5", v)
	}
}

// In a shadow rollout the candidate header has the shadow answer the
// request, in stable's place and without a mirror, counted on the pinned
// track: the shadow's comparisons with stable stay the mirrored requests'.
// The splitter is set as the agent sets it: the candidate deployed as the
// canary at weight 0, then mirrored to; once the mirror stops (a paused
// shadow rollout), the canary at weight 0 answers.
func TestCandidateHeaderPinsTheShadow(t *testing.T) {
	var mirrored, answered atomic.Int64
	_, stable := backendServer(t, "v1", nil)
	_, shadow := backendServer(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderShadow) == "1" {
			mirrored.Add(1)
		} else {
			answered.Add(1)
		}
		io.WriteString(w, "v2")
	})
	s, reg := newSplitter(t, Config{CandidateHeader: "X-Promote-Candidate"})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&shadow, 0); err != nil { // deployed
		t.Fatal(err)
	}
	if err := s.SetShadow(&shadow, 1); err != nil { // the rollout mirrors to it
		t.Fatal(err)
	}
	for range 3 {
		if w := serve(s, pinnedRequest("1")); w.Body.String() != "v2" || w.Header().Get(HeaderTrack) != "shadow" {
			t.Errorf("pinned request in a shadow rollout = %q from %s, want the shadow's v2", w.Body, w.Header().Get(HeaderTrack))
		}
	}
	if w := serve(s, pinnedRequest("")); w.Body.String() != "v1" {
		t.Errorf("plain request in a shadow rollout = %q, want stable's v1", w.Body)
	}
	s.Close() // waits for the mirrors
	if answered.Load() != 3 || mirrored.Load() != 1 {
		t.Errorf("the shadow answered %d requests and had %d mirrored, want 3 and 1", answered.Load(), mirrored.Load())
	}
	if p, sh := requests(t, reg, TrackPinned, OutcomeOK), requests(t, reg, TrackShadow, OutcomeOK)+requests(t, reg, TrackShadow, OutcomeMismatch); p != 3 || sh != 1 {
		t.Errorf("pinned requests = %v, shadow track = %v; want 3 and 1", p, sh)
	}
	if err := s.SetShadow(nil, 0); err != nil { // paused: the mirror stops
		t.Fatal(err)
	}
	if w := serve(s, pinnedRequest("1")); w.Body.String() != "v2" || w.Header().Get(HeaderTrack) != "canary" {
		t.Errorf("pinned request once the mirror stopped = %q from %s, want the canary's v2", w.Body, w.Header().Get(HeaderTrack))
	}
}

// Without CandidateHeader the header means nothing and no pinned series
// exists; a header that is not a name, or that is the sticky header too,
// is refused.
func TestCandidateHeaderConfig(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	s, reg := newSplitter(t, Config{})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 0); err != nil {
		t.Fatal(err)
	}
	if w := serve(s, pinnedRequest("1")); w.Body.String() != "v1" {
		t.Errorf("request with an unconfigured candidate header = %q, want stable's v1", w.Body)
	}
	if _, ok := metric(t, reg, MetricRequests, map[string]string{LabelTrack: string(TrackPinned)}); ok {
		t.Error("a pinned series exists without a candidate header")
	}
	for _, cfg := range []Config{{CandidateHeader: "X Candidate"}, {CandidateHeader: "x-user", Sticky: Sticky{Header: "X-User"}}} {
		cfg.Model, cfg.Env, cfg.Registry = "m", "prod", reg
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "candidate header") {
			t.Errorf("New(candidate header %q, sticky %q) = %v, want an error naming the candidate header", cfg.CandidateHeader, cfg.Sticky.Header, err)
		}
	}
}

// A person's requests by the candidate header leave the candidate's
// passive health alone: their timeouts and connection errors, however
// many, do not take it out of the real traffic (they are neither for nor
// against it), and their successes do not reset the failures the real
// traffic counts, nor end its probation.
func TestCandidateHeaderLeavesHealthAlone(t *testing.T) {
	var broken atomic.Bool
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", flaky("v2", &broken))
	s, reg := newSplitter(t, Config{CandidateHeader: "X-Promote-Candidate", Now: newClock().Now})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&canary, 1); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	for i := range 2 * DefaultFailureThreshold {
		if w := serve(s, pinnedRequest("1")); w.Code != http.StatusBadGateway || w.Header().Get(HeaderTrack) != "canary" {
			t.Fatalf("pinned request %d to a broken canary = %d from %s, want 502 from canary", i, w.Code, w.Header().Get(HeaderTrack))
		}
	}
	if got := requests(t, reg, TrackPinned, OutcomeConnectionError); got != 2*DefaultFailureThreshold {
		t.Errorf("pinned connection errors = %v, want %d", got, 2*DefaultFailureThreshold)
	}
	if !s.Healthy(TrackCanary) {
		t.Errorf("Healthy(canary) = false after %d failed pinned requests, want true: they are no evidence", 2*DefaultFailureThreshold)
	}
	// The real traffic's failures count on their own: a pinned success
	// between them does not start them over.
	for range DefaultFailureThreshold - 1 {
		serve(s, pinnedRequest(""))
	}
	broken.Store(false)
	if w := serve(s, pinnedRequest("1")); w.Code != http.StatusOK {
		t.Fatalf("pinned request to a mended canary = %d, want 200", w.Code)
	}
	broken.Store(true)
	serve(s, pinnedRequest(""))
	if s.Healthy(TrackCanary) {
		t.Errorf("Healthy(canary) = true after %d failed requests of the real traffic, a pinned success among them; want it ejected", DefaultFailureThreshold)
	}
}

// SetPinned(false) closes the candidate header's route, to the canary and
// to the shadow alike: the request is placed as any other. It stays
// closed while the same version is the canary, at another endpoint too,
// and opens with SetPinned(true), or with a canary of another version or
// none.
func TestSetPinned(t *testing.T) {
	_, stable := backendServer(t, "v1", nil)
	_, canary := backendServer(t, "v2", nil)
	_, moved := backendServer(t, "v2", nil)
	_, next := backendServer(t, "v3", nil)
	s, _ := newSplitter(t, Config{CandidateHeader: "X-Promote-Candidate"})
	if err := s.SetStable(stable); err != nil {
		t.Fatal(err)
	}
	want := func(step, version string) {
		t.Helper()
		if w := serve(s, pinnedRequest("1")); w.Body.String() != version {
			t.Errorf("%s: a pinned request = %q from %s, want %s", step, w.Body, w.Header().Get(HeaderTrack), version)
		}
	}
	steps := []struct {
		name    string
		do      func() error
		version string
	}{
		{"the canary at 0", func() error { return s.SetCanary(&canary, 0) }, "v2"},
		{"closed", func() error { s.SetPinned(false); return nil }, "v1"},
		{"the canary moved", func() error { return s.SetCanary(&moved, 0) }, "v1"},
		{"mirrored to", func() error { return s.SetShadow(&moved, 1) }, "v1"},
		{"opened", func() error { s.SetPinned(true); return nil }, "v2"},
		{"closed again", func() error { s.SetPinned(false); return s.SetShadow(nil, 0) }, "v1"},
		{"another version", func() error { return s.SetCanary(&next, 0) }, "v3"},
		{"closed once more", func() error { s.SetPinned(false); return nil }, "v1"},
		{"removed", func() error { return s.SetCanary(nil, 0) }, "v1"},
		{"the same version again", func() error { return s.SetCanary(&next, 0) }, "v3"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		want(st.name, st.version)
	}
}
