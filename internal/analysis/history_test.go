package analysis

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestUpperRateBoundKnownValues checks the bound against values worked
// out by hand: with no events it is 1 − δ^(1/n); otherwise n·KL(x/n ‖ q)
// equals ln(1/δ) at the bound and the bound is above x/n; and it is the
// value a direct root-finder on the written-out divergence gives.
func TestUpperRateBoundKnownValues(t *testing.T) {
	if got, want := UpperRateBound(0, 1000, 0.05), 1-math.Pow(0.05, 1.0/1000); math.Abs(got-want) > 1e-12 {
		t.Errorf("no events in 1000: %v, want 1 − 0.05^(1/1000) = %v", got, want)
	}
	// 5 errors in 1000 requests at δ = 0.05: the q with
	// 1000·(0.005 ln(0.005/q) + 0.995 ln(0.995/(1−q))) = ln 20.
	kl := func(p, q float64) float64 { return p*math.Log(p/q) + (1-p)*math.Log((1-p)/(1-q)) }
	for _, c := range []struct{ x, n, delta float64 }{{5, 1000, 0.05}, {500, 100000, 0.0003}, {90, 1000, 0.001}} {
		q := UpperRateBound(c.x, c.n, c.delta)
		if !(q > c.x/c.n) {
			t.Fatalf("%v: bound %v not above the rate %v", c, q, c.x/c.n)
		}
		if got, want := c.n*kl(c.x/c.n, q), math.Log(1/c.delta); math.Abs(got-want) > 1e-9*want {
			t.Errorf("%v: n·KL at the bound %v, want ln(1/δ) = %v", c, got, want)
		}
	}
	// 5 in 1000 at 5%: 0.0125801047588 (the divergence above solved by
	// bisection in a separate program, Python's floats).
	if got := UpperRateBound(5, 1000, 0.05); math.Abs(got-0.0125801047588) > 1e-11 {
		t.Errorf("5 in 1000 at 5%%: %v, want 0.0125801047588", got)
	}
	if got := UpperRateBound(10, 10, 0.05); got != 1 {
		t.Errorf("all events: %v, want 1", got)
	}
	for _, c := range []struct{ x, n, delta float64 }{{1, 0, 0.05}, {-1, 10, 0.05}, {11, 10, 0.05}, {1, 10, 0}, {1, 10, 1}, {math.NaN(), 10, 0.05}, {1, math.Inf(1), 0.05}} {
		if got := UpperRateBound(c.x, c.n, c.delta); !math.IsNaN(got) {
			t.Errorf("%v: %v, want NaN", c, got)
		}
	}
}

// TestUpperRateBoundCoverage checks by simulation that the true rate is
// above the bound in at most δ of samples (plus a tolerance of three
// binomial standard errors over 20,000 seeded samples).
func TestUpperRateBoundCoverage(t *testing.T) {
	const runs, delta = 20000, 0.05
	for _, c := range []struct {
		p float64
		n int
	}{{0.005, 2000}, {0.1, 300}} {
		r := rand.New(rand.NewPCG(1, uint64(c.n)))
		miss := 0
		for range runs {
			x := 0
			for range c.n {
				if r.Float64() < c.p {
					x++
				}
			}
			if c.p > UpperRateBound(float64(x), float64(c.n), delta) {
				miss++
			}
		}
		if tol := 3 * math.Sqrt(delta*(1-delta)/runs); float64(miss)/runs > delta+tol {
			t.Errorf("p=%v n=%d: the bound missed %d of %d (%.4f), more than δ = %v + %.4f", c.p, c.n, miss, runs, float64(miss)/runs, delta, tol)
		}
	}
}

// history returns a History of n requests with the given errors whose
// latency histogram has 90% of its requests at most 0.1 s.
func history(n, errs float64) *History {
	c := track(n, errs)
	return &History{Requests: c.Requests, Errors: c.Errors, Latency: c.Latency}
}

