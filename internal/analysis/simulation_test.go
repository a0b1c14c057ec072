package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The simulations draw canary and stable traffic second by second and
// observe both tracks every second: each track's requests are Poisson with
// the track's share of the traffic, each request fails with the track's
// error rate, and its latency is lognormal (median 100 ms, σ = 0.5 in log
// scale) times the track's latency factor, counted into Prometheus's
// default buckets.

// simBounds are Prometheus's default histogram buckets
// (client_golang prometheus.DefBuckets), plus +Inf.
var simBounds = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, math.Inf(1)}

const (
	simMedian = 0.1
	simSigma  = 0.5
)

// simStep is a stretch of a simulated rollout at one canary weight.
type simStep struct {
	weight  float64 // canary share of the traffic, in [0, 1]
	seconds int
}

// simTrack is one track's behaviour.
type simTrack struct {
	errorRate     float64
	latencyFactor float64 // multiplies every latency; 1 for stable's
}

// simIncident is a stretch of time in which both tracks fail more often
// and are slower, as when a shared dependency degrades.
type simIncident struct {
	from, to      int // seconds, from excluded and to included
	errorRate     float64
	latencyFactor float64
}

// simulation is a rollout observed once a second.
type simulation struct {
	rps            float64 // requests per second, both tracks together
	steps          []simStep
	stable, canary simTrack
	incident       simIncident  // none when to is zero
	restarts       *simRestarts // none when nil
}

// simOutcome is how a simulated rollout ended.
type simOutcome struct {
	failed         bool
	canaryRequests float64 // canary requests served until then
	canaryErrors   float64 // of which failed
	verdict        Verdict // the last verdict
}

// cdf returns the track's cumulative share of requests at each bound.
func (t simTrack) cdf() []float64 {
	f := t.latencyFactor
	if f == 0 {
		f = 1
	}
	c := make([]float64, len(simBounds))
	for i, b := range simBounds {
		z := (math.Log(b) - math.Log(simMedian*f)) / simSigma
		c[i] = 0.5 * math.Erfc(-z/math.Sqrt2)
	}
	return c
}

// binomial draws a Binomial(n, p) variate by inversion (algorithm BINV of
// Kachitvichyanukul & Schmeiser 1988, "Binomial random variate
// generation", Commun. ACM 31(2)), which takes about n·min(p, 1-p) steps.
func binomial(r *rand.Rand, n, p float64) float64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomial(r, n, 1-p)
	case n > 500: // keep q^n clear of underflow
		h := math.Floor(n / 2)
		return binomial(r, h, p) + binomial(r, n-h, p)
	}
	q := 1 - p
	s, a := p/q, (n+1)*p/q
	f := math.Pow(q, n)
	u := r.Float64()
	x := 0.0
	for u > f && x < n {
		u -= f
		x++
		f *= a/x - s
	}
	return x
}

// poisson draws a Poisson variate with the given mean by inversion, fine
// for the small means of one simulated second; p0 is exp(-mean).
func poisson(r *rand.Rand, mean, p0 float64) float64 {
	if mean <= 0 {
		return 0
	}
	u := r.Float64()
	p := p0
	k, cum := 0.0, p
	for u > cum && p > 0 {
		k++
		p *= mean / k
		cum += p
	}
	return k
}

// simRestarts makes a simulated rollout's analysis restart, as the
// rollout controller's does when its server restarts or another replica
// takes over: at count seconds drawn at random (from a stream of their
// own, so that the traffic is that of the run without restarts), the
// analyzer is replaced after judging that second. The replacement
// starts down seconds later and reads counts from then on, as the
// controller's readings since its resumption do (the requests served while
// no one judged are never seen). It is restored from the last snapshot
// (State), taken at the first judgement of each process and then every
// saveEvery seconds, as the controller stores one with each sample; or,
// with fresh, it is a new analyzer.
type simRestarts struct {
	count, saveEvery, down int
	fresh                  bool
}

