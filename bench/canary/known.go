package canary

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/promote-ml/promote/internal/analysis"
)

// KnownRateMax is the most canary requests a known-rate run simulates; no
// run of the grid comes near it.
const KnownRateMax = 1_000_000

// KnownRate is how many canary requests the analysis's test needs when
// stable's rate p0 is known (analysis.KnownRate): the reference that tells
// how far from the SPRT bound the mixture's cost and the spacing of the
// looks put a test, apart from the cost of comparing with stable.
type KnownRate struct {
	// Look is the number of canary requests between looks: 1, or the
	// canary's requests per look of the Promote judge (rate × weight ÷
	// looks per second, rounded, at least 1).
	Look int `json:"look"`
	// Share is the share of the analysis's level the test runs at: 1 in
	// place of the comparison with stable, 0.5 beside it.
	Share float64 `json:"share"`
	// Requests is the canary requests until the test rejected.
	Requests Summary `json:"requests"`
	Rejected int     `json:"rejected"`
	Runs     int     `json:"runs"`
	// SPRTRatio is the mean requests divided by the SPRT bound.
	SPRTRatio float64 `json:"sprt_ratio"`
	// Censored is set when some run reached KnownRateMax requests
	// without a rejection: the figures are then lower bounds.
	Censored bool `json:"censored,omitempty"`
}

// PromoteLook returns the canary requests per look of the Promote judge in
// the scenario, at least 1.
func (s Scenario) PromoteLook() int {
	return max(1, int(math.Round(s.Rate*s.Weight/float64(s.slices()))))
}

// KnownRate simulates runs of the scenario's canary alone, each request a
// bad one with probability p1 (EventRates), judged by the analysis's test
// against the known p0 looked at every look requests, at share of its
// level; seeded by the scenario's name and the run number as Simulate is.
func (s Scenario) KnownRate(runs, look int, share float64) (KnownRate, error) {
	p0, p1 := s.EventRates()
	kr := KnownRate{Look: look, Share: share, Runs: runs}
	req := make([]float64, runs)
	for run := range runs {
		k, err := analysis.NewKnownRate(analysis.Config{Alpha: BoundAlpha}, p0, s.LatencyEffect(), share)
		if err != nil {
			return KnownRate{}, fmt.Errorf("scenario %q: %w", s.Name, err)
		}
		r := rand.New(rand.NewPCG(uint64(run), s.seed()^0x6b6e6f776e)) // "known"
		x, n := 0.0, 0
		for n < KnownRateMax {
			n++
			if r.Float64() < p1 {
				x++
			}
			if n%look == 0 && k.Observe(x, float64(n)) {
				kr.Rejected++
				break
			}
		}
		req[run] = float64(n)
	}
	kr.Requests = summarize(req)
	kr.Censored = kr.Rejected < runs
	if b := s.SPRT(); b != nil {
		kr.SPRTRatio = kr.Requests.Mean / b.Requests
	}
	return kr, nil
}

// KnownRates sets, for every bad canary among results, the known-rate
// figures of its runs (the scenario's Runs): looked at after every canary
// request at the whole level and at half of it, and at the Promote
// judge's spacing at the whole level. It runs the scenarios on workers
// goroutines.
func KnownRates(ctx context.Context, results []Result, workers int) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range max(1, workers) {
		wg.Go(func() {
			for i := range next {
				s := results[i].Scenario
				var out []KnownRate
				for _, v := range []struct {
					look  int
					share float64
				}{{1, 1}, {s.PromoteLook(), 1}, {1, 0.5}} {
					kr, err := s.KnownRate(s.Runs, v.look, v.share)
					if err != nil {
						mu.Lock()
						if first == nil {
							first = err
						}
						mu.Unlock()
						break
					}
					out = append(out, kr)
				}
				results[i].KnownRate = out
			}
		})
	}
	var err error
feed:
	for i, r := range results {
		if r.Scenario.Healthy() {
			continue
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("canary benchmark: %w", ctx.Err())
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			err = fmt.Errorf("canary benchmark: %w", ctx.Err())
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return err
	}
	return first
}
