package analysis

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// stateSim is a canary with 3% errors (stable 0.5%) and 10% slower
// requests, at 10% weight and 100 req/s: the tests gather evidence without
// failing at once, and the guards (8% errors, p95 500 ms) stay ok.
var (
	stateSim = simulation{rps: 100, steps: []simStep{{0.1, 400}},
		stable: simTrack{errorRate: 0.005}, canary: simTrack{errorRate: 0.015, latencyFactor: 1.1}}
	stateCfg = Config{MaxErrorRate: 0.08, MaxLatencyP95: 500 * time.Millisecond}
)

func observations(s simulation, seed uint64) []Observation {
	var out []Observation
	s.traffic(seed, func(_ int, o Observation) bool {
		out = append(out, o)
		return true
	})
	return out
}

func mustState(t *testing.T, a *Analyzer) []byte {
	t.Helper()
	raw, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestStateRoundTrip checks that an analyzer restored from a snapshot
// gives the verdicts the original gives on the same traffic: the original
// goes on with the cumulative counts, the restored one reads the counts
// since the snapshot (as a restarted controller does), and both have seen
// the same requests.
func TestStateRoundTrip(t *testing.T) {
	obs := observations(stateSim, 7)
	const k = 60 // the snapshot's observation
	a := mustNew(t, stateCfg)
	for _, o := range obs[:k+1] {
		a.Observe(o)
	}
	snap := mustState(t, a)
	b := mustNew(t, stateCfg)
	if err := b.Restore(snap); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if again := mustState(t, b); string(again) != string(snap) {
		t.Errorf("State after Restore differs from the snapshot:\n%s\n%s", again, snap)
	}
	fresh := mustNew(t, stateCfg)
	var last, lastFresh Verdict
	for i, o := range obs[k+1:] {
		want := a.Observe(o)
		got := b.Observe(since(o, obs[k]))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("observation %d after the snapshot: restored verdict\n%+v\nwant the original's\n%+v", i+1, got, want)
		}
		last, lastFresh = got, fresh.Observe(since(o, obs[k]))
		if want.Decision == Fail {
			break
		}
	}
	if last.Decision != Fail {
		t.Fatalf("the canary was not failed (%s); the comparison proves little", last.Reason)
	}
	// A fresh analyzer on the same readings has less evidence.
	if got, want := test(t, lastFresh, TestErrorRate).Statistic, test(t, last, TestErrorRate).Statistic; !(got < want) {
		t.Errorf("a fresh analyzer's error-rate e-value %v is not below the restored one's %v", got, want)
	}
	if got, want := test(t, lastFresh, TestSLOErrorRate).CanaryRequests, test(t, last, TestSLOErrorRate).CanaryRequests; !(got < want) {
		t.Errorf("a fresh analyzer's guard counts %v canary requests, not fewer than the restored one's %v", got, want)
	}
}