// TestHistoryLevels checks the split of α with a history: each comparison
// keeps 1 − HistoryShare of its level, each history test the rest.
func TestHistoryLevels(t *testing.T) {
	a, err := New(Config{Alpha: 0.01, History: history(100000, 500)})
	if err != nil {
		t.Fatal(err)
	}
	v := a.Observe(Observation{At: at(1), Stable: track(10, 0), Canary: track(10, 0)})
	want := map[string]float64{
		TestErrorRate:        1 / (0.01 * 0.75 * 0.25),
		TestLatency:          1 / (0.01 * 0.25 * 0.25),
		TestHistoryErrorRate: 1 / (0.01 * 0.75 * 0.75 * (1 - historyBoundShare)),
		TestHistoryLatency:   1 / (0.01 * 0.25 * 0.75 * (1 - historyBoundShare)),
	}
	if len(v.Tests) != 6 {
		t.Fatalf("%d tests, want 6: %+v", len(v.Tests), v.Tests)
	}
	for _, r := range v.Tests {
		if w, ok := want[r.Name]; ok && math.Abs(r.Threshold-w) > 1e-9*w {
			t.Errorf("%s: threshold %v, want %v", r.Name, r.Threshold, w)
		}
	}
	if v.Tests[4].Name != TestHistoryErrorRate || v.Tests[5].Name != TestHistoryLatency {
		t.Errorf("the history tests are not last: %s, %s", v.Tests[4].Name, v.Tests[5].Name)
	}
	if v.Tests[5].LatencyThreshold != 0.1 {
		t.Errorf("history latency threshold %v, want 0.1 (the bound nearest stable's past p90)", v.Tests[5].LatencyThreshold)
	}
	// Without a history, four tests at the whole levels.
	b, err := New(Config{Alpha: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	v = b.Observe(Observation{At: at(1), Stable: track(10, 0), Canary: track(10, 0)})
	if len(v.Tests) != 4 || math.Abs(v.Tests[0].Threshold-1/(0.01*0.75)) > 1e-9 {
		t.Errorf("without a history: %d tests, error threshold %v", len(v.Tests), v.Tests[0].Threshold)
	}
}

// TestHistoryConfigRefused checks that a bad history or share is refused,
// naming the field.
func TestHistoryConfigRefused(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{HistoryShare: 0.5}, "historyShare: 0.5 without a history"},
		{Config{History: history(1000, 5), HistoryShare: 1}, "historyShare: 1 is not in (0, 1)"},
		{Config{History: &History{Requests: math.NaN()}}, "history.requests: NaN is not a finite number"},
		{Config{History: &History{Requests: 10, Errors: 11}}, "history.errors: 11 exceeds history.requests 10"},
		{Config{History: &History{Requests: 10, Latency: Histogram{Bounds: []float64{0.1, 0.2}, Counts: []float64{5, 4}, Count: 10}}}, "history.latency.counts[1]: 4 is below"},
	} {
		_, err := New(c.cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an invalid config naming %q", c.cfg, err, c.want)
		}
	}
}

// TestHistorySkipped checks that a history too short, or without a
// histogram, skips its tests and says why, and never fails them.
func TestHistorySkipped(t *testing.T) {
	a, err := New(Config{History: &History{Requests: 50, Errors: 1}})
	if err != nil {
		t.Fatal(err)
	}
	b := a.Baseline()
	b.Inline()
	for range 100 {
		if b.Canary(true, 5) {
			t.Fatal("a skipped history test failed")
		}
	}
	v := a.Observe(Observation{At: at(1), Stable: track(10, 0), Canary: track(10, 0)})
	for _, r := range v.Tests[4:] {
		if r.Status != StatusSkipped || !strings.Contains(r.Detail, "history has") {
			t.Errorf("%s: %s %q, want skipped naming the history", r.Name, r.Status, r.Detail)
		}
	}
	if !strings.Contains(v.Tests[5].Detail, "no latency histogram") {
		t.Errorf("latency: %q, want no latency histogram", v.Tests[5].Detail)
	}
	for _, r := range v.Tests {
		if r.PastRate != 0 || r.PastBound != 0 {
			t.Errorf("%s: past rate %v, bound %v; want none", r.Name, r.PastRate, r.PastBound)
		}
	}
}

