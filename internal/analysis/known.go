package analysis

import (
	"fmt"
	"math"
)

// KnownRate is the analysis's sequential test of one kind of event with
// stable's event rate p0 known: the mixture of the SLO guards (limitTest)
// at the limit p0, over the ratios and at the level that the comparison
// with stable uses for that kind of event (errorRatios at ErrorAlphaShare·α,
// latencyRatios at the rest of α). Its likelihood ratios are those of
// Wald's sequential probability ratio test on the canary's requests alone.
//
// The rollout controller never runs it. A known stable rate is what a
// comparison of canary against stable does not have; the history tests
// (Baseline) come nearest, with an upper confidence bound of stable's past
// rate in place of p0 and a hold while stable drifts above it
// (docs/analysis-statistics.md). It tells how near Wald's bound
// (SPRTBound) the mixture's cost and the spacing of the looks alone let a
// test come: the reference of the simulation benchmark (bench/canary,
// BENCHMARKS.md, "Canary analysis").
type KnownRate struct {
	t        *limitTest
	logLevel float64
}

// NewKnownRate returns the test of cfg's error-rate test (latency false)
// or latency test (latency true) against the known stable rate p0, in
// (0, 1), with share, in (0, 1], of that test's level: 1 for the test in
// place of the comparison, 0.5 for one run beside it, each at half the
// level. cfg is validated and defaulted as New does.
func NewKnownRate(cfg Config, p0 float64, latency bool, share float64) (*KnownRate, error) {
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if !(p0 > 0 && p0 < 1) {
		return nil, fmt.Errorf("%w: known rate %v is not in (0, 1)", ErrInvalidConfig, p0)
	}
	if !(share > 0 && share <= 1) {
		return nil, fmt.Errorf("%w: share of the level %v is not in (0, 1]", ErrInvalidConfig, share)
	}
	rho, level := errorRatios, a.cfg.errorLevel()
	if latency {
		rho, level = latencyRatios, a.cfg.latencyLevel()
	}
	return &KnownRate{t: newLimitTest(p0, rho), logLevel: -math.Log(level * share)}, nil
}

// Observe evaluates the test at the canary's cumulative counts, x events
// among n requests, and reports whether it rejects: whether its e-value
// reached 1/level at this or an earlier evaluation.
func (k *KnownRate) Observe(x, n float64) bool {
	k.t.observe(x, n)
	return k.t.logMaxE >= k.logLevel
}

// LogEValue returns the logarithm of the mixture's e-value at the last
// evaluation.
func (k *KnownRate) LogEValue() float64 { return k.t.logE }
