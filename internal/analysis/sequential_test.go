package analysis

import (
	"math"
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
			// enough at α = 0.01 (M ≥ 200).
			name: "error grid, three canary errors", rho: errorRatios,
			intervals: []interval{{3, 0, 10, 90}},
			wantE:     286.9362612277279, wantP: 0.0034850945492955546,
		},
		{
			name: "error grid, four canary errors", rho: errorRatios,
			intervals: []interval{{4, 0, 10, 90}},
			wantE:     2288.6160521955717, wantP: 0.00043694528797901916,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRatioTest(tt.rho)
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
	// ρ_k = 1.5 · (100/1.5)^(k/9), from Python.
	want := []float64{1.5, 2.391926254729093, 3.8142074720415637, 6.0822019955734, 9.698785759851798,
		15.465853531988117, 24.662120743304698, 39.326649402139665, 62.71096347700269, 100}
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
					rt := newRatioTest([]float64{rho})
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
