package metrics

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/analysis"
)

// TestPrometheusHistory reads stable's history from a real Prometheus: what
// the track served over the window before the rollout's start, and nothing
// served after it.
func TestPrometheusHistory(t *testing.T) {
	const model, env = "credit-risk", "prod"
	s := newTestSplitter(t)
	s.touch(model, env, TrackStable)
	s.touch(model, env, TrackCanary)
	before := time.Now()
	srv := startPrometheus(t, s.reg)
	src, err := NewPrometheus(PrometheusOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	poller, err := NewPoller(src, PollerOptions{})
	if err != nil {
		t.Fatal(err)
	}

	past := []batch{{OutcomeOK, 990, 0.02}, {OutcomeOK, 5, 0.6}, {OutcomeServerError, 4, 0.1}, {OutcomeTimeout, 1, 10}}
	s.serveAll(model, env, TrackStable, past)
	s.serveAll(model, env, TrackCanary, []batch{{OutcomeServerError, 50, 0.1}}) // another track: not stable's history
	sum := func() float64 {
		got, err := srv.query(t, fmt.Sprintf(`sum(%s{model=%q,env=%q,track="stable"})`, RequestsMetric, model, env))
		if err != nil || len(got) != 1 {
			return -1
		}
		return got[0].value
	}
	waitFor(t, 10*time.Second, "stable's past scraped", func() (bool, string) { return sum() == 1000, fmt.Sprint(sum()) })
	// The rollout starts once the scrape of the past is Settle old: the
	// history is evaluated then.
	start := time.Now().Add(DefaultSettle + 100*time.Millisecond)
	time.Sleep(time.Until(start))
	// Served after the start: the rollout's, not the history's.
	s.serveAll(model, env, TrackStable, []batch{{OutcomeServerError, 500, 0.1}})
	waitFor(t, 10*time.Second, "the traffic after the start scraped", func() (bool, string) { return sum() == 1500, fmt.Sprint(sum()) })

	q := Query{Model: model, Env: env, Track: TrackStable, Since: start}
	c := expectCounts(past, 5, splitterBuckets())
	// All of the past is within the last 15 minutes: the recent counts
	// are the same.
	want := analysis.History{Requests: c.Requests, Errors: c.Errors, Latency: c.Latency, Recent: &c}
	for name, read := range map[string]func() (analysis.History, error){
		"prometheus": func() (analysis.History, error) { return src.History(t.Context(), q, time.Hour) },
		"poller":     func() (analysis.History, error) { return poller.History(t.Context(), q, time.Hour) },
	} {
		got, err := read()
		if err != nil {
			t.Fatalf("%s: History(%s, 1h) error = %v", name, q, err)
		}
		if diff := cmp.Diff(want, got, approx); diff != "" {
			t.Errorf("%s: History(%s, 1h) mismatch (-want +got):\n%s", name, q, diff)
		}
	}

	// A window that ends before Prometheus scraped anything, or a track
	// with no series, has no data.
	early := Query{Model: model, Env: env, Track: TrackStable, Since: before}
	if _, err := src.History(t.Context(), early, time.Hour); !errors.Is(err, ErrNoData) {
		t.Errorf("History(%s, 1h) error = %v, want ErrNoData", early, err)
	}
	other := Query{Model: "fraud", Env: env, Track: TrackStable, Since: start}
	if _, err := src.History(t.Context(), other, time.Hour); !errors.Is(err, ErrNoData) {
		t.Errorf("History(%s, 1h) error = %v, want ErrNoData", other, err)
	}
	if _, err := src.History(t.Context(), q, 0); err == nil || errors.Is(err, ErrNoData) {
		t.Errorf("History(%s, 0) error = %v, want a refusal of the window", q, err)
	}
}

// TestBuiltinHistory reads the splitter's stable counters as they stand:
// everything since the process started, before the rollout's Mark.
func TestBuiltinHistory(t *testing.T) {
	const model, env = "credit-risk", "prod"
	s := newTestSplitter(t)
	b := NewBuiltin(s.reg)
	poller, err := NewPoller(b, PollerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: model, Env: env, Track: TrackStable, Since: time.Now()}
	if _, err := b.History(t.Context(), q, time.Hour); !errors.Is(err, ErrNoData) {
		t.Errorf("History() of a track with no series: error = %v, want ErrNoData", err)
	}
	s.touch(model, env, TrackStable)
	if _, err := b.History(t.Context(), q, time.Hour); !errors.Is(err, ErrNoData) {
		t.Errorf("History() of a track with no requests: error = %v, want ErrNoData", err)
	}
	past := []batch{{OutcomeOK, 195, 0.02}, {OutcomeConnectionError, 3, 0.001}, {OutcomeClientError, 2, 0.01}}
	s.serveAll(model, env, TrackStable, past)
	s.serveAll(model, env, TrackCanary, []batch{{OutcomeServerError, 50, 0.1}})
	if err := b.Mark(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	c := expectCounts(past, 3, splitterBuckets())
	want := analysis.History{Requests: c.Requests, Errors: c.Errors, Latency: c.Latency}
	for name, got := range map[string]func() (analysis.History, error){
		"builtin": func() (analysis.History, error) { return b.History(t.Context(), q, time.Hour) },
		"poller":  func() (analysis.History, error) { return poller.History(t.Context(), q, time.Hour) },
	} {
		h, err := got()
		if err != nil {
			t.Fatalf("%s: History() error = %v", name, err)
		}
		if diff := cmp.Diff(want, h, approx); diff != "" {
			t.Errorf("%s: History() mismatch (-want +got):\n%s", name, diff)
		}
	}
}
