package canary

import (
	"math"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
)

// Judge decides, from the tracks' cumulative counts since the canary
// started, whether to roll the canary back.
type Judge interface {
	// Observe is called at every simulated second t = 1, 2, … with the
	// counts at t, which it must not keep or change; it reports whether
	// the judge rolls the canary back at t.
	Observe(t int, stable, canary *analysis.Counts) bool
}

// SliceJudge is a judge that also looks within a second, at the end of
// each slice of it (Scenario.Slices) but the last, which Observe sees.
type SliceJudge interface {
	Judge
	// ObserveSlice is called at simulated time at (seconds, not whole)
	// with the counts then; it reports whether the judge rolls the
	// canary back at that time.
	ObserveSlice(at float64, stable, canary *analysis.Counts) bool
}

// JudgeSpec names a judge and makes a fresh one for each run.
type JudgeSpec struct {
	Name string
	// About says in a few words what the judge is and where its settings
	// come from.
	About string
	New   func() Judge
}

// Judges returns the judges the benchmark compares, in the order of its
// tables.
func Judges() []JudgeSpec {
	return []JudgeSpec{
		{
			Name: "Promote",
			About: "analysis.New(analysis.Config{Alpha: 0.01}), no SLO guards, observed every second and as the canary's requests arrive, at most every 0.1 s: " +
				"the rollout controller's defaults with the splitters in process as the source (DefaultInterval, DefaultLookEvery)",
			New: func() Judge { return newSequential(analysis.Config{Alpha: 0.01}, 1, true) },
		},
		{
			Name:  "Promote+SLO",
			About: "the same with the SLO guards MaxErrorRate 0.01 and MaxLatencyP95 250 ms, anytime-valid tests at GuardAlpha = Alpha (MinRequests 100); false rollbacks at most Alpha + GuardAlpha = 2%",
			New: func() Judge {
				return newSequential(analysis.Config{Alpha: 0.01, MaxErrorRate: 0.01, MaxLatencyP95: 250 * time.Millisecond}, 1, true)
			},
		},
		{
			Name:  "Promote 1 s",
			About: "analysis.Config{Alpha: 0.01} observed every second only, as with Prometheus as the source (or --rollout-look-every 0) at the default interval",
			New:   func() Judge { return newSequential(analysis.Config{Alpha: 0.01}, 1, false) },
		},
		{
			Name:  "Promote 10 s",
			About: "analysis.Config{Alpha: 0.01} observed every 10 s only, as with a policy's analysis interval of 10s and Prometheus as the source",
			New:   func() Judge { return newSequential(analysis.Config{Alpha: 0.01}, 10, false) },
		},
		{
			Name:  "Flagger T=1",
			About: "Flagger's defaults: interval 60 s, threshold 1 (GetAnalysisThreshold), request-success-rate ≥ 99% and request-duration p99 ≤ 500 ms over 1m",
			New:   func() Judge { return &Flagger{Interval: 60, Threshold: 1, MinSuccessRate: 99, MaxP99: 0.5} },
		},
		{
			Name:  "Flagger T=5",
			About: "the same with threshold 5, as in Flagger's documentation examples",
			New:   func() Judge { return &Flagger{Interval: 60, Threshold: 5, MinSuccessRate: 99, MaxP99: 0.5} },
		},
		{
			Name:  "Argo",
			About: "Argo Rollouts: interval 1m, initialDelay 1m, failureLimit 0, successCondition result[0] >= 0.99 on the 1m success rate",
			New:   func() Judge { return &Argo{Interval: 60, MinSuccess: 0.99, FailureLimit: 0} },
		},
	}
}

// sequential is Promote's analysis, observed every `every` seconds and,
// when looks is set, at the end of every slice of a second in which the
// canary got requests: the rollout controller's Look, which a canary's
// request asks for and which comes at most every LookEvery.
type sequential struct {
	a          *analysis.Analyzer
	every      int
	looks      bool
	lastCanary float64 // the canary's requests at the last look
	start      time.Time
}

var _ SliceJudge = (*sequential)(nil)

