package canary

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/analysis"
)

// historyScenario returns the scenario of HistoryGrid named name, with
// runs runs.
func historyScenario(t *testing.T, cfg HistoryGridConfig, name string, runs int) HistoryScenario {
	t.Helper()
	for _, s := range HistoryGrid(cfg) {
		if s.Name == name {
			s.Runs = runs
			return s
		}
	}
	t.Fatalf("no scenario %q in the history grid", name)
	return HistoryScenario{}
}

// TestHistoryJudge is the small seeded version of the Promote+history
// judge's benchmark that CI runs: two bad canaries, each rolled back in
// every run, below 3× the SPRT bound on average, and a healthy one rolled
// back in at most one run of 40; the figures are the same with one worker
// and with three, and the tables list every row. Stable's history comes
// with its recent counts (History.Recent) at the past rate, which must
// hold nothing.
func TestHistoryJudge(t *testing.T) {
	cfg := DefaultHistoryGrid
	cfg.Horizon = 600
	scenarios := []HistoryScenario{
		historyScenario(t, cfg, "errors 5% at 10% weight, 100 req/s", 40),
		historyScenario(t, cfg, "latency +50% at 50% weight, 1000 req/s", 40),
		historyScenario(t, cfg, "healthy at 10% weight, 10 req/s", 40),
	}
	one, err := RunHistory(context.Background(), scenarios, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	three, err := RunHistory(context.Background(), scenarios, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(one, three); diff != "" {
		t.Errorf("RunHistory with 1 and 3 workers (-1 +3):\n%s", diff)
	}
	for _, r := range one {
		s := r.History
		if r.SPRT == nil {
			if s.RolledBack > 1 {
				t.Errorf("%s: %d false rollbacks in %d runs, want at most 1", r.Scenario.Name, s.RolledBack, s.Runs)
			}
			continue
		}
		if s.RolledBack != s.Runs {
			t.Errorf("%s: rolled back %d of %d runs, want all", r.Scenario.Name, s.RolledBack, s.Runs)
		}
		if s.SPRTRatio < 1 || s.SPRTRatio > 3 {
			t.Errorf("%s: %.2f× the SPRT bound, want between 1 and 3", r.Scenario.Name, s.SPRTRatio)
		}
		if r.ByHistory == 0 {
			t.Errorf("%s: no rollback by the history tests", r.Scenario.Name)
		}
		t.Logf("%s: %s canary requests, %.2f× the SPRT bound, %d of %d by history", r.Scenario.Name, num(s.Requests.Mean), s.SPRTRatio, r.ByHistory, s.Runs)
	}
	var b strings.Builder
	if err := WriteHistory(&b, one); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| errors 5% | 10% | 100 | 58.7 |", "| latency +50% | 50% | 1,000 | 24.5 |", "| 10 | 10% | 1 |",
		"horizon 6 h", "within 2× of the SPRT bound"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the tables have no %q:\n%s", want, b.String())
		}
	}
}

// TestHistoryPerRequest checks that the judge rolls back at the canary
// request the history tests trip on, and counts exactly the requests up
// to it: a canary whose every request fails, at 500 canary requests a
// second, trips within the first tenth of a second, before any look, at
// request k, the k of a Baseline with the run's history told k failed
// requests and nothing else.
func TestHistoryPerRequest(t *testing.T) {
	s := HistoryScenario{Scenario: Scenario{Name: "all errors", Effect: "errors 100%", Rate: 1000, Weight: 0.5,
		Stable: Track{ErrorRate: StableErrorRate}, Canary: Track{ErrorRate: 1}, Horizon: 10, Runs: 10, Slices: slicesAt(1000)},
		Window: DefaultHistoryWindow}
	for run := range s.Runs {
		got, _ := s.Simulate(run)
		past := s.History(rand.New(rand.NewPCG(uint64(run), s.seed()^historySeed)))
		a, err := analysis.New(analysis.Config{Alpha: BoundAlpha, History: &past})
		if err != nil {
			t.Fatal(err)
		}
		b := a.Baseline()
		b.Inline()
		k := 1
		for ; !b.Canary(true, StableMedian) && k < 1000; k++ {
		}
		if !got.RolledBack || !got.ByHistory || got.Requests != float64(k) || got.Bad != float64(k) || got.Seconds >= 0.1 {
			t.Errorf("run %d: %+v, want rolled back by history at canary request %d, within the first 0.1 s", run, got, k)
		}
	}
}

