// Package analysis compares a canary with the stable version it may replace,
// from the two tracks' cumulative request, error and latency counts, and
// decides whether the rollout continues or rolls back.
//
// Two sequential tests look for a regression: one on the error rate and one
// on the share of requests slower than a latency threshold. Both are
// anytime-valid: the analysis may be run as often as one likes, and the
// probability that a canary as good as stable is ever rolled back by them
// stays below Config.Alpha. Two guards test the canary against the absolute
// limits of the policy's rollout section (error rate and 95th-percentile
// latency); they are anytime-valid too, and fail a canary within its limits
// with probability at most Config.GuardAlpha.
// docs/analysis-statistics.md explains the statistics.
//
// The package does no I/O and keeps no clock: each Observation carries its
// time.
package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Histogram is a cumulative latency histogram as Prometheus keeps one:
// Counts[i] requests took at most Bounds[i] seconds; Count is all requests,
// Sum their total seconds.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// Counts are one track's cumulative counts since a fixed start (the
// rollout's start): requests, errors (5xx, timeouts, connection errors), and
// their latencies.
type Counts struct {
	Requests float64
	Errors   float64
	Latency  Histogram
}

// Observation is both tracks' cumulative counts at one moment.
type Observation struct {
	At             time.Time
	Stable, Canary Counts
}

// Decision is what the analysis advises the rollout to do.
type Decision string

// The decisions.
const (
	// Continue means that no test has found the canary worse.
	Continue Decision = "continue"
	// Fail means that a test found the canary worse: roll back.
	Fail Decision = "fail"
	// Inconclusive means that the observation could not be judged, because
	// it holds no new requests or its data are invalid. It is never a pass;
	// the caller decides how long it tolerates it.
	Inconclusive Decision = "inconclusive"
)

// Status is the state of one test.
type Status string

// The test statuses.
const (
	// StatusOK means that the test has found no problem so far.
	StatusOK Status = "ok"
	// StatusFail means that the test found the canary worse.
	StatusFail Status = "fail"
	// StatusPending means that the test waits for enough data to judge.
	StatusPending Status = "pending"
	// StatusSkipped means that the test is not configured.
	StatusSkipped Status = "skipped"
	// StatusError means that the data the test needs are unusable; the
	// verdict is then inconclusive unless another test fails.
	StatusError Status = "error"
)

// The names of the tests, in the order of Verdict.Tests.
const (
	// TestErrorRate is the sequential test of the canary's error rate
	// against stable's.
	TestErrorRate = "error_rate"
	// TestLatency is the sequential test of the canary's share of requests
	// slower than the latency threshold against stable's.
	TestLatency = "latency"
	// TestSLOErrorRate is the sequential guard of the canary's error rate
	// against Config.MaxErrorRate.
	TestSLOErrorRate = "slo_error_rate"
	// TestSLOLatency is the sequential guard of the canary's p95 latency
	// against Config.MaxLatencyP95.
	TestSLOLatency = "slo_latency_p95"
)

