package canary

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/promote-ml/promote/internal/analysis"
)

// The Promote+history judge's settings.
const (
	// HistoryJudge names the judge in the tables.
	HistoryJudge = "Promote+history"
	// DefaultHistoryWindow is, in seconds, how long stable served the
	// scenario's total rate before the canary (a week): its History.
	DefaultHistoryWindow = 7 * 24 * 3600
	// DefaultHistoryHorizon is, in seconds, the horizon of the judge's
	// bad runs (6 h): the errors 1% canary at 10 req/s and 10% weight
	// gets one canary request a second, and the SPRT bound is 2,149 of
	// them.
	DefaultHistoryHorizon = 6 * 3600
	// DefaultHistoryRecent is, in seconds, the last part of stable's
	// history that the judge also gives as History.Recent (15 min).
	DefaultHistoryRecent = 15 * 60
	// DriftAt is when, in seconds after the canary started, a shared
	// drift changes both tracks in the first of DriftStarts.
	DriftAt = 300
	// DriftBefore is when, in seconds after the canary started (before
	// it), a shared drift already under way at the rollout began.
	DriftBefore = -600
	// DriftRate is the request rate of the drift scenarios.
	DriftRate = 100
)

// historySeed is xored into the scenario's seed for the per-request
// stream, so that it is not the per-second draws' stream ("history").
const historySeed = 0x686973746f7279

// Drift is a change both tracks share from At seconds after the canary
// started (before it when negative: stable's history then shows it): the
// same error rate, or the same latency factor on top of each track's own.
type Drift struct {
	// Name says what changes: "errors 0.5% → 1%".
	Name string `json:"name"`
	// At is the time of the change, in seconds from the canary's start.
	At float64 `json:"at_seconds"`
	// ErrorRate is both tracks' error rate from At; 0 leaves it.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// LatencyFactor multiplies both tracks' latencies from At; 0 leaves
	// them.
	LatencyFactor float64 `json:"latency_factor,omitempty"`
}

// apply returns the track after the drift.
func (d Drift) apply(t Track) Track {
	if d.ErrorRate > 0 {
		t.ErrorRate = d.ErrorRate
	}
	if d.LatencyFactor > 0 {
		t.LatencyFactor = t.factor() * d.LatencyFactor
	}
	return t
}

// When says when the drift starts, against the rollout's start: "5 min
// into the rollout", "10 min before the rollout", "with the rollout".
func (d Drift) When() string {
	switch {
	case d.At > 0:
		return minutes(int(d.At)) + " into the rollout"
	case d.At < 0:
		return minutes(int(-d.At)) + " before the rollout"
	}
	return "with the rollout"
}

// Drifts are the shared drifts the benchmark runs healthy canaries
// through, each from every one of DriftStarts.
var Drifts = []Drift{
	{Name: "errors 0.5% → 1%", ErrorRate: 0.01},
	{Name: "latency +20%", LatencyFactor: 1.2},
}

// DriftStarts are when the shared drifts start, in seconds from the
// canary's start: 5 minutes into the rollout; under way since 10 minutes
// before it, which History.Recent shows; exactly with it, which it does
// not.
var DriftStarts = []float64{DriftAt, DriftBefore, 0}

// HistoryScenario is a scenario judged per request by the Promote+history
// judge.
type HistoryScenario struct {
	Scenario
	// Window is how long, in seconds, stable served Rate before the
	// canary: its History is drawn from that many requests.
	Window float64 `json:"window_seconds"`
	// Recent is the last part of Window, in seconds, whose counts the
	// History also gives as History.Recent; 0 gives none.
	Recent float64 `json:"recent_seconds,omitempty"`
	// Drift, if set, changes both tracks during the run.
	Drift *Drift `json:"drift,omitempty"`
	// Promote also judges the run's traffic with the Promote judge
	// (analysis.Config{Alpha: 0.01}, the same looks), for comparison.
	Promote bool `json:"promote,omitempty"`
}

// HistoryOutcome is what the Promote+history judge (or, in a drift
// scenario, the Promote judge) did in one run.
type HistoryOutcome struct {
	Outcome
	// ByHistory is set when the history tests tripped at a canary request
	// (Baseline.Canary), rather than a verdict at a look.
	ByHistory bool `json:"by_history,omitempty"`
}