// TestStateKnownValues checks a snapshot's statistics against values
// computed by hand from the formulas of sequential.go.
func TestStateKnownValues(t *testing.T) {
	a := mustNew(t, Config{MaxErrorRate: 0.01, MinRequests: 1})
	at := time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC)
	// 10 canary requests with 2 errors, 90 stable requests without: one
	// interval with e = 2 events and canary share w = 0.1.
	a.Observe(Observation{At: at, Canary: Counts{Requests: 10, Errors: 2}, Stable: Counts{Requests: 90}})
	var s snapshot
	if err := json.Unmarshal(mustState(t, a), &s); err != nil {
		t.Fatal(err)
	}
	if s.Version != 2 || !strings.HasPrefix(s.Fingerprint, "sha256:") || len(s.Fingerprint) != 7+64 {
		t.Errorf("version %d, fingerprint %q; want 2 and a SHA-256", s.Version, s.Fingerprint)
	}
	for k, r := range errorRatios {
		want := 2*math.Log(r) - 2*math.Log(1+0.1*(r-1)) // ρ^x / (1 + w(ρ-1))^e
		if got := s.ErrorRate.LogLR[k]; math.Abs(got-want) > 1e-12 {
			t.Errorf("error_rate log_lr[%d] (ρ = %v) = %v, want %v", k, r, got, want)
		}
	}
	// ρ = 60: 2·ln 60 - 2·ln 6.9.
	if got, want := s.ErrorRate.LogLR[len(errorRatios)-1], 2*math.Log(60/6.9); math.Abs(got-want) > 1e-12 {
		t.Errorf("log_lr at ρ = 60 = %v, want %v", got, want)
	}
	// The guard: 2 errors among 10 requests against 1%.
	sum := 0.0
	for _, r := range guardRatios {
		sum += math.Pow(r, 2) / math.Pow(1+0.01*(r-1), 10) / float64(len(guardRatios))
	}
	if g := s.ErrorGuard; g == nil || math.Abs(g.LogE-math.Log(sum)) > 1e-12 || g.Events != 2 || g.Requests != 10 {
		t.Errorf("slo_error_rate = %+v, want log_e %v with 2 events among 10 requests", g, math.Log(sum))
	}
	if c := s.Counts; c.CanaryErrors != 2 || c.CanaryRequests != 10 || c.StableRequests != 90 {
		t.Errorf("counts = %+v, want canary 2/10 and stable 0/90", c)
	}
	if s.Latency != nil || s.P95Guard != nil {
		t.Errorf("latency %+v, p95 guard %+v: want none", s.Latency, s.P95Guard)
	}
}

// TestRestoreRefuses checks that Restore refuses a snapshot it cannot
// trust, naming why, and leaves the analyzer new.
func TestRestoreRefuses(t *testing.T) {
	obs := observations(stateSim, 3)
	a := mustNew(t, stateCfg)
	for _, o := range obs[:30] {
		a.Observe(o)
	}
	snap := mustState(t, a)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(snap, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	sub := func(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
	tests := []struct {
		name  string
		cfg   Config
		state []byte
		want  error
		says  string
	}{
		{"another alpha", Config{Alpha: 0.05, MaxErrorRate: 0.08, MaxLatencyP95: 500 * time.Millisecond}, snap,
			ErrIncompatibleState, "alpha 0.01, want 0.05"},
		{"another SLO limit", Config{MaxErrorRate: 0.02, MaxLatencyP95: 500 * time.Millisecond}, snap,
			ErrIncompatibleState, "max_error_rate 0.08, want 0.02"},
		{"a guard less", Config{MaxErrorRate: 0.08}, snap, ErrIncompatibleState, "max_latency_p95 500ms, want 0s"},
		{"another quantile", Config{MaxErrorRate: 0.08, MaxLatencyP95: 500 * time.Millisecond, LatencyQuantile: 0.95}, snap,
			ErrIncompatibleState, "latency_quantile 0.9, want 0.95"},
		{"another error share", Config{ErrorAlphaShare: 0.5, MaxErrorRate: 0.08, MaxLatencyP95: 500 * time.Millisecond}, snap,
			ErrIncompatibleState, "error_alpha_share 0.75, want 0.5"},
		{"another version", stateCfg, edit(func(m map[string]any) { m["version"] = 1 }), ErrIncompatibleState, "version 1"},
		{"no version", stateCfg, edit(func(m map[string]any) { delete(m, "version") }), ErrInvalidState, "no version"},
		{"not JSON", stateCfg, []byte(`{"version":2,`), ErrInvalidState, "unexpected end"},
		{"an unknown field", stateCfg, edit(func(m map[string]any) { m["extra"] = 1 }), ErrInvalidState, "unknown field"},
		{"an edited config", stateCfg, edit(func(m map[string]any) { sub(m, "config")["alpha"] = 0.5 }), ErrInvalidState,
			"does not match the fingerprint"},
		{"an infinite value", stateCfg, []byte(strings.Replace(string(snap), `"log_max_e":`, `"log_max_e":1e999,"x":`, 1)),
			ErrInvalidState, "cannot unmarshal number 1e999"},
		{"NaN", stateCfg, []byte(strings.Replace(string(snap), `"log_max_e":`, `"log_max_e":NaN,"x":`, 1)),
			ErrInvalidState, "invalid character"},
		{"an edited e-value", stateCfg, edit(func(m map[string]any) { sub(m, "error_rate")["log_e"] = 0.5 }), ErrInvalidState,
			"its likelihood ratios give"},
		{"a maximum below the e-value", stateCfg, edit(func(m map[string]any) {
			e := sub(m, "error_rate")
			e["log_max_e"] = e["log_e"].(float64) - 1
		}), ErrInvalidState, "below 0 or the current one"},
		{"too few ratios", stateCfg, edit(func(m map[string]any) { sub(m, "error_rate")["log_lr"] = []float64{0} }),
			ErrInvalidState, "1 log likelihood ratios for 7 alternatives"},
		{"negative counts", stateCfg, edit(func(m map[string]any) { sub(m, "counts")["canary_requests"] = -1 }),
			ErrInvalidState, "negative"},
		{"more events than requests", stateCfg, edit(func(m map[string]any) { sub(m, "slo_error_rate")["events"] = 1e6 }),
			ErrInvalidState, "events among only"},
		{"a failed test that is not", stateCfg, edit(func(m map[string]any) { m["failed"] = []string{TestErrorRate} }),
			ErrInvalidState, "failed: the snapshot names [error_rate]"},
		{"a guard the configuration lacks", stateCfg, edit(func(m map[string]any) { delete(m, "slo_latency_p95") }),
			ErrInvalidState, "guards present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, tt.cfg)
			before := mustState(t, b)
			err := b.Restore(tt.state)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Restore = %v, want %v saying %q", err, tt.want, tt.says)
			}
			if after := mustState(t, b); string(after) != string(before) {
				t.Errorf("a refused Restore changed the analyzer:\n%s\n%s", after, before)
			}
		})
	}
	t.Run("into a used analyzer", func(t *testing.T) {
		if err := a.Restore(snap); !errors.Is(err, ErrInvalidState) {
			t.Errorf("Restore into an analyzer that observed = %v, want ErrInvalidState", err)
		}
	})
}