// TestResult is the state of one test after an observation.
type TestResult struct {
	// Name is one of TestErrorRate, TestLatency, TestSLOErrorRate and
	// TestSLOLatency.
	Name string `json:"name"`
	// Status is the test's state; StatusFail makes the decision Fail.
	Status Status `json:"status"`
	// Sequential is true for the two tests that compare the canary with
	// stable (their budget is Config.Alpha) and false for the SLO guards,
	// which test the canary against an absolute limit (their budget is
	// Config.GuardAlpha). All four are anytime-valid.
	Sequential bool `json:"sequential"`
	// Statistic is the test's e-value (1 at the start; capped at the
	// largest float64, so that it stays finite). For a comparison with
	// stable it is the mixture likelihood ratio M_t of the canary being
	// worse against it being as good as stable; for a guard, the mixture
	// likelihood ratio M_n of the canary's event rate (errors, or requests
	// slower than the p95 limit) being above the limit against it being at
	// the limit, from the canary's counts since the start.
	Statistic float64 `json:"statistic"`
	// Threshold is what the e-value must reach for the test to fail: 1/a
	// for a comparison with stable at level a (ErrorAlphaShare·α for the
	// error rate, the rest of α for latency), 1/(GuardAlpha/2) for a guard.
	Threshold float64 `json:"threshold"`
	// PValue is the test's always-valid p-value, min(1, 1/max M_s) over
	// the observations so far; the test fails when it is at most its level
	// (1/Threshold). A test that has not started (waiting for
	// MinRequests, a latency test without its threshold, a guard that is
	// off or cannot run) has no evidence: 1, as Statistic.
	PValue float64 `json:"p_value"`
	// CanaryEvents and StableEvents count the events a test has counted
	// (errors, or requests slower than its latency bound) among
	// CanaryRequests and StableRequests requests. A latency test counts
	// from the observation at which its threshold was fixed. A guard counts
	// since the start: the tracks' errors and requests (error rate), or
	// requests slower than LatencyThreshold and requests in the latency
	// histogram (p95); only the canary's counts enter a guard, stable's are
	// shown for comparison.
	CanaryEvents   float64 `json:"canary_events"`
	CanaryRequests float64 `json:"canary_requests"`
	StableEvents   float64 `json:"stable_events"`
	StableRequests float64 `json:"stable_requests"`
	// LatencyThreshold is, in seconds, the latency test's threshold L once
	// fixed, or the bucket bound the p95 guard counts slow requests above
	// (MaxLatencyP95 rounded up to a bound of the canary's histogram).
	LatencyThreshold float64 `json:"latency_threshold,omitempty"`
	// PastRate and PastBound are, for a history test (TestHistoryErrorRate,
	// TestHistoryLatency) that runs, stable's event rate over the history's
	// window and the upper confidence bound of it that the canary's rate is
	// tested against (UpperRateBound); zero for the other tests.
	// StableEvents and StableRequests are then stable's counts since the
	// rollout's start, which the drift hold watches.
	PastRate  float64 `json:"past_rate,omitempty"`
	PastBound float64 `json:"past_bound,omitempty"`
	// Detail says in words why the test failed, waits, is skipped or
	// cannot run; it is empty while the test is ok.
	Detail string `json:"detail,omitempty"`
}

// Verdict is the outcome of an observation.
type Verdict struct {
	// At is the observation's time.
	At time.Time `json:"at"`
	// Decision is what the rollout should do.
	Decision Decision `json:"decision"`
	// Reason explains the decision in one line: the failing tests or the
	// data problem.
	Reason string `json:"reason"`
	// Tests are the tests' states, named by TestErrorRate, TestLatency,
	// TestSLOErrorRate and TestSLOLatency, in that order, then, with
	// Config.History, TestHistoryErrorRate and TestHistoryLatency.
	Tests []TestResult `json:"tests"`
}

// The defaults of Config.
const (
	// DefaultAlpha is the default false-rollback rate.
	DefaultAlpha = 0.01
	// DefaultMinRequests is the default number of requests the guards and
	// the latency threshold wait for.
	DefaultMinRequests = 100
	// DefaultLatencyQuantile is the default stable quantile the latency
	// threshold aims at.
	DefaultLatencyQuantile = 0.9
	// DefaultErrorAlphaShare is the default share of Alpha the error-rate
	// test runs at; the latency test runs at the rest.
	DefaultErrorAlphaShare = 0.75
)

