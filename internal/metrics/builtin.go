package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Builtin reads the splitter's counters from a Gatherer in this process (the
// splitter's registry), with no Prometheus server in between.
//
// The counters hold totals since the process started, not history, so
// Builtin counts from a baseline: a snapshot of the totals taken by Mark, or
// by the first Counts call for a query when it was not marked. Counts
// returns the totals minus that baseline. Query.Since only identifies the
// baseline (two rollouts of the same track have different starts); Builtin
// cannot look back to it, except to its own start: the splitter's counters
// start at zero with the process, and so does a Builtin created before they
// count (NewBuiltin), so that a query since a moment before then counts
// everything the counters hold. Call Mark when the rollout starts, before
// traffic shifts, or the requests between the start and the first Counts
// are not counted; call Forget when the rollout ends.
//
// A Builtin is safe for concurrent use.
type Builtin struct {
	gatherer Gatherer
	// started is when the Builtin was created: the counters held nothing
	// then.
	started time.Time

	mu        sync.Mutex
	baselines map[queryKey]Counts
}

// Gatherer is where Builtin reads the splitter's metrics: a
// telemetry.Registry.
type Gatherer interface {
	Gather() ([]*dto.MetricFamily, error)
}

// whereGatherer is a Gatherer that can gather the series of given label
// values alone (telemetry.Registry and its Subset): a read of one track
// then builds that track's series, not those of every splitter in the
// process, which made a tick of n rollouts cost in n² (BENCHMARKS.md,
// "Rollout controller").
type whereGatherer interface {
	GatherWhere(match map[string]string) ([]*dto.MetricFamily, error)
}

// NewBuiltin returns a source reading g, the registry the splitter's
// metrics are registered on. Gathering costs in proportion to everything on
// g: give it the splitter's registry, or only the families it reads
// (RequestsMetric and DurationMetric: telemetry.Registry.Only), not a
// process-wide one. A g that can gather the series of given label values
// alone (GatherWhere, as a telemetry.Registry can) is asked for the
// query's model, env and track only. Create it before the splitters count
// anything (at the process's start, as promote serve does): a query since
// a moment before its creation counts from zero.
func NewBuiltin(g Gatherer) *Builtin {
	return &Builtin{gatherer: g, started: time.Now(), baselines: map[queryKey]Counts{}}
}

// Mark records the current totals of q's model, env and track as q's
// baseline, replacing any earlier one: Counts(q) reports what accumulates
// from now on. Series that do not exist yet count from zero.
func (b *Builtin) Mark(ctx context.Context, q Query) error {
	if err := q.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mark %s: %w", q, err)
	}
	cur, _, err := b.totals(q)
	if err != nil {
		return fmt.Errorf("mark %s: %w", q, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.baselines[q.key()] = cur
	return nil
}

// Forget drops q's baseline; the next Counts(q) takes a new one.
func (b *Builtin) Forget(q Query) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.baselines, q.key())
}