// TestRestartFalseRollbackRate checks that restarts do not inflate the
// false-rollback rate when the analysis is restored: healthy canaries, as
// in TestFalseRollbackRate and TestSLOGuardFalseRollbacks, whose analysis
// restarts five times in ten minutes, or twenty (two seconds down each
// time, a snapshot every five seconds), are rolled back in at most α of the runs
// up to the same sampling allowance, α + 3·√(α(1-α)/n). The same runs with
// a fresh analysis at every restart show the inflation a fresh start
// causes: each start is another chance of α; a server in a crash loop
// breaks the allowance. The figures are in docs/analysis-statistics.md.
func TestRestartFalseRollbackRate(t *testing.T) {
	steps := []simStep{{0.1, 200}, {0.5, 200}, {1, 200}}
	healthy := simTrack{errorRate: 0.005}
	atLimits := simTrack{errorRate: 0.01, latencyFactor: p95Factor(0.25)}
	tests := []struct {
		name     string
		sim      simulation
		cfg      Config
		restarts int
		// freshBreaks says that the fresh restarts must break the
		// allowance, not only exceed the rates without them.
		freshBreaks bool
	}{
		{"comparisons with stable, 100 req/s", simulation{rps: 100, steps: steps, stable: healthy, canary: healthy},
			Config{Alpha: DefaultAlpha}, 5, false},
		{"guards at their limits 1% and 250 ms, 10 req/s", simulation{rps: 10, steps: steps, stable: atLimits, canary: atLimits},
			Config{MaxErrorRate: 0.01, MaxLatencyP95: 250 * time.Millisecond}, 5, false},
		// A server in a crash loop, restarting every half minute.
		{"comparisons with stable, 100 req/s, 20 restarts", simulation{rps: 100, steps: steps, stable: healthy, canary: healthy},
			Config{Alpha: DefaultAlpha}, 20, true},
	}
	const runs = healthyRuns
	alpha := DefaultAlpha
	allowed := alpha + 3*math.Sqrt(alpha*(1-alpha)/runs)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rate := map[string]float64{}
			for _, mode := range []struct {
				name     string
				restarts *simRestarts
			}{
				{"never restarted", nil},
				{"restored", &simRestarts{count: tt.restarts, saveEvery: 5, down: 2}},
				{"fresh", &simRestarts{count: tt.restarts, saveEvery: 5, down: 2, fresh: true}},
			} {
				sim := tt.sim
				sim.restarts = mode.restarts
				failed := 0
				for seed := range uint64(runs) {
					if sim.run(tt.cfg, seed).failed {
						failed++
					}
				}
				rate[mode.name] = float64(failed) / runs
				t.Logf("%s, %s: false rollbacks in %d of %d runs = %.4f (α = %v, allowed %.4f)",
					tt.name, mode.name, failed, runs, rate[mode.name], alpha, allowed)
			}
			if r := rate["restored"]; r > allowed {
				t.Errorf("restored across restarts: false rollback rate %.4f, want at most %.4f", r, allowed)
			}
			if r := rate["fresh"]; !(r > rate["restored"]) || !(r > rate["never restarted"]) {
				t.Errorf("fresh restarts: false rollback rate %.4f, want above the restored %.4f and the unrestarted %.4f",
					r, rate["restored"], rate["never restarted"])
			}
			if r := rate["fresh"]; tt.freshBreaks && !(r > allowed) {
				t.Errorf("fresh restarts: false rollback rate %.4f, want above the allowance %.4f", r, allowed)
			}
		})
	}
}