// Config configures an Analyzer. Zero values mean the defaults or, for the
// SLO limits, that the guard is off.
type Config struct {
	// Alpha is the false-rollback rate of the comparisons with stable: the
	// largest probability that the two tests TestErrorRate and TestLatency
	// together ever roll back a canary whose error rate and latency
	// distribution equal stable's, however often Observe is called. It is
	// split between them (a weighted Bonferroni split): the error-rate test
	// runs at ErrorAlphaShare·α, the latency test at the rest.
	// DefaultAlpha when zero; in (0, 0.5].
	Alpha float64
	// ErrorAlphaShare is the share of Alpha the error-rate test runs at,
	// in (0, 1); the latency test runs at (1 - ErrorAlphaShare)·α.
	// DefaultErrorAlphaShare (0.75) when zero: errors are usually the
	// costlier regression, and the larger share lets the error test decide
	// with fewer bad requests, at a small cost to the latency test's
	// speed (BENCHMARKS.md, "Canary analysis").
	ErrorAlphaShare float64
	// GuardAlpha is the false-rollback rate of the two SLO guards
	// together: the largest probability that they ever roll back a canary
	// whose every request fails with probability at most MaxErrorRate and
	// is slower than MaxLatencyP95 with probability at most 5% (its p95
	// is within the limit), however often Observe is called. It is split
	// evenly: each guard runs at GuardAlpha/2. Alpha when zero; in
	// (0, 0.5]. A canary as good as stable and within both limits is
	// rolled back with probability at most Alpha + GuardAlpha.
	GuardAlpha float64
	// MaxErrorRate is the error rate the error guard allows, in [0, 1]; 0
	// turns the guard off. The guard fails once the canary's errors since
	// the start show, at GuardAlpha/2, that its error rate is above it.
	MaxErrorRate float64
	// MaxLatencyP95 is the p95 latency the latency guard allows; 0 turns
	// the guard off. The guard counts the canary's requests slower than
	// it, rounded up to a bucket bound of the canary's histogram, and
	// fails once they show, at GuardAlpha/2, that more than 5% of the
	// canary's requests are slower.
	MaxLatencyP95 time.Duration
	// MinRequests is the number of canary requests the guards wait for
	// before they judge, and the number of stable requests the latency
	// test waits for before it derives its threshold. DefaultMinRequests
	// when zero. The guards are valid from any number of requests; the
	// wait only spares a guard's verdict on the very first requests.
	MinRequests float64
	// LatencyThreshold fixes the latency test's threshold L: requests
	// slower than L are slow. It is rounded up to the nearest bucket bound.
	// When zero, L is derived from stable's histogram (see
	// LatencyQuantile).
	LatencyThreshold time.Duration
	// LatencyQuantile is the stable quantile the derived threshold aims at:
	// L is the bucket bound at which stable's cumulative share is nearest
	// to it, once stable has MinRequests requests. DefaultLatencyQuantile
	// when zero; in (0, 1).
	LatencyQuantile float64
	// History, when set, is stable's record over a window before the
	// rollout, and the history tests (Baseline) judge the canary's errors
	// and slow requests against stable's past rates of them, beside the
	// comparisons: each history test at HistoryShare of the level of the
	// comparison of its kind, the comparison at the rest, so that α stays
	// the bound of all four. Nil: no history tests.
	History *History
	// HistoryShare is the share of each comparison's level its history
	// test runs at, in (0, 1); DefaultHistoryShare (0.75) when zero. Only
	// with History.
	HistoryShare float64
}

// ErrInvalidConfig is wrapped by the errors New returns.
var ErrInvalidConfig = errors.New("invalid analysis config")

