package metrics

import (
	"context"
	"errors"
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
