package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// In a progressive environment a commit makes the new version the
// candidate at weight 0; the controller's weights divide the traffic; a
// commit that pins the stable version again drops the candidate; a
// candidate that took all traffic is the next one's stable version.
func TestProgressiveRoutes(t *testing.T) {
	f := newFixture(t)
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, nil)
	ctx := context.Background()
	sync := func() {
		t.Helper()
		if _, err := a.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	sync()
	if a.Ready(ctx, "credit-risk", "prod", "2") {
		t.Error("Ready(2) before its commit = true, want false")
	}
	if err := a.SetWeight(ctx, "credit-risk", "prod", 0.5); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("SetWeight with no candidate = %v, want a Conflict", err)
	}

	f.g.pin("prod", v2)
	f.g.pin("staging", v2)
	sync()
	if got := servedBy(t, a, "/staging/credit-risk/predict"); got != "v2" {
		t.Errorf("staging (direct) serves %s after its commit, want v2", got)
	}
	if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v1" {
		t.Errorf("prod (progressive) serves %s before any weight, want v1 still", got)
	}
	r, _ := a.Lookup("prod", "credit-risk")
	if r.Version != "2" || r.StableVersion != "1" || r.Weight != 0 || !a.Ready(ctx, "credit-risk", "prod", "2") {
		t.Errorf("prod route = %+v, ready %v; want candidate 2 against stable 1 at weight 0, ready", r, a.Ready(ctx, "credit-risk", "prod", "2"))
	}
	if err := a.SetWeight(ctx, "credit-risk", "prod", 1); err != nil {
		t.Fatalf("SetWeight(1): %v", err)
	}
	if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v2" {
		t.Errorf("prod at weight 1 serves %s, want v2", got)
	}
	// Syncing the same commit again keeps the candidate and its weight.
	a.Trigger()
	f.g.pin("staging", v1) // another environment's commit makes the agent apply again
	sync()
	if r, _ := a.Lookup("prod", "credit-risk"); r.StableVersion != "1" || r.Weight != 1 {
		t.Errorf("prod after another commit = %+v, want candidate 2 still at weight 1", r)
	}

	// A rollback commit pins 1 again: the candidate goes.
	if err := a.SetWeight(ctx, "credit-risk", "prod", 0.5); err != nil {
		t.Fatal(err)
	}
	f.g.pin("prod", v1)
	sync()
	r, _ = a.Lookup("prod", "credit-risk")
	if r.Version != "1" || r.StableVersion != "" {
		t.Errorf("prod route after the rollback commit = %+v, want 1 alone", r)
	}
	for range 20 {
		if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v1" {
			t.Fatalf("prod after the rollback commit serves %s, want v1 only", got)
		}
	}
	if err := a.SetWeight(ctx, "credit-risk", "qa", 0.5); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("SetWeight in an unknown environment = %v, want NotFound", err)
	}
}

// A candidate that took all the traffic is the stable version of the
// next one.
func TestProgressiveRoutesChain(t *testing.T) {
	f := newFixture(t)
	a := progressiveAgent(t, f.g, f.endpoints, func(string) bool { return true }, nil)
	ctx := context.Background()
	withCandidate(t, a, f.g, "dev", 1)
	f.g.pin("dev", v1) // the next promotion happens to pin 1 again
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r, _ := a.Lookup("dev", "credit-risk")
	if r.Version != "1" || r.StableVersion != "2" || r.Weight != 0 {
		t.Errorf("dev after the next commit = %+v, want 1 as the candidate against stable 2 at weight 0", r)
	}
	if got := servedBy(t, a, "/dev/credit-risk/predict"); got != "v2" {
		t.Errorf("dev serves %s, want the new stable v2", got)
	}
}

// An agent new to a route that is mid-rollout (a restart) asks which
// version is stable, and serves the candidate nothing until the
// controller gives it a weight.
func TestProgressiveRouteAfterRestart(t *testing.T) {
	f := newFixture(t)
	f.g.pin("prod", v2) // committed; its rollout is running
	var asked []string
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Stable = func(env, model, version string) (overlay.Pin, bool) {
			asked = append(asked, env+"/"+model+"@"+version)
			return v1, env == "prod" && version == "2"
		}
	})
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if fmt.Sprint(asked) != "[prod/credit-risk@2]" {
		t.Errorf("the agent asked for the stable version of %v, want prod's credit-risk 2 only", asked)
	}
	r, _ := a.Lookup("prod", "credit-risk")
	if r.Version != "2" || r.StableVersion != "1" || r.Weight != 0 {
		t.Errorf("prod route after a restart = %+v, want candidate 2 at weight 0 against stable 1", r)
	}
	for range 20 {
		if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v1" {
			t.Fatalf("prod serves %s before the controller gives the candidate a weight, want v1", got)
		}
	}
}