// A resumed p95 guard whose canary histogram lacks its bound, or is gone,
// says so (an error) rather than freeze at its last counts and pass.
func TestRestoredP95GuardNeedsItsBound(t *testing.T) {
	obs := observations(stateSim, 5)
	a := mustNew(t, stateCfg)
	for _, o := range obs[:120] {
		a.Observe(o)
	}
	snap := mustState(t, a)
	slow := obs[200]
	for _, tt := range []struct {
		name string
		hist Histogram
		says string
	}{
		{"other buckets", Histogram{Bounds: []float64{0.1, 0.3, 0.7}, Counts: []float64{0, 0, 0}, Count: slow.Canary.Requests},
			"has no bound at 0.5s"},
		{"no histogram", Histogram{}, "has no latency histogram"},
	} {
		b := mustNew(t, stateCfg)
		if err := b.Restore(snap); err != nil {
			t.Fatal(err)
		}
		o := slow
		o.Canary.Latency = tt.hist
		if tt.hist.Bounds != nil {
			o.Stable.Latency = Histogram{Bounds: tt.hist.Bounds, Counts: []float64{0, 0, 0}, Count: o.Stable.Requests}
		}
		v := b.Observe(o)
		g := test(t, v, TestSLOLatency)
		if g.Status != StatusError || !strings.Contains(g.Detail, tt.says) {
			t.Errorf("%s: p95 guard %s (%s), want an error saying %q", tt.name, g.Status, g.Detail, tt.says)
		}
	}
}

// A test with no evidence yet reports e = 1 and p = 1, never 0.
func TestNoEvidenceIsOne(t *testing.T) {
	a := mustNew(t, Config{MaxErrorRate: 0.01})
	v := a.Observe(observations(stateSim, 1)[0])
	for _, r := range v.Tests {
		if r.Status == StatusFail || r.Status == StatusOK {
			continue
		}
		if r.Statistic != 1 || r.PValue != 1 {
			t.Errorf("%s (%s): e %v, p %v; want 1 and 1", r.Name, r.Status, r.Statistic, r.PValue)
		}
	}
}
