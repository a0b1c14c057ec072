package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// approx compares floats to 1e-12 relative, and exactly at zero.
var approx = cmpopts.EquateApprox(1e-12, 0)

// The expected values below were computed by hand and checked with plain
// Python (math.log, no libraries), from LR(ρ) = ρ^x / (1 + w(ρ-1))^e.

type interval struct{ xc, xs, nc, ns float64 }

func TestRatioTestKnownValues(t *testing.T) {
	tests := []struct {
		name      string
		rho       []float64
		intervals []interval
		wantE     float64 // M_t after the last interval
		wantP     float64 // min(1, 1/max M_s)
	}{
		{
			name: "no events", rho: []float64{2},
			intervals: []interval{{0, 0, 50, 50}},
			wantE:     1, wantP: 1,
		},
		{
			// w = 1/2: LR = 2³ / 1.5⁴ = 8 / 5.0625.
			name: "one ratio, one interval", rho: []float64{2},
			intervals: []interval{{3, 1, 50, 50}},
			wantE:     8 / 5.0625, wantP: 5.0625 / 8,
		},
		{
			// The second interval (w = 0.1, two stable errors) multiplies
			// by 1/1.1²; the p-value keeps the maximum of M.
			name: "evidence lost keeps the p-value", rho: []float64{2},
			intervals: []interval{{3, 1, 50, 50}, {0, 2, 10, 90}},
			wantE:     8 / 5.0625 / 1.21, wantP: 5.0625 / 8,
		},
		{
			// w = 0.1, two canary errors: LR(2) = 4/1.1², LR(4) = 16/1.3².
			name: "two ratios, equal weights", rho: []float64{2, 4},
			intervals: []interval{{2, 0, 10, 90}},
			wantE:     (4/1.21 + 16/1.69) / 2, wantP: 2 / (4/1.21 + 16/1.69),
		},
		{
			// A track without requests (w = 0) says nothing.
			name: "no canary requests", rho: []float64{2, 4},
			intervals: []interval{{0, 5, 0, 100}},
			wantE:     1, wantP: 1,
		},
		{
			// The error test's own grid: three canary errors among ten
			// canary requests and none among ninety stable ones are
			// enough at α = 0.01 (the error test's level 0.0075, so
			// M ≥ 133.3).
			name: "error grid, three canary errors", rho: errorRatios,
			intervals: []interval{{3, 0, 10, 90}},
			wantE:     247.3496225986784, wantP: 0.004042860423613774,
		},
		{
			name: "error grid, four canary errors", rho: errorRatios,
			intervals: []interval{{4, 0, 10, 90}},
			wantE:     1864.9698607891678, wantP: 0.0005362016947431241,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRatioTest(tt.rho, 0.0075)
			for _, iv := range tt.intervals {
				rt.update(iv.xc, iv.xs, iv.nc, iv.ns)
			}
			got := [2]float64{math.Exp(rt.logE), rt.pValue()}
			want := [2]float64{tt.wantE, tt.wantP}
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("after %v: [M, p] (-want +got):\n%s", tt.intervals, diff)
			}
		})
	}
}

func TestErrorGrid(t *testing.T) {
	// ρ_k = 2 · (60/2)^(k/6), from Python.
	want := []float64{2, 3.525468766535229, 6.214465011907716, 10.95445115010332, 19.309787692112586,
		34.03802669848468, 60}
	if diff := cmp.Diff(want, errorRatios, approx); diff != "" {
		t.Errorf("errorRatios (-want +got):\n%s", diff)
	}
}