// The Splitter hook configures a progressive environment's splitters: a
// sticky header keeps each client on one track, and a health path that
// fails takes a backend out until it passes again.
func TestSplitterHook(t *testing.T) {
	f := newFixture(t)
	var sick atomic.Bool
	b2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && sick.Load() {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(echo{Backend: "v2", Path: r.URL.Path})
	}))
	t.Cleanup(b2.Close)
	endpoints := writeEndpoints(t, filepath.Join(t.TempDir(), "endpoints.yaml"), map[overlay.Pin]string{v1: f.b1.URL, v2: b2.URL})
	a := progressiveAgent(t, f.g, endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Splitter = func(env string, sc *traffic.Config) {
			if env == "prod" {
				sc.Sticky.Header, sc.HealthPath, sc.HealthInterval = "X-User", "/healthz", 20*time.Millisecond
			}
		}
	})
	withCandidate(t, a, f.g, "prod", 0.5)
	as := func(user string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/prod/credit-risk/predict", nil)
		req.Header.Set("X-User", user)
		a.ServeHTTP(rec, req)
		var e echo
		if err := json.Unmarshal(rec.Body.Bytes(), &e); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("GET as %s = %d %s", user, rec.Code, rec.Body)
		}
		return e.Backend
	}
	seen := map[string]int{}
	for i := range 20 {
		user := fmt.Sprintf("user-%d", i)
		first := as(user)
		seen[first]++
		for range 4 {
			if got := as(user); got != first {
				t.Fatalf("%s was served by %s, then by %s: not sticky", user, first, got)
			}
		}
	}
	if seen["v1"] == 0 || seen["v2"] == 0 {
		t.Errorf("20 users at weight 0.5 were served by %v, want both versions", seen)
	}

	// v2's health check fails: every user goes to v1 once it is probed.
	sick.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for i := range 20 {
			if as(fmt.Sprintf("user-%d", i)) != "v1" {
				all = false
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("v2 failed its health probes for 10 s and still got traffic")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The health probes of a test's splitters end with the test: a backend
// that outlives it hears from them no more.
func TestProgressiveAgentProbesEndWithTheTest(t *testing.T) {
	var probes atomic.Int64
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			probes.Add(1)
		}
		json.NewEncoder(w).Encode(echo{Backend: "b", Path: r.URL.Path})
	}))
	t.Cleanup(b.Close)
	t.Run("probed", func(t *testing.T) {
		g := newGitOps(t)
		endpoints := writeEndpoints(t, filepath.Join(t.TempDir(), "endpoints.yaml"), map[overlay.Pin]string{v1: b.URL, v2: b.URL})
		a := progressiveAgent(t, g, endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
			c.Splitter = func(env string, sc *traffic.Config) {
				if env == "prod" {
					sc.HealthPath, sc.HealthInterval = "/healthz", 10*time.Millisecond
				}
			}
		})
		withCandidate(t, a, g, "prod", 0.5)
		for deadline := time.Now().Add(10 * time.Second); probes.Load() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no health probe in 10 s")
			}
		}
	})
	time.Sleep(200 * time.Millisecond) // a probe sent before the end lands
	before := probes.Load()
	time.Sleep(300 * time.Millisecond)
	if n := probes.Load() - before; n != 0 {
		t.Errorf("the backend got %d health probes in the 300 ms after the test that made them ended, want none", n)
	}
}

// A bad share changes nothing; a good one mirrors to the candidate, which
// then answers no request.
func TestSetShadow(t *testing.T) {
	f := newFixture(t)
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, nil)
	ctx := t.Context()
	withCandidate(t, a, f.g, "prod", 0.5)
	for _, share := range []float64{math.NaN(), 1.5, -0.2} {
		if err := a.SetShadow(ctx, "credit-risk", "prod", share); promote.ErrorCode(err) != promote.Invalid {
			t.Errorf("SetShadow(%v) = %v, want Invalid", share, err)
		}
		if r, _ := a.Lookup("prod", "credit-risk"); r.Weight != 0.5 {
			t.Errorf("after SetShadow(%v) the candidate's weight is %g, want 0.5 unchanged", share, r.Weight)
		}
	}
	if err := a.SetShadow(ctx, "credit-risk", "prod", 1); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v1" {
			t.Fatalf("with a shadow, prod answered from %s, want v1 only", got)
		}
	}
}

