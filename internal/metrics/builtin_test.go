package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	dto "github.com/prometheus/client_model/go"
)

// approx compares counts whose sums were added up in a different order.
var approx = cmpopts.EquateApprox(1e-9, 1e-9)

func TestBuiltinCounts(t *testing.T) {
	// A rollout that began after the Builtin was created: it cannot look
	// back to its start.
	since := time.Now().Add(time.Hour)
	canary := Query{Model: "credit-risk", Env: "prod", Track: TrackCanary, Since: since}
	stable := Query{Model: "credit-risk", Env: "prod", Track: TrackStable, Since: since}
	bounds := splitterBuckets()
	traffic := []batch{
		{OutcomeOK, 90, 0.04},
		{OutcomeClientError, 4, 0.01}, // the client's fault: not an error
		{OutcomeServerError, 3, 0.2},
		{OutcomeTimeout, 2, 10},
		{OutcomeConnectionError, 1, 0.001},
		{OutcomeMismatch, 2, 0.05}, // a shadow's answer that differs from stable's: an error
	}

	tests := []struct {
		name string
		// run drives the splitter and the source, and returns the
		// counts of the final call.
		run     func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error)
		want    Counts
		wantErr error
	}{
		{
			name: "marked before traffic counts all of it",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				s.touch("credit-risk", "prod", TrackCanary)
				if err := b.Mark(ctx, canary); err != nil {
					return Counts{}, err
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "marked before the series exist counts from zero",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				if err := b.Mark(ctx, canary); err != nil {
					return Counts{}, err
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "traffic before the mark is not counted",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				s.serve("credit-risk", "prod", TrackCanary, OutcomeServerError, 500, 3)
				if err := b.Mark(ctx, canary); err != nil {
					return Counts{}, err
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "the first call of an unmarked query takes the baseline",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				s.serve("credit-risk", "prod", TrackCanary, OutcomeOK, 500, 3)
				first, err := b.Counts(ctx, canary)
				if err != nil {
					return Counts{}, err
				}
				if first.Requests != 0 || first.Latency.Count != 0 {
					return Counts{}, errors.New("the first call counted traffic from before it")
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "marking again moves the baseline",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				if err := b.Mark(ctx, canary); err != nil {
					return Counts{}, err
				}
				s.serve("credit-risk", "prod", TrackCanary, OutcomeOK, 500, 3)
				if err := b.Mark(ctx, canary); err != nil {
					return Counts{}, err
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "a query since before the Builtin was created counts from zero",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				before := canary
				before.Since = time.Now().Add(-time.Hour)
				return b.Counts(ctx, before)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "forget drops the baseline",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				if err := b.Mark(ctx, canary); err != nil {
					return Counts{}, err
				}
				s.serve("credit-risk", "prod", TrackCanary, OutcomeOK, 500, 3)
				b.Forget(canary)
				if _, err := b.Counts(ctx, canary); err != nil { // a new baseline
					return Counts{}, err
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "other models, environments and tracks are not counted",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				for _, q := range []Query{canary, stable} {
					if err := b.Mark(ctx, q); err != nil {
						return Counts{}, err
					}
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				s.serve("credit-risk", "prod", TrackCanary+"-2", OutcomeServerError, 7, 1)
				s.serve("credit-risk", "prod", TrackShadow, OutcomeServerError, 7, 1)
				s.serve("credit-risk", "staging", TrackStable, OutcomeServerError, 7, 1)
				s.serve("credit-risk-v2", "prod", TrackStable, OutcomeServerError, 7, 1)
				s.serve("credit-risk", "prod", TrackStable, OutcomeOK, 1000, 0.02)
				return b.Counts(ctx, stable)
			},
			want: expectCounts([]batch{{OutcomeOK, 1000, 0.02}}, 0, bounds),
		},
		{
			name: "a track that never had traffic has no data",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				s.serveAll("credit-risk", "prod", TrackStable, traffic)
				return b.Counts(ctx, canary)
			},
			wantErr: ErrNoData,
		},
		{
			name: "series that appear after the baseline count from zero",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				if _, err := b.Counts(ctx, canary); !errors.Is(err, ErrNoData) {
					return Counts{}, errors.New("no series: want ErrNoData")
				}
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "counters reset below the baseline count from zero",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				s.serve("credit-risk", "prod", TrackCanary, OutcomeOK, 500, 3)
				if err := b.Mark(ctx, canary); err != nil {
					return Counts{}, err
				}
				s.serve("credit-risk", "prod", TrackCanary, OutcomeOK, 10, 3)
				s.requests.Reset()
				s.duration.Reset()
				s.serveAll("credit-risk", "prod", TrackCanary, traffic)
				return b.Counts(ctx, canary)
			},
			want: expectCounts(traffic, 8, bounds),
		},
		{
			name: "an invalid query is refused",
			run: func(ctx context.Context, s *testSplitter, b *Builtin) (Counts, error) {
				return b.Counts(ctx, Query{Model: "credit-risk", Track: TrackCanary})
			},
			wantErr: errInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSplitter(t)
			b := NewBuiltin(s.reg)
			got, err := tt.run(t.Context(), s, b)
			if tt.wantErr != nil {
				if !matchErr(err, tt.wantErr) {
					t.Fatalf("Counts() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Counts() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("Counts() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// errInvalid stands for "an error that is not ErrNoData" in test tables.
var errInvalid = errors.New("an error other than no data")

// matchErr reports whether err is what want describes: errInvalid is any
// error but ErrNoData.
func matchErr(err, want error) bool {
	if want == errInvalid {
		return err != nil && !errors.Is(err, ErrNoData)
	}
	return errors.Is(err, want)
}

// brokenGatherer fails to gather, as a registry whose collector breaks
// would.
type brokenGatherer struct{}

func (brokenGatherer) Gather() ([]*dto.MetricFamily, error) {
	return nil, errors.New("backend down")
}

func TestBuiltinGatherError(t *testing.T) {
	b := NewBuiltin(brokenGatherer{})
	q := Query{Model: "credit-risk", Env: "prod", Track: TrackCanary, Since: time.Now()}
	if err := b.Mark(t.Context(), q); err == nil || errors.Is(err, ErrNoData) {
		t.Errorf("Mark() error = %v, want a gather error", err)
	}
	if _, err := b.Counts(t.Context(), q); err == nil || errors.Is(err, ErrNoData) {
		t.Errorf("Counts() error = %v, want a gather error", err)
	}
}

// gatherOnly hides a registry's GatherWhere, counting its gatherings.
type gatherOnly struct {
	g interface {
		Gather() ([]*dto.MetricFamily, error)
	}
	calls *int
}

func (o gatherOnly) Gather() ([]*dto.MetricFamily, error) {
	*o.calls++
	return o.g.Gather()
}

// gatherCounted is a registry's subset whose full gatherings are counted.
type gatherCounted struct {
	gatherOnly
	where interface {
		GatherWhere(map[string]string) ([]*dto.MetricFamily, error)
	}
}

func (c gatherCounted) GatherWhere(match map[string]string) ([]*dto.MetricFamily, error) {
	return c.where.GatherWhere(match)
}

// With many splitters' series on the registry, a Builtin reads each
// track's from the registry's series of that track alone (GatherWhere),
// never gathering every series, and counts what a Builtin gathering them
// all counts.
func TestBuiltinGathersTheQuerysSeries(t *testing.T) {
	s := newTestSplitter(t)
	since := time.Now().Add(-time.Hour) // before both Builtins: they count from zero
	var queries []Query
	for i := range 20 {
		model := fmt.Sprintf("model-%02d", i)
		for _, env := range []string{"staging", "prod"} {
			for j, track := range []string{TrackStable, TrackCanary} {
				s.serveAll(model, env, track, []batch{{OutcomeOK, 10 + i, 0.04}, {OutcomeServerError, j + i%3, 0.2}})
				queries = append(queries, Query{Model: model, Env: env, Track: track, Since: since})
			}
		}
	}
	sub := s.reg.Only(RequestsMetric, DurationMetric)
	var full, selective int
	all := NewBuiltin(gatherOnly{g: sub, calls: &full})
	each := NewBuiltin(gatherCounted{gatherOnly: gatherOnly{g: sub, calls: &selective}, where: sub})
	for _, q := range append(queries, Query{Model: "model-99", Env: "prod", Track: TrackCanary, Since: since}) {
		want, wantErr := all.Counts(t.Context(), q)
		got, err := each.Counts(t.Context(), q)
		if (err == nil) != (wantErr == nil) || errors.Is(err, ErrNoData) != errors.Is(wantErr, ErrNoData) {
			t.Fatalf("Counts(%s) error = %v, want %v", q, err, wantErr)
		}
		if q.Model == "model-99" && !errors.Is(err, ErrNoData) {
			t.Errorf("Counts(%s) of a model no splitter routes: error = %v, want ErrNoData", q, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Counts(%s) mismatch (-gathering all +gathering the query's):\n%s", q, diff)
		}
		if q.Model == "model-03" && q.Env == "prod" && q.Track == TrackCanary && (got.Requests != 13+1 || got.Errors != 1) {
			t.Errorf("Counts(%s) = %g requests, %g errors; want 14 and 1", q, got.Requests, got.Errors)
		}
	}
	if full != len(queries)+1 || selective != 0 {
		t.Errorf("over %d reads, the Builtin without GatherWhere gathered every series %d times, the one with it %d times; want %d and 0",
			len(queries)+1, full, selective, len(queries)+1)
	}
}
