package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// scripted is a Source that gives its answers in order, one per call. The
// Poller's policy is a function of sequences of outcomes (errors, then a
// success, then errors…) that no real source produces on cue; the real
// sources drive a Poller in TestPrometheus.
type scripted struct {
	answers []answer
	calls   int
}

// answer is one scripted answer; the clock is advanced by wait before it.
type answer struct {
	wait     time.Duration
	requests float64
	err      error
}

func (s *scripted) Counts(ctx context.Context, q Query) (Counts, error) {
	a := s.answers[s.calls]
	s.calls++
	return Counts{Requests: a.requests}, a.err
}

func TestPollerRead(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	q := Query{Model: "credit-risk", Env: "prod", Track: TrackCanary, Since: since}
	noData := fmt.Errorf("requests query returned no sample: %w", ErrNoData)
	down := errors.New("connection refused")

	tests := []struct {
		name   string
		opts   PollerOptions
		script []answer
		want   []Status
	}{
		{
			name:   "data is ok",
			script: []answer{{wait: time.Minute, requests: 10}, {wait: time.Minute, requests: 25}},
			want:   []Status{StatusOK, StatusOK},
		},
		{
			name:   "no data is waited for up to the limit, from the start",
			opts:   PollerOptions{NoDataLimit: 3 * time.Minute},
			script: []answer{{wait: time.Minute, err: noData}, {wait: 2 * time.Minute, err: noData}, {wait: time.Second, err: noData}},
			want:   []Status{StatusWaiting, StatusWaiting, StatusNoData},
		},
		{
			name:   "zero requests are no data",
			opts:   PollerOptions{NoDataLimit: 3 * time.Minute},
			script: []answer{{wait: time.Minute}, {wait: 3 * time.Minute}},
			want:   []Status{StatusWaiting, StatusNoData},
		},
		{
			name:   "data arriving in time is ok",
			opts:   PollerOptions{NoDataLimit: 3 * time.Minute},
			script: []answer{{wait: time.Minute, err: noData}, {wait: time.Minute, requests: 1}},
			want:   []Status{StatusWaiting, StatusOK},
		},
		{
			name: "data that disappears is waited for from when it was last seen",
			opts: PollerOptions{NoDataLimit: 3 * time.Minute},
			script: []answer{
				{wait: 10 * time.Minute, requests: 10},
				{wait: 2 * time.Minute, err: noData},
				{wait: 2 * time.Minute, err: noData},
			},
			want: []Status{StatusOK, StatusWaiting, StatusNoData},
		},
		{
			name: "counts that stop growing are no data from when they last grew",
			opts: PollerOptions{NoDataLimit: 3 * time.Minute},
			script: []answer{
				{wait: time.Minute, requests: 10},
				{wait: 2 * time.Minute, requests: 10},
				{wait: 2 * time.Minute, requests: 10},
				{wait: time.Minute, requests: 11},
				{wait: 2 * time.Minute, requests: 11},
			},
			want: []Status{StatusOK, StatusOK, StatusNoData, StatusOK, StatusOK},
		},
		{
			name: "counts that grow again after an overshoot are new data",
			opts: PollerOptions{NoDataLimit: 3 * time.Minute},
			script: []answer{
				{wait: time.Minute, requests: 133}, // extrapolated past the truth
				{wait: 2 * time.Minute, requests: 105},
				{wait: 2 * time.Minute, requests: 106},
				{wait: 2 * time.Minute, requests: 108},
				{wait: 2 * time.Minute, requests: 110},
			},
			want: []Status{StatusOK, StatusOK, StatusOK, StatusOK, StatusOK},
		},
		{
			name:   "errors within the budget are retried, one more fails",
			opts:   PollerOptions{ErrorBudget: 2},
			script: []answer{{err: down}, {err: down}, {err: down}, {err: down}},
			want:   []Status{StatusRetrying, StatusRetrying, StatusFailed, StatusFailed},
		},
		{
			name:   "the default budget is three errors in a row",
			script: []answer{{err: down}, {err: down}, {err: down}, {err: down}},
			want:   []Status{StatusRetrying, StatusRetrying, StatusRetrying, StatusFailed},
		},
		{
			name: "a success restores the budget",
			opts: PollerOptions{ErrorBudget: 1},
			script: []answer{
				{err: down}, {requests: 5}, {err: down}, {err: noData}, {err: down}, {err: down},
			},
			want: []Status{StatusRetrying, StatusOK, StatusRetrying, StatusWaiting, StatusRetrying, StatusFailed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := since
			tt.opts.Now = func() time.Time { return now }
			src := &scripted{answers: tt.script}
			p, err := NewPoller(src, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range tt.script {
				now = now.Add(a.wait)
				r := p.Read(t.Context(), q)
				if r.Status != tt.want[i] {
					t.Fatalf("Read() #%d = %s (%v), want %s", i+1, r.Status, r.Err, tt.want[i])
				}
				checkReading(t, r)
			}
		})
	}
}

// checkReading fails unless r's error is what its status promises.
func checkReading(t *testing.T, r Reading) {
	t.Helper()
	switch r.Status {
	case StatusOK:
		if r.Err != nil || r.Counts.Requests <= 0 {
			t.Errorf("ok reading with error %v and %g requests", r.Err, r.Counts.Requests)
		}
	case StatusWaiting, StatusNoData:
		if !errors.Is(r.Err, ErrNoData) {
			t.Errorf("%s reading with error %v, want ErrNoData", r.Status, r.Err)
		}
	case StatusRetrying:
		if r.Err == nil || errors.Is(r.Err, ErrNoData) || errors.Is(r.Err, ErrBudgetExhausted) {
			t.Errorf("retrying reading with error %v, want the query's error", r.Err)
		}
	case StatusFailed:
		if !errors.Is(r.Err, ErrBudgetExhausted) {
			t.Errorf("failed reading with error %v, want ErrBudgetExhausted", r.Err)
		}
	default:
		t.Errorf("reading with unknown status %q", r.Status)
	}
}

func TestPollerCanceledIsNotCounted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	src := &scripted{answers: []answer{{err: ctx.Err()}, {err: ctx.Err()}}}
	p, err := NewPoller(src, PollerOptions{ErrorBudget: 1})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: "m", Env: "prod", Track: TrackCanary, Since: time.Now()}
	for i := range 2 {
		if r := p.Read(ctx, q); r.Status != StatusRetrying || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("Read() #%d with a canceled context = %s (%v), want %s wrapping context.Canceled", i+1, r.Status, r.Err, StatusRetrying)
		}
	}
}