// History draws stable's record over the Window seconds before the
// canary at the scenario's total rate from r, and its last Recent seconds
// as History.Recent (a part of it: the window's counts include them).
// The window is cut at the start of Recent and, when the drift started
// within it, at the drift's start; each part, oldest first, is drawn at
// stable's track in force then (the drift's after it started) by
// drawCounts, and the window's counts are the sum of the parts'.
func (s HistoryScenario) History(r *rand.Rand) analysis.History {
	cuts := []float64{-s.Window, -s.Recent, 0}
	if d := s.Drift; d != nil && d.At > -s.Window && d.At < 0 {
		cuts = append(cuts, d.At)
	}
	slices.Sort(cuts)
	all, recent := newCounts(), newCounts()
	for i := 0; i+1 < len(cuts); i++ {
		from, to := cuts[i], cuts[i+1]
		if to <= from {
			continue
		}
		t := s.Stable
		if s.Drift != nil && from >= s.Drift.At {
			t = s.Drift.apply(t)
		}
		c := drawCounts(r, math.Round(s.Rate*(to-from)), t)
		addCounts(&all, c)
		if from >= -s.Recent {
			addCounts(&recent, c)
		}
	}
	h := analysis.History{Requests: all.Requests, Errors: all.Errors, Latency: all.Latency}
	if s.Recent > 0 {
		h.Recent = &recent
	}
	return h
}

// newCounts returns empty counts with a histogram in the buckets Bounds.
func newCounts() analysis.Counts {
	return analysis.Counts{Latency: analysis.Histogram{Bounds: Bounds, Counts: make([]float64, len(Bounds))}}
}

// addCounts adds c's counts to sum's.
func addCounts(sum *analysis.Counts, c analysis.Counts) {
	sum.Requests += c.Requests
	sum.Errors += c.Errors
	sum.Latency.Count += c.Latency.Count
	for i, v := range c.Latency.Counts {
		sum.Latency.Counts[i] += v
	}
}

// drawCounts draws n requests of track t from r: errors Binomial(n,
// t.ErrorRate), and a latency histogram in the buckets Bounds, each
// bucket's count Binomial of the requests not in the buckets below, with
// the bucket's share of them (a multinomial draw, bucket by bucket), so
// that the cumulative counts are consistent. The binomials are drawn by
// their normal approximation, rounded and clamped: a week of requests is
// 600,000 and more, and 15 minutes at 100 req/s 90,000, where it is close.
func drawCounts(r *rand.Rand, n float64, t Track) analysis.Counts {
	c := newCounts()
	c.Requests, c.Errors, c.Latency.Count = n, binomial(r, n, t.ErrorRate), n
	left, below, cum := n, 0.0, 0.0
	for i, b := range Bounds {
		p := t.Below(b)
		x := 0.0
		if below < 1 {
			x = binomial(r, left, (p-below)/(1-below))
		}
		below, left, cum = p, left-x, cum+x
		c.Latency.Counts[i] = cum
	}
	return c
}

// binomial draws Binomial(n, p) by its normal approximation, rounded to a
// count in [0, n].
func binomial(r *rand.Rand, n, p float64) float64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	}
	x := math.Round(n*p + math.Sqrt(n*p*(1-p))*r.NormFloat64())
	return min(n, max(0, x))
}

// requestTrack is one track of a per-request simulation: how it answers,
// and its cumulative counts.
type requestTrack struct {
	counts    analysis.Counts
	buckets   []float64 // requests per bucket (not cumulative), the last one above every bound
	errorRate float64
	// z[i] is the standard normal quantile of Bounds[i] in the track's
	// lognormal latency: a request is in bucket i when its draw is at
	// most z[i] and above z[i-1].
	z      []float64
	slowAt int     // buckets from slowAt on hold the requests slower than LatencyThreshold
	slow   float64 // requests slower than LatencyThreshold
}

func newRequestTrack(t Track) *requestTrack {
	rt := &requestTrack{buckets: make([]float64, len(Bounds)+1), z: make([]float64, len(Bounds)),
		slowAt: slices.Index(Bounds, LatencyThreshold()) + 1}
	rt.counts.Latency.Bounds = Bounds
	rt.counts.Latency.Counts = make([]float64, len(Bounds))
	rt.set(t)
	return rt
}