// traffic draws s's traffic with the given seed and calls observe with
// both tracks' cumulative counts every second, in fresh slices as from a
// metrics query, until observe returns false or the rollout ends.
func (s simulation) traffic(seed uint64, observe func(sec int, o Observation) bool) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var o Observation
	o.Stable.Latency.Bounds = simBounds
	o.Canary.Latency.Bounds = simBounds
	type track struct {
		t         simTrack
		c         *Counts
		errorRate float64   // now
		buckets   []float64 // requests per bucket, not cumulative
		mean      []float64 // mean requests per bucket and second now
		p0        []float64 // exp(-mean)
	}
	tracks := []*track{{t: s.stable, c: &o.Stable}, {t: s.canary, c: &o.Canary}}
	for _, tr := range tracks {
		tr.buckets = make([]float64, len(simBounds))
		tr.mean = make([]float64, len(simBounds))
		tr.p0 = make([]float64, len(simBounds))
	}
	// setup sets the tracks' rates for a step, in or out of the incident.
	// A Poisson stream of requests split by latency bucket is a set of
	// independent Poisson streams, one per bucket.
	setup := func(weight float64, incident bool) {
		for i, tr := range tracks {
			share := 1 - weight
			if i == 1 {
				share = weight
			}
			t := tr.t
			if incident {
				t.errorRate = max(t.errorRate, s.incident.errorRate)
				t.latencyFactor = max(t.latencyFactor, 1) * s.incident.latencyFactor
			}
			tr.errorRate = t.errorRate
			cdf := t.cdf()
			below := 0.0
			for b := range tr.mean {
				p := 1 - below
				if b < len(tr.mean)-1 {
					p = cdf[b] - below
					below = cdf[b]
				}
				tr.mean[b] = s.rps * share * p
				tr.p0[b] = math.Exp(-tr.mean[b])
			}
		}
	}
	sec := 0
	for _, st := range s.steps {
		inIncident := false
		setup(st.weight, false)
		for range st.seconds {
			sec++
			if in := sec > s.incident.from && sec <= s.incident.to; in != inIncident {
				inIncident = in
				setup(st.weight, in)
			}
			for _, tr := range tracks {
				n := 0.0
				for b, m := range tr.mean {
					k := poisson(r, m, tr.p0[b])
					tr.buckets[b] += k
					n += k
				}
				tr.c.Requests += n
				tr.c.Latency.Count += n
				tr.c.Errors += binomial(r, n, tr.errorRate)
			}
			o.At = start.Add(time.Duration(sec) * time.Second)
			for _, tr := range tracks {
				counts := make([]float64, len(tr.buckets))
				sum := 0.0
				for b, n := range tr.buckets {
					sum += n
					counts[b] = sum
				}
				tr.c.Latency.Counts = counts
			}
			if !observe(sec, o) {
				return
			}
		}
	}
}

// since returns o's counts since origin, as a reader counting from
// origin's moment returns them. Both have the same buckets.
func since(o, origin Observation) Observation {
	track := func(c, from Counts) Counts {
		h := Histogram{Bounds: c.Latency.Bounds, Counts: make([]float64, len(c.Latency.Counts)),
			Count: c.Latency.Count - from.Latency.Count, Sum: c.Latency.Sum - from.Latency.Sum}
		for i := range h.Counts {
			h.Counts[i] = c.Latency.Counts[i]
			if i < len(from.Latency.Counts) {
				h.Counts[i] -= from.Latency.Counts[i]
			}
		}
		return Counts{Requests: c.Requests - from.Requests, Errors: c.Errors - from.Errors, Latency: h}
	}
	return Observation{At: o.At, Stable: track(o.Stable, origin.Stable), Canary: track(o.Canary, origin.Canary)}
}