// In a shadow rollout, as the agent sets its splitter (the candidate
// deployed at weight 0, then mirrored to), a request carrying the
// candidate header is answered by the candidate as the shadow.
func TestCandidateHeaderInAShadowRollout(t *testing.T) {
	f := newFixture(t)
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Splitter = func(_ string, sc *traffic.Config) { sc.CandidateHeader = "X-Promote-Candidate" }
	})
	withCandidate(t, a, f.g, "prod", 0)
	if err := a.SetShadow(t.Context(), "credit-risk", "prod", 1); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/prod/credit-risk/predict", nil)
	req.Header.Set("X-Promote-Candidate", "1")
	a.ServeHTTP(rec, req)
	var e echo
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Backend != "v2" || rec.Header().Get(traffic.HeaderTrack) != "shadow" {
		t.Errorf("a request with the candidate header in a shadow rollout = %d %s from %s, want v2 from the shadow",
			rec.Code, rec.Body, rec.Header().Get(traffic.HeaderTrack))
	}
}

// SetPinned closes the candidate header's route of a routed model, and is
// NotFound for a model the agent does not route.
func TestSetPinned(t *testing.T) {
	f := newFixture(t)
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Splitter = func(_ string, sc *traffic.Config) { sc.CandidateHeader = "X-Promote-Candidate" }
	})
	withCandidate(t, a, f.g, "prod", 0)
	pinned := func() string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/prod/credit-risk/predict", nil)
		req.Header.Set("X-Promote-Candidate", "1")
		a.ServeHTTP(rec, req)
		var e echo
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("a request with the candidate header = %d %s", rec.Code, rec.Body)
		}
		return e.Backend
	}
	if got := pinned(); got != "v2" {
		t.Fatalf("a request with the candidate header reached %s, want the candidate v2", got)
	}
	if err := a.SetPinned(t.Context(), "credit-risk", "prod", false); err != nil {
		t.Fatal(err)
	}
	if got := pinned(); got != "v1" {
		t.Errorf("with the route closed a request with the candidate header reached %s, want stable's v1", got)
	}
	if err := a.SetPinned(t.Context(), "fraud", "prod", false); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("SetPinned of a model the agent does not route = %v, want NotFound", err)
	}
}

// tripJudge trips at its first canary request, and counts the requests
// it is told of.
type tripJudge struct{ canary, stable atomic.Int64 }

func (j *tripJudge) Canary(bool, float64) bool { j.canary.Add(1); return true }
func (j *tripJudge) Stable(bool, float64)      { j.stable.Add(1) }

// SetJudge attaches a judge to a routed model's splitter, which takes the
// candidate's traffic away at the request that trips it; Tripped reports
// it; both are NotFound for a model the agent does not route.
func TestSetJudge(t *testing.T) {
	f := newFixture(t)
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, nil)
	ctx := t.Context()
	withCandidate(t, a, f.g, "prod", 1)
	j := &tripJudge{}
	if err := a.SetJudge(ctx, "credit-risk", "prod", j); err != nil {
		t.Fatal(err)
	}
	if tripped, err := a.Tripped(ctx, "credit-risk", "prod"); tripped || err != nil {
		t.Fatalf("Tripped before any request = %v, %v; want false", tripped, err)
	}
	if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v2" {
		t.Fatalf("prod at weight 1 serves %s, want v2", got)
	}
	for range 5 {
		if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v1" {
			t.Fatalf("prod after the judge tripped serves %s, want v1 only", got)
		}
	}
	if c, s := j.canary.Load(), j.stable.Load(); c != 1 || s != 5 {
		t.Errorf("the judge was told of %d canary and %d stable requests, want 1 and 5", c, s)
	}
	if tripped, err := a.Tripped(ctx, "credit-risk", "prod"); !tripped || err != nil {
		t.Errorf("Tripped after the trip = %v, %v; want true", tripped, err)
	}
	if r, _ := a.Lookup("prod", "credit-risk"); r.Weight != 0 {
		t.Errorf("the candidate's weight after the trip is %g, want 0", r.Weight)
	}
	if err := a.SetWeight(ctx, "credit-risk", "prod", 0.5); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("SetWeight(0.5) while tripped = %v, want a Conflict", err)
	}
	if err := a.SetJudge(ctx, "credit-risk", "prod", nil); err != nil {
		t.Fatal(err)
	}
	if tripped, err := a.Tripped(ctx, "credit-risk", "prod"); tripped || err != nil {
		t.Errorf("Tripped after SetJudge(nil) = %v, %v; want false", tripped, err)
	}
	if err := a.SetWeight(ctx, "credit-risk", "prod", 0.5); err != nil {
		t.Errorf("SetWeight(0.5) after SetJudge(nil): %v", err)
	}
	if err := a.SetJudge(ctx, "fraud", "prod", j); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("SetJudge of a model the agent does not route = %v, want NotFound", err)
	}
	if _, err := a.Tripped(ctx, "credit-risk", "qa"); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("Tripped in an environment the agent does not route = %v, want NotFound", err)
	}
}

