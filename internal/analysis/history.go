package analysis

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// History is stable's record over a window before the rollout: its
// requests, errors and latency histogram (cumulative bucket counts, as an
// Observation's) over that window. The rollout controller reads it from
// the metric source when the rollout starts (rollout.analysis.history in
// the policy).
type History struct {
	Requests float64   `json:"requests"`
	Errors   float64   `json:"errors"`
	Latency  Histogram `json:"latency"`
	// Recent, when read, is stable's counts over the last minutes before
	// the rollout (a part of the window): they start the drift hold's
	// statistic, so that a rise under way when the rollout starts holds
	// the history tests from the first canary request.
	Recent *Counts `json:"recent,omitempty"`
}

// The defaults and constants of the history tests.
const (
	// DefaultHistoryShare is the default share of each comparison's level
	// (ErrorAlphaShare·α for errors, the rest of α for latency) that the
	// history test of the same kind of event runs at when Config.History
	// is set; the comparison with stable runs at the rest.
	DefaultHistoryShare = 0.75
	// historyBoundShare is the share of a history test's level spent on
	// the upper confidence bound of stable's past event rate; the
	// sequential test runs at the rest.
	historyBoundShare = 0.05
	// driftEvidence is the value of stable's CUSUM statistic against the
	// bound at which a history test holds its verdict: stable itself then
	// shows a higher event rate than its past did, lately, so the past is
	// no baseline for the canary (a shared drift, an incident).
	driftEvidence = 20
)

// The names of the history tests in a Verdict, after the four others.
const (
	TestHistoryErrorRate = "history_error_rate"
	TestHistoryLatency   = "history_latency"
)

// UpperRateBound returns the upper confidence bound at level delta of an
// event probability from x events among n independent requests: the
// largest q ≥ x/n with n·KL(x/n ‖ q) ≤ ln(1/delta), KL the relative entropy
// of two Bernoulli distributions. By the Chernoff–Hoeffding inequality
// (Chernoff 1952, "A measure of asymptotic efficiency for tests of a
// hypothesis based on the sum of observations", Ann. Math. Statist. 23(4);
// Hoeffding 1963, JASA 58(301), Theorem 1), P(p̂ ≤ x/n) ≤ exp(−n·KL(x/n ‖ p))
// when x/n < p, so that P(p > UpperRateBound) ≤ delta for every p. With no
// events it is 1 − delta^(1/n). It returns NaN for n < 1, x outside [0, n]
// or delta outside (0, 1).
func UpperRateBound(x, n, delta float64) float64 {
	if !(n >= 1) || math.IsInf(n, 1) || !(x >= 0 && x <= n) || !(delta > 0 && delta < 1) {
		return math.NaN()
	}
	ph := x / n
	if x == n {
		return 1
	}
	if x == 0 {
		return -math.Expm1(math.Log(delta) / n)
	}
	target := math.Log(1/delta) / n
	lo, hi := ph, 1.0
	for range 200 {
		mid := (lo + hi) / 2
		if bernoulliKL(ph, mid) > target {
			hi = mid
		} else {
			lo = mid
		}
		if hi-lo <= 1e-15*hi {
			break
		}
	}
	return hi
}

// bernoulliKL is KL(Bernoulli(p) ‖ Bernoulli(q)) for q in (0, 1).
func bernoulliKL(p, q float64) float64 {
	var kl float64
	if p > 0 {
		kl += p * math.Log(p/q)
	}
	if p < 1 {
		kl += (1 - p) * math.Log((1-p)/(1-q))
	}
	return kl
}

// historyTest is one kind of event (errors, or requests slower than a
// threshold) judged against stable's past: the canary's events since the
// rollout's start against the upper confidence bound of stable's past
// event rate (limitTest), held while stable's own events since the start
// show it above that bound.
type historyTest struct {
	name      string
	past      float64    // stable's past event rate, x/n of the history
	bound     float64    // its upper confidence bound: the limit tested
	threshold float64    // seconds: the latency bound (latency test only)
	canary    *limitTest // canary's events since the start against bound
	drift     cusum      // stable's recent events against bound
	logLevel  float64    // ln(1/a) of the sequential test
	level     float64    // the test's whole level, the bound's share included
	cx, cn    float64    // canary's events and requests since the start
	sx, sn    float64    // stable's
	base      [4]float64 // cx, cn, sx, sn carried over (a snapshot, or the switch to inline counting)
	held      bool       // the last evaluation reached the level while stable drifted
	failed    bool       // the test reached its level with stable steady: sticky
	skip      string     // why the test cannot run (no history for it)
}