// run simulates s with the given seed until the analyzer fails the canary
// or the rollout ends.
func (s simulation) run(cfg Config, seed uint64) simOutcome {
	a, err := New(cfg)
	if err != nil {
		panic(err)
	}
	rs := s.restarts
	restartAt := map[int]bool{}
	if rs != nil {
		total := 0
		for _, st := range s.steps {
			total += st.seconds
		}
		r := rand.New(rand.NewPCG(seed, 0x7e57a7))
		for range rs.count {
			restartAt[1+r.IntN(total-1)] = true
		}
	}
	var (
		out       simOutcome
		origin    Observation // where the current process's counts start
		snap      []byte      // the last snapshot stored
		savedAt   = -1        // when, in the current process; -1 before its first
		resumesAt = 0         // no process judges until then
	)
	s.traffic(seed, func(sec int, o Observation) bool {
		out.canaryRequests, out.canaryErrors = o.Canary.Requests, o.Canary.Errors
		switch {
		case sec < resumesAt:
			return true
		case sec == resumesAt && sec > 0:
			// The new process reads counts from now on.
			origin = o
			return true
		}
		out.verdict = a.Observe(since(o, origin))
		if out.verdict.Decision == Fail {
			out.failed = true
			return false
		}
		if rs == nil {
			return true
		}
		if savedAt < 0 || sec-savedAt >= rs.saveEvery {
			if snap, err = a.State(); err != nil {
				panic(err)
			}
			savedAt = sec
		}
		if restartAt[sec] {
			if a, err = New(cfg); err != nil {
				panic(err)
			}
			if !rs.fresh {
				if err := a.Restore(snap); err != nil {
					panic(err)
				}
			}
			savedAt, resumesAt = -1, sec+max(1, rs.down)
		}
		return true
	})
	return out
}

// healthyRuns is the number of simulated rollouts of a healthy canary per
// scenario. CI runs them all; they take a few seconds.
const healthyRuns = 2000

// TestFalseRollbackRate checks the type-I error of the two sequential
// tests together under continuous monitoring: a canary as good as stable,
// observed every second for ten minutes while its weight steps 10% → 50% →
// 100%, is rolled back in at most α of the runs, up to the sampling error
// of the simulation. The allowance is the one-sided 99.87% normal bound of
// a binomial proportion, α + 3·√(α(1-α)/n): with n = 2,000 and α = 0.01,
// 0.0167, or 33 runs. Ville's inequality bounds the rate by α whatever the
// monitoring; observed every second rather than continuously, the tests
// stay well below it.
func TestFalseRollbackRate(t *testing.T) {
	steps := []simStep{{0.1, 200}, {0.5, 200}, {1, 200}}
	healthy := simTrack{errorRate: 0.005}
	tests := []struct {
		name string
		sim  simulation
	}{
		{"100 req/s", simulation{rps: 100, steps: steps, stable: healthy, canary: healthy}},
		// About 60 canary requests in ten minutes.
		{"1 req/s", simulation{rps: 1, steps: steps, stable: healthy, canary: healthy}},
		// A shared dependency fails: both tracks return 10% errors and
		// are three times slower for 30 seconds. The tests compare the
		// tracks within each interval, so this is no evidence.
		{"100 req/s with a shared incident", simulation{rps: 100, steps: steps, stable: healthy, canary: healthy,
			incident: simIncident{from: 100, to: 130, errorRate: 0.1, latencyFactor: 3}}},
	}
	alpha := DefaultAlpha
	allowed := alpha + 3*math.Sqrt(alpha*(1-alpha)/healthyRuns)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			failed := map[string]int{}
			runs := 0
			for seed := range uint64(healthyRuns) {
				out := tt.sim.run(Config{Alpha: alpha}, seed)
				if !out.failed {
					continue
				}
				runs++
				for _, r := range out.verdict.Tests {
					if r.Status == StatusFail {
						failed[r.Name]++
					}
				}
			}
			rate := float64(runs) / healthyRuns
			t.Logf("false rollbacks: %d of %d runs = %.4f (α = %v, allowed %.4f), by test: %v", runs, healthyRuns, rate, alpha, allowed, failed)
			if rate > allowed {
				t.Errorf("false rollback rate = %.4f (%d of %d runs), want at most %.4f", rate, runs, healthyRuns, allowed)
			}
			// Each test within its share of α (the weighted split).
			cfg := mustNew(t, Config{Alpha: alpha}).cfg
			for name, level := range map[string]float64{TestErrorRate: cfg.errorLevel(), TestLatency: cfg.latencyLevel()} {
				max := level + 3*math.Sqrt(level*(1-level)/healthyRuns)
				if r := float64(failed[name]) / healthyRuns; r > max {
					t.Errorf("%s failed %.4f of the runs, want at most %.4f (its level %v)", name, r, max, level)
				}
			}
		})
	}
}

