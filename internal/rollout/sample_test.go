package rollout

import (
	"math"
	"testing"

	"github.com/promote-ml/promote/internal/analysis"
)

func TestIntervalP95(t *testing.T) {
	inf := math.Inf(1)
	bounds := []float64{0.1, 0.2, 0.5, 1}
	h := func(bounds []float64, count float64, counts ...float64) analysis.Histogram {
		return analysis.Histogram{Bounds: bounds, Counts: counts, Count: count}
	}
	tests := []struct {
		name        string
		now, before analysis.Histogram
		want        float64
	}{
		// The interval holds [0, 40, 80, 90] cumulatively: the rank
		// 0.95·90 = 85.5 is 5.5 of the 10 requests of (0.5, 1].
		{"interpolated in the interval's bucket", h(bounds, 120, 10, 60, 110, 120), h(bounds, 30, 10, 20, 30, 30), 0.5 + 0.5*5.5/10},
		// The lowest bucket starts at 0: rank 95 of 100 in (0, 0.1].
		{"lowest bucket from 0", h(bounds, 100, 100, 100, 100, 100), analysis.Histogram{}, 0.095},
		// The +Inf bound, when listed, changes nothing: rank 9.5 is 1.5 of
		// the 2 requests of (0.2, 0.5].
		{"with the +Inf bound", h([]float64{0.1, 0.2, 0.5, inf}, 10, 4, 8, 10, 10), analysis.Histogram{}, 0.2 + 0.3*1.5/2},
		{"empty histogram", analysis.Histogram{}, analysis.Histogram{}, 0},
		{"buckets but no requests", h(bounds, 0, 0, 0, 0, 0), analysis.Histogram{}, 0},
		{"no requests in the interval", h(bounds, 30, 10, 20, 30, 30), h(bounds, 30, 10, 20, 30, 30), 0},
		// Prometheus answers the highest finite bound: the histogram
		// knows nothing beyond it.
		{"all in the +Inf bucket", h([]float64{0.1, 0.2, inf}, 50, 0, 0, 50), analysis.Histogram{}, 0.2},
		{"all above the highest bound", h(bounds, 70, 0, 0, 0, 0), h(bounds, 20, 0, 0, 0, 0), 1},
		{"only the +Inf bound", h([]float64{inf}, 5, 5), analysis.Histogram{}, 0},
		{"buckets changed", h([]float64{0.1, 0.5, 1}, 50, 10, 40, 50), h([]float64{0.1, 1}, 5, 1, 5), 0},
		{"counters reset", h(bounds, 10, 10, 10, 10, 10), h(bounds, 30, 10, 20, 30, 30), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := intervalP95(tt.now, tt.before); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("intervalP95(%+v, %+v) = %v, want %v", tt.now, tt.before, got, tt.want)
			}
		})
	}
}
