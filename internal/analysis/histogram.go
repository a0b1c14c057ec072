package analysis

import (
	"math"
	"sort"
)

// Quantile returns the q-quantile of the histogram's latencies, in seconds,
// computed as Prometheus's histogram_quantile computes it for a classic
// histogram (prometheus/prometheus, promql/quantile.go, bucketQuantile;
// https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile):
// the rank q·Count is located in the first bucket whose cumulative count
// reaches it, and the quantile is interpolated linearly between that
// bucket's lower and upper bounds, the lowest bucket starting at 0 when its
// upper bound is positive. A rank in the last bucket, above the highest
// finite bound, gives that bound: the histogram knows nothing beyond it.
//
// Count is the count of the +Inf bucket, whether or not Bounds ends with
// +Inf. Like Prometheus, Quantile returns NaN when there are no requests or
// no finite bound, -Inf for q < 0 and +Inf for q > 1. It expects a
// histogram that Observe accepts (bounds increasing, counts cumulative).
func (h Histogram) Quantile(q float64) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	bounds, counts := h.Bounds, h.Counts
	if n := len(bounds); n > 0 && math.IsInf(bounds[n-1], 1) {
		bounds, counts = bounds[:n-1], counts[:n-1]
	}
	if len(bounds) == 0 || h.Count <= 0 {
		return math.NaN()
	}
	rank := q * h.Count
	b := sort.Search(len(bounds), func(i int) bool { return counts[i] >= rank })
	if b == len(bounds) {
		return bounds[len(bounds)-1]
	}
	if b == 0 && bounds[0] <= 0 {
		return bounds[0]
	}
	start, end, count := 0.0, bounds[b], counts[b]
	if b > 0 {
		start = bounds[b-1]
		count -= counts[b-1]
		rank -= counts[b-1]
	}
	return start + (end-start)*(rank/count)
}

// above returns the number of requests slower than bound, which must be
// one of the histogram's bounds, and whether it is; an empty histogram has
// none.
func (h Histogram) above(bound float64) (float64, bool) {
	i, ok := boundIndex(h.Bounds, bound)
	if !ok {
		return 0, len(h.Bounds) == 0 && h.Count == 0
	}
	return max(0, h.Count-h.Counts[i]), true
}

// boundIndex returns the index of bound in bounds, which are increasing.
func boundIndex(bounds []float64, bound float64) (int, bool) {
	i := sort.SearchFloat64s(bounds, bound)
	return i, i < len(bounds) && bounds[i] == bound
}
