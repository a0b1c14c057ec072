package canary

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/traffic"
)

// The traffic model shared by every scenario.
const (
	// StableErrorRate is stable's probability that a request fails.
	StableErrorRate = 0.005
	// StableMedian is the median of stable's latencies, in seconds.
	StableMedian = 0.050
	// LatencySigma is the standard deviation of the latencies' logarithm
	// (both tracks): stable's p90 is then 95 ms and its p99 160 ms.
	LatencySigma = 0.5
)

// Bounds are the latency histogram's bucket bounds in seconds, the
// splitter's (traffic.DurationBuckets); requests above the last fall in
// the +Inf bucket, which Histogram.Count holds.
var Bounds = slices.Clone(traffic.DurationBuckets)

// Track is how one version answers requests.
type Track struct {
	// ErrorRate is the probability that a request fails.
	ErrorRate float64 `json:"error_rate"`
	// LatencyFactor multiplies stable's latencies; 0 means 1.
	LatencyFactor float64 `json:"latency_factor,omitempty"`
}

// factor returns the latency factor, 1 when unset.
func (t Track) factor() float64 {
	if t.LatencyFactor == 0 {
		return 1
	}
	return t.LatencyFactor
}

// Below returns the share of the track's requests that take at most bound
// seconds.
func (t Track) Below(bound float64) float64 {
	z := (math.Log(bound) - math.Log(StableMedian*t.factor())) / LatencySigma
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

// LatencyThreshold is the threshold L in seconds that the analysis's
// latency test derives from stable's histogram: the bucket bound at which
// stable's cumulative share is nearest analysis.DefaultLatencyQuantile
// (0.1 s, where 91.7% of stable's requests are faster). Requests slower
// than L are the latency scenarios' bad requests.
func LatencyThreshold() float64 {
	best, bestGap := Bounds[0], math.Inf(1)
	stable := Track{}
	for _, b := range Bounds {
		if gap := math.Abs(stable.Below(b) - analysis.DefaultLatencyQuantile); gap < bestGap {
			best, bestGap = b, gap
		}
	}
	return best
}

// Scenario is one cell of the benchmark's grid: a canary at a fixed weight
// of a fixed traffic rate, judged for Horizon seconds in each of Runs
// seeded runs.
type Scenario struct {
	// Name identifies the scenario and seeds its runs.
	Name string `json:"name"`
	// Effect names how the canary differs: "healthy", "errors 5%",
	// "latency +50%".
	Effect string `json:"effect"`
	// Rate is the requests per second of both tracks together.
	Rate float64 `json:"rate"`
	// Weight is the canary's share of the requests, in (0, 1].
	Weight float64 `json:"weight"`
	// Stable and Canary are the tracks' behaviours.
	Stable Track `json:"stable"`
	Canary Track `json:"canary"`
	// Horizon is the number of simulated seconds of a run that no judge
	// ends.
	Horizon int `json:"horizon_seconds"`
	// Runs is the number of seeded runs.
	Runs int `json:"runs"`
	// Slices is how many steps a simulated second is drawn in (1 when
	// 0): the judges that look within a second (SliceJudge) look at the
	// end of each.
	Slices int `json:"slices_per_second,omitempty"`
}

// slices returns the steps per simulated second, at least 1.
func (s Scenario) slices() int { return max(1, s.Slices) }

// Healthy reports whether the canary behaves as stable does.
func (s Scenario) Healthy() bool {
	return s.Canary.ErrorRate == s.Stable.ErrorRate && s.Canary.factor() == s.Stable.factor()
}

// LatencyEffect reports whether the canary is slower than stable, so that
// its bad requests are the slow ones rather than the errors.
func (s Scenario) LatencyEffect() bool {
	return s.Canary.factor() != s.Stable.factor()
}

// EventRates returns the per-request probabilities of a bad request in
// stable (p0) and in the canary (p1): errors, or, for a latency effect,
// requests slower than LatencyThreshold.
func (s Scenario) EventRates() (p0, p1 float64) {
	if s.LatencyEffect() {
		l := LatencyThreshold()
		return 1 - s.Stable.Below(l), 1 - s.Canary.Below(l)
	}
	return s.Stable.ErrorRate, s.Canary.ErrorRate
}

// seed returns the second word of the runs' PCG seeds, from the name.
func (s Scenario) seed() uint64 {
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	return h.Sum64()
}

// Outcome is what one judge did in one run.
type Outcome struct {
	// RolledBack is whether the judge rolled the canary back before the
	// horizon.
	RolledBack bool `json:"rolled_back"`
	// Seconds is the simulated time of the rollback, or the horizon.
	Seconds float64 `json:"seconds"`
	// Requests and Bad are the canary requests and bad requests (errors,
	// or slow requests for a latency effect) served until then.
	Requests float64 `json:"requests"`
	Bad      float64 `json:"bad"`
}

// Simulate runs the scenario's run number run with a fresh judge of each
// spec, and returns each judge's outcome, in the order of judges. Every
// judge sees the same traffic; the run ends when every judge has rolled
// the canary back, or at the horizon.
func (s Scenario) Simulate(judges []JudgeSpec, run int) []Outcome {
	sim := newSimulation(s, rand.New(rand.NewPCG(uint64(run), s.seed())))
	js := make([]Judge, len(judges))
	for i, spec := range judges {
		js[i] = spec.New()
	}
	out := make([]Outcome, len(judges))
	left := len(judges)
	n := s.slices()
	for t := 1; t <= s.Horizon && left > 0; t++ {
		for k := 1; k <= n; k++ {
			sim.step()
			at := float64(t-1) + float64(k)/float64(n)
			for i, j := range js {
				if out[i].RolledBack {
					continue
				}
				var back bool
				if k == n {
					back = j.Observe(t, &sim.stable.counts, &sim.canary.counts)
				} else if sj, ok := j.(SliceJudge); ok {
					back = sj.ObserveSlice(at, &sim.stable.counts, &sim.canary.counts)
				}
				if back {
					out[i] = Outcome{RolledBack: true, Seconds: at, Requests: sim.canary.counts.Requests, Bad: sim.canary.bad()}
					left--
				}
			}
		}
	}
	for i := range out {
		if !out[i].RolledBack {
			out[i] = Outcome{Seconds: float64(s.Horizon), Requests: sim.canary.counts.Requests, Bad: sim.canary.bad()}
		}
	}
	return out
}

// simulation draws a scenario's traffic step by step: a second, or a
// slice of one (Scenario.Slices).
//
// Requests arrive as a Poisson stream at Rate per second; each goes to the
// canary with probability Weight, fails with its track's error rate, and
// takes a lognormal latency, independently. Splitting a Poisson stream at
// random gives independent Poisson streams (thinning), so the requests of
// one second are drawn per cell (track, latency bucket, failed or not),
// each cell an independent Poisson count: the same distribution as a
// Poisson total split binomially between the tracks and then between the
// buckets and outcomes, at a cost that does not grow with the rate.
type simulation struct {
	r              *rand.Rand
	stable, canary simTrack
}

// simTrack is one track's cells and cumulative counts.
type simTrack struct {
	counts   analysis.Counts // cumulative since the start
	buckets  []float64       // requests per bucket (not cumulative), the last one above every bound
	ok, fail []poissonCell   // per bucket: requests that succeed, that fail
	slowAt   int             // buckets from slowAt on hold the requests slower than LatencyThreshold
	latency  bool            // bad requests are slow ones rather than errors
}

// poissonCell is one Poisson count per step: its mean and exp(-mean).
type poissonCell struct{ mean, p0 float64 }

func newCell(mean float64) poissonCell { return poissonCell{mean, math.Exp(-mean)} }

func newSimulation(s Scenario, r *rand.Rand) *simulation {
	sim := &simulation{r: r}
	l := LatencyThreshold()
	slowAt := slices.Index(Bounds, l) + 1
	for _, tr := range []struct {
		st    *simTrack
		t     Track
		share float64
	}{{&sim.stable, s.Stable, 1 - s.Weight}, {&sim.canary, s.Canary, s.Weight}} {
		st := tr.st
		st.counts.Latency.Bounds = Bounds
		st.counts.Latency.Counts = make([]float64, len(Bounds))
		st.buckets = make([]float64, len(Bounds)+1)
		st.slowAt = slowAt
		st.latency = s.LatencyEffect()
		below := 0.0
		for b := range st.buckets {
			p := 1 - below
			if b < len(Bounds) {
				c := tr.t.Below(Bounds[b])
				p, below = c-below, c
			}
			mean := s.Rate * tr.share * p / float64(s.slices())
			st.ok = append(st.ok, newCell(mean*(1-tr.t.ErrorRate)))
			st.fail = append(st.fail, newCell(mean*tr.t.ErrorRate))
		}
	}
	return sim
}

// step adds one step's requests to both tracks' counts.
func (sim *simulation) step() {
	for _, st := range []*simTrack{&sim.stable, &sim.canary} {
		n, errs := 0.0, 0.0
		for b := range st.buckets {
			ok := poisson(sim.r, st.ok[b].mean, st.ok[b].p0)
			bad := poisson(sim.r, st.fail[b].mean, st.fail[b].p0)
			st.buckets[b] += ok + bad
			n += ok + bad
			errs += bad
		}
		st.counts.Requests += n
		st.counts.Errors += errs
		h := &st.counts.Latency
		h.Count += n
		cum := 0.0
		for b := range h.Counts {
			cum += st.buckets[b]
			h.Counts[b] = cum
		}
		// h.Sum stays 0: no judge reads it.
	}
}

// bad returns the track's bad requests so far.
func (st *simTrack) bad() float64 {
	if !st.latency {
		return st.counts.Errors
	}
	slow := 0.0
	for _, n := range st.buckets[st.slowAt:] {
		slow += n
	}
	return slow
}

// String names the scenario.
func (s Scenario) String() string {
	return fmt.Sprintf("%s at %g%% weight, %g req/s", s.Effect, 100*s.Weight, s.Rate)
}
