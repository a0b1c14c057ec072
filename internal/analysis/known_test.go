package analysis

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestKnownRateEValue checks the test's e-value against the mixture of
// Wald's likelihood ratios written out: the mean over the seven ratios
// 2·30^(k/6), k = 0…6, of ρ^x / (1 + p0(ρ − 1))^n.
func TestKnownRateEValue(t *testing.T) {
	const p0 = 0.005
	k, err := NewKnownRate(Config{}, p0, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ x, n float64 }{{0, 100}, {1, 10}, {3, 50}, {10, 1000}, {25, 2000}} {
		k.Observe(c.x, c.n)
		sum := 0.0
		for i := range 7 {
			r := 2 * math.Pow(30, float64(i)/6)
			sum += math.Pow(r, c.x) / math.Pow(1+p0*(r-1), c.n)
		}
		want := math.Log(sum / 7)
		if got := k.LogEValue(); math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
			t.Errorf("x=%g n=%g: ln e-value %v, want %v", c.x, c.n, got, want)
		}
	}
}

// TestKnownRateLevel checks that the test rejects exactly when its e-value
// reaches 1/(share · ErrorAlphaShare · α), over counts whose e-values fall
// below, between and above the two shares' levels, and that a rejection
// holds at later evaluations.
func TestKnownRateLevel(t *testing.T) {
	between := 0 // counts rejected at share 1 and not at share 0.5
	for x := 0.0; x <= 12; x++ {
		for n := x; n <= 3000; n += 7 {
			var got [2]bool
			for i, share := range []float64{1, 0.5} {
				k, err := NewKnownRate(Config{Alpha: 0.01}, 0.005, false, share)
				if err != nil {
					t.Fatal(err)
				}
				got[i] = k.Observe(x, n)
				want := k.LogEValue() >= -math.Log(share*0.01*DefaultErrorAlphaShare)
				if got[i] != want {
					t.Fatalf("share %g, %g errors in %g requests: rejects %v, want %v (ln e %v)", share, x, n, got[i], want, k.LogEValue())
				}
				if got[i] && !k.Observe(0, n+1e6) {
					t.Fatalf("share %g: the rejection at %g errors in %g requests was forgotten by a later evaluation", share, x, n)
				}
			}
			if got[0] && !got[1] {
				between++
			}
		}
	}
	if between == 0 {
		t.Error("no counts fell between the two shares' levels: the test does not tell them apart")
	}
}

// TestKnownRateTypeI checks by simulation that a canary at the known rate
// is rejected in at most the level's share of 2,000 seeded runs, looked at
// after every request up to 4,000 requests, plus a tolerance of three
// binomial standard errors.
func TestKnownRateTypeI(t *testing.T) {
	for _, latency := range []bool{false, true} {
		p0, level := 0.005, 0.01*DefaultErrorAlphaShare
		if latency {
			p0, level = 0.08, 0.01*(1-DefaultErrorAlphaShare)
		}
		const runs, n = 2000, 4000
		rejected := 0
		for seed := range runs {
			r := rand.New(rand.NewPCG(uint64(seed), 17))
			k, err := NewKnownRate(Config{}, p0, latency, 1)
			if err != nil {
				t.Fatal(err)
			}
			x := 0.0
			for i := 1; i <= n; i++ {
				if r.Float64() < p0 {
					x++
				}
				if k.Observe(x, float64(i)) {
					rejected++
					break
				}
			}
		}
		rate := float64(rejected) / runs
		if limit := level + 3*math.Sqrt(level*(1-level)/runs); rate > limit {
			t.Errorf("latency %v: %d of %d runs rejected (%.4f), above level %.4f + tolerance = %.4f", latency, rejected, runs, rate, level, limit)
		}
	}
}

func TestKnownRateInvalid(t *testing.T) {
	for _, c := range []struct {
		cfg   Config
		p0    float64
		share float64
		want  string
	}{
		{Config{}, 0, 1, "known rate 0"},
		{Config{}, 1, 1, "known rate 1"},
		{Config{}, math.NaN(), 1, "known rate NaN"},
		{Config{}, 0.01, 0, "share of the level 0"},
		{Config{}, 0.01, 1.5, "share of the level 1.5"},
		{Config{Alpha: 2}, 0.01, 1, "alpha"},
	} {
		_, err := NewKnownRate(c.cfg, c.p0, false, c.share)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewKnownRate(%+v, %v, %v): %v, want an invalid config naming %q", c.cfg, c.p0, c.share, err, c.want)
		}
	}
}