// newHistoryTest returns the test of the canary's events against bound,
// the upper confidence bound of stable's past rate past, at level (the
// bound's share included), mixing over rho.
func newHistoryTest(name string, past, bound, level float64, rho []float64) *historyTest {
	t := &historyTest{name: name, level: level, past: past, bound: bound}
	t.logLevel = -math.Log(level * (1 - historyBoundShare))
	t.canary = newLimitTest(t.bound, rho)
	t.drift = newCUSUM(t.canary)
	return t
}

// count adds a canary (canary true) or stable request, an event or not,
// and evaluates the test when it is a canary event: only a canary event
// can raise the canary's e-value, so that evaluating at every canary event
// is evaluating after every request.
func (t *historyTest) count(canary, event bool) {
	if t.skip != "" || t.failed {
		return
	}
	e := 0.0
	if event {
		e = 1
	}
	if !canary {
		t.sx, t.sn = t.sx+e, t.sn+1
		t.drift.add(e, 1)
		return
	}
	t.cx, t.cn = t.cx+e, t.cn+1
	if event {
		t.evaluate()
	}
}

// set takes the tracks' cumulative counts read from a metric source since
// the analysis (re)started, on top of those carried over, and evaluates
// the test.
func (t *historyTest) set(cx, cn, sx, sn float64) {
	if t.skip != "" || t.failed {
		return
	}
	sx, sn = t.base[2]+sx, t.base[3]+sn
	t.drift.add(max(0, sx-t.sx), max(0, sn-t.sn))
	t.cx, t.cn, t.sx, t.sn = t.base[0]+cx, t.base[1]+cn, sx, sn
	t.evaluate()
}

// evaluate evaluates the canary's mixture at its counts; at the level, it
// fails unless stable's CUSUM against the same bound is at driftEvidence
// or above: then stable's event rate is itself above its past, lately,
// and the test holds its verdict. The hold can only keep the test from
// failing, never make it fail, so that it costs no level.
func (t *historyTest) evaluate() {
	t.canary.observe(t.cx, t.cn)
	t.held = false
	if t.canary.logE < t.logLevel {
		return
	}
	if t.drift.value() >= math.Log(driftEvidence) {
		t.held = true
		return
	}
	t.failed = true
}

// cusum is Page's CUSUM statistic (Page 1954, "Continuous inspection
// schemes", Biometrika 41(1/2)) of a track's events against a limit, per
// alternative of a limitTest's mixture: W_k = max(0, W_k + ln LR(ρ_k)) after
// every request, whose largest value is the evidence that the event rate
// rose above the limit at some recent point. Unlike the mixture since the
// start, it carries no deficit from a stretch at or below the limit, so
// that a rise shows within the events that follow it. Requests without an
// event are kept as a count and subtracted when the next event comes or
// the value is read, which gives the same W_k: a run of decrements clamped
// at 0 is the sum clamped once.
type cusum struct {
	t       *limitTest // ln ρ_k and ln(1 + L(ρ_k − 1))
	w       []float64  // W_k at the last event
	pending float64    // requests without an event since
}

func newCUSUM(t *limitTest) cusum { return cusum{t: t, w: make([]float64, len(t.logRho))} }

// add counts requests of which events are events. One request is one
// step of the recursion. Counts that come together, from a metric source
// or a history's recent minutes, are one step too, by their net
// evidence: W_k = max(0, W_k + x ln ρ_k − n ln(1 + L(ρ_k − 1))), the order
// within them being unknown.
func (c *cusum) add(events, requests float64) {
	if events == 0 {
		c.pending += requests
		return
	}
	for k := range c.w {
		w := max(0, c.w[k]-c.pending*c.t.logDen[k])
		c.w[k] = max(0, w+events*c.t.logRho[k]-requests*c.t.logDen[k])
	}
	c.pending = 0
}

// value returns the largest W_k now.
func (c *cusum) value() float64 {
	v := 0.0
	for k, w := range c.w {
		v = max(v, w-c.pending*c.t.logDen[k])
	}
	return v
}