// set makes the track answer as t does from now on.
func (rt *requestTrack) set(t Track) {
	rt.errorRate = t.ErrorRate
	for i, b := range Bounds {
		rt.z[i] = math.Log(b/(StableMedian*t.factor())) / LatencySigma
	}
}

// serve draws one request: whether it fails, and its latency, counted
// into the track's buckets (a request of exactly a bound's latency in that
// bound's bucket, as Prometheus's le). The latency is drawn as a standard
// normal variate compared with the buckets' quantiles, and returned as
// the upper bound of its bucket (twice the last bound above them all):
// the splitter's histogram and the history tests, whose threshold is a
// bucket bound, tell no more of it, and the draw then costs no
// exponential.
func (rt *requestTrack) serve(r *rand.Rand) (failed bool, seconds float64) {
	failed = r.Float64() < rt.errorRate
	x := r.NormFloat64()
	i, j := 0, len(rt.z) // the first i with x <= z[i], or len(z)
	for i < j {
		if h := int(uint(i+j) >> 1); x > rt.z[h] {
			i = h + 1
		} else {
			j = h
		}
	}
	rt.buckets[i]++
	rt.counts.Requests++
	if failed {
		rt.counts.Errors++
	}
	if i < len(Bounds) {
		seconds = Bounds[i]
	} else {
		seconds = 2 * Bounds[len(Bounds)-1]
	}
	if i >= rt.slowAt {
		rt.slow++
	}
	return failed, seconds
}

// cumulate brings the latency histogram of counts up to date.
func (rt *requestTrack) cumulate() {
	h := &rt.counts.Latency
	h.Count = rt.counts.Requests
	cum := 0.0
	for i := range h.Counts {
		cum += rt.buckets[i]
		h.Counts[i] = cum
	}
}

// bad returns the track's bad requests: errors, or for a latency effect
// slow requests.
func (rt *requestTrack) bad(latency bool) float64 {
	if latency {
		return rt.slow
	}
	return rt.counts.Errors
}

// Simulate runs the scenario's run number run per request and returns
// the Promote+history judge's outcome, and, when s.Promote is set, the
// Promote judge's on the same traffic.
//
// Stable's History is drawn first from the run's stream
// (HistoryScenario.History, with its Recent counts when s.Recent is set),
// then the analyzer is made with it (analysis.Config{Alpha: 0.01,
// History}) and its Baseline switched to inline counting. Requests arrive
// as a Poisson stream at Rate (exponential gaps); each goes to the canary
// with probability Weight, fails with its track's error rate and takes a
// lognormal latency, and is told to the Baseline as the splitter would
// (Canary or Stable). The analyzer is observed at the Promote judge's
// looks: at the end of every slice of a second (Scenario.Slices) in which
// the canary got requests, and every second. The judge rolls back at the
// first canary request for which Baseline.Canary returns true (its
// requests then count that one) or at the first look whose verdict is
// Fail. The run ends when the judges have rolled back, or at the horizon.
func (s HistoryScenario) Simulate(run int) (withHistory, promote HistoryOutcome) {
	r := rand.New(rand.NewPCG(uint64(run), s.seed()^historySeed))
	past := s.History(r)
	judge := newSequential(analysis.Config{Alpha: BoundAlpha, History: &past}, 1, true)
	baseline := judge.a.Baseline()
	baseline.Inline()
	var plain *sequential
	if s.Promote {
		plain = newSequential(analysis.Config{Alpha: BoundAlpha}, 1, true)
	}
	stable, canary := newRequestTrack(s.Stable), newRequestTrack(s.Canary)
	latency := s.LatencyEffect()
	back := func(o *HistoryOutcome, at float64, byHistory bool) {
		*o = HistoryOutcome{Outcome{RolledBack: true, Seconds: at, Requests: canary.counts.Requests, Bad: canary.bad(latency)}, byHistory}
	}
	n, horizon := s.slices(), float64(s.Horizon)
	k := 1 // the next look is at the end of slice k, k/n seconds
	hDone, pDone := false, plain == nil
	drifted := s.Drift == nil
	for t := 0.0; !hDone || !pDone; {
		t += r.ExpFloat64() / s.Rate
		for at := float64(k) / float64(n); at <= t && at <= horizon && (!hDone || !pDone); at = float64(k) / float64(n) {
			stable.cumulate()
			canary.cumulate()
			if !hDone && judge.look(k, n, &stable.counts, &canary.counts) {
				back(&withHistory, at, false)
				hDone = true
			}
			if !pDone && plain.look(k, n, &stable.counts, &canary.counts) {
				back(&promote, at, false)
				pDone = true
			}
			k++
		}
		if t > horizon || hDone && pDone {
			break
		}
		if !drifted && t >= s.Drift.At {
			stable.set(s.Drift.apply(s.Stable))
			canary.set(s.Drift.apply(s.Canary))
			drifted = true
		}
		if r.Float64() < s.Weight {
			failed, seconds := canary.serve(r)
			if !hDone && baseline.Canary(failed, seconds) {
				back(&withHistory, t, true)
				hDone = true
			}
		} else {
			failed, seconds := stable.serve(r)
			if !hDone {
				baseline.Stable(failed, seconds)
			}
		}
	}
	end := Outcome{Seconds: horizon, Requests: canary.counts.Requests, Bad: canary.bad(latency)}
	if !hDone {
		withHistory.Outcome = end
	}
	if plain != nil && !pDone {
		promote.Outcome = end
	}
	return withHistory, promote
}