// progressiveAgent is newAgent with splitters, whose environments progress
// as progressive says; more, when set, configures it further.
//
// A splitter with a health path probes its backends from a goroutine of
// its own until it is closed, which Run does when it ends; these agents
// are driven by Sync alone, so the test's end closes their splitters, and
// their transport refuses what a probe already under way sends after it:
// a probe that outlived its test would reach whatever server of a later
// test got the port of one of its backends.
func progressiveAgent(t *testing.T, g *gitops, endpoints string, progressive func(string) bool, more func(*Config)) *Agent {
	t.Helper()
	m, err := traffic.NewMetrics(telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tr := &untilEnd{next: http.DefaultTransport}
	a := newAgent(t, g, endpoints, nil, func(c *Config) {
		c.Traffic, c.Progressive, c.Transport = m, progressive, tr
		if more != nil {
			more(c)
		}
		if c.Transport != tr {
			tr.next = c.Transport
			c.Transport = tr
		}
	})
	t.Cleanup(func() {
		tr.ended.Store(true)
		a.closeSplitters()
	})
	return a
}

// untilEnd carries requests with next until ended is set, then refuses
// them.
type untilEnd struct {
	next  http.RoundTripper
	ended atomic.Bool
}

func (u *untilEnd) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.ended.Load() {
		return nil, fmt.Errorf("%s %s after the test ended", r.Method, r.URL)
	}
	return u.next.RoundTrip(r)
}

// withCandidate syncs a with the branch as it is, then pins v2 in env (a
// candidate, in a progressive environment), syncs again and gives it
// weight.
func withCandidate(t *testing.T, a *Agent, g *gitops, env string, weight float64) {
	t.Helper()
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	g.pin(env, v2)
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.SetWeight(t.Context(), "credit-risk", env, weight); err != nil {
		t.Fatal(err)
	}
}

// Through splitters as without them, a sync that leaves a route as it was
// keeps it: it logs no change and keeps the commit that set it.
func TestUnchangedSplitRouteKeepsItsCommit(t *testing.T) {
	f := newFixture(t)
	first := runGit(t, f.g.work, "rev-parse", "HEAD")
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	})
	withCandidate(t, a, f.g, "prod", 0.5)
	second := runGit(t, f.g.work, "rev-parse", "HEAD")
	changedBefore := len(f.logs.lines(t, "agent: route changed"))

	third := f.g.pin("staging", v2)
	st, err := a.Sync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, l := range f.logs.lines(t, "agent: route changed")[changedBefore:] {
		changed = append(changed, fmt.Sprint(l["env"]))
	}
	if diff := cmp.Diff([]string{"staging"}, changed); diff != "" {
		t.Errorf("environments whose route was logged as changed (-want +got):\n%s", diff)
	}
	for env, want := range map[string]string{"dev": first, "staging": third, "prod": second} {
		if got := envStatus(t, st, env).Routes[0].Commit; got != want {
			t.Errorf("the route of %s was set by %s, want %s", env, got, want)
		}
	}
	if r, _ := a.Lookup("prod", "credit-risk"); r.Version != "2" || r.StableVersion != "1" || r.Weight != 0.5 {
		t.Errorf("prod route = %+v, want candidate 2 against 1 at 0.5", r)
	}
}

