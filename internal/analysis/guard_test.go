package analysis

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The expected values below were computed with plain Python (math.log,
// no libraries) from LR_n(ρ) = ρ^x / (1 + L(ρ-1))^n.

func TestLimitTestKnownValues(t *testing.T) {
	type counts struct{ x, n float64 }
	tests := []struct {
		name  string
		limit float64
		rho   []float64
		evals []counts // cumulative counts at each evaluation
		wantE float64  // M after the last evaluation
		wantP float64  // min(1, 1/max M)
	}{
		{
			name: "no requests", limit: 0.01, rho: []float64{3},
			evals: []counts{{0, 0}}, wantE: 1, wantP: 1,
		},
		{
			// 3^5 / 1.02^100.
			name: "one ratio", limit: 0.01, rho: []float64{3},
			evals: []counts{{5, 100}}, wantE: 33.542011029052134, wantP: 1 / 33.542011029052134,
		},
		{
			// (2^10 / 1.05^100 + 4^10 / 1.15^100) / 2.
			name: "two ratios, equal weights", limit: 0.05, rho: []float64{2, 4},
			evals: []counts{{10, 100}}, wantE: 4.339962299463332, wantP: 1 / 4.339962299463332,
		},
		{
			// Seven errors in the first hundred requests fail the 1%
			// guard at GuardAlpha/2 = 0.005 (M ≥ 200); six do not.
			name: "error guard, 7 of 100", limit: 0.01, rho: guardRatios,
			evals: []counts{{7, 100}}, wantE: 523.602475519108, wantP: 1 / 523.602475519108,
		},
		{
			name: "error guard, 6 of 100", limit: 0.01, rho: guardRatios,
			evals: []counts{{6, 100}}, wantE: 81.90698954410514, wantP: 1 / 81.90698954410514,
		},
		{
			// 25 of 1000 (2.5%) is the least count that fails at 1,000.
			name: "error guard, 25 of 1000", limit: 0.01, rho: guardRatios,
			evals: []counts{{25, 1000}}, wantE: 339.52403248301573, wantP: 1 / 339.52403248301573,
		},
		{
			// The p95 guard: 80 of 1,000 requests (8%) slower than the
			// limit is the least count that fails at 1,000.
			name: "p95 guard, 80 of 1000", limit: p95Tail, rho: guardRatios,
			evals: []counts{{80, 1000}}, wantE: 232.1081199196053, wantP: 1 / 232.1081199196053,
		},
		{
			// Evidence lost keeps the p-value.
			name: "later requests dilute", limit: 0.01, rho: guardRatios,
			evals: []counts{{5, 100}, {5, 400}}, wantE: 0.1355774718451481, wantP: 1 / 15.47865411155704,
		},
		{
			// Nothing is above a limit of 1: LR = ρ^(x-n).
			name: "limit 1", limit: 1, rho: []float64{2, 4},
			evals: []counts{{10, 10}, {10, 12}}, wantE: (0.25 + 1.0/16) / 2, wantP: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt := newLimitTest(tt.limit, tt.rho)
			for _, c := range tt.evals {
				lt.observe(c.x, c.n)
			}
			got := [2]float64{math.Exp(lt.logE), lt.pValue()}
			want := [2]float64{tt.wantE, tt.wantP}
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("after %v: [M, p] (-want +got):\n%s", tt.evals, diff)
			}
		})
	}
}

func TestGuardRatios(t *testing.T) {
	// 1.5 · (100/1.5)^(k/9), from Python.
	want := []float64{1.5, 2.391926254729093, 3.8142074720415637, 6.0822019955734, 9.698785759851798,
		15.465853531988117, 24.662120743304698, 39.326649402139665, 62.71096347700269, 100}
	if diff := cmp.Diff(want, guardRatios, approx); diff != "" {
		t.Errorf("guardRatios (-want +got):\n%s", diff)
	}
	// The alternatives' event probabilities ρL / (1 + L(ρ-1)) at the two
	// ends of the grid, for the limits of the examples.
	p := func(rho, limit float64) float64 { return rho * limit / (1 + limit*(rho-1)) }
	got := []float64{p(guardRatios[0], 0.01), p(guardRatios[9], 0.01), p(guardRatios[0], p95Tail), p(guardRatios[9], p95Tail)}
	want = []float64{0.01492537313432836, 0.5025125628140704, 0.0731707317073171, 0.8403361344537815}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("alternatives (-want +got):\n%s", diff)
	}
}

// TestLimitTestSupermartingale checks, by summing over every outcome of n
// requests rather than by simulation, that the likelihood ratio has
// expectation 1 when each request is an event with probability L, and
// below 1 when the probability is below L (a canary within its limit);
// it is above 1 beyond the limit, where the test is meant to grow.
func TestLimitTestSupermartingale(t *testing.T) {
	binom := func(n, k int) float64 {
		c := 1.0
		for i := 1; i <= k; i++ {
			c = c * float64(n-k+i) / float64(i)
		}
		return c
	}
	tests := []struct {
		name  string
		limit float64
		p     float64 // the true event probability
		n     int
		want  int // the sign of E[LR] - 1
	}{
		{"at the limit 1%", 0.01, 0.01, 60, 0},
		{"at the p95 limit", p95Tail, p95Tail, 60, 0},
		{"half the limit", 0.01, 0.005, 60, -1},
		{"no events", p95Tail, 0, 60, -1},
		{"above the limit", 0.01, 0.03, 60, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rho := range append([]float64{1.1}, guardRatios...) {
				mean := 0.0
				for x := 0; x <= tt.n; x++ {
					pr := binom(tt.n, x) * math.Pow(tt.p, float64(x)) * math.Pow(1-tt.p, float64(tt.n-x))
					lt := newLimitTest(tt.limit, []float64{rho})
					lt.observe(float64(x), float64(tt.n))
					mean += pr * math.Exp(lt.logE)
				}
				// The closed form: (1 + (p-L)(p₁-L)/(L(1-L)))^n.
				p1 := rho * tt.limit / (1 + tt.limit*(rho-1))
				closed := math.Pow(1+(tt.p-tt.limit)*(p1-tt.limit)/(tt.limit*(1-tt.limit)), float64(tt.n))
				if math.Abs(mean-closed) > 1e-9*closed {
					t.Errorf("ρ = %g: E[LR] = %.12g, want the closed form %.12g", rho, mean, closed)
				}
				switch {
				case tt.want == 0 && math.Abs(mean-1) > 1e-9:
					t.Errorf("ρ = %g: E[LR] = %.12g, want 1", rho, mean)
				case tt.want < 0 && !(mean < 1-1e-6):
					t.Errorf("ρ = %g: E[LR] = %.12g, want below 1", rho, mean)
				case tt.want > 0 && !(mean > 1+1e-6):
					t.Errorf("ρ = %g: E[LR] = %.12g, want above 1", rho, mean)
				}
			}
		})
	}
}