func newSequential(cfg analysis.Config, every int, looks bool) *sequential {
	a, err := analysis.New(cfg)
	if err != nil {
		panic(err) // the configurations above are constants
	}
	return &sequential{a: a, every: every, looks: looks, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Observe rolls back when the analysis's decision is Fail. An
// inconclusive verdict (no new requests) is no rollback: the rollout
// controller waits for data up to the policy's maxNoData.
func (s *sequential) Observe(t int, stable, canary *analysis.Counts) bool {
	if t%s.every != 0 && !s.arrived(canary) {
		return false
	}
	return s.judge(float64(t), stable, canary)
}

// ObserveSlice looks when the canary got requests since the last look.
func (s *sequential) ObserveSlice(at float64, stable, canary *analysis.Counts) bool {
	if !s.arrived(canary) {
		return false
	}
	return s.judge(at, stable, canary)
}

// look is the look at the end of slice k (from 1) of a run whose seconds
// are drawn in n slices: Observe at the end of a second, ObserveSlice
// within one.
func (s *sequential) look(k, n int, stable, canary *analysis.Counts) bool {
	if k%n == 0 {
		return s.Observe(k/n, stable, canary)
	}
	return s.ObserveSlice(float64(k)/float64(n), stable, canary)
}

// arrived reports whether the judge looks as requests arrive and the
// canary got some since the last look.
func (s *sequential) arrived(canary *analysis.Counts) bool {
	return s.looks && canary.Requests > s.lastCanary
}

func (s *sequential) judge(at float64, stable, canary *analysis.Counts) bool {
	s.lastCanary = canary.Requests
	// Observe copies the histograms' slices; it keeps none of ours.
	v := s.a.Observe(analysis.Observation{At: s.start.Add(time.Duration(at * float64(time.Second))), Stable: *stable, Canary: *canary})
	return v.Decision == analysis.Fail
}

// Flagger reproduces the canary analysis of Flagger
// (github.com/fluxcd/flagger) with its builtin metrics, at a fixed canary
// weight.
//
// Every Interval seconds Flagger's scheduler (pkg/controller/scheduler.go,
// advanceCanary) first rolls the canary back if the failed checks so far
// reach the threshold, and only then runs the analysis: so the rollback
// comes one interval after the check that reached the threshold. A check
// fails when a metric is out of its range or has no value: the
// request-success-rate (percent of non-5xx requests) below MinSuccessRate,
// or the request-duration (p99 latency, histogram_quantile) above MaxP99,
// each over the last Interval seconds (the metrics' interval, 1m). A
// window without canary requests makes the query return NaN, which
// Flagger's Prometheus provider reports as ErrNoValuesFound
// (pkg/metrics/providers/prometheus.go), and scheduler_metrics.go counts as
// a failed check ("Halt advancement no values found"). Failed checks are
// not reset by a passing check.
//
// Defaults (pkg/apis/flagger/v1beta1/canary.go): the analysis interval is
// 60 s (GetAnalysisInterval), the metrics' interval 1m (GetMetricInterval),
// and the threshold 1 when unset (GetAnalysisThreshold). The metric ranges
// are those of Flagger's documentation (docs.flagger.app, usage/metrics:
// request-success-rate min 99, request-duration max 500 ms), whose
// examples set threshold 5.
//
// Flagger raises the canary's weight after each passing check; the
// benchmark holds the weight fixed for all judges, and Flagger's checks
// start one interval after the canary gets traffic.
type Flagger struct {
	Interval       int     // seconds between checks
	Threshold      int     // failed checks that roll back
	MinSuccessRate float64 // percent
	MaxP99         float64 // seconds

	failed int
	prev   windowStart
}

var _ Judge = (*Flagger)(nil)

// Observe implements Judge.
func (f *Flagger) Observe(t int, _, canary *analysis.Counts) bool {
	if t%f.Interval != 0 {
		return false
	}
	if f.failed >= f.Threshold {
		return true
	}
	w := f.prev.window(canary)
	if !f.check(w) {
		f.failed++
	}
	return false
}

// check reports whether one check of the window passes.
func (f *Flagger) check(w analysis.Counts) bool {
	if w.Requests <= 0 {
		return false // NaN: no values found
	}
	if success := 100 * (w.Requests - w.Errors) / w.Requests; success < f.MinSuccessRate {
		return false
	}
	p99 := w.Latency.Quantile(0.99)
	return !math.IsNaN(p99) && p99 <= f.MaxP99
}

// Argo reproduces a background analysis of Argo Rollouts
// (github.com/argoproj/argo-rollouts) with one Prometheus metric, the
// canary's success rate over the last Interval seconds, at a fixed canary
// weight.
//
// A measurement is taken every Interval seconds, the first one Interval
// seconds after the canary gets traffic (initialDelay: 1m; without it the
// first measurement would come at once and find no data). It fails unless
// result[0] >= MinSuccess; a window without canary requests gives NaN,
// which fails that condition (docs/features/analysis.md, "Handling Metric
// Results": successCondition result >= 0.95 on NaN is Failed). The
// analysis run fails, and the rollout aborts and sets the canary's weight
// to 0, when the failed measurements exceed FailureLimit (docs: "Failure
// Conditions and Failure Limit"); with failureLimit 0, at the first failed
// measurement. The documentation's example measures every 5m with
// successCondition result[0] >= 0.95 and failureLimit 3; the benchmark's
// settings are stricter and faster.
type Argo struct {
	Interval     int     // seconds between measurements
	MinSuccess   float64 // fraction of non-5xx requests
	FailureLimit int

	failed int
	prev   windowStart
}

var _ Judge = (*Argo)(nil)

// Observe implements Judge.
func (a *Argo) Observe(t int, _, canary *analysis.Counts) bool {
	if t%a.Interval != 0 {
		return false
	}
	w := a.prev.window(canary)
	if result := (w.Requests - w.Errors) / w.Requests; !(result >= a.MinSuccess) { // NaN fails
		a.failed++
	}
	return a.failed > a.FailureLimit
}

// windowStart holds cumulative counts at the start of a query window, as
// Prometheus's increase() over the window sees them.
type windowStart struct {
	requests, errors float64
	buckets          []float64
	count            float64
}

// window returns the counts from the window's start to now, and moves the
// start to now.
func (w *windowStart) window(now *analysis.Counts) analysis.Counts {
	if w.buckets == nil {
		w.buckets = make([]float64, len(now.Latency.Counts))
	}
	d := analysis.Counts{
		Requests: now.Requests - w.requests,
		Errors:   now.Errors - w.errors,
		Latency: analysis.Histogram{
			Bounds: now.Latency.Bounds,
			Counts: make([]float64, len(now.Latency.Counts)),
			Count:  now.Latency.Count - w.count,
		},
	}
	for i, c := range now.Latency.Counts {
		d.Latency.Counts[i] = c - w.buckets[i]
		w.buckets[i] = c
	}
	w.requests, w.errors, w.count = now.Requests, now.Errors, now.Latency.Count
	return d
}