// New returns an Analyzer for cfg, or an error naming every invalid field.
func New(cfg Config) (*Analyzer, error) {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...)))
	}
	if cfg.Alpha == 0 {
		cfg.Alpha = DefaultAlpha
	}
	if !(cfg.Alpha > 0 && cfg.Alpha <= 0.5) {
		bad("alpha", "%v is not in (0, 0.5]", cfg.Alpha)
	}
	if cfg.ErrorAlphaShare == 0 {
		cfg.ErrorAlphaShare = DefaultErrorAlphaShare
	}
	if !(cfg.ErrorAlphaShare > 0 && cfg.ErrorAlphaShare < 1) {
		bad("errorAlphaShare", "%v is not in (0, 1)", cfg.ErrorAlphaShare)
	}
	if cfg.GuardAlpha == 0 {
		cfg.GuardAlpha = cfg.Alpha
	}
	if !(cfg.GuardAlpha > 0 && cfg.GuardAlpha <= 0.5) {
		bad("guardAlpha", "%v is not in (0, 0.5]", cfg.GuardAlpha)
	}
	if !(cfg.MaxErrorRate >= 0 && cfg.MaxErrorRate <= 1) {
		bad("maxErrorRate", "%v is not in [0, 1]", cfg.MaxErrorRate)
	}
	if cfg.MaxLatencyP95 < 0 {
		bad("maxLatencyP95", "%v is negative", cfg.MaxLatencyP95)
	}
	if cfg.MinRequests == 0 {
		cfg.MinRequests = DefaultMinRequests
	}
	if !(cfg.MinRequests >= 1) || math.IsInf(cfg.MinRequests, 1) {
		bad("minRequests", "%v is not a number of requests of at least 1", cfg.MinRequests)
	}
	if cfg.LatencyThreshold < 0 {
		bad("latencyThreshold", "%v is negative", cfg.LatencyThreshold)
	}
	if cfg.LatencyQuantile == 0 {
		cfg.LatencyQuantile = DefaultLatencyQuantile
	}
	if !(cfg.LatencyQuantile > 0 && cfg.LatencyQuantile < 1) {
		bad("latencyQuantile", "%v is not in (0, 1)", cfg.LatencyQuantile)
	}
	if cfg.History != nil && cfg.HistoryShare == 0 {
		cfg.HistoryShare = DefaultHistoryShare
	}
	switch {
	case cfg.History == nil && cfg.HistoryShare != 0:
		bad("historyShare", "%v without a history", cfg.HistoryShare)
	case cfg.History != nil && !(cfg.HistoryShare > 0 && cfg.HistoryShare < 1):
		bad("historyShare", "%v is not in (0, 1)", cfg.HistoryShare)
	}
	if h := cfg.History; h != nil {
		p := countProblems("history", Counts{Requests: h.Requests, Errors: h.Errors, Latency: h.Latency})
		if len(p) == 0 && exceeds(h.Errors, h.Requests) {
			p = append(p, fmt.Sprintf("history.errors: %v exceeds history.requests %v", h.Errors, h.Requests))
		}
		if r := h.Recent; r != nil {
			p = append(p, countProblems("history.recent", *r)...)
			if len(p) == 0 && exceeds(r.Errors, r.Requests) {
				p = append(p, fmt.Sprintf("history.recent.errors: %v exceeds history.recent.requests %v", r.Errors, r.Requests))
			}
		}
		if len(p) > 0 {
			bad("history", "%s", strings.Join(p, "; "))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	a := &Analyzer{
		cfg:        cfg,
		errors:     newRatioTest(errorRatios, cfg.errorLevel()),
		waitStable: fmt.Sprintf("waiting for %g stable requests in the latency histogram to fix the threshold", cfg.MinRequests),
	}
	if cfg.MaxErrorRate > 0 {
		a.errGuard = newLimitTest(cfg.MaxErrorRate, guardRatios)
	}
	if cfg.MaxLatencyP95 > 0 {
		a.p95Guard = newLimitTest(p95Tail, guardRatios)
	}
	if cfg.History != nil {
		a.baseline = newBaseline(cfg, *cfg.History)
	}
	return a, nil
}

// errorLevel and latencyLevel are the levels of the two comparisons with
// stable: the weighted Bonferroni split of Alpha, less the history tests'
// shares when they run.
func (c Config) errorLevel() float64 { return c.Alpha * c.ErrorAlphaShare * (1 - c.historyShare()) }
func (c Config) latencyLevel() float64 {
	return c.Alpha * (1 - c.ErrorAlphaShare) * (1 - c.historyShare())
}

// historyShare is the share of each comparison's level its history test
// takes: HistoryShare with a history, 0 without.
func (c Config) historyShare() float64 {
	if c.History == nil {
		return 0
	}
	return c.HistoryShare
}

// historyErrorLevel and historyLatencyLevel are the levels of the two
// history tests, the confidence bounds' shares included.
func (c Config) historyErrorLevel() float64 { return c.Alpha * c.ErrorAlphaShare * c.historyShare() }
func (c Config) historyLatencyLevel() float64 {
	return c.Alpha * (1 - c.ErrorAlphaShare) * c.historyShare()
}

// Baseline returns the history tests, nil without Config.History: the
// rollout controller hands them to the splitter (traffic.Judge) to judge
// every canary request as it is answered.
func (a *Analyzer) Baseline() *Baseline { return a.baseline }

// errorRatios are the rate ratios ρ the error-rate test mixes over, with
// equal weights: seven from 2 (a canary with twice stable's errors) to 60
// (such as 30% against 0.5%), each 1.76 times the one before. Larger
// ratios add little, since an interval's evidence saturates at ln(1/w)
// per canary error, and every ratio costs the others prior weight: the
// grid 1.5 to 100 with ten ratios needed 6.5 bad requests where this one
// needs 5.8 to roll back a 5% error canary (BENCHMARKS.md). A canary with
// 1.5 times stable's errors is still detected, by the components near 2,
// more slowly.
var errorRatios = geometricGrid(2, 60, 7)

// latencyRatios are the ratios the latency test mixes over. The share of
// requests slower than the threshold is near 1 - LatencyQuantile in stable
// (10% by default), so ratios much above 1/(1 - LatencyQuantile) cannot
// occur, and a canary whose slow share is five times stable's fails the
// p95 guard or is caught within seconds by the components near 5.
var latencyRatios = geometricGrid(1.2, 5, 6)

// Analyzer judges a canary from a series of observations. It is not safe
// for concurrent use.
type Analyzer struct {
	cfg    Config
	last   Observation // the last accepted observation; zero counts at first
	seen   bool        // whether an observation was accepted
	errors *ratioTest

	// The latency test: its threshold in seconds once fixed, and the test.
	latencyBound float64
	latency      *ratioTest
	latencyErr   string // why the latency test cannot run, if it cannot

	waitStable string // the latency test's detail while it waits

	// The guards, nil when off; the bucket bound the p95 guard counts
	// above, once fixed, or why it cannot run.
	errGuard *limitTest
	p95Guard *limitTest
	p95Bound float64
	p95Err   string

	// base holds what an analyzer restored from a snapshot (Restore)
	// carries over from before it: the counts since the rollout's start
	// up to the snapshot, to which the guards add the counts of the
	// observations since. Zero for a new analyzer.
	base carried

	// baseline runs the history tests; nil without Config.History.
	baseline *Baseline
}

// Observe takes the tracks' cumulative counts at o.At and returns the
// verdict. Call it as often as you like: the sequential tests stay valid
// under continuous monitoring. An observation that is invalid (a NaN, a
// negative count, a counter that went down, a time not after the previous
// observation) is not taken: the verdict is inconclusive, naming the
// fields, and the next observation is compared with the last valid one.
// A failed test stays failed.
func (a *Analyzer) Observe(o Observation) Verdict {
	v := Verdict{At: o.At}
	if problems := a.validate(o); len(problems) > 0 {
		v.Tests = a.results()
		v.Decision, v.Reason = Inconclusive, "invalid observation: "+strings.Join(problems, "; ")
		if failed := failures(v.Tests); failed != "" {
			v.Decision, v.Reason = Fail, failed+" (and "+v.Reason+")"
		}
		return v
	}
	prev := a.last
	// Keep copies: the caller may reuse its slices.
	o.Stable.Latency.Bounds = slices.Clone(o.Stable.Latency.Bounds)
	o.Stable.Latency.Counts = slices.Clone(o.Stable.Latency.Counts)
	o.Canary.Latency.Bounds = slices.Clone(o.Canary.Latency.Bounds)
	o.Canary.Latency.Counts = slices.Clone(o.Canary.Latency.Counts)
	a.last, a.seen = o, true

	dReqC := o.Canary.Requests - prev.Canary.Requests
	dReqS := o.Stable.Requests - prev.Stable.Requests
	dLatC := o.Canary.Latency.Count - prev.Canary.Latency.Count
	dLatS := o.Stable.Latency.Count - prev.Stable.Latency.Count
	noData := dReqC <= 0 && dReqS <= 0 && dLatC <= 0 && dLatS <= 0

	a.errors.update(
		max(0, o.Canary.Errors-prev.Canary.Errors), max(0, o.Stable.Errors-prev.Stable.Errors),
		max(0, dReqC), max(0, dReqS))
	a.observeLatency(prev, o)
	a.observeGuards(o)
	if a.baseline != nil {
		a.baseline.observe(o)
	}

	v.Tests = a.results()
	switch failed := failures(v.Tests); {
	case failed != "":
		v.Decision, v.Reason = Fail, failed
	case noData:
		v.Decision, v.Reason = Inconclusive, "no new requests in either track since the previous observation"
	default:
		var errs []string
		for _, t := range v.Tests {
			if t.Status == StatusError {
				errs = append(errs, t.Name+": "+t.Detail)
			}
		}
		if len(errs) > 0 {
			v.Decision, v.Reason = Inconclusive, strings.Join(errs, "; ")
			break
		}
		v.Decision, v.Reason = Continue, "no test found the canary worse"
	}
	return v
}

// failures describes the failed tests, or returns "".
func failures(tests []TestResult) string {
	var f []string
	for _, t := range tests {
		if t.Status == StatusFail {
			f = append(f, t.Name+": "+t.Detail)
		}
	}
	return strings.Join(f, "; ")
}

// observeLatency fixes the latency threshold when it can and feeds the
// latency test the interval from prev to o.
func (a *Analyzer) observeLatency(prev, o Observation) {
	if a.latency == nil {
		if a.latencyErr != "" || !a.fixLatencyBound(o) {
			return
		}
		if a.cfg.LatencyThreshold == 0 {
			// A threshold derived from the counts up to o judges only
			// the intervals after o.
			return
		}
	}
	cPrev, ok1 := prev.Canary.Latency.above(a.latencyBound)
	cNow, ok2 := o.Canary.Latency.above(a.latencyBound)
	sPrev, ok3 := prev.Stable.Latency.above(a.latencyBound)
	sNow, ok4 := o.Stable.Latency.above(a.latencyBound)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		a.latencyErr = fmt.Sprintf("a latency histogram has no bucket bound at the threshold %gs", a.latencyBound)
		return
	}
	a.latency.update(max(0, cNow-cPrev), max(0, sNow-sPrev),
		max(0, o.Canary.Latency.Count-prev.Canary.Latency.Count),
		max(0, o.Stable.Latency.Count-prev.Stable.Latency.Count))
}