// TestHistoryDraw checks stable's drawn history: a week of requests at the
// scenario's rate, errors near its rate, a cumulative histogram of all of
// them whose shares are the latency model's, which the analysis takes.
func TestHistoryDraw(t *testing.T) {
	s := HistoryScenario{Scenario: Scenario{Name: "draw", Rate: 10, Weight: 0.1, Stable: Track{ErrorRate: StableErrorRate}}, Window: DefaultHistoryWindow}
	h := s.History(rand.New(rand.NewPCG(1, 2)))
	if h.Recent != nil {
		t.Errorf("recent counts %+v with no Recent", *h.Recent)
	}
	n := 10.0 * DefaultHistoryWindow
	if h.Requests != n || h.Latency.Count != n {
		t.Fatalf("requests %v, histogram count %v, want %v", h.Requests, h.Latency.Count, n)
	}
	if sd := math.Sqrt(n * StableErrorRate); math.Abs(h.Errors-n*StableErrorRate) > 5*sd {
		t.Errorf("errors %v, want %v ± %v", h.Errors, n*StableErrorRate, 5*sd)
	}
	for i, c := range h.Latency.Counts {
		if c != math.Round(c) || i > 0 && c < h.Latency.Counts[i-1] || c > n {
			t.Fatalf("counts %v: not cumulative counts of at most %v", h.Latency.Counts, n)
		}
		want := n * s.Stable.Below(Bounds[i])
		if sd := math.Sqrt(want*(1-want/n)) + 1; math.Abs(c-want) > 5*sd {
			t.Errorf("bucket %v: %v, want %v ± %v", Bounds[i], c, want, 5*sd)
		}
	}
	if _, err := analysis.New(analysis.Config{History: &h}); err != nil {
		t.Errorf("analysis.New refuses the history: %v", err)
	}
}

// TestRunHistoryRefuses checks that a scenario the judge cannot simulate
// is refused with its name, before any run.
func TestRunHistoryRefuses(t *testing.T) {
	cfg := DefaultHistoryGrid
	cfg.HealthyRuns = 1
	s := historyScenario(t, cfg, "healthy at 10% weight, 10 req/s", 1)
	for _, tt := range []struct {
		edit func(*HistoryScenario)
		want string
	}{
		{func(s *HistoryScenario) { s.Window = -1 }, "history window -1"},
		{func(s *HistoryScenario) { s.Window = math.NaN() }, "history window NaN"},
		{func(s *HistoryScenario) { s.Weight = 0 }, "a weight in (0, 1]"},
		{func(s *HistoryScenario) { s.Recent = -1 }, "recent history -1"},
		{func(s *HistoryScenario) { s.Recent = s.Window + 1 }, "recent history 604801 is not a duration within the window 604800"},
		{func(s *HistoryScenario) { s.Drift = &Drift{At: -s.Window - 1, ErrorRate: 0.01} }, "drift start -604801"},
	} {
		bad := s
		tt.edit(&bad)
		_, err := RunHistory(context.Background(), []HistoryScenario{bad}, 1, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), s.Name) {
			t.Errorf("RunHistory: %v, want an error naming %q and %q", err, s.Name, tt.want)
		}
	}
}