// powerRuns is the number of simulated rollouts per known effect.
const powerRuns = 500

// TestPower checks that known regressions are found, and how fast: at 10%
// canary weight and 100 req/s, observed every second, the canary is rolled
// back in at least 95% of the runs before it has served the stated number
// of requests. The mean number of canary requests served before the
// rollback is reported next to Wald's bound for a test that knows stable's
// rate (SPRTBound with α = 0.01, β = 0.05) and must stay within the stated
// multiple of it.
//
// The sequential tests cannot reach that bound: not knowing stable's rate,
// they must learn it from stable's requests, and the evidence of one
// canary error is at most ln(1/w) = ln 10 at 10% weight, so that at the
// error test's level 0.0075 (its share of α = 0.01) three canary errors
// are needed where the bound's test needs two. Observing once a second also costs about half a second (five canary
// requests) on average. See docs/analysis-statistics.md.
func TestPower(t *testing.T) {
	cdf := simTrack{}.cdf()
	slowShare := func(factor float64) float64 {
		// Share of requests slower than 0.25 s, the threshold the latency
		// test derives from stable (bucket bound nearest stable's p90).
		c := simTrack{latencyFactor: factor}.cdf()
		return 1 - c[5]
	}
	if simBounds[5] != 0.25 || math.Abs(cdf[5]-0.9666) > 1e-3 {
		t.Fatalf("simulated stable latency: P(≤ %v s) = %v, want 0.25 s and 0.9666", simBounds[5], cdf[5])
	}
	tests := []struct {
		name   string
		canary simTrack
		p0, p1 float64 // the event rates of stable and canary, for SPRTBound
		test   string  // the test that should fire
		within float64 // canary requests by which 95% of the runs have failed
		ratio  float64 // largest mean / SPRTBound allowed
	}{
		{"errors 2%", simTrack{errorRate: 0.02}, 0.005, 0.02, TestErrorRate, 2000, 2.5},
		{"errors 5%", simTrack{errorRate: 0.05}, 0.005, 0.05, TestErrorRate, 400, 2.5},
		{"errors 20%", simTrack{errorRate: 0.2}, 0.005, 0.2, TestErrorRate, 70, 4},
		{"latency +20%", simTrack{errorRate: 0.005, latencyFactor: 1.2}, slowShare(1), slowShare(1.2), TestLatency, 1400, 3},
		{"latency +50%", simTrack{errorRate: 0.005, latencyFactor: 1.5}, slowShare(1), slowShare(1.5), TestLatency, 250, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim := simulation{rps: 100, steps: []simStep{{0.1, 1800}}, stable: simTrack{errorRate: 0.005}, canary: tt.canary}
			var requests, bad []float64
			byTest := 0
			for seed := range uint64(powerRuns) {
				out := sim.run(Config{}, seed)
				if !out.failed {
					requests = append(requests, math.Inf(1))
					continue
				}
				requests = append(requests, out.canaryRequests)
				bad = append(bad, out.canaryErrors)
				if test(t, out.verdict, tt.test).Status == StatusFail {
					byTest++
				}
			}
			slices.Sort(requests)
			p95 := requests[int(math.Ceil(0.95*powerRuns))-1]
			mean, meanBad := 0.0, 0.0
			for _, r := range requests {
				mean += r / powerRuns
			}
			for _, b := range bad {
				meanBad += b / float64(len(bad))
			}
			bound := SPRTBound(tt.p0, tt.p1, DefaultAlpha, 0.05)
			t.Logf("%s (rate %.4f → %.4f): rolled back in %d of %d runs (%d by %s); canary requests before the rollback: mean %.1f, 95th percentile %.0f, median %.0f; canary errors served: mean %.2f; SPRT bound %.1f, mean/bound %.2f",
				tt.name, tt.p0, tt.p1, len(bad), powerRuns, byTest, tt.test, mean, p95, requests[powerRuns/2], meanBad, bound, mean/bound)
			if p95 > tt.within {
				t.Errorf("95%% of the runs rolled back by %v canary requests, want by %v", p95, tt.within)
			}
			if byTest < powerRuns*95/100 {
				t.Errorf("%s failed in %d of %d runs, want at least 95%%", tt.test, byTest, powerRuns)
			}
			if mean/bound > tt.ratio {
				t.Errorf("mean canary requests %.1f = %.2f × SPRTBound %.1f, want at most %v×", mean, mean/bound, bound, tt.ratio)
			}
		})
	}
}

