package analysis

import (
	"fmt"
	"math"
	"slices"
)

// p95Tail is the share of requests slower than the p95: the p95 latency is
// above a limit T exactly when more than 5% of the requests are slower
// than T, so that the p95 guard tests the share of slow requests against
// this limit.
const p95Tail = 0.05

// guardRatios are the odds ratios the guards mix over, with equal weights:
// from 1.5 to 100 times the odds of the limit. Against an error-rate limit
// of 1% the alternatives run from 1.5% to 50% errors; against the p95
// guard's 5%, from 7.3% to 84% of the requests slower than the limit.
var guardRatios = geometricGrid(1.5, 100, 10)

// observeGuards evaluates the guards at the canary's counts since the
// start, once it has served MinRequests requests. The p95 guard fixes its
// bucket bound at the first observation with a canary histogram: the
// smallest finite bound at or above MaxLatencyP95. Rounding up keeps the
// guard valid: a request slower than the bound is slower than the limit,
// so that under H0 (at most 5% slower than the limit) at most 5% are slower
// than the bound. The guard then sees only the part of a regression that
// moves requests beyond the bound; a limit on a bound loses nothing. The
// bounds cannot change later: validate refuses that.
func (a *Analyzer) observeGuards(o Observation) {
	c := o.Canary
	if a.errGuard != nil {
		if x, n := a.base.CanaryErrors+c.Errors, a.base.CanaryRequests+c.Requests; n >= a.cfg.MinRequests {
			a.errGuard.observe(x, n)
		}
	}
	if a.p95Guard == nil {
		return
	}
	if a.p95Bound == 0 && a.p95Err == "" && len(c.Latency.Bounds) > 0 {
		b := c.Latency.Bounds
		if n := len(b); math.IsInf(b[n-1], 1) {
			b = b[:n-1]
		}
		// The tolerance takes a bound that float rounding put a hair
		// below the limit (0.30000000000000004 for 300 ms) as the limit.
		i, _ := slices.BinarySearch(b, a.cfg.MaxLatencyP95.Seconds()*(1-countTolerance))
		if i == len(b) {
			a.p95Err = fmt.Sprintf("no finite bucket bound of the canary's latency histogram is at least the limit %v", a.cfg.MaxLatencyP95)
			return
		}
		a.p95Bound = b[i]
	}
	if a.p95Bound > 0 {
		slow, ok := c.Latency.above(a.p95Bound)
		switch {
		case !ok:
			// A resumed analysis whose source's buckets changed: the
			// guard cannot go on counting, and says so rather than
			// freeze at its last counts.
			a.p95Err = fmt.Sprintf("the canary's latency histogram has no bound at %gs, where the p95 guard counts (its buckets changed)", a.p95Bound)
		case len(c.Latency.Bounds) == 0 && c.Requests > 0:
			a.p95Err = fmt.Sprintf("the canary served %g requests but has no latency histogram", c.Requests)
		default:
			if x, n := a.base.CanarySlow+slow, a.base.CanaryLatency+c.Latency.Count; n >= a.cfg.MinRequests {
				a.p95Guard.observe(x, n)
			}
		}
	}
}

// carried are the counts since the rollout's start that the guards judge
// and the verdicts show: the canary's errors among its requests (the
// error-rate guard's events), its requests slower than the p95 guard's
// bound among those in its latency histogram (the p95 guard's events),
// and stable's, shown for comparison.
type carried struct {
	CanaryErrors   float64 `json:"canary_errors"`
	CanaryRequests float64 `json:"canary_requests"`
	CanarySlow     float64 `json:"canary_slow"`
	CanaryLatency  float64 `json:"canary_latency_count"`
	StableErrors   float64 `json:"stable_errors"`
	StableRequests float64 `json:"stable_requests"`
	StableSlow     float64 `json:"stable_slow"`
	StableLatency  float64 `json:"stable_latency_count"`
}

// totals returns the counts since the rollout's start: those carried over
// from a snapshot plus those of the last observation. The requests slower
// than the p95 guard's bound count only while the histograms have that
// bound, so that events and requests stay a consistent pair.
func (a *Analyzer) totals() carried {
	t := a.base
	c, s := a.last.Canary, a.last.Stable
	t.CanaryErrors += c.Errors
	t.CanaryRequests += c.Requests
	t.StableErrors += s.Errors
	t.StableRequests += s.Requests
	if a.p95Bound == 0 {
		t.CanaryLatency += c.Latency.Count
		t.StableLatency += s.Latency.Count
		return t
	}
	if slow, ok := c.Latency.above(a.p95Bound); ok {
		t.CanarySlow += slow
		t.CanaryLatency += c.Latency.Count
	}
	slow, _ := s.Latency.above(a.p95Bound) // 0 when stable's buckets differ
	t.StableSlow += slow
	t.StableLatency += s.Latency.Count
	return t
}