// TestHistoryFailsAtItsLevel checks, request by request, that the error
// test fails exactly when the guards' mixture against the bound reaches
// its level, and takes the canary's traffic away from then on.
func TestHistoryFailsAtItsLevel(t *testing.T) {
	h := history(100000, 500)
	a, err := New(Config{Alpha: 0.01, History: h})
	if err != nil {
		t.Fatal(err)
	}
	b := a.Baseline()
	b.Inline()
	bound := UpperRateBound(500, 100000, 0.01*0.75*0.75*historyBoundShare)
	ref := newLimitTest(bound, errorRatios)
	logLevel := -math.Log(0.01 * 0.75 * 0.75 * (1 - historyBoundShare))
	r := rand.New(rand.NewPCG(7, 7))
	x := 0.0
	for n := 1.0; n < 10000; n++ {
		failed := r.Float64() < 0.05
		if failed {
			x++
		}
		got := b.Canary(failed, 0.05)
		ref.observe(x, n)
		if want := ref.logMaxE >= logLevel; got != want {
			t.Fatalf("request %g (%g errors): tripped %v, want %v (ln e %v, level %v)", n, x, got, want, ref.logE, logLevel)
		}
		if got {
			if !failed {
				t.Fatalf("tripped at request %g, which was no error", n)
			}
			v := a.Observe(Observation{At: at(1), Stable: track(100, 0), Canary: track(n, x)})
			if v.Decision != Fail || !strings.Contains(v.Reason, TestHistoryErrorRate) {
				t.Fatalf("verdict after the trip: %s %q, want fail naming %s", v.Decision, v.Reason, TestHistoryErrorRate)
			}
			// The verdict carries the past rate and the bound it tested.
			if got := v.Tests[4]; got.Name != TestHistoryErrorRate || got.PastRate != 0.005 || got.PastBound != bound {
				t.Errorf("%s: past rate %v, bound %v; want 0.005 and %v", got.Name, got.PastRate, got.PastBound, bound)
			}
			if n > 2*SPRTBound(0.005, 0.05, 0.01, 0.05) {
				t.Errorf("a 5%% error canary against 0.5%% in the past took %g requests", n)
			}
			return
		}
	}
	t.Fatal("a 5% error canary against 0.5% in the past never failed")
}

// TestHistoryDriftHolds checks that a canary as bad as stable now, both
// above stable's past, is held and not failed, and that the same canary
// beside a stable at its past rate fails.
func TestHistoryDriftHolds(t *testing.T) {
	run := func(stableRate float64) (*Analyzer, bool) {
		a, err := New(Config{Alpha: 0.01, History: history(100000, 500)})
		if err != nil {
			t.Fatal(err)
		}
		b := a.Baseline()
		b.Inline()
		r := rand.New(rand.NewPCG(3, 3))
		tripped := false
		for range 4000 {
			b.Stable(r.Float64() < stableRate, 0.05)
			tripped = b.Canary(r.Float64() < 0.03, 0.05) || tripped
		}
		return a, tripped
	}
	a, tripped := run(0.03)
	if tripped {
		t.Error("a canary at stable's drifted 3% was rolled back against the past 0.5%")
	}
	v := a.Observe(Observation{At: at(1), Stable: track(4000, 120), Canary: track(4000, 120)})
	if r := v.Tests[4]; r.Status != StatusOK || !strings.Contains(r.Detail, "held") {
		t.Errorf("drift: %s %q, want ok, held", r.Status, r.Detail)
	}
	if _, tripped := run(0.005); !tripped {
		t.Error("a 3% canary beside a stable at its past 0.5% was not rolled back")
	}
}

// TestHistoryFalseRollbackRate checks the type-I error by simulation: a
// healthy canary (errors and slow requests at stable's rate) judged after
// every request against a history drawn at the same rate, over 2,000
// seeded runs of 3,000 canary requests, fails at most the history tests'
// level (0.75 of α = 0.01, bound included) plus three standard errors.
func TestHistoryFalseRollbackRate(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	const runs, p0, slow0 = 2000, 0.005, 0.1
	failed := 0
	for run := range runs {
		r := rand.New(rand.NewPCG(uint64(run), 0x6869)) // "hi"
		n := 20000.0
		errs := math.Round(n*p0 + r.NormFloat64()*math.Sqrt(n*p0*(1-p0)))
		fast := math.Round(n*(1-slow0) + r.NormFloat64()*math.Sqrt(n*slow0*(1-slow0)))
		h := &History{Requests: n, Errors: errs, Latency: hist(n, fast, n, n, n)}
		a, err := New(Config{Alpha: 0.01, History: h})
		if err != nil {
			t.Fatal(err)
		}
		b := a.Baseline()
		b.Inline()
		for range 3000 {
			lat := 0.05
			if r.Float64() < slow0 {
				lat = 0.2
			}
			if b.Canary(r.Float64() < p0, lat) {
				failed++
				break
			}
		}
	}
	level := 0.01 * 0.75
	if tol := 3 * math.Sqrt(level*(1-level)/runs); float64(failed)/runs > level+tol {
		t.Errorf("%d of %d healthy canaries failed (%.4f), above the level %v + %.4f", failed, runs, float64(failed)/runs, level, tol)
	}
	t.Logf("%d of %d healthy canaries failed", failed, runs)
}