// result returns the test's state as a TestResult.
func (t *historyTest) result() TestResult {
	r := TestResult{Name: t.name, Sequential: true, Threshold: math.Exp(t.logLevel), Statistic: 1, PValue: 1,
		CanaryEvents: t.cx, CanaryRequests: t.cn, StableEvents: t.sx, StableRequests: t.sn,
		LatencyThreshold: t.threshold}
	if t.skip != "" {
		r.Status, r.Detail = StatusSkipped, t.skip
		return r
	}
	r.PastRate, r.PastBound = t.past, t.bound
	t.canary.observe(t.cx, t.cn)
	r.Statistic = min(math.Exp(t.canary.logE), math.MaxFloat64)
	r.PValue = t.canary.pValue()
	what := func() string {
		if t.threshold > 0 {
			return fmt.Sprintf("share of requests slower than %.4gs", t.threshold)
		}
		return "error rate"
	}
	switch {
	case t.failed:
		r.Status = StatusFail
		r.Detail = fmt.Sprintf("canary %s is above stable's past %s (bound %s at %.3g): e-value reached %.4g; observed %s",
			what(), pct(t.past), pct(t.bound), t.level*historyBoundShare, math.Exp(t.logLevel), rate(t.cx, t.cn))
	case t.held:
		r.Status = StatusOK
		r.Detail = fmt.Sprintf("held: stable's own recent %s is above its past bound %s (CUSUM %.3g ≥ %d; since the start %s), so the past is no baseline now",
			what(), pct(t.bound), t.drift.value(), driftEvidence, rate(t.sx, t.sn))
	default:
		r.Status = StatusOK
	}
	return r
}

func pct(p float64) string { return fmt.Sprintf("%.4g%%", 100*p) }

// Baseline runs the history tests: the canary's errors, and its requests
// slower than a threshold, each against stable's past rate of them
// (Config.History). Unlike the comparisons with stable it needs no
// stable request during the rollout, so that it can judge after every
// canary request: the splitter calls Canary and Stable as it answers
// (traffic.Judge), and takes the canary's traffic away at the request
// that fails it. It is safe for concurrent use.
//
// Why it keeps its level: stable's past rate p is bounded above by
// UpperRateBound at a share of the level (P(p > bound) ≤ δ), and the
// canary's events since the start are tested against the bound by the
// guards' anytime-valid mixture (limitTest) at the rest, a: if the
// canary's rate is at most stable's past rate p and p ≤ bound, the
// mixture is a test supermartingale and reaches 1/a with probability at
// most a (Ville 1939). The test fails with probability at most δ + a.
// The assumption is that stable's past rate is what a healthy canary
// would show now; when stable's own recent requests show a higher rate
// than the bound (its CUSUM at driftEvidence, started with
// History.Recent when given), a failure is held, which can only lower the
// false-rollback rate. The hold is a heuristic, not a guarantee: a rise
// both tracks share that starts with the rollout, at 50% weight, is seen
// by stable no sooner than by the canary (docs/analysis-statistics.md
// gives the measured rates).
type Baseline struct {
	mu      sync.Mutex
	errors  *historyTest
	latency *historyTest
	inline  bool // counted by Canary and Stable, not by the observations
}

// newBaseline returns the history tests of h at cfg's levels; the latency
// test's bound is cfg's fixed threshold or derived from h.
func newBaseline(cfg Config, h History) *Baseline {
	errLevel, latLevel := cfg.historyErrorLevel(), cfg.historyLatencyLevel()
	b := &Baseline{}
	b.errors = &historyTest{name: TestHistoryErrorRate}
	switch {
	case h.Requests < cfg.MinRequests:
		b.errors.skip = fmt.Sprintf("stable's history has %g requests, fewer than %g", h.Requests, cfg.MinRequests)
	default:
		b.errors = newHistoryTest(TestHistoryErrorRate, h.Errors/h.Requests,
			UpperRateBound(h.Errors, h.Requests, errLevel*historyBoundShare), errLevel, errorRatios)
		if h.Recent != nil {
			b.errors.drift.add(h.Recent.Errors, h.Recent.Requests)
		}
	}
	b.latency = &historyTest{name: TestHistoryLatency}
	bound, slow, n, why := historyLatencyBound(cfg, h.Latency)
	switch {
	case why != "":
		b.latency.skip = why
	default:
		b.latency = newHistoryTest(TestHistoryLatency, slow/n, UpperRateBound(slow, n, latLevel*historyBoundShare), latLevel, latencyRatios)
		b.latency.threshold = bound
		if r := h.Recent; r != nil {
			if slow, ok := r.Latency.above(bound); ok && r.Latency.Count > 0 {
				b.latency.drift.add(slow, r.Latency.Count)
			}
		}
	}
	return b
}

