// Package durations summarises the timings the bench programs collect:
// median, nearest-rank percentiles, and milliseconds for tables.
package durations

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Median returns the median of d (the mean of the middle two for an even
// count); d is not changed. It panics on an empty d.
func Median(d []time.Duration) time.Duration {
	s := sorted(d)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the nearest-rank p-th percentile of d (p in
// [0, 100]); d is not changed. It panics on an empty d.
func Percentile(d []time.Duration, p float64) time.Duration {
	s := sorted(d)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

func sorted(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// Millis returns d in milliseconds.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Ms formats d as milliseconds with two decimals: "12.34ms".
func Ms(d time.Duration) string { return fmt.Sprintf("%.2fms", Millis(d)) }