// guardResult returns the state of a guard that has started judging; what
// describes the failure, given the always-valid p-value.
func (a *Analyzer) guardResult(r TestResult, t *limitTest, what func(p float64) string) TestResult {
	r.Status = StatusOK
	r.Statistic = min(math.Exp(t.logE), math.MaxFloat64)
	r.PValue = t.pValue()
	if r.PValue <= a.cfg.GuardAlpha/2 {
		r.Status, r.Detail = StatusFail, what(r.PValue)
	}
	return r
}

// errorGuardResult returns the state of the error-rate guard.
func (a *Analyzer) errorGuardResult() TestResult {
	t := a.totals()
	r := TestResult{Name: TestSLOErrorRate, Threshold: 2 / a.cfg.GuardAlpha,
		CanaryEvents: t.CanaryErrors, CanaryRequests: t.CanaryRequests, StableEvents: t.StableErrors, StableRequests: t.StableRequests}
	switch {
	case a.errGuard == nil:
		r.Status, r.Detail = StatusSkipped, "no error-rate limit configured"
	case t.CanaryRequests < a.cfg.MinRequests:
		r.Status, r.Statistic, r.PValue = StatusPending, 1, 1
		r.Detail = fmt.Sprintf("waiting for %g canary requests, have %g", a.cfg.MinRequests, t.CanaryRequests)
	default:
		r = a.guardResult(r, a.errGuard, func(p float64) string {
			return fmt.Sprintf("canary error rate is above the limit %.4g%% (p = %.3g ≤ GuardAlpha/2 = %.3g); observed %s",
				100*a.cfg.MaxErrorRate, p, a.cfg.GuardAlpha/2, rate(t.CanaryErrors, t.CanaryRequests))
		})
	}
	return r
}

// p95GuardResult returns the state of the p95 latency guard.
func (a *Analyzer) p95GuardResult() TestResult {
	c, t := a.last.Canary, a.totals()
	r := TestResult{Name: TestSLOLatency, Threshold: 2 / a.cfg.GuardAlpha, LatencyThreshold: a.p95Bound,
		CanaryRequests: t.CanaryLatency, StableRequests: t.StableLatency,
		CanaryEvents: t.CanarySlow, StableEvents: t.StableSlow}
	limit := a.cfg.MaxLatencyP95.Seconds()
	switch {
	case a.p95Guard == nil:
		r.Status, r.Detail = StatusSkipped, "no p95 latency limit configured"
	case a.p95Err != "":
		r.Status, r.Detail = StatusError, a.p95Err
	case a.p95Bound > 0 && t.CanaryLatency >= a.cfg.MinRequests:
		r = a.guardResult(r, a.p95Guard, func(p float64) string {
			above := fmt.Sprintf("the limit %.4gs", limit)
			if a.p95Bound > limit*(1+countTolerance) {
				above = fmt.Sprintf("%.4gs, the limit %.4gs rounded up to a bucket bound", a.p95Bound, limit)
			}
			return fmt.Sprintf("canary p95 latency is above %s: more than 5%% of its requests are slower (p = %.3g ≤ GuardAlpha/2 = %.3g); observed %s slower than %.4gs, histogram_quantile p95 %.4gs",
				above, p, a.cfg.GuardAlpha/2, rate(r.CanaryEvents, r.CanaryRequests), a.p95Bound, c.Latency.Quantile(0.95))
		})
	case len(c.Latency.Bounds) == 0 && t.CanaryRequests >= a.cfg.MinRequests:
		r.Status = StatusError
		r.Detail = fmt.Sprintf("the canary served %g requests but has no latency histogram", t.CanaryRequests)
	default:
		r.Status, r.Statistic, r.PValue = StatusPending, 1, 1
		r.Detail = fmt.Sprintf("waiting for %g canary requests in the latency histogram, have %g", a.cfg.MinRequests, t.CanaryLatency)
	}
	return r
}