// historyLatencyBound returns the latency bound of the history's latency
// test: cfg.LatencyThreshold rounded up to a bucket bound of the history's
// histogram, or the bound at which its cumulative share is nearest
// cfg.LatencyQuantile; and the history's requests slower than it among
// its count. why says why there is none.
func historyLatencyBound(cfg Config, h Histogram) (bound, slow, n float64, why string) {
	b := h.Bounds
	if k := len(b); k > 0 && math.IsInf(b[k-1], 1) {
		b = b[:k-1]
	}
	switch {
	case len(b) == 0:
		return 0, 0, 0, "stable's history has no latency histogram"
	case h.Count < cfg.MinRequests:
		return 0, 0, 0, fmt.Sprintf("stable's history has %g requests in its latency histogram, fewer than %g", h.Count, cfg.MinRequests)
	}
	if cfg.LatencyThreshold > 0 {
		i, _ := slices.BinarySearch(b, cfg.LatencyThreshold.Seconds()*(1-countTolerance))
		if i == len(b) {
			return 0, 0, 0, fmt.Sprintf("no finite bucket bound of stable's history is at least the latency threshold %v", cfg.LatencyThreshold)
		}
		bound = b[i]
	} else {
		best := math.Inf(1)
		for i, v := range b {
			if d := math.Abs(h.Counts[i]/h.Count - cfg.LatencyQuantile); d < best {
				best, bound = d, v
			}
		}
	}
	slow, _ = h.above(bound)
	return bound, slow, h.Count, ""
}

// Inline switches the baseline to counting the requests it is told of by
// Canary and Stable, from the counts the observations gave it so far: call
// it after an observation and before the splitter is told to call them,
// so that no request is counted by both. Afterwards the observations no
// longer change its counts.
func (b *Baseline) Inline() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inline = true
	for _, t := range []*historyTest{b.errors, b.latency} {
		t.base = [4]float64{t.cx, t.cn, t.sx, t.sn}
	}
}

// Canary counts one canary request as the splitter answers it: failed for
// an error, seconds its latency. It returns whether the baseline has
// failed: the canary must get no more traffic. It counts nothing before
// Inline.
func (b *Baseline) Canary(failed bool, seconds float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inline {
		b.errors.count(true, failed)
		b.latency.count(true, seconds > b.latency.threshold)
	}
	return b.errors.failed || b.latency.failed
}

// Stable counts one stable request as the splitter answers it; nothing
// before Inline.
func (b *Baseline) Stable(failed bool, seconds float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inline {
		b.errors.count(false, failed)
		b.latency.count(false, seconds > b.latency.threshold)
	}
}

// Failed reports whether a history test has failed.
func (b *Baseline) Failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.errors.failed || b.latency.failed
}

// observe evaluates the tests at the tracks' cumulative counts of o, since
// the analysis (re)started, unless the baseline counts inline.
func (b *Baseline) observe(o Observation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inline {
		return
	}
	b.errors.set(o.Canary.Errors, o.Canary.Requests, o.Stable.Errors, o.Stable.Requests)
	if l := b.latency; l.skip == "" {
		cs, cok := o.Canary.Latency.above(l.threshold)
		ss, sok := o.Stable.Latency.above(l.threshold)
		if cok && sok {
			l.set(cs, o.Canary.Latency.Count, ss, o.Stable.Latency.Count)
		}
	}
}

// results returns the two tests' states.
func (b *Baseline) results() []TestResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	return []TestResult{b.errors.result(), b.latency.result()}
}

// historyState is a history test's state in a snapshot: what it judges
// against (fixed at the rollout's start) and its counts and evidence.
type historyState struct {
	Skip           string  `json:"skip,omitempty"`
	Past           float64 `json:"past,omitempty"`
	Bound          float64 `json:"bound,omitempty"`
	Threshold      float64 `json:"threshold,omitempty"`
	CanaryEvents   float64 `json:"canary_events,omitempty"`
	CanaryRequests float64 `json:"canary_requests,omitempty"`
	StableEvents   float64 `json:"stable_events,omitempty"`
	StableRequests float64 `json:"stable_requests,omitempty"`
	LogMaxE        float64 `json:"log_max_e,omitempty"`
	Failed         bool    `json:"failed,omitempty"`
	// Drift is stable's CUSUM per alternative and the requests without
	// an event since its last event.
	Drift        []float64 `json:"drift,omitempty"`
	DriftPending float64   `json:"drift_pending,omitempty"`
}