// TestHistoryRecent checks stable's drawn recent counts (History.Recent)
// in a drift under way since 10 minutes before the rollout: 15 minutes of
// requests at the scenario's rate, errors at most the requests and near
// the rates in force (5 minutes at 0.5%, 10 at 1%), a cumulative
// histogram of all of them with the drift's latencies, a part of the
// week's counts, the same for the same seed, and taken by the analysis.
func TestHistoryRecent(t *testing.T) {
	for _, d := range []Drift{{Name: "errors", At: DriftBefore, ErrorRate: 0.01}, {Name: "latency", At: DriftBefore, LatencyFactor: 1.2}} {
		s := HistoryScenario{Scenario: Scenario{Name: "recent", Rate: DriftRate, Weight: 0.5, Stable: Track{ErrorRate: StableErrorRate}},
			Window: DefaultHistoryWindow, Recent: DefaultHistoryRecent, Drift: &d}
		h := s.History(rand.New(rand.NewPCG(3, 4)))
		if h.Recent == nil {
			t.Fatalf("%s: no recent counts", d.Name)
		}
		rc := *h.Recent
		n := DriftRate * float64(DefaultHistoryRecent)
		if rc.Requests != n || rc.Latency.Count != n || h.Requests != DriftRate*DefaultHistoryWindow {
			t.Fatalf("%s: recent requests %v, histogram count %v, want %v; window %v", d.Name, rc.Requests, rc.Latency.Count, n, h.Requests)
		}
		before, after := s.Stable, d.apply(s.Stable)
		nb, na := DriftRate*float64(DefaultHistoryRecent+DriftBefore), DriftRate*float64(-DriftBefore)
		want := nb*before.ErrorRate + na*after.ErrorRate
		if sd := math.Sqrt(want); rc.Errors > rc.Requests || math.Abs(rc.Errors-want) > 5*sd {
			t.Errorf("%s: recent errors %v of %v, want %v ± %v", d.Name, rc.Errors, rc.Requests, want, 5*sd)
		}
		for i, c := range rc.Latency.Counts {
			if c != math.Round(c) || i > 0 && c < rc.Latency.Counts[i-1] || c > n || c > h.Latency.Counts[i] {
				t.Fatalf("%s: recent counts %v: not cumulative counts of at most %v within the window's %v", d.Name, rc.Latency.Counts, n, h.Latency.Counts)
			}
			want := nb*before.Below(Bounds[i]) + na*after.Below(Bounds[i])
			if sd := math.Sqrt(want*(1-want/n)) + 1; math.Abs(c-want) > 5*sd {
				t.Errorf("%s: recent bucket %v: %v, want %v ± %v", d.Name, Bounds[i], c, want, 5*sd)
			}
		}
		if rc.Errors > h.Errors || rc.Requests > h.Requests {
			t.Errorf("%s: recent %v errors of %v, not within the window's %v of %v", d.Name, rc.Errors, rc.Requests, h.Errors, h.Requests)
		}
		if diff := cmp.Diff(h, s.History(rand.New(rand.NewPCG(3, 4)))); diff != "" {
			t.Errorf("%s: two draws with the same seed differ (-first +second):\n%s", d.Name, diff)
		}
		if _, err := analysis.New(analysis.Config{History: &h}); err != nil {
			t.Errorf("%s: analysis.New refuses the history: %v", d.Name, err)
		}
	}
}

// TestHistoryGridDrifts checks the shared-drift scenarios: each kind of
// Drifts from each of DriftStarts at each weight, once, at DriftRate, with
// the grid's Recent and the Promote judge beside.
func TestHistoryGridDrifts(t *testing.T) {
	type key struct {
		name   string
		at, w  float64
		recent float64
	}
	seen := map[key]bool{}
	names := map[string]bool{}
	for _, s := range HistoryGrid(DefaultHistoryGrid) {
		if s.Drift == nil {
			continue
		}
		k := key{s.Drift.Name, s.Drift.At, s.Weight, s.Recent}
		if seen[k] || names[s.Name] || !s.Promote || s.Rate != DriftRate || s.Runs != DefaultHistoryGrid.DriftRuns {
			t.Errorf("drift scenario %q: %+v, repeated or not as the grid says", s.Name, k)
		}
		seen[k], names[s.Name] = true, true
	}
	for _, d := range Drifts {
		for _, at := range DriftStarts {
			for _, w := range Weights {
				if k := (key{d.Name, at, w, DefaultHistoryRecent}); !seen[k] {
					t.Errorf("no drift scenario %+v in %v", k, seen)
				}
			}
		}
	}
	if len(seen) != len(Drifts)*len(DriftStarts)*len(Weights) {
		t.Errorf("%d drift scenarios, want %d", len(seen), len(Drifts)*len(DriftStarts)*len(Weights))
	}
}
