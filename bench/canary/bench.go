package canary

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/promote-ml/promote/internal/analysis"
)

// The SPRT bound's error probabilities.
const (
	BoundAlpha = 0.01 // the analysis's false-rollback rate
	BoundBeta  = 0.05
)

// Bound is Wald's lower bound for a scenario's known effect: no sequential
// test that tells p1 from p0 with errors BoundAlpha and BoundBeta needs
// fewer canary requests on average (analysis.SPRTBound).
type Bound struct {
	P0 float64 `json:"p0"`
	P1 float64 `json:"p1"`
	// Requests is the bound in canary requests; Bad is the bad requests
	// among them (Requests × P1), Seconds the time the canary takes to
	// serve them (Requests ÷ canary rate).
	Requests float64 `json:"requests"`
	Bad      float64 `json:"bad"`
	Seconds  float64 `json:"seconds"`
	// SplitRequests is the same bound, in canary requests, for a test that
	// does not know p0 and compares the canary with stable by the split of
	// their bad requests, as the analysis does; it is not a target, but
	// shows how much of the distance to Requests the comparison costs.
	SplitRequests float64 `json:"split_requests"`
}

// SPRT returns the scenario's bound, or nil for a healthy canary.
//
// SplitRequests is Wald's bound for the test of the canary's share θ of
// the bad requests of both tracks, θ(ρ) = wρ/(wρ + 1 − w) against w, with
// the ratio ρ = p1/p0 known (docs/analysis-statistics.md): in bad
// requests, analysis.SPRTBound(w, θ(ρ), α, β), and in canary requests that
// divided by the bad requests of both tracks per canary request,
// p1 + p0(1 − w)/w (Wald's identity). Given the bad requests, their split
// does not depend on p0; it is the bound of the argument of
// docs/analysis-statistics.md ("Power") for a test that must stay valid
// whatever stable's rate. It is 1.2 to 1.6 times the SPRT bound at 10%
// weight and 2.5 to 4.8 times at 50%, where a canary event carries at most
// ln 2 of evidence.
func (s Scenario) SPRT() *Bound {
	if s.Healthy() {
		return nil
	}
	p0, p1 := s.EventRates()
	n := analysis.SPRTBound(p0, p1, BoundAlpha, BoundBeta)
	w, rho := s.Weight, p1/p0
	theta := w * rho / (w*rho + 1 - w)
	split := analysis.SPRTBound(w, theta, BoundAlpha, BoundBeta) / (p1 + p0*(1-w)/w)
	return &Bound{P0: p0, P1: p1, Requests: n, Bad: n * p1, Seconds: n / (s.Rate * s.Weight), SplitRequests: split}
}

// GridConfig sizes the full benchmark.
type GridConfig struct {
	HealthyRuns int // runs per healthy scenario
	BadRuns     int // runs per bad scenario
	Horizon     int // seconds per run
}

// DefaultGrid is the size of the benchmark as BENCHMARKS.md reports it.
var DefaultGrid = GridConfig{HealthyRuns: 2000, BadRuns: 300, Horizon: 1800}

// Effects are the bad canaries: a higher error rate, or a higher latency.
var Effects = []struct {
	Name   string
	Canary Track
}{
	{"errors 1%", Track{ErrorRate: 0.01}},
	{"errors 2%", Track{ErrorRate: 0.02}},
	{"errors 5%", Track{ErrorRate: 0.05}},
	{"errors 20%", Track{ErrorRate: 0.20}},
	{"latency +20%", Track{ErrorRate: StableErrorRate, LatencyFactor: 1.2}},
	{"latency +50%", Track{ErrorRate: StableErrorRate, LatencyFactor: 1.5}},
}

// The grid's axes.
var (
	Weights     = []float64{0.1, 0.5}
	HealthyRate = []float64{1, 10, 100, 1000}
	BadRate     = []float64{10, 100, 1000}
)

// SliceRate is the request rate from which the grid's scenarios are drawn
// in tenths of a second (Scenario.Slices 10), so that the judges looking
// as the canary's requests arrive look up to ten times a second, as the
// rollout controller does (rollout.DefaultLookEvery). Below it a second
// brings the canary a few requests at most, and those judges look once a
// second: no sooner than the controller would.
const SliceRate = 100