// fixLatencyBound chooses the latency threshold and reports whether it
// did. A configured threshold is rounded up to the nearest bucket bound
// common to both tracks, at the first observation with both histograms; it
// depends on no count, so the test judges every interval. A derived
// threshold is the common bound at which stable's cumulative share is
// nearest LatencyQuantile, once stable has MinRequests requests in its
// histogram; the test then judges only the intervals after this
// observation, so that under H0 their canary shares are independent of
// the threshold.
func (a *Analyzer) fixLatencyBound(o Observation) bool {
	cb, sb := o.Canary.Latency.Bounds, o.Stable.Latency.Bounds
	var common []float64
	for _, b := range sb {
		if _, ok := boundIndex(cb, b); ok && !math.IsInf(b, 1) {
			common = append(common, b)
		}
	}
	if a.cfg.LatencyThreshold > 0 {
		if len(sb) == 0 || len(cb) == 0 {
			return false // wait for both histograms
		}
		want := a.cfg.LatencyThreshold.Seconds()
		i, _ := slices.BinarySearch(common, want*(1-countTolerance))
		if i == len(common) {
			a.latencyErr = fmt.Sprintf("no bucket bound common to both histograms is at least the configured threshold %v", a.cfg.LatencyThreshold)
			return false
		}
		a.startLatency(common[i])
		return true
	}
	if o.Stable.Latency.Count < a.cfg.MinRequests {
		return false
	}
	if len(cb) == 0 && o.Canary.Latency.Count == 0 {
		return false // the canary's histogram has not appeared yet
	}
	if len(common) == 0 {
		a.latencyErr = "the canary and stable histograms have no finite bucket bound in common"
		return false
	}
	best, bestDist := 0.0, math.Inf(1)
	for _, b := range common {
		i, _ := boundIndex(sb, b)
		d := math.Abs(o.Stable.Latency.Counts[i]/o.Stable.Latency.Count - a.cfg.LatencyQuantile)
		if d < bestDist {
			best, bestDist = b, d
		}
	}
	a.startLatency(best)
	return true
}