func TestPollerKeepsQueriesApart(t *testing.T) {
	down := errors.New("connection refused")
	src := &scripted{answers: []answer{{err: down}, {err: down}, {err: down}}}
	p, err := NewPoller(src, PollerOptions{ErrorBudget: 1})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	canary := Query{Model: "m", Env: "prod", Track: TrackCanary, Since: since}
	stable := Query{Model: "m", Env: "prod", Track: TrackStable, Since: since}
	for _, step := range []struct {
		q    Query
		want Status
	}{
		{canary, StatusRetrying},
		{stable, StatusRetrying}, // its own budget
		{canary, StatusFailed},
	} {
		if r := p.Read(t.Context(), step.q); r.Status != step.want {
			t.Errorf("Read(%s) = %s (%v), want %s", step.q.Track, r.Status, r.Err, step.want)
		}
	}
}

func TestNewPollerErrors(t *testing.T) {
	tests := []struct {
		name   string
		source Source
		opts   PollerOptions
	}{
		{"no source", nil, PollerOptions{}},
		{"negative limit", &scripted{}, PollerOptions{NoDataLimit: -time.Second}},
		{"negative budget", &scripted{}, PollerOptions{ErrorBudget: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPoller(tt.source, tt.opts); err == nil {
				t.Errorf("NewPoller(%+v) = nil error, want one", tt.opts)
			}
		})
	}
}

// countsSource gives whole Counts in order, one per call.
type countsSource struct {
	answers []Counts
	calls   int
}

func (s *countsSource) Counts(context.Context, Query) (Counts, error) {
	c := s.answers[s.calls]
	s.calls++
	return c, nil
}

// Prometheus' increase() extrapolates, so a later answer can be lower
// than an earlier one; the analysis would call that a counter reset. The
// Poller keeps readings monotone.
func TestPollerKeepsCountsMonotone(t *testing.T) {
	h := func(counts ...float64) Histogram {
		return Histogram{Bounds: []float64{0.1, 0.5}, Counts: counts, Count: counts[len(counts)-1], Sum: counts[0] / 10}
	}
	src := &countsSource{answers: []Counts{
		{Requests: 100, Errors: 3, Latency: h(80, 100)},
		{Requests: 98.5, Errors: 2.9, Latency: h(79, 99)}, // extrapolated a little lower
		{Requests: 150, Errors: 3, Latency: h(120, 150)},
		{Requests: 150.5, Errors: 4, Latency: h(122, 150.5)}, // errors and a bucket ran ahead
	}}
	p, err := NewPoller(src, PollerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: "credit-risk", Env: "prod", Track: TrackStable, Since: time.Now()}
	var got []string
	for range src.answers {
		r := p.Read(t.Context(), q)
		if r.Status != StatusOK {
			t.Fatalf("Read = %+v, want ok", r)
		}
		got = append(got, fmt.Sprintf("%g/%g %v %g", r.Counts.Requests, r.Counts.Errors, r.Counts.Latency.Counts, r.Counts.Latency.Count))
	}
	want := []string{"100/3 [80 100] 100", "100/3 [80 100] 100", "150/3 [120 150] 150", "151/4 [122 150.5] 152"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("readings = %q, want %q", got, want)
	}
}
