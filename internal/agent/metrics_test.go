package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
)

// agentSeries returns reg's promote_agent_* series as exposed, sorted.
func agentSeries(t *testing.T, reg *telemetry.Registry) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	reg.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var out []string
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "promote_agent_") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return sorted(out)
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

// The agent's sync health is on the metrics after every sync: whether
// every environment serves the head, since when, each environment's state
// and the commit it serves, one series per environment.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	reg := telemetry.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var tick atomic.Int64
	a := newAgent(t, f.g, f.endpoints, nil, func(c *Config) {
		c.Metrics = m
		c.Now = func() time.Time { return testNow.Add(time.Duration(tick.Load()) * time.Minute) }
	})
	if got := agentSeries(t, reg); len(got) != 0 {
		t.Errorf("series before the first sync: %q, want none", got)
	}
	first := runGit(t, f.g.work, "rev-parse", "HEAD")
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	at := func(minutes int) string {
		return strconv.FormatFloat(float64(testNow.Add(time.Duration(minutes)*time.Minute).Unix()), 'g', -1, 64)
	}
	want := func(ok string, last int, prod, prodCommit, otherCommit string) []string {
		return sorted([]string{
			`promote_agent_applied_commit_info{commit="` + otherCommit + `",env="dev"} 1`,
			`promote_agent_applied_commit_info{commit="` + prodCommit + `",env="prod"} 1`,
			`promote_agent_applied_commit_info{commit="` + otherCommit + `",env="staging"} 1`,
			`promote_agent_environment_in_sync{env="dev"} ` + ok,
			`promote_agent_environment_in_sync{env="prod"} ` + prod,
			`promote_agent_environment_in_sync{env="staging"} ` + ok,
			`promote_agent_sync_last_success_timestamp_seconds ` + at(last),
			`promote_agent_sync_ok ` + prod,
		})
	}
	if diff := cmp.Diff(want("1", 0, "1", first, first), agentSeries(t, reg)); diff != "" {
		t.Errorf("after the first sync (-want +got):\n%s", diff)
	}

	tick.Store(1)
	broken := f.g.pin("prod", v3) // no endpoint serves v3: prod keeps first
	if _, err := a.Sync(t.Context()); err == nil {
		t.Fatal("Sync with v3 pinned in prod: no error, want one")
	}
	// dev and staging serve the head (their overlays did not change).
	if diff := cmp.Diff(want("1", 0, "0", first, broken), agentSeries(t, reg)); diff != "" {
		t.Errorf("after a sync prod could not take (-want +got):\n%s", diff)
	}

	tick.Store(2)
	fixed := f.g.pin("prod", v2)
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want("1", 2, "1", fixed, fixed), agentSeries(t, reg)); diff != "" {
		t.Errorf("after prod took the head again (-want +got):\n%s", diff)
	}
}

// /-/status says an environment is in sync when it serves what the head
// pins, and shows the health of each route's endpoints apart: an
// environment whose only endpoint is ejected is in sync, with a backend
// that is not healthy.
func TestStatusShowsBackendHealth(t *testing.T) {
	f := newFixture(t)
	var down atomic.Bool
	tr := &untilEnd{next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if down.Load() {
			return nil, fmt.Errorf("dial %s: connection refused", r.URL.Host)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	m, err := traffic.NewMetrics(telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, f.g, f.endpoints, nil, func(c *Config) {
		c.Traffic, c.Transport = m, tr
		c.Splitter = func(_ string, sc *traffic.Config) { sc.CoolOff, sc.HealthInterval = time.Hour, time.Hour }
	})
	t.Cleanup(func() {
		tr.ended.Store(true)
		a.closeSplitters()
	})
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	backends := func() []BackendStatus {
		st := envStatus(t, a.Status(), "prod")
		if !st.InSync || len(st.Routes) != 1 {
			t.Fatalf("prod status = %+v, want in sync with one route", st)
		}
		return st.Routes[0].Backends
	}
	backend := func(healthy bool) []BackendStatus {
		return []BackendStatus{{Track: traffic.TrackStable, Version: "1", Endpoint: f.b1.URL, Healthy: healthy}}
	}
	if diff := cmp.Diff(backend(true), backends()); diff != "" {
		t.Errorf("prod's backends after the sync (-want +got):\n%s", diff)
	}
	down.Store(true)
	for range traffic.DefaultFailureThreshold {
		get(t, a, "/prod/credit-risk/predict")
	}
	if diff := cmp.Diff(backend(false), backends()); diff != "" {
		t.Errorf("prod's backends once its endpoint is ejected (-want +got):\n%s", diff)
	}
}
