package canary

import (
	"context"
	"strings"
	"testing"
)

// TestKnownRate checks the known-rate reference on two bad canaries: no
// run of it beats Wald's bound on average (its level is below the bound's
// α and it is a valid test), it is not far above it when it looks after
// every request (the mixture costs ln 7 on about 4.9 of level: a factor
// near 1.4, plus the overshoot), sparser looks and a lower level cost
// requests, and its figures are the same from one call to the next.
func TestKnownRate(t *testing.T) {
	grid := Grid(GridConfig{HealthyRuns: 1, BadRuns: 200, Horizon: 60})
	for _, name := range []string{"errors 20% at 50% weight, 1000 req/s", "latency +50% at 10% weight, 100 req/s"} {
		var s Scenario
		for _, g := range grid {
			if g.Name == name {
				s = g
			}
		}
		if s.Name == "" {
			t.Fatalf("no scenario %q in the grid", name)
		}
		every, err := s.KnownRate(s.Runs, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if every.Censored || every.Rejected != s.Runs {
			t.Fatalf("%s: %d of %d runs rejected", name, every.Rejected, s.Runs)
		}
		if every.SPRTRatio < 1 || every.SPRTRatio > 2 {
			t.Errorf("%s, every request: %.2f× the SPRT bound, want between 1 and 2", name, every.SPRTRatio)
		}
		sparse, err := s.KnownRate(s.Runs, 50, 1)
		if err != nil {
			t.Fatal(err)
		}
		half, err := s.KnownRate(s.Runs, 1, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if sparse.Requests.Mean <= every.Requests.Mean || half.Requests.Mean <= every.Requests.Mean {
			t.Errorf("%s: every request %.1f, every 50 %.1f, half level %.1f: want the latter two above the first", name, every.Requests.Mean, sparse.Requests.Mean, half.Requests.Mean)
		}
		again, _ := s.KnownRate(s.Runs, 1, 1)
		if again != every {
			t.Errorf("%s: %+v, then %+v: not deterministic", name, every, again)
		}
	}
}

// TestKnownRates checks that KnownRates fills the bad canaries' figures
// only, and that the table lists each of them.
func TestKnownRates(t *testing.T) {
	var scenarios []Scenario
	for _, s := range Grid(GridConfig{HealthyRuns: 5, BadRuns: 20, Horizon: 30}) {
		if s.Rate == 100 && s.Weight == 0.1 {
			scenarios = append(scenarios, s)
		}
	}
	results, err := Run(context.Background(), scenarios, Judges(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := KnownRates(context.Background(), results, 2); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteKnownRate(&b, results); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		healthy := r.Scenario.Healthy()
		if healthy != (len(r.KnownRate) == 0) {
			t.Errorf("%s: %d known-rate figures", r.Scenario.Name, len(r.KnownRate))
		}
		row := "| " + r.Scenario.Effect + " | 10% | 100 |"
		if !healthy && !strings.Contains(b.String(), row) {
			t.Errorf("the table has no row %q:\n%s", row, b.String())
		}
		for _, kr := range r.KnownRate {
			if kr.Runs != r.Scenario.Runs || kr.Requests.Mean <= 0 {
				t.Errorf("%s: %+v", r.Scenario.Name, kr)
			}
		}
	}
	if err := KnownRates(canceled(), results, 2); err == nil {
		t.Error("KnownRates with a canceled context: no error")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