// z95 is the standard normal 95th percentile: the lognormal's p95 is
// its median times exp(σ·z95).
const z95 = 1.6448536269514722

// p95Factor returns the latency factor at which the simulated p95 is
// exactly p95 seconds: 5% of the requests are slower.
func p95Factor(p95 float64) float64 {
	return p95 / (simMedian * math.Exp(simSigma*z95))
}

// TestSLOGuardFalseRollbacks checks the type-I error of the guards under
// continuous monitoring, in the setting in which the threshold guards
// they replaced were measured (docs/analysis-statistics.md): a canary
// within its limits, checked every second for ten minutes at 10 req/s
// while its weight steps 10% → 50% → 100% (about 3,200 canary requests),
// is rolled back by the two guards together in at most GuardAlpha of the
// runs, and by each in at most GuardAlpha/2, up to the simulation's
// sampling error (α + 3·√(α(1-α)/n), as in TestFalseRollbackRate). A run
// ends at its first rollback, so that a guard is not watched further once
// the other has failed; it rarely matters at these rates.
//
// The healthy canary fails 0.5% of its requests and its p95 is 228 ms
// (245 ms as histogram_quantile interpolates it in the default buckets).
// The threshold guards rolled it back in 36% of the runs against an
// error-rate limit of 1% with MinRequests 100, and in 8% against a p95
// limit of 300 ms. The hardest canaries for the guards are those exactly
// at their limits, where Ville's inequality is nearly tight under
// continuous monitoring: 1% errors against 1%, and a p95 of exactly
// 250 ms (5% of the requests slower than that bucket bound) against
// 250 ms.
func TestSLOGuardFalseRollbacks(t *testing.T) {
	steps := []simStep{{0.1, 200}, {0.5, 200}, {1, 200}}
	if got := 1 - (simTrack{latencyFactor: p95Factor(0.25)}).cdf()[5]; math.Abs(got-0.05) > 1e-12 {
		t.Fatalf("canary at the p95 limit: P(> 0.25 s) = %v, want 0.05", got)
	}
	tests := []struct {
		name   string
		cfg    Config
		canary simTrack
		runs   int
	}{
		{"healthy, limits 1% and 300 ms", Config{MaxErrorRate: 0.01, MaxLatencyP95: 300 * time.Millisecond},
			simTrack{errorRate: 0.005}, healthyRuns},
		{"at the limits 1% and 250 ms", Config{MaxErrorRate: 0.01, MaxLatencyP95: 250 * time.Millisecond},
			simTrack{errorRate: 0.01, latencyFactor: p95Factor(0.25)}, healthyRuns},
	}
	allowed := func(alpha float64, runs int) float64 { return alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(runs)) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Stable behaves as the canary does, so that the comparisons
			// with stable find nothing and only the guards judge.
			sim := simulation{rps: 10, steps: steps, stable: tt.canary, canary: tt.canary}
			byGuard := map[string]int{}
			failed := 0
			for seed := range uint64(tt.runs) {
				out := sim.run(tt.cfg, seed)
				if !out.failed {
					continue
				}
				guard := false
				for _, name := range []string{TestSLOErrorRate, TestSLOLatency} {
					if test(t, out.verdict, name).Status == StatusFail {
						byGuard[name]++
						guard = true
					}
				}
				if guard {
					failed++
				}
			}
			alpha := DefaultAlpha // GuardAlpha
			rate := float64(failed) / float64(tt.runs)
			t.Logf("%s: rolled back by a guard in %d of %d runs (%.4f; GuardAlpha = %v, allowed %.4f), by guard: %v",
				tt.name, failed, tt.runs, rate, alpha, allowed(alpha, tt.runs), byGuard)
			if rate > allowed(alpha, tt.runs) {
				t.Errorf("the guards rolled back %.4f of the canaries within the limits, want at most %.4f", rate, allowed(alpha, tt.runs))
			}
			for name, n := range byGuard {
				if r, max := float64(n)/float64(tt.runs), allowed(alpha/2, tt.runs); r > max {
					t.Errorf("%s rolled back %.4f of the canaries within its limit, want at most %.4f", name, r, max)
				}
			}
		})
	}
}