// baselineState is a Baseline's state in a snapshot.
type baselineState struct {
	ErrorRate historyState `json:"error_rate"`
	Latency   historyState `json:"latency"`
}

func (t *historyTest) state() historyState {
	return historyState{Skip: t.skip, Past: t.past, Bound: t.bound, Threshold: t.threshold,
		CanaryEvents: t.cx, CanaryRequests: t.cn, StableEvents: t.sx, StableRequests: t.sn,
		LogMaxE: t.canary.logMaxE, Failed: t.failed, Drift: slices.Clone(t.drift.w), DriftPending: t.drift.pending}
}

func (b *Baseline) state() *baselineState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &baselineState{}
	if b.errors.skip == "" {
		s.ErrorRate = b.errors.state()
	} else {
		s.ErrorRate.Skip = b.errors.skip
	}
	if b.latency.skip == "" {
		s.Latency = b.latency.state()
	} else {
		s.Latency.Skip = b.latency.skip
	}
	return s
}

// loadHistory returns the history test of a snapshot's state at level,
// or why the state is not one a test writes.
func loadHistory(name string, s historyState, level float64, rho []float64, latency bool) (*historyTest, error) {
	if s.Skip != "" {
		if s.Past != 0 || s.Bound != 0 || s.Threshold != 0 || s.CanaryRequests != 0 || s.StableRequests != 0 ||
			s.LogMaxE != 0 || s.Failed || len(s.Drift) != 0 || s.DriftPending != 0 {
			return nil, fmt.Errorf("%s: a skipped test with statistics", name)
		}
		return &historyTest{name: name, skip: s.Skip}, nil
	}
	for _, v := range append([]float64{s.Past, s.Bound, s.Threshold, s.LogMaxE, s.DriftPending}, s.Drift...) {
		if !finite(v) {
			return nil, fmt.Errorf("%s: %v is not a finite number", name, v)
		}
	}
	switch {
	case !(s.Past >= 0 && s.Past <= s.Bound && s.Bound > 0 && s.Bound <= 1):
		return nil, fmt.Errorf("%s: past rate %v and bound %v are not a rate and its upper bound", name, s.Past, s.Bound)
	case latency != (s.Threshold > 0) || s.Threshold < 0:
		return nil, fmt.Errorf("%s: latency threshold %v", name, s.Threshold)
	case s.LogMaxE < 0:
		return nil, fmt.Errorf("%s: log_max_e %v is negative", name, s.LogMaxE)
	case len(s.Drift) != len(rho) || slices.Min(s.Drift) < 0 || s.DriftPending < 0:
		return nil, fmt.Errorf("%s: drift %v (%v pending) is not a CUSUM per alternative", name, s.Drift, s.DriftPending)
	}
	if err := countPair(name+": canary", s.CanaryEvents, s.CanaryRequests); err != nil {
		return nil, err
	}
	if err := countPair(name+": stable", s.StableEvents, s.StableRequests); err != nil {
		return nil, err
	}
	t := newHistoryTest(name, s.Past, s.Bound, level, rho)
	t.threshold = s.Threshold
	t.cx, t.cn, t.sx, t.sn = s.CanaryEvents, s.CanaryRequests, s.StableEvents, s.StableRequests
	t.base = [4]float64{t.cx, t.cn, t.sx, t.sn}
	t.canary.observe(t.cx, t.cn)
	if t.canary.logMaxE > s.LogMaxE*(1+statTolerance)+statTolerance {
		return nil, fmt.Errorf("%s: log_max_e %v is below the e-value of the counts, %v", name, s.LogMaxE, t.canary.logMaxE)
	}
	t.canary.logMaxE = s.LogMaxE
	if s.Failed && s.LogMaxE < t.logLevel*(1-statTolerance) {
		return nil, fmt.Errorf("%s: failed without reaching its level", name)
	}
	t.failed = s.Failed
	copy(t.drift.w, s.Drift)
	t.drift.pending = s.DriftPending
	return t, nil
}