// TestRatioTestSupermartingale checks, by summing over every outcome of an
// interval rather than by simulation, that the likelihood ratio has
// expectation 1 when the canary's share of events is w (binomial, H0),
// at most 1 when it is smaller (a better canary), and at most 1 when the
// share is hypergeometric (independent requests, Hoeffding 1963).
func TestRatioTestSupermartingale(t *testing.T) {
	binom := func(n, k int) float64 {
		c := 1.0
		for i := 1; i <= k; i++ {
			c = c * float64(n-k+i) / float64(i)
		}
		return c
	}
	tests := []struct {
		name     string
		e        int     // events in the interval
		nc, ns   int     // requests
		theta    float64 // the canary's true share of events, binomial case
		hyper    bool    // hypergeometric instead: e events among nc+ns requests
		wantOne  bool    // expectation exactly 1, else at most 1
		wantLess bool    // expectation clearly below 1
	}{
		{name: "H0 binomial w=0.1", e: 7, nc: 10, ns: 90, theta: 0.1, wantOne: true},
		{name: "H0 binomial w=0.5", e: 12, nc: 50, ns: 50, theta: 0.5, wantOne: true},
		{name: "better canary", e: 7, nc: 10, ns: 90, theta: 0.05, wantLess: true},
		{name: "H0 hypergeometric", e: 6, nc: 10, ns: 30, hyper: true, wantLess: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rho := range append([]float64{1.1}, errorRatios...) {
				mean := 0.0
				for x := 0; x <= tt.e; x++ {
					var p float64
					if tt.hyper {
						// x of the e failing requests are canary requests.
						p = binom(tt.nc, x) * binom(tt.ns, tt.e-x) / binom(tt.nc+tt.ns, tt.e)
					} else {
						p = binom(tt.e, x) * math.Pow(tt.theta, float64(x)) * math.Pow(1-tt.theta, float64(tt.e-x))
					}
					rt := newRatioTest([]float64{rho}, 0.0075)
					rt.update(float64(x), float64(tt.e-x), float64(tt.nc), float64(tt.ns))
					mean += p * math.Exp(rt.logE)
				}
				switch {
				case tt.wantOne && math.Abs(mean-1) > 1e-9:
					t.Errorf("ρ = %g: E[LR] = %.12g, want 1", rho, mean)
				case tt.wantLess && !(mean < 1-1e-6):
					t.Errorf("ρ = %g: E[LR] = %.12g, want below 1", rho, mean)
				}
			}
		})
	}
}

func TestSPRTBound(t *testing.T) {
	tests := []struct {
		name                string
		p0, p1, alpha, beta float64
		want                float64
	}{
		// α = β = 0.1: numerator (1-2α) ln((1-α)/α) = 0.8 ln 9 = 1.757780;
		// KL(0.75 ‖ 0.5) = 0.75 ln 1.5 + 0.25 ln 0.5 = 0.130812; 13.437.
		{"symmetric errors", 0.5, 0.75, 0.1, 0.1, 0.8 * math.Log(9) / (0.75*math.Log(1.5) + 0.25*math.Log(0.5))},
		// β = 0: numerator ln(1/α) = ln 20.
		{"no type-II error", 0.5, 0.75, 0.05, 0, math.Log(20) / (0.75*math.Log(1.5) + 0.25*math.Log(0.5))},
		// The benchmark's effects against stable's 0.5%, α = 0.01, β = 0.05.
		{"2% against 0.5%", 0.005, 0.02, 0.01, 0.05, 325.31569023583194},
		{"5% against 0.5%", 0.005, 0.05, 0.01, 0.05, 58.6951922588542},
		{"20% against 0.5%", 0.005, 0.2, 0.01, 0.05, 7.415432949587523},
		{"a decrease", 0.2, 0.05, 0.01, 0.05, 44.46204393132556},
		{"trivial test", 0.5, 0.75, 0.5, 0.5, 0},
		{"p0 = 0", 0, 0.75, 0.01, 0.05, math.NaN()},
		{"p1 = 1", 0.5, 1, 0.01, 0.05, math.NaN()},
		{"equal rates", 0.5, 0.5, 0.01, 0.05, math.NaN()},
		{"alpha = 0", 0.5, 0.75, 0, 0.05, math.NaN()},
		{"beta negative", 0.5, 0.75, 0.01, -0.05, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SPRTBound(tt.p0, tt.p1, tt.alpha, tt.beta)
			if diff := cmp.Diff(tt.want, got, approx, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("SPRTBound(%v, %v, %v, %v) = %v, want %v", tt.p0, tt.p1, tt.alpha, tt.beta, got, tt.want)
			}
		})
	}
}