// Answers through a splitter carry the same headers as without one: the
// environment, the model, the commit of the route and the version that
// answered.
func TestSplitRouteHeaders(t *testing.T) {
	f := newFixture(t)
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, nil)
	withCandidate(t, a, f.g, "prod", 1)
	commit := runGit(t, f.g.work, "rev-parse", "HEAD")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/prod/credit-risk/predict", nil))
	got := map[string]string{}
	for _, h := range []string{HeaderEnvironment, HeaderModel, HeaderVersion, HeaderCommit, traffic.HeaderTrack} {
		got[h] = rec.Header().Get(h)
	}
	want := map[string]string{HeaderEnvironment: "prod", HeaderModel: "credit-risk", HeaderVersion: "2", HeaderCommit: commit,
		traffic.HeaderTrack: "canary"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response headers (-want +got):\n%s", diff)
	}
}

// A person's rollback after a canary took all the traffic: the commit pins
// the version before it, which the registry names stable outright. It
// takes all the traffic at once; it must not become a candidate at weight
// 0 that no rollout would ever move.
func TestRollbackCommitTakesTheTrafficAtOnce(t *testing.T) {
	f := newFixture(t)
	var rolledBackTo atomic.Value // the version the registry's last rollback returned to
	rolledBackTo.Store("")
	a := progressiveAgent(t, f.g, f.endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Stable = func(env, model, version string) (overlay.Pin, bool) {
			if env == "prod" && version == rolledBackTo.Load() {
				return v1, true
			}
			return overlay.Pin{}, false
		}
	})
	withCandidate(t, a, f.g, "prod", 1) // the canary of 2 succeeded
	if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v2" {
		t.Fatalf("prod serves %s after the canary took all traffic, want v2", got)
	}
	rolledBackTo.Store("1")
	f.g.pin("prod", v1) // the rollback's commit
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, _ := a.Lookup("prod", "credit-risk")
	if r.Version != "1" || r.StableVersion != "" {
		t.Errorf("prod route after the rollback commit = %+v, want 1 alone", r)
	}
	for range 20 {
		if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v1" {
			t.Fatalf("prod after the rollback commit serves %s, want v1 only", got)
		}
	}
}