// HistoryGridConfig sizes the Promote+history judge's grid.
type HistoryGridConfig struct {
	GridConfig
	// Window is the seconds of stable's history.
	Window float64 `json:"window_seconds"`
	// Recent is the seconds at its end also given as History.Recent; 0
	// gives none.
	Recent float64 `json:"recent_seconds"`
	// BadHorizon is the horizon of the bad runs, in seconds.
	BadHorizon int `json:"bad_horizon_seconds"`
	// DriftRuns is the runs per drift scenario.
	DriftRuns int `json:"drift_runs"`
}

// DefaultHistoryGrid is the size of the judge's grid as BENCHMARKS.md
// reports it.
var DefaultHistoryGrid = HistoryGridConfig{GridConfig: DefaultGrid, Window: DefaultHistoryWindow, Recent: DefaultHistoryRecent,
	BadHorizon: DefaultHistoryHorizon, DriftRuns: 1000}

// HistoryGrid returns the Promote+history judge's scenarios: the healthy
// canaries of Grid (horizon cfg.Horizon), healthy canaries through each
// of Drifts from each of DriftStarts at every weight and DriftRate
// (cfg.DriftRuns runs, horizon cfg.Horizon, with the Promote judge
// beside), and the bad canaries of Grid with horizon cfg.BadHorizon;
// stable's history is cfg.Window seconds long, its last cfg.Recent given
// as History.Recent.
func HistoryGrid(cfg HistoryGridConfig) []HistoryScenario {
	window, recent, badHorizon := cfg.Window, cfg.Recent, cfg.BadHorizon
	var healthy, drift, bad []HistoryScenario
	for _, s := range Grid(cfg.GridConfig) {
		if s.Healthy() {
			healthy = append(healthy, HistoryScenario{Scenario: s, Window: window, Recent: recent})
			continue
		}
		s.Horizon = badHorizon
		bad = append(bad, HistoryScenario{Scenario: s, Window: window, Recent: recent})
	}
	stable := Track{ErrorRate: StableErrorRate}
	for _, d := range Drifts {
		for _, at := range DriftStarts {
			d := Drift{Name: d.Name, At: at, ErrorRate: d.ErrorRate, LatencyFactor: d.LatencyFactor}
			for _, w := range Weights {
				s := Scenario{Effect: "healthy, shared drift starting " + d.When() + ": " + d.Name, Rate: DriftRate, Weight: w,
					Stable: stable, Canary: stable, Horizon: cfg.Horizon, Runs: cfg.DriftRuns, Slices: slicesAt(DriftRate)}
				s.Name = s.String()
				drift = append(drift, HistoryScenario{Scenario: s, Window: window, Recent: recent, Drift: &d, Promote: true})
			}
		}
	}
	return append(append(healthy, drift...), bad...)
}