func (a *Analyzer) startLatency(bound float64) {
	a.latencyBound = bound
	a.latency = newRatioTest(latencyRatios, a.cfg.latencyLevel())
}

// results returns the state of the four tests. Only the tests that are
// not ok get a Detail, so that a verdict is cheap to make every second.
func (a *Analyzer) results() []TestResult {
	seq := func(name string, level float64, t *ratioTest, what func() string) TestResult {
		r := TestResult{
			Name: name, Sequential: true, Status: StatusOK,
			Statistic: min(math.Exp(t.logE), math.MaxFloat64), Threshold: 1 / level, PValue: t.pValue(),
			CanaryEvents: t.canary, CanaryRequests: t.canaryReq,
			StableEvents: t.stable, StableRequests: t.stableReq,
		}
		if r.PValue <= level {
			r.Status = StatusFail
			r.Detail = fmt.Sprintf("canary %s %s is above stable's %s (p = %.3g ≤ %.3g, this test's level: %.3g of the comparisons' α = %g)",
				what(), rate(t.canary, t.canaryReq), rate(t.stable, t.stableReq), r.PValue, level, level/a.cfg.Alpha, a.cfg.Alpha)
		}
		return r
	}
	tests := make([]TestResult, 0, 4)
	tests = append(tests, seq(TestErrorRate, a.cfg.errorLevel(), a.errors, func() string { return "error rate" }))
	threshold := 1 / a.cfg.latencyLevel()

	switch {
	case a.latency != nil:
		r := seq(TestLatency, a.cfg.latencyLevel(), a.latency, func() string {
			return fmt.Sprintf("share of requests slower than %gs", a.latencyBound)
		})
		r.LatencyThreshold = a.latencyBound
		if a.latencyErr != "" && r.Status != StatusFail {
			r.Status, r.Detail = StatusError, a.latencyErr
		}
		tests = append(tests, r)
	case a.latencyErr != "":
		tests = append(tests, TestResult{Name: TestLatency, Sequential: true, Status: StatusError, Threshold: threshold, Detail: a.latencyErr})
	case a.cfg.LatencyThreshold > 0:
		tests = append(tests, TestResult{Name: TestLatency, Sequential: true, Status: StatusPending, Threshold: threshold,
			Detail: "waiting for both tracks' latency histograms"})
	default:
		tests = append(tests, TestResult{Name: TestLatency, Sequential: true, Status: StatusPending, Threshold: threshold,
			Detail: a.waitStable})
	}

	tests = append(tests, a.errorGuardResult(), a.p95GuardResult())
	if a.baseline != nil {
		tests = append(tests, a.baseline.results()...)
	}
	for i := range tests {
		if tests[i].Statistic == 0 {
			// Not started, off or unable to run: no evidence, which is
			// e = 1 and p = 1 (a p of 0 would read as the strongest).
			tests[i].Statistic, tests[i].PValue = 1, 1
		}
	}
	return tests
}

// rate formats events/requests as a percentage with the counts.
func rate(events, requests float64) string {
	if requests <= 0 {
		return fmt.Sprintf("-%% (%g/%g)", events, requests)
	}
	return fmt.Sprintf("%.3g%% (%g/%g)", 100*events/requests, events, requests)
}
