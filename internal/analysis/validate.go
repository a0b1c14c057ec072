package analysis

import (
	"fmt"
	"math"
	"slices"
)

// countTolerance is the relative amount by which a count may seem to
// decrease, or to exceed the count that bounds it, before the observation
// is refused. Counts computed by Prometheus are floats, and sums of rates
// or increases carry rounding errors of that order; such a deviation is
// treated as no change.
const countTolerance = 1e-9

// exceeds reports whether a is larger than b by more than the tolerance.
func exceeds(a, b float64) bool {
	return a > b && a-b > countTolerance*max(1, math.Abs(a), math.Abs(b))
}

// validate returns the problems of o, each naming its field: values that
// are not finite non-negative numbers, histograms that are not cumulative,
// and counts that went down since the last accepted observation.
func (a *Analyzer) validate(o Observation) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if o.At.IsZero() {
		add("at: the observation has no time")
	} else if a.seen && !o.At.After(a.last.At) {
		add("at: %s is not after the previous observation at %s", o.At.Format("2006-01-02T15:04:05.999Z07:00"), a.last.At.Format("2006-01-02T15:04:05.999Z07:00"))
	}
	for _, track := range []struct {
		name      string
		now, prev Counts
	}{{"stable", o.Stable, a.last.Stable}, {"canary", o.Canary, a.last.Canary}} {
		now, prev := track.now, track.prev
		h := now.Latency
		if q := countProblems(track.name, now); len(q) > 0 {
			p = append(p, q...)
			continue // the comparisons below need sound numbers
		}
		// Before the first observation every count is zero.
		grew := func(field string, now, prev float64) {
			if exceeds(prev, now) {
				add("%s.%s: decreased from %v to %v (a counter reset?)", track.name, field, prev, now)
			}
		}
		grew("requests", now.Requests, prev.Requests)
		grew("errors", now.Errors, prev.Errors)
		if !exceeds(prev.Requests, now.Requests) && exceeds(now.Errors-prev.Errors, now.Requests-prev.Requests) {
			add("%s.errors: grew by %v since the previous observation but requests only by %v",
				track.name, now.Errors-prev.Errors, now.Requests-prev.Requests)
		}
		grew("latency.count", h.Count, prev.Latency.Count)
		grew("latency.sum", h.Sum, prev.Latency.Sum)
		switch {
		case len(prev.Latency.Bounds) == 0:
		case !slices.Equal(h.Bounds, prev.Latency.Bounds):
			add("%s.latency.bounds: changed from %v to %v", track.name, prev.Latency.Bounds, h.Bounds)
		default:
			for i := range h.Counts {
				if exceeds(prev.Latency.Counts[i], h.Counts[i]) {
					grew(fmt.Sprintf("latency.counts[%d]", i), h.Counts[i], prev.Latency.Counts[i])
				}
				// The requests above a bound are counted too.
				if !exceeds(prev.Latency.Count, h.Count) && exceeds(h.Counts[i]-prev.Latency.Counts[i], h.Count-prev.Latency.Count) {
					add("%s.latency.counts[%d]: grew by %v since the previous observation but latency.count only by %v",
						track.name, i, h.Counts[i]-prev.Latency.Counts[i], h.Count-prev.Latency.Count)
				}
			}
		}
	}
	return p
}

// countProblems returns the problems of one track's counts on their own,
// each naming its field under name: values that are not finite
// non-negative numbers and histograms that are not cumulative.
func countProblems(name string, now Counts) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	count := func(field string, v float64) {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			add("%s.%s: %v is not a finite number", name, field, v)
		case v < 0:
			add("%s.%s: %v is negative", name, field, v)
		}
	}
	count("requests", now.Requests)
	count("errors", now.Errors)
	h := now.Latency
	count("latency.count", h.Count)
	count("latency.sum", h.Sum)
	if len(h.Bounds) != len(h.Counts) {
		add("%s.latency: %d bounds but %d counts", name, len(h.Bounds), len(h.Counts))
	} else {
		for i, b := range h.Bounds {
			switch {
			case math.IsNaN(b) || math.IsInf(b, -1) || math.IsInf(b, 1) && i != len(h.Bounds)-1:
				add("%s.latency.bounds[%d]: %v is not a bucket bound", name, i, b)
			case i > 0 && !(b > h.Bounds[i-1]):
				add("%s.latency.bounds[%d]: %v does not increase from %v", name, i, b, h.Bounds[i-1])
			}
			if v := h.Counts[i]; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				count(fmt.Sprintf("latency.counts[%d]", i), v)
			}
		}
	}
	if len(p) > 0 {
		return p
	}
	for i := range h.Counts {
		if i > 0 && exceeds(h.Counts[i-1], h.Counts[i]) {
			add("%s.latency.counts[%d]: %v is below the count of the bucket before, %v (the histogram must be cumulative)",
				name, i, h.Counts[i], h.Counts[i-1])
		}
		if exceeds(h.Counts[i], h.Count) {
			add("%s.latency.counts[%d]: %v exceeds latency.count %v", name, i, h.Counts[i], h.Count)
		}
	}
	return p
}