// TestHistoryInlineCountsOnce checks that Inline takes the observations'
// counts as its start, that requests told to Canary and Stable count on
// top of them, and that later observations change nothing; and that
// before Inline, Canary counts nothing.
func TestHistoryInlineCountsOnce(t *testing.T) {
	a, err := New(Config{History: history(100000, 500)})
	if err != nil {
		t.Fatal(err)
	}
	b := a.Baseline()
	b.Canary(true, 1) // before Inline: not counted
	a.Observe(Observation{At: at(1), Stable: track(100, 1), Canary: track(20, 1)})
	b.Inline()
	b.Canary(true, 0.05)
	b.Canary(false, 0.05)
	b.Stable(false, 0.05)
	v := a.Observe(Observation{At: at(2), Stable: track(200, 2), Canary: track(40, 2)})
	r := v.Tests[4]
	if r.CanaryEvents != 2 || r.CanaryRequests != 22 || r.StableEvents != 1 || r.StableRequests != 101 {
		t.Errorf("counts %g/%g canary, %g/%g stable; want 2/22 and 1/101", r.CanaryEvents, r.CanaryRequests, r.StableEvents, r.StableRequests)
	}
}

// TestHistoryState checks that a snapshot carries the history tests over,
// a failure included, that a snapshot contradicting itself is refused,
// and that an analyzer without a history keeps its fingerprint's form.
func TestHistoryState(t *testing.T) {
	cfg := Config{Alpha: 0.01, History: history(100000, 500)}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := a.Baseline()
	b.Inline()
	for i := range 50 {
		b.Stable(i == 10, 0.05) // a drift statistic above 0 to carry over
	}
	for i := 0; !b.Canary(i%3 == 0, 0.05); i++ {
		if i > 1000 {
			t.Fatal("no trip")
		}
	}
	raw, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	// The restored analyzer is built with any history: the snapshot's
	// replaces it.
	c, err := New(Config{Alpha: 0.01, History: &History{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restore(raw); err != nil {
		t.Fatal(err)
	}
	if !c.Baseline().Failed() {
		t.Error("the restored history test forgot its failure")
	}
	if got, want := c.Baseline().errors.drift, a.Baseline().errors.drift; !slices.Equal(got.w, want.w) || got.pending != want.pending {
		t.Errorf("restored drift statistic %v (%v pending), want %v (%v)", got.w, got.pending, want.w, want.pending)
	}
	v := c.Observe(Observation{At: at(1), Stable: track(10, 0), Canary: track(10, 0)})
	if v.Decision != Fail || v.Tests[4].CanaryRequests != a.Baseline().results()[0].CanaryRequests {
		t.Errorf("restored: %s, canary requests %g", v.Decision, v.Tests[4].CanaryRequests)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	h := s["history"].(map[string]any)["error_rate"].(map[string]any)
	h["log_max_e"] = 1.0
	bad, _ := json.Marshal(s)
	d, _ := New(Config{Alpha: 0.01, History: &History{}})
	if err := d.Restore(bad); !errors.Is(err, ErrInvalidState) {
		t.Errorf("a failure below its level restored: %v", err)
	}
	// Without a history, the snapshot names none: its fingerprint is that
	// of the analyzers before the history tests.
	e, _ := New(Config{Alpha: 0.01})
	raw, err = e.State()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "history") {
		t.Errorf("a snapshot without a history mentions one: %s", raw)
	}
	if _, err := New(Config{Alpha: 0.01, History: &History{}}); err != nil {
		t.Fatal(err)
	}
	f, _ := New(Config{Alpha: 0.01})
	if err := f.Restore(mustState(t, a)); !errors.Is(err, ErrIncompatibleState) {
		t.Errorf("a snapshot with a history restored into an analyzer without: %v", err)
	}
}

// TestCUSUMKnownValues checks the drift hold's statistic against Page's
// recursion written out per request, W = max(0, W + x ln ρ − ln(1 + L(ρ−1))),
// over a sequence with runs of requests without events; and that counts
// that come together are one step of their net evidence, so that a
// window of requests at the limit's rate leaves the statistic at 0
// however many events it holds.
func TestCUSUMKnownValues(t *testing.T) {
	const limit = 0.01
	lt := newLimitTest(limit, errorRatios)
	c := newCUSUM(lt)
	ref := make([]float64, len(errorRatios))
	seq := []bool{true, false, false, true, true}
	for range 300 {
		seq = append(seq, false)
	}
	seq = append(seq, true)
	for i, ev := range seq {
		x := 0.0
		if ev {
			x = 1
		}
		c.add(x, 1)
		want := 0.0
		for k, r := range errorRatios {
			ref[k] = max(0, ref[k]+x*math.Log(r)-math.Log1p(limit*(r-1)))
			want = max(want, ref[k])
		}
		if got := c.value(); math.Abs(got-want) > 1e-12 {
			t.Fatalf("request %d: CUSUM %v, want %v", i, got, want)
		}
	}
	// 900 events among 90,000 requests, the limit's rate: every ratio's
	// net evidence is negative.
	d := newCUSUM(lt)
	d.add(900, 90000)
	if v := d.value(); v != 0 {
		t.Errorf("a window at the limit's rate: CUSUM %v, want 0", v)
	}
	// Twice the rate: ρ = 2's net evidence, 1800 ln 2 − 90000 ln 1.01.
	d.add(1800, 90000)
	if got, want := d.value(), 1800*math.Log(2)-90000*math.Log1p(limit); got < want-1e-9 {
		t.Errorf("a window at twice the limit's rate: CUSUM %v, want at least %v", got, want)
	}
}

// TestHistoryDriftAtFiftyPercent measures the drift hold where it is
// weakest: at 50% weight, both tracks' errors doubling (0.5% → 1%). A rise
// after 30,000 requests at the past rate, and one under way before the
// rollout that History.Recent shows, are held (at most 2 of 200 rolled
// back); one that starts with the rollout and that Recent does not show
// is seen by stable no sooner than by the canary, and rolls back more:
// logged, and required to be above the others so that the test tells the
// cases apart.
func TestHistoryDriftAtFiftyPercent(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	const runs = 200
	past := func() *History { return &History{Requests: 60.48e6, Errors: 0.005 * 60.48e6} }
	rolledBack := func(h func() *History, before int) int {
		n := 0
		for run := range runs {
			a, err := New(Config{Alpha: 0.01, History: h()})
			if err != nil {
				t.Fatal(err)
			}
			b := a.Baseline()
			b.Inline()
			r := rand.New(rand.NewPCG(uint64(run), 9))
			for i := range 200000 {
				p := 0.005
				if i >= before {
					p = 0.01
				}
				if i%2 == 1 {
					b.Stable(r.Float64() < p, 0.05)
				} else if b.Canary(r.Float64() < p, 0.05) {
					n++
					break
				}
			}
		}
		return n
	}
	later := rolledBack(past, 30000)
	recent := rolledBack(func() *History {
		h := past()
		h.Recent = &Counts{Requests: 90000, Errors: 900} // 15 minutes at 100 req/s, at 1%
		return h
	}, 0)
	atStart := rolledBack(past, 0)
	t.Logf("rolled back of %d: rise after 30,000 requests %d; under way, shown by Recent %d; starting with the rollout %d", runs, later, recent, atStart)
	if later > 2 || recent > 2 {
		t.Errorf("the drift hold let %d (later rise) and %d (rise shown by Recent) of %d healthy canaries be rolled back", later, recent, runs)
	}
	if atStart <= max(later, recent) {
		t.Errorf("a rise starting with the rollout rolled back %d, no more than the held cases (%d, %d): the test no longer tells them apart", atStart, later, recent)
	}
}

// TestHistoryRecentAtThePastRate checks that stable's recent minutes at
// its past rate hold nothing: a 5% error canary is stopped at the same
// request with them as without them.
func TestHistoryRecentAtThePastRate(t *testing.T) {
	trip := func(recent *Counts) int {
		h := history(100000, 500)
		h.Recent = recent
		a, err := New(Config{Alpha: 0.01, History: h})
		if err != nil {
			t.Fatal(err)
		}
		b := a.Baseline()
		b.Inline()
		r := rand.New(rand.NewPCG(5, 5))
		for n := 1; n < 100000; n++ {
			if b.Canary(r.Float64() < 0.05, 0.05) {
				return n
			}
		}
		return -1
	}
	without := trip(nil)
	recent := track(90000, 450) // 15 minutes at 100 req/s, at the past 0.5%
	if with := trip(&recent); with != without || without < 0 {
		t.Errorf("stopped at request %d with stable's recent minutes at its past rate, %d without", with, without)
	}
}