// HistoryResult is a scenario's figures for the Promote+history judge.
type HistoryResult struct {
	Scenario HistoryScenario `json:"scenario"`
	SPRT     *Bound          `json:"sprt,omitempty"`
	// History is the Promote+history judge's figures; ByHistory counts
	// its rollbacks at a canary request, by the history tests.
	History   Stats `json:"history"`
	ByHistory int   `json:"by_history"`
	// Promote is the Promote judge's figures on the same traffic, when
	// the scenario asks for them.
	Promote *Stats `json:"promote,omitempty"`
}

// RunHistory simulates every run of every scenario per request, on
// workers goroutines (GOMAXPROCS when 0), and returns the results in the
// order of scenarios; progress, if not nil, is called (from one goroutine
// at a time) each time a scenario completes. The figures do not depend on
// workers.
func RunHistory(ctx context.Context, scenarios []HistoryScenario, workers int, progress func(done int, r HistoryResult)) ([]HistoryResult, error) {
	runs := make([]int, len(scenarios))
	for i, s := range scenarios {
		if err := checkScenario(s.Scenario); err != nil {
			return nil, err
		}
		if !(s.Window >= 0) || math.IsInf(s.Window, 1) {
			return nil, fmt.Errorf("scenario %q: history window %v is not a duration", s.Name, s.Window)
		}
		if !(s.Recent >= 0 && s.Recent <= s.Window) {
			return nil, fmt.Errorf("scenario %q: recent history %v is not a duration within the window %v", s.Name, s.Recent, s.Window)
		}
		if d := s.Drift; d != nil && !(d.At >= -s.Window && d.At <= float64(s.Horizon)) {
			return nil, fmt.Errorf("scenario %q: drift start %v is not within the history window %v and the horizon %v", s.Name, d.At, s.Window, s.Horizon)
		}
		runs[i] = s.Runs
	}
	withHistory := make([][]HistoryOutcome, len(scenarios))
	promote := make([][]HistoryOutcome, len(scenarios))
	for i, s := range scenarios {
		withHistory[i] = make([]HistoryOutcome, s.Runs)
		promote[i] = make([]HistoryOutcome, s.Runs)
	}
	outcomes := func(hs []HistoryOutcome) ([]Outcome, int) {
		out := make([]Outcome, len(hs))
		by := 0
		for i, h := range hs {
			out[i] = h.Outcome
			if h.ByHistory {
				by++
			}
		}
		return out, by
	}
	return parallel(ctx, runs, workers, func(i, run int) {
		withHistory[i][run], promote[i][run] = scenarios[i].Simulate(run)
	}, func(i int) HistoryResult {
		s := scenarios[i]
		r := HistoryResult{Scenario: s, SPRT: s.SPRT()}
		out, by := outcomes(withHistory[i])
		r.History, r.ByHistory = stats(HistoryJudge, out), by
		if s.Promote {
			out, _ := outcomes(promote[i])
			p := stats(ours, out)
			r.Promote = &p
		}
		if r.SPRT != nil {
			r.History.SPRTRatio = r.History.Requests.Mean / r.SPRT.Requests
		}
		return r
	}, progress)
}