// TestCappedBets checks the bets of an interval with one event near the
// level: a canary event takes the e-value exactly to the level (where the
// full bets overshoot it), a stable event costs every component less than
// the full bets do, and an interval with more events is not capped.
func TestCappedBets(t *testing.T) {
	const level = 0.0075
	// Two canary errors among ten requests and none among ninety: M is
	// 34.68, below 1/0.0075 = 133.3, and one more canary error in an
	// interval of its own would take it to 247.3 with the full bets
	// (TestRatioTestKnownValues; plain Python).
	start := func() (capped, full *ratioTest) {
		capped, full = newRatioTest(errorRatios, level), newRatioTest(errorRatios, 0) // level 0: never capped
		for _, rt := range []*ratioTest{capped, full} {
			rt.update(2, 0, 10, 90)
		}
		return capped, full
	}
	capped, full := start()
	if got := math.Exp(capped.logE); math.Abs(got-34.67675272656361) > 1e-9 || capped.logE >= capped.logLevel {
		t.Fatalf("start: M = %v, want 34.68, below 1/level", got)
	}
	capped.update(1, 0, 10, 90)
	full.update(1, 0, 10, 90)
	if got := math.Exp(capped.logE); math.Abs(got-1/level) > 1e-3 || capped.pValue() > level {
		t.Errorf("capped, after a canary event: M = %v, p = %v; want 1/level = %v and p ≤ level", got, capped.pValue(), 1/level)
	}
	if got := math.Exp(full.logE); math.Abs(got-247.3496225986784) > 1e-9 {
		t.Errorf("full bets, after a canary event: M = %v, want 247.35", got)
	}

	capped, full = start()
	capped.update(0, 1, 10, 90)
	full.update(0, 1, 10, 90)
	for k := range errorRatios {
		if capped.logLR[k] < full.logLR[k]-1e-12 {
			t.Errorf("after a stable event, ρ = %v: capped ln LR %v below the full bet's %v", errorRatios[k], capped.logLR[k], full.logLR[k])
		}
	}
	if !(capped.logLR[len(errorRatios)-1] > full.logLR[len(errorRatios)-1]+0.1) {
		t.Errorf("after a stable event, the capped bet on ρ = 60 lost as much as the full one: %v and %v",
			capped.logLR[len(errorRatios)-1], full.logLR[len(errorRatios)-1])
	}

	capped, full = start()
	capped.update(1, 1, 10, 90)
	full.update(1, 1, 10, 90)
	if diff := cmp.Diff(full.logLR, capped.logLR, approx); diff != "" {
		t.Errorf("an interval with two events was capped (-full +capped):\n%s", diff)
	}
}

// TestCappedBetsNeverLater runs the capped test and the same test with
// full bets over seeded random intervals of a bad canary and checks that
// the capped one never rejects later, and that a canary event in an
// interval of its own rejects it as soon as it would the full one.
func TestCappedBetsNeverLater(t *testing.T) {
	const level = 0.0075
	r := rand.New(rand.NewPCG(1, 2))
	earlier := 0
	for run := range 500 {
		capped, full := newRatioTest(errorRatios, level), newRatioTest(errorRatios, 0)
		cappedAt, fullAt := -1, -1
		for sec := 0; sec < 600 && fullAt < 0; sec++ {
			// 10 canary requests at 5% errors, 90 stable at 0.5%.
			xc, xs := 0.0, 0.0
			for range 10 {
				if r.Float64() < 0.05 {
					xc++
				}
			}
			for range 90 {
				if r.Float64() < 0.005 {
					xs++
				}
			}
			capped.update(xc, xs, 10, 90)
			full.update(xc, xs, 10, 90)
			if cappedAt < 0 && capped.pValue() <= level {
				cappedAt = sec
			}
			if full.pValue() <= level {
				fullAt = sec
			}
		}
		if fullAt >= 0 && (cappedAt < 0 || cappedAt > fullAt) {
			t.Fatalf("run %d: the full bets rejected at second %d, the capped ones at %d", run, fullAt, cappedAt)
		}
		if cappedAt >= 0 && cappedAt < fullAt {
			earlier++
		}
	}
	// The cap must make a difference somewhere, or this test tests nothing.
	if earlier == 0 {
		t.Errorf("the capped test never rejected earlier than the full one in 500 runs")
	}
	t.Logf("capped bets rejected earlier in %d of 500 runs", earlier)
}
