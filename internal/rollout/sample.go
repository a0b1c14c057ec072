package rollout

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/promote"
)

// DefaultSampleEvery is how often, at most, the controller stores a plain
// sample of a rollout it judges when Config.SampleEvery is 0. Events (a new
// step, a pause, a resumption, the end) are sampled whenever they happen.
const DefaultSampleEvery = 5 * time.Second

// The events a sample marks (promote.RolloutSample.Event).
const (
	eventStep       = "step"
	eventPaused     = "paused"
	eventResumed    = "resumed"
	eventWaiting    = "waiting" // a step waits for a person
	eventRolledBack = "rolled_back"
	eventSucceeded  = "succeeded"
)

// reading is both tracks' cumulative counts, as the metrics reader returned
// them for a run's queries.
type reading struct {
	stable, canary analysis.Counts
}

// sample stores a point of r's history now: what ru read since its last
// sample (nothing when ru is nil: an event before the first judgement, or
// one at which nothing was read since), r's step and weight, the analysis's
// decision (empty when it did not judge) and the event (empty for a plain
// reading), with the state of ru's analysis and r's verdict, so that the
// rollout as stored shows the analysis as of its last sample, not only as
// of its last step. Samples are telemetry: a
// failure to store one is logged, and the rollout goes on. The next sample
// then covers both intervals, and stores the analysis.
func (c *Controller) sample(ctx context.Context, r promote.Rollout, ru *run, decision analysis.Decision, event string) {
	s := promote.RolloutSample{PromotionID: r.PromotionID, At: c.cfg.Now(), Step: r.Step, Weight: r.Weight,
		Decision: string(decision), Event: event}
	var p promote.RolloutProgress
	if ru != nil {
		s.Stable = trackSample(ru.read.stable, ru.sampled.stable)
		s.Canary = trackSample(ru.read.canary, ru.sampled.canary)
		// The analysis, and the step's requests, are stored with the
		// sample, in its transaction: a restarted controller resumes from
		// the last sample's evidence and counts the step on from there.
		r.AnalysisState = nil
		c.keepAnalysis(&r, ru)
		p = promote.RolloutProgress{AnalysisState: r.AnalysisState, Verdict: r.Verdict, StepRequests: r.StepRequests, StepNeeds: r.StepNeeds}
	}
	if err := c.cfg.Registry.RecordRolloutProgress(ctx, s, r.Revision, p); err != nil {
		if errors.As(err, new(*promote.RolloutChangedError)) {
			// A person's operation changed the rollout since this
			// analysis judged it: its state must not be stored over theirs.
			c.changed(ctx, r, err)
			return
		}
		c.log.Warn("rollout: storing a sample failed", append(c.attrs(r), slog.String(attrEvent, event), slog.Any("error", err))...)
		return
	}
	if ru != nil {
		ru.sampled, ru.sampledAt = ru.read, s.At
	}
}

// tickSample stores a plain sample of a judged tick when none was stored
// for SampleEvery: at the first judgement of a run, then at most once per
// SampleEvery.
func (c *Controller) tickSample(ctx context.Context, r promote.Rollout, ru *run, decision analysis.Decision) {
	if !ru.sampledAt.IsZero() && c.cfg.Now().Sub(ru.sampledAt) < c.cfg.SampleEvery {
		return
	}
	c.sample(ctx, r, ru, decision, "")
}

// trackSample is what a track served between two cumulative readings.
// Counts that went down (the source's counters were reset) count as
// nothing served.
func trackSample(now, before analysis.Counts) promote.TrackSample {
	return promote.TrackSample{
		Requests:   max(0, now.Requests-before.Requests),
		Errors:     max(0, now.Errors-before.Errors),
		LatencyP95: intervalP95(now.Latency, before.Latency),
	}
}

// intervalP95 estimates, in seconds, the 95th percentile latency of the
// requests counted between two cumulative histograms of the same track:
// the quantile of their difference, as Prometheus'
// histogram_quantile(0.95, increase(...)) computes it, linearly
// interpolated within the bucket that holds the rank
// (analysis.Histogram.Quantile; prometheus/prometheus promql/quantile.go).
// A rank in the +Inf bucket gives the highest finite bound. It is 0 when
// the interval holds no request, when the histogram has no finite bound,
// and when the buckets changed between the readings (the difference then
// means nothing).
func intervalP95(now, before analysis.Histogram) float64 {
	if !slices.Equal(now.Bounds, before.Bounds) {
		if before.Count != 0 {
			return 0
		}
		before = analysis.Histogram{} // the histogram appeared since
	}
	d := analysis.Histogram{Bounds: now.Bounds, Counts: make([]float64, len(now.Counts)), Count: max(0, now.Count-before.Count)}
	for i, n := range now.Counts {
		prev := 0.0
		if i < len(before.Counts) {
			prev = before.Counts[i]
		}
		d.Counts[i] = max(0, n-prev)
	}
	q := d.Quantile(0.95)
	if math.IsNaN(q) || math.IsInf(q, 0) || q < 0 {
		return 0
	}
	return q
}