// slicesAt returns the grid's Scenario.Slices at rate.
func slicesAt(rate float64) int {
	if rate >= SliceRate {
		return 10
	}
	return 1
}

// Grid returns the benchmark's scenarios: healthy canaries at every weight
// and at 1 to 1,000 requests per second, then every effect at every weight
// and at 10 to 1,000 requests per second.
func Grid(cfg GridConfig) []Scenario {
	stable := Track{ErrorRate: StableErrorRate}
	var g []Scenario
	for _, w := range Weights {
		for _, r := range HealthyRate {
			g = append(g, Scenario{Effect: "healthy", Rate: r, Weight: w, Stable: stable, Canary: stable,
				Horizon: cfg.Horizon, Runs: cfg.HealthyRuns, Slices: slicesAt(r)})
		}
	}
	for _, e := range Effects {
		for _, w := range Weights {
			for _, r := range BadRate {
				g = append(g, Scenario{Effect: e.Name, Rate: r, Weight: w, Stable: stable, Canary: e.Canary,
					Horizon: cfg.Horizon, Runs: cfg.BadRuns, Slices: slicesAt(r)})
			}
		}
	}
	for i := range g {
		g[i].Name = g[i].String()
	}
	return g
}

// Summary is the mean and 95th percentile of a figure over the runs.
type Summary struct {
	Mean float64 `json:"mean"`
	P95  float64 `json:"p95"`
}

// summarize returns the mean and the 95th percentile (the smallest value
// at or above which 5% of the runs lie: nearest rank) of xs.
func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{Mean: math.NaN(), P95: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mean := 0.0
	for _, x := range s {
		mean += x / float64(len(s))
	}
	return Summary{Mean: mean, P95: s[int(math.Ceil(0.95*float64(len(s))))-1]}
}

// Stats are one judge's figures over a scenario's runs. Runs the judge did
// not roll back count with what the canary served until the horizon, so
// that when RolledBack < Runs the means are lower bounds of what the
// judge would let through.
type Stats struct {
	Judge      string `json:"judge"`
	Runs       int    `json:"runs"`
	RolledBack int    `json:"rolled_back"`
	// RolledBack10m counts the rollbacks within the first 10 minutes.
	RolledBack10m int     `json:"rolled_back_10m"`
	Requests      Summary `json:"requests"`
	Bad           Summary `json:"bad"`
	Seconds       Summary `json:"seconds"`
	// FewerBad is the Flagger-default judge's mean bad requests divided by
	// this judge's, and SPRTRatio this judge's mean canary requests divided
	// by the SPRT bound; both 0 for a healthy canary.
	FewerBad  float64 `json:"fewer_bad_than_flagger_default,omitempty"`
	SPRTRatio float64 `json:"sprt_ratio,omitempty"`
}

// Rate returns the share of the runs rolled back.
func (s Stats) Rate() float64 { return float64(s.RolledBack) / float64(s.Runs) }

// Censored reports whether some runs were not rolled back, so that the
// summaries are lower bounds.
func (s Stats) Censored() bool { return s.RolledBack < s.Runs }

// Result is a scenario's figures for every judge.
type Result struct {
	Scenario Scenario `json:"scenario"`
	SPRT     *Bound   `json:"sprt,omitempty"`
	Judges   []Stats  `json:"judges"`
	// KnownRate is, for a bad canary once KnownRates has run, the
	// analysis's test with stable's rate known.
	KnownRate []KnownRate `json:"known_rate,omitempty"`
}

// Judge returns the stats of the named judge.
func (r Result) Judge(name string) (Stats, bool) {
	i := slices.IndexFunc(r.Judges, func(s Stats) bool { return s.Judge == name })
	if i < 0 {
		return Stats{}, false
	}
	return r.Judges[i], true
}

// ratios sets the judges' FewerBad and SPRTRatio for a bad canary.
func (r *Result) ratios() {
	if r.SPRT == nil {
		return
	}
	f, ok := r.Judge(flaggerDefault)
	finite := func(x float64) float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0
		}
		return x
	}
	for i := range r.Judges {
		s := &r.Judges[i]
		if ok {
			s.FewerBad = finite(f.Bad.Mean / s.Bad.Mean)
		}
		s.SPRTRatio = finite(s.Requests.Mean / r.SPRT.Requests)
	}
}

