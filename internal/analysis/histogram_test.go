package analysis

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	// The histogram of Prometheus's promql/testdata/histograms.test
	// ("positive" series): 50 requests ≤ 0.1 s, 70 ≤ 0.2 s, 110 ≤ 1 s, 120
	// in all.
	h := Histogram{Bounds: []float64{0.1, 0.2, 1, inf}, Counts: []float64{50, 70, 110, 120}, Count: 120}
	noInf := Histogram{Bounds: []float64{0.1, 0.2, 1}, Counts: []float64{50, 70, 110}, Count: 120}
	tests := []struct {
		name string
		h    Histogram
		q    float64
		want float64
	}{
		// rank 60 falls in (0.1, 0.2], which holds requests 51..70:
		// 0.1 + 0.1·(60-50)/20.
		{"median", h, 0.5, 0.15},
		// rank 108 in (0.2, 1], requests 71..110: 0.2 + 0.8·(108-70)/40.
		{"p90", h, 0.9, 0.2 + 0.8*38.0/40},
		// rank 114 is beyond the last finite bound: that bound.
		{"p95 in +Inf bucket", h, 0.95, 1},
		// rank 30 in the lowest bucket, which starts at 0: 0.1·30/50.
		{"p25 lowest bucket", h, 0.25, 0.06},
		{"q = 0", h, 0, 0},
		{"q = 1", h, 1, 1},
		{"no +Inf bound", noInf, 0.9, 0.2 + 0.8*38.0/40},
		// The lowest bound is not positive: it is returned as is.
		{"negative lowest bound", Histogram{Bounds: []float64{-0.2, -0.1, 0.3, inf}, Counts: []float64{10, 20, 20, 30}, Count: 30}, 0.2, -0.2},
		// 100 requests, 95 of them ≤ 0.25 s, 90 ≤ 0.1 s: rank 95 is the
		// top of (0.1, 0.25].
		{"rank at a bucket's top", Histogram{Bounds: []float64{0.1, 0.25, 0.5}, Counts: []float64{90, 95, 100}, Count: 100}, 0.95, 0.25},
		// Like Prometheus: NaN without requests or finite bounds.
		{"empty", Histogram{Bounds: []float64{0.1, inf}, Counts: []float64{0, 0}}, 0.5, math.NaN()},
		{"only +Inf", Histogram{Bounds: []float64{inf}, Counts: []float64{5}, Count: 5}, 0.5, math.NaN()},
		{"no buckets", Histogram{Count: 5}, 0.5, math.NaN()},
		{"q < 0", h, -0.1, math.Inf(-1)},
		{"q > 1", h, 1.1, inf},
		{"q NaN", h, math.NaN(), math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.Quantile(tt.q)
			if diff := cmp.Diff(tt.want, got, approx, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("%+v.Quantile(%v) = %v, want %v", tt.h, tt.q, got, tt.want)
			}
		})
	}
}