// WriteHistory writes the Promote+history judge's tables: false rollbacks
// of the healthy canaries, of the healthy canaries through a shared drift
// (beside the Promote judge on the same traffic), and for the bad ones the
// canary requests before rollback against the SPRT bound, the bad
// requests and the time; then the targets for this judge.
func WriteHistory(w io.Writer, results []HistoryResult) error {
	var healthy, drift, bad []HistoryResult
	for _, r := range results {
		switch {
		case r.Scenario.Drift != nil:
			drift = append(drift, r)
		case r.Scenario.Healthy():
			healthy = append(healthy, r)
		default:
			bad = append(bad, r)
		}
	}
	var b strings.Builder
	if len(results) > 0 {
		recent := "no History.Recent"
		if sc := results[0].Scenario; sc.Recent > 0 {
			recent = "its last " + minutes(int(sc.Recent)) + " also as History.Recent, which starts the drift hold's CUSUM"
		}
		fmt.Fprintf(&b, "%s: analysis.New(analysis.Config{Alpha: %g, History}), stable's History drawn per run from %s of the scenario's total rate before the canary (%s); "+
			"Baseline().Inline() before the first request, then every request told to Baseline().Canary or .Stable as the splitter answers it, simulated per request "+
			"(its own seeded stream), and the analyzer observed at the Promote judge's looks. Rolled back at the first canary request the history tests trip on "+
			"(its requests count that one), or at the first look whose verdict is Fail. \"by history\": the rollbacks at a canary request.\n\n",
			HistoryJudge, BoundAlpha, hours(results[0].Scenario.Window), recent)
	}
	if len(healthy) > 0 {
		h := healthy[0].Scenario
		fmt.Fprintf(&b, "Healthy canaries: %s false rollbacks within %s (within the first 10 min), %d runs each\n\n", HistoryJudge, minutes(h.Horizon), h.Runs)
		b.WriteString("| req/s | weight | canary req/s | " + HistoryJudge + " | by history |\n|---:|---:|---:|---:|---:|\n")
		for _, r := range healthy {
			sc := r.Scenario
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", plain(sc.Rate), pct(sc.Weight), plain(sc.Rate*sc.Weight), falseRollbacks(r.History), r.ByHistory)
		}
		b.WriteString("\n")
	}
	if len(drift) > 0 {
		h := drift[0].Scenario
		fmt.Fprintf(&b, "Healthy canaries through a shared drift (both tracks change the same way, starting when \"starts\" says): false rollbacks within %s "+
			"(within the first 10 min), %d runs each, the Promote judge on the same traffic\n\n", minutes(h.Horizon), h.Runs)
		b.WriteString("| drift | starts | weight | req/s | Promote | " + HistoryJudge + " | by history |\n|---|---|---:|---:|---:|---:|---:|\n")
		for _, r := range drift {
			sc := r.Scenario
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d |\n", sc.Drift.Name, sc.Drift.When(), pct(sc.Weight), plain(sc.Rate), falseRollbacks(*r.Promote),
				falseRollbacks(r.History), r.ByHistory)
		}
		b.WriteString("\n")
	}
	if len(bad) > 0 {
		h := bad[0].Scenario
		fmt.Fprintf(&b, "Bad canaries: %s, %d runs each, horizon %s (the other judges': 30 min); canary requests before rollback, mean (95th percentile), "+
			"and the mean's ratio to the SPRT bound (analysis.SPRTBound(p0, p1, %g, %g)); bad requests (errors, or for a latency effect requests slower than %g s) "+
			"and seconds to rollback, mean (95th percentile). [x%%] marks a row rolled back in only x%% of the runs: its figures count the others at the horizon, a lower bound.\n\n",
			HistoryJudge, h.Runs, minutes(h.Horizon), BoundAlpha, BoundBeta, LatencyThreshold())
		b.WriteString("| canary | weight | req/s | SPRT bound | canary requests | ÷ SPRT | within 2× | bad requests | seconds | by history |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n")
		for _, r := range bad {
			sc, s := r.Scenario, r.History
			verdict := "holds"
			if s.SPRTRatio > TargetSPRTRatio || s.Censored() {
				verdict = "missed"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc.Effect, pct(sc.Weight), plain(sc.Rate), num(r.SPRT.Requests),
				cell(s, s.Requests, false), ratio(s.Requests.Mean, r.SPRT.Requests, s.Censored(), false), verdict,
				cell(s, s.Bad, false), cell(s, s.Seconds, false), pct(float64(r.ByHistory)/float64(s.Runs)))
		}
		b.WriteString("\n")
	}
	var rs []Result
	for _, r := range results {
		if r.Scenario.Drift == nil {
			rs = append(rs, Result{Scenario: r.Scenario.Scenario, SPRT: r.SPRT, Judges: []Stats{r.History}})
		}
	}
	writeTargets(&b, targetsOf(rs, HistoryJudge))
	_, err := io.WriteString(w, b.String())
	return err
}

// falseRollbacks formats a healthy canary's rollbacks: the share of the
// runs, and of those within the first 10 minutes.
func falseRollbacks(s Stats) string {
	return fmt.Sprintf("%s (%s)", pct(s.Rate()), pct(float64(s.RolledBack10m)/float64(s.Runs)))
}

// hours formats a window in seconds.
func hours(sec float64) string {
	if sec >= 3600 && math.Mod(sec, 3600) == 0 {
		return fmt.Sprintf("%g h", sec/3600)
	}
	return fmt.Sprintf("%g s", sec)
}