// TestFalseRollbackRateWithSLOs checks the whole analysis as the rollout
// controller configures it for a policy with SLOs (rollout's
// analysisConfig: α/2 to the comparisons with stable, α/2 to the guards):
// a canary as good as stable and exactly at both limits, the hardest case
// for the guards, is rolled back by any of the four tests in at most α of
// 2,000 runs, up to the sampling error, as the union bound of the two
// budgets promises.
func TestFalseRollbackRateWithSLOs(t *testing.T) {
	steps := []simStep{{0.1, 200}, {0.5, 200}, {1, 200}}
	alpha := DefaultAlpha
	cfg := Config{Alpha: alpha / 2, GuardAlpha: alpha / 2, MaxErrorRate: 0.01, MaxLatencyP95: 250 * time.Millisecond}
	atLimits := simTrack{errorRate: 0.01, latencyFactor: p95Factor(0.25)}
	for _, rps := range []float64{10, 100} {
		t.Run(fmt.Sprintf("%g req/s", rps), func(t *testing.T) {
			t.Parallel()
			sim := simulation{rps: rps, steps: steps, stable: atLimits, canary: atLimits}
			failed, byTest := 0, map[string]int{}
			for seed := range uint64(healthyRuns) {
				out := sim.run(cfg, seed)
				if !out.failed {
					continue
				}
				failed++
				for _, r := range out.verdict.Tests {
					if r.Status == StatusFail {
						byTest[r.Name]++
					}
				}
			}
			rate := float64(failed) / healthyRuns
			allowed := alpha + 3*math.Sqrt(alpha*(1-alpha)/healthyRuns)
			t.Logf("rolled back in %d of %d runs (%.4f; α = %v, allowed %.4f), by test: %v", failed, healthyRuns, rate, alpha, allowed, byTest)
			if rate > allowed {
				t.Errorf("false rollback rate = %.4f, want at most %.4f", rate, allowed)
			}
		})
	}
}