// Counts returns what accumulated for q's model, env and track since q's
// baseline (see Builtin). The first call for an unmarked q takes the
// baseline and so returns zero counts, unless q.Since is before the
// Builtin was created: the baseline is then zero, and the counts are
// everything counted since (a restarted process's count of a rollout's
// step that began before it). An error wraps ErrNoData while the
// splitter has no requests series for the model, env and track.
//
// When a total is below its baseline the counters were reset (the
// registry's collectors were replaced): like Prometheus' increase(), the new
// totals are then taken as the increase, and the baseline restarts at zero.
func (b *Builtin) Counts(ctx context.Context, q Query) (Counts, error) {
	if err := q.validate(); err != nil {
		return Counts{}, err
	}
	if err := ctx.Err(); err != nil {
		return Counts{}, fmt.Errorf("builtin counts for %s: %w", q, err)
	}
	cur, found, err := b.totals(q)
	if err != nil {
		return Counts{}, fmt.Errorf("builtin counts for %s: %w", q, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	base, ok := b.baselines[q.key()]
	if !ok {
		// Absent series are zero totals: what they count later counts
		// since now. The counters held nothing when b was created.
		base = cur
		if q.Since.Before(b.started) {
			base = Counts{}
		}
		b.baselines[q.key()] = base
	}
	if !found {
		return Counts{}, fmt.Errorf("builtin counts for %s: no %s series: %w", q, RequestsMetric, ErrNoData)
	}
	if cur.Requests < base.Requests || cur.Errors < base.Errors || cur.Latency.Count < base.Latency.Count {
		base = Counts{}
		b.baselines[q.key()] = base
	}
	diff, err := subtract(cur, base)
	if err != nil {
		return Counts{}, fmt.Errorf("builtin counts for %s: %w", q, err)
	}
	return diff, nil
}

// totals gathers the current totals of q's model, env and track; found
// reports whether any requests series matched.
func (b *Builtin) totals(q Query) (c Counts, found bool, err error) {
	var families []*dto.MetricFamily
	if g, ok := b.gatherer.(whereGatherer); ok {
		families, err = g.GatherWhere(map[string]string{LabelModel: q.Model, LabelEnv: q.Env, LabelTrack: q.Track})
	} else {
		families, err = b.gatherer.Gather()
	}
	if err != nil {
		return Counts{}, false, fmt.Errorf("gather the splitter's metrics: %w", err)
	}
	for _, mf := range families {
		switch mf.GetName() {
		case RequestsMetric:
			for _, m := range mf.GetMetric() {
				if !matches(m, q) {
					continue
				}
				v, err := counterValue(mf.GetType(), m)
				if err != nil {
					return Counts{}, false, err
				}
				found = true
				c.Requests += v
				if isErrorOutcome(label(m, LabelOutcome)) {
					c.Errors += v
				}
			}
		case DurationMetric:
			if mf.GetType() != dto.MetricType_HISTOGRAM {
				return Counts{}, false, fmt.Errorf("%s is a %s, want a histogram", DurationMetric, mf.GetType())
			}
			for _, m := range mf.GetMetric() {
				if !matches(m, q) {
					continue
				}
				if err := addHistogram(&c.Latency, m.GetHistogram()); err != nil {
					return Counts{}, false, fmt.Errorf("%s: %w", DurationMetric, err)
				}
			}
		}
	}
	return c, found, nil
}

// counterValue is a requests series' value: a counter, or untyped when the
// registry was filled from text.
func counterValue(t dto.MetricType, m *dto.Metric) (float64, error) {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), nil
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue(), nil
	}
	return 0, fmt.Errorf("%s is a %s, want a counter", RequestsMetric, t)
}

// matches reports whether m has q's model, env and track.
func matches(m *dto.Metric, q Query) bool {
	return label(m, LabelModel) == q.Model && label(m, LabelEnv) == q.Env && label(m, LabelTrack) == q.Track
}

// label returns m's value of the label name, "" when it has none.
func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// addHistogram adds h's buckets to acc; the +Inf bucket is Count, not a
// bound. Series with different bounds cannot be added.
func addHistogram(acc *Histogram, h *dto.Histogram) error {
	var bounds, counts []float64
	for _, bk := range h.GetBucket() {
		if math.IsInf(bk.GetUpperBound(), +1) {
			continue
		}
		bounds = append(bounds, bk.GetUpperBound())
		if bk.CumulativeCountFloat != nil {
			counts = append(counts, bk.GetCumulativeCountFloat())
		} else {
			counts = append(counts, float64(bk.GetCumulativeCount()))
		}
	}
	count := float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		count = h.GetSampleCountFloat()
	}
	switch {
	case acc.Bounds == nil && acc.Count == 0:
		acc.Bounds, acc.Counts = bounds, counts
	case !slices.Equal(acc.Bounds, bounds):
		return fmt.Errorf("series with different buckets (%v and %v)", acc.Bounds, bounds)
	default:
		for i := range counts {
			acc.Counts[i] += counts[i]
		}
	}
	acc.Count += count
	acc.Sum += h.GetSampleSum()
	return nil
}

// subtract returns cur − base. A base histogram without bounds is zero.
func subtract(cur, base Counts) (Counts, error) {
	d := Counts{
		Requests: cur.Requests - base.Requests,
		Errors:   cur.Errors - base.Errors,
		Latency: Histogram{
			Bounds: slices.Clone(cur.Latency.Bounds),
			Counts: slices.Clone(cur.Latency.Counts),
			Count:  cur.Latency.Count - base.Latency.Count,
			Sum:    cur.Latency.Sum - base.Latency.Sum,
		},
	}
	if len(base.Latency.Bounds) == 0 {
		return d, nil
	}
	if !slices.Equal(cur.Latency.Bounds, base.Latency.Bounds) {
		return Counts{}, fmt.Errorf("%s buckets changed since the baseline (%v, now %v)", DurationMetric, base.Latency.Bounds, cur.Latency.Bounds)
	}
	for i := range d.Latency.Counts {
		d.Latency.Counts[i] -= base.Latency.Counts[i]
	}
	return d, nil
}