// stats aggregates one judge's outcomes.
func stats(name string, out []Outcome) Stats {
	s := Stats{Judge: name, Runs: len(out)}
	req := make([]float64, len(out))
	bad := make([]float64, len(out))
	sec := make([]float64, len(out))
	for i, o := range out {
		if o.RolledBack {
			s.RolledBack++
			if o.Seconds <= 600 {
				s.RolledBack10m++
			}
		}
		req[i], bad[i], sec[i] = o.Requests, o.Bad, o.Seconds
	}
	s.Requests, s.Bad, s.Seconds = summarize(req), summarize(bad), summarize(sec)
	return s
}

// chunk is the number of runs a worker takes at once.
const chunk = 25

// checkScenario returns why a scenario cannot be simulated, or nil.
func checkScenario(s Scenario) error {
	if s.Runs < 1 || s.Horizon < 1 || !(s.Weight > 0 && s.Weight <= 1) || !(s.Rate >= 0) {
		return fmt.Errorf("scenario %q: want runs and horizon of at least 1, a weight in (0, 1] and a rate of at least 0", s.Name)
	}
	return nil
}

// Run simulates every run of every scenario with every judge, on workers
// goroutines (GOMAXPROCS when 0), and returns the results in the order of
// scenarios. progress, if not nil, is called (from one goroutine at a
// time) each time a scenario completes. The figures do not depend on
// workers: each run has its own seed.
func Run(ctx context.Context, scenarios []Scenario, judges []JudgeSpec, workers int, progress func(done int, r Result)) ([]Result, error) {
	runs := make([]int, len(scenarios))
	for i, s := range scenarios {
		if err := checkScenario(s); err != nil {
			return nil, err
		}
		runs[i] = s.Runs
	}
	// outcomes[s][j][run]
	outcomes := make([][][]Outcome, len(scenarios))
	for i, s := range scenarios {
		outcomes[i] = make([][]Outcome, len(judges))
		for j := range judges {
			outcomes[i][j] = make([]Outcome, s.Runs)
		}
	}
	return parallel(ctx, runs, workers, func(i, run int) {
		for j, o := range scenarios[i].Simulate(judges, run) {
			outcomes[i][j][run] = o
		}
	}, func(i int) Result {
		s := scenarios[i]
		r := Result{Scenario: s, SPRT: s.SPRT()}
		for j, spec := range judges {
			r.Judges = append(r.Judges, stats(spec.Name, outcomes[i][j]))
		}
		r.ratios()
		return r
	}, progress)
}

// parallel calls simulate(i, run) for every run below runs[i] of every
// item i, on workers goroutines (GOMAXPROCS when 0) taking chunk runs at
// once, and, once all of item i's runs are simulated, result(i) and then
// progress (if not nil) with the items completed so far, under a lock. It
// returns the results in the order of the items; it stops handing out
// runs when ctx ends, and then returns its error.
func parallel[R any](ctx context.Context, runs []int, workers int, simulate func(i, run int), result func(i int) R,
	progress func(done int, r R)) ([]R, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type task struct{ item, from, to int }
	left := slices.Clone(runs) // runs not yet simulated
	var tasks []task
	for i, n := range runs {
		for from := 0; from < n; from += chunk {
			tasks = append(tasks, task{i, from, min(from+chunk, n)})
		}
	}
	results := make([]R, len(runs))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		done int
	)
	next := make(chan task)
	for range min(workers, len(tasks)) {
		wg.Go(func() {
			for t := range next {
				for run := t.from; run < t.to; run++ {
					simulate(t.item, run)
				}
				mu.Lock()
				left[t.item] -= t.to - t.from
				if left[t.item] == 0 {
					results[t.item] = result(t.item)
					done++
					if progress != nil {
						progress(done, results[t.item])
					}
				}
				mu.Unlock()
			}
		})
	}
	var err error
feed:
	for _, t := range tasks {
		select {
		case next <- t:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("canary benchmark: %w", err)
	}
	return results, nil
}