// TestSLOGuardPower checks that canaries well beyond a limit are rolled
// back by the guard, and how fast: at 10% canary weight and 100 req/s,
// observed every second, in at least 95% of the runs before the canary has
// served the stated number of requests. Stable behaves as the canary does
// (a regression of both tracks, such as a failing dependency, which the
// guards are there to catch), so that only the guards can fire. The mean
// number of canary requests before the rollback is reported next to
// Wald's bound for a test of the limit p0 against the canary's rate p1 at
// GuardAlpha/2 (SPRTBound with α = 0.005, β = 0.05), which, unlike the
// comparisons with stable, knows p0 as the guard does; it must stay within
// the stated multiple. MinRequests (100) is a floor.
func TestSLOGuardPower(t *testing.T) {
	slowShare := func(factor, bound float64) float64 {
		i, _ := boundIndex(simBounds, bound)
		return 1 - simTrack{latencyFactor: factor}.cdf()[i]
	}
	tests := []struct {
		name   string
		cfg    Config
		canary simTrack
		test   string
		p0, p1 float64 // the limit and the canary's rate, for SPRTBound
		within float64 // canary requests by which 95% of the runs have failed
		ratio  float64 // largest mean / SPRTBound allowed
	}{
		{"errors 3% against 1%", Config{MaxErrorRate: 0.01}, simTrack{errorRate: 0.03}, TestSLOErrorRate,
			0.01, 0.03, 1500, 2.5},
		{"errors 5% against 1%", Config{MaxErrorRate: 0.01}, simTrack{errorRate: 0.05}, TestSLOErrorRate,
			0.01, 0.05, 500, 2.5},
		// p95 341 ms against 250 ms: 15.3% of the requests slower.
		{"p95 ×1.5 against 250 ms", Config{MaxLatencyP95: 250 * time.Millisecond}, simTrack{latencyFactor: 1.5}, TestSLOLatency,
			p95Tail, slowShare(1.5, 0.25), 250, 2.5},
		// p95 569 ms against 300 ms, which the guard rounds up to the
		// bucket bound 0.5 s: only 8.3% of the requests are slower than
		// that, and the canary, almost twice the limit, takes longer to
		// catch than the one above.
		{"p95 ×2.5 against 300 ms", Config{MaxLatencyP95: 300 * time.Millisecond}, simTrack{latencyFactor: 2.5}, TestSLOLatency,
			p95Tail, slowShare(2.5, 0.5), 2000, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim := simulation{rps: 100, steps: []simStep{{0.1, 1800}}, stable: tt.canary, canary: tt.canary}
			var requests []float64
			byTest := 0
			for seed := range uint64(powerRuns) {
				out := sim.run(tt.cfg, seed)
				if !out.failed {
					requests = append(requests, math.Inf(1))
					continue
				}
				requests = append(requests, out.canaryRequests)
				if test(t, out.verdict, tt.test).Status == StatusFail {
					byTest++
				}
			}
			slices.Sort(requests)
			p95 := requests[int(math.Ceil(0.95*powerRuns))-1]
			mean := 0.0
			for _, r := range requests {
				mean += r / powerRuns
			}
			bound := SPRTBound(tt.p0, tt.p1, DefaultAlpha/2, 0.05)
			t.Logf("%s (rate %.4f against %.4f): rolled back by %s in %d of %d runs; canary requests before the rollback: mean %.1f, 95th percentile %.0f, median %.0f; SPRT bound %.1f, mean/bound %.2f",
				tt.name, tt.p1, tt.p0, tt.test, byTest, powerRuns, mean, p95, requests[powerRuns/2], bound, mean/bound)
			if p95 > tt.within {
				t.Errorf("95%% of the runs rolled back by %v canary requests, want by %v", p95, tt.within)
			}
			if byTest < powerRuns*95/100 {
				t.Errorf("%s failed in %d of %d runs, want at least 95%%", tt.test, byTest, powerRuns)
			}
			if mean/bound > tt.ratio {
				t.Errorf("mean canary requests %.1f = %.2f × SPRTBound %.1f, want at most %v×", mean, mean/bound, bound, tt.ratio)
			}
		})
	}
}

// TestSamplers checks the simulations' random variates against the means
// and variances of their distributions, within four standard errors.
func TestSamplers(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name       string
		draw       func(r *rand.Rand) float64
		mean, vari float64
	}{
		{"Binomial(90, 0.3)", func(r *rand.Rand) float64 { return binomial(r, 90, 0.3) }, 27, 18.9},
		{"Binomial(100, 0.005)", func(r *rand.Rand) float64 { return binomial(r, 100, 0.005) }, 0.5, 0.4975},
		{"Binomial(20, 0.9)", func(r *rand.Rand) float64 { return binomial(r, 20, 0.9) }, 18, 1.8},
		{"Binomial(1200, 0.5)", func(r *rand.Rand) float64 { return binomial(r, 1200, 0.5) }, 600, 300},
		{"Poisson(50)", func(r *rand.Rand) float64 { return poisson(r, 50, math.Exp(-50)) }, 50, 50},
		{"Poisson(0.1)", func(r *rand.Rand) float64 { return poisson(r, 0.1, math.Exp(-0.1)) }, 0.1, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			sum, sq := 0.0, 0.0
			for range n {
				x := tt.draw(r)
				sum += x
				sq += x * x
			}
			mean := sum / n
			vari := sq/n - mean*mean
			if se := math.Sqrt(tt.vari / n); math.Abs(mean-tt.mean) > 4*se {
				t.Errorf("mean = %v, want %v ± %v", mean, tt.mean, 4*se)
			}
			// At n = 100,000 the sample variance of these variates is
			// within 2% of the variance; allow 10%.
			if math.Abs(vari-tt.vari) > 0.1*tt.vari {
				t.Errorf("variance = %v, want %v ± 10%%", vari, tt.vari)
			}
		})
	}
}