// A route's only backend that went down and came back is readmitted once
// its cool-off ends, though no canary asks after its health and it has
// no health path: its health gauge reads 1 again, and the failure that
// comes long after is one of five in a row, not the end of a probation
// that never ended (a new ejection for twice as long).
func TestStableOnlyBackendIsReadmitted(t *testing.T) {
	f := newFixture(t)
	reg := telemetry.NewRegistry()
	m, err := traffic.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	tr := &untilEnd{next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if down.Load() {
			return nil, fmt.Errorf("dial %s: connection refused", r.URL.Host)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	a := newAgent(t, f.g, f.endpoints, f.logs, func(c *Config) {
		c.Traffic, c.Transport = m, tr
		c.Splitter = func(_ string, sc *traffic.Config) {
			sc.CoolOff, sc.HealthInterval = 50*time.Millisecond, 10*time.Millisecond
		}
	})
	t.Cleanup(func() {
		tr.ended.Store(true)
		a.closeSplitters()
	})
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	healthy := func() string {
		rec := httptest.NewRecorder()
		reg.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for line := range strings.Lines(rec.Body.String()) {
			if strings.HasPrefix(line, `promote_traffic_backend_healthy{env="prod",model="credit-risk",track="stable"} `) {
				return strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:])
			}
		}
		return "none"
	}
	const ejected = "traffic: backend ejected after timeouts or connection errors"

	down.Store(true)
	for range 5 {
		if code, _, body := get(t, a, "/prod/credit-risk/p"); code != http.StatusBadGateway {
			t.Fatalf("GET with the endpoint down = %d %s, want 502", code, body)
		}
	}
	if got := healthy(); got != "0" || len(f.logs.lines(t, ejected)) != 1 {
		t.Fatalf("after 5 connection errors: healthy %s, %d ejections logged; want 0 and 1", got, len(f.logs.lines(t, ejected)))
	}
	down.Store(false)
	waitFor(t, "the stable backend's health gauge to read 1 again", func() bool { return healthy() == "1" })
	if n := len(f.logs.lines(t, "traffic: backend readmitted")); n != 1 {
		t.Errorf("%d readmissions logged, want 1", n)
	}
	if got := servedBy(t, a, "/prod/credit-risk/p"); got != "v1" {
		t.Fatalf("after the endpoint came back, prod is served by %s, want v1", got)
	}
	down.Store(true)
	get(t, a, "/prod/credit-risk/p")
	if n := len(f.logs.lines(t, ejected)); n != 1 || healthy() != "1" {
		t.Errorf("one connection error after the backend recovered: %d ejections logged, healthy %s; want still 1 and 1", n, healthy())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A model server (or another agent in front of it) that sends its own
// Promote-* headers does not add a second value to the agent's: through a
// splitter the answer carries the agent's alone, after an early 103 too
// (the proxy clears the header it wrote then), and streamed answers still
// flush through the agent.
func TestSplitRouteHeadersAreTheAgents(t *testing.T) {
	g := newGitOps(t)
	release := make(chan struct{}) // the client read the flushed part of /stream
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, name := range []string{HeaderEnvironment, HeaderModel, HeaderVersion, HeaderCommit} {
			h.Set(name, "inner")
		}
		if r.URL.Path == "/hints" {
			h.Set("Link", "</weights>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		if r.URL.Path == "/upgrade" {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "test")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		if r.URL.Path == "/stream" {
			w.Write([]byte("first "))
			http.NewResponseController(w).Flush()
			<-release
		}
		w.Write([]byte("answer"))
	}))
	t.Cleanup(backend.Close)
	endpoints := writeEndpoints(t, filepath.Join(t.TempDir(), "endpoints.yaml"), map[overlay.Pin]string{v1: backend.URL})
	a := progressiveAgent(t, g, endpoints, func(string) bool { return false }, nil)
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	commit := runGit(t, g.work, "rev-parse", "HEAD")
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second}
	want := http.Header{HeaderEnvironment: {"prod"}, HeaderModel: {"credit-risk"}, HeaderVersion: {"1"}, HeaderCommit: {commit}}
	for _, path := range []string{"/predict", "/hints", "/stream"} {
		checkRouteFields(t, client, srv.URL+"/prod/credit-risk"+path, want, release)
	}
	// A protocol upgrade: the proxy writes the 101 itself.
	checkUpgradeFields(t, srv.Listener.Addr().String(), "/prod/credit-risk/upgrade", want)
}

// checkRouteFields GETs url and checks that the answer is a 200 with the
// fields of want. At a path ending in /stream it reads the flushed part
// ("first ") before the rest, then closes release.
func checkRouteFields(t *testing.T, client *http.Client, url string, want http.Header, release chan struct{}) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(url, "/stream") {
		first := make([]byte, len("first "))
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatalf("GET %s: the flushed part did not arrive: %v", url, err)
		}
		close(release)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := http.Header{}
	for name := range want {
		if v := resp.Header.Values(name); v != nil {
			got[name] = v
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s = %d %q, Promote-* headers (-want +got):\n%s", url, resp.StatusCode, body, diff)
	}
}

// checkUpgradeFields asks the server at addr to switch protocols at path
// and checks that it answers 101 with the fields of want.
func checkUpgradeFields(t *testing.T, addr, path string, want http.Header) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: agent\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := http.Header{}
	for name := range want {
		got[name] = resp.Header.Values(name)
	}
	if diff := cmp.Diff(want, got); diff != "" || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("upgrade = %d, Promote-* headers (-want +got):\n%s", resp.StatusCode, diff)
	}
}

// Config.Timeout bounds the requests the splitters proxy: a model server
// slower than it gets a 504 sent for it, one within it answers, whatever
// the splitter's own default.
func TestTimeout(t *testing.T) {
	g := newGitOps(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("take"))
		select {
		case <-time.After(d):
			w.Write([]byte("answer"))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(backend.Close)
	endpoints := writeEndpoints(t, filepath.Join(t.TempDir(), "endpoints.yaml"), map[overlay.Pin]string{v1: backend.URL})
	a := progressiveAgent(t, g, endpoints, func(string) bool { return false }, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		take   string
		status int
		body   string
	}{
		{"50ms", http.StatusOK, "answer"},
		{"2s", http.StatusGatewayTimeout, "did not answer within 300ms"},
	} {
		code, _, body := get(t, a, "/prod/credit-risk/predict?take="+tc.take)
		if code != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("GET with a model server taking %s = %d %q, want %d with %q", tc.take, code, body, tc.status, tc.body)
		}
	}
}
