package analysis

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// at returns the time s seconds after t0.
func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// testBounds are the buckets of the histograms built by hist.
var testBounds = []float64{0.1, 0.25, 0.5, 1, math.Inf(1)}

// hist returns a histogram of n requests of which the given numbers took
// at most 0.1, 0.25, 0.5 and 1 second; the rest took longer.
func hist(n float64, le ...float64) Histogram {
	counts := append(append([]float64(nil), le...), n)
	return Histogram{Bounds: testBounds, Counts: counts, Count: n, Sum: n * 0.1}
}

// track returns counts with requests, errors and a histogram in which 90%
// of the requests took at most 0.1 s and the others at most 0.25 s.
func track(requests, errs float64) Counts {
	fast := math.Round(0.9 * requests)
	return Counts{Requests: requests, Errors: errs, Latency: hist(requests, fast, requests, requests, requests)}
}

func mustNew(t *testing.T, cfg Config) *Analyzer {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) error: %v", cfg, err)
	}
	return a
}

// test returns the named test of v.
func test(t *testing.T, v Verdict, name string) TestResult {
	t.Helper()
	for _, r := range v.Tests {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("verdict has no test %q: %+v", name, v)
	return TestResult{}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings of the error, one per invalid field
	}{
		{"defaults", Config{}, nil},
		{"everything set", Config{Alpha: 0.05, MaxErrorRate: 0.01, MaxLatencyP95: 150 * time.Millisecond, MinRequests: 500,
			LatencyThreshold: 250 * time.Millisecond, LatencyQuantile: 0.75}, nil},
		{"every field wrong", Config{Alpha: 0.7, MaxErrorRate: 1.5, MaxLatencyP95: -time.Second, MinRequests: -3,
			LatencyThreshold: -time.Millisecond, LatencyQuantile: 1},
			[]string{"alpha: 0.7", "maxErrorRate: 1.5", "maxLatencyP95: -1s", "minRequests: -3", "latencyThreshold: -1ms", "latencyQuantile: 1"}},
		{"NaN", Config{Alpha: math.NaN(), MaxErrorRate: math.NaN(), MinRequests: math.NaN(), LatencyQuantile: math.NaN()},
			[]string{"alpha: NaN", "maxErrorRate: NaN", "minRequests: NaN", "latencyQuantile: NaN"}},
		{"fractional minimum", Config{MinRequests: 0.5}, []string{"minRequests: 0.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("New(%+v) error: %v", tt.cfg, err)
				}
				if a == nil {
					t.Fatalf("New(%+v) = nil", tt.cfg)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New(%+v) error = %v, want ErrInvalidConfig", tt.cfg, err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("New(%+v) error = %q, want it to mention %q", tt.cfg, err, want)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.wantErr) {
				t.Errorf("New(%+v) reported %d problems, want %d: %v", tt.cfg, got, len(tt.wantErr), err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	a := mustNew(t, Config{})
	want := Config{Alpha: 0.01, MinRequests: 100, LatencyQuantile: 0.9}
	if diff := cmp.Diff(want, a.cfg); diff != "" {
		t.Errorf("New(Config{}) config (-want +got):\n%s", diff)
	}
	v := a.Observe(Observation{At: at(1), Stable: track(900, 0), Canary: track(100, 0)})
	if got := test(t, v, TestErrorRate).Threshold; got != 200 {
		t.Errorf("error-rate test threshold = %v, want 2/α = 200", got)
	}
}

func TestObserveInvalid(t *testing.T) {
	good := Observation{At: at(10), Stable: track(900, 4), Canary: track(100, 1)}
	tests := []struct {
		name   string
		edit   func(o *Observation)
		reason []string // substrings of the reason
	}{
		{"no time", func(o *Observation) { o.At = time.Time{} }, []string{"at: the observation has no time"}},
		{"time not after", func(o *Observation) { o.At = at(5) }, []string{"at: 2025-01-01T00:00:05Z is not after the previous observation at 2025-01-01T00:00:10Z"}},
		{"NaN requests", func(o *Observation) { o.Canary.Requests = math.NaN() }, []string{"canary.requests: NaN is not a finite number"}},
		{"infinite errors", func(o *Observation) { o.Stable.Errors = math.Inf(1) }, []string{"stable.errors: +Inf is not a finite number"}},
		{"negative errors", func(o *Observation) { o.Canary.Errors = -1 }, []string{"canary.errors: -1 is negative"}},
		{"requests reset", func(o *Observation) { o.Stable.Requests = 10 }, []string{"stable.requests: decreased from 900 to 10 (a counter reset?)"}},
		{"errors reset", func(o *Observation) { o.Canary.Errors = 0 }, []string{"canary.errors: decreased from 1 to 0"}},
		{"errors outgrow requests", func(o *Observation) { o.Canary.Errors = 150 }, []string{"canary.errors: grew by 149 since the previous observation but requests only by 100"}},
		{"two problems", func(o *Observation) { o.Canary.Errors = math.NaN(); o.Stable.Errors = -2 },
			[]string{"stable.errors: -2 is negative", "canary.errors: NaN is not a finite number"}},
		{"count NaN", func(o *Observation) { o.Canary.Latency.Count = math.NaN() }, []string{"canary.latency.count: NaN is not a finite number"}},
		{"bucket negative", func(o *Observation) { o.Stable.Latency.Counts[1] = -1 }, []string{"stable.latency.counts[1]: -1 is negative"}},
		{"bucket not cumulative", func(o *Observation) { o.Canary.Latency.Counts[1] = 10 }, []string{"canary.latency.counts[1]: 10 is below the count of the bucket before, 180"}},
		{"bucket above count", func(o *Observation) { o.Canary.Latency.Counts[3] = 250 }, []string{"canary.latency.counts[3]: 250 exceeds latency.count 200"}},
		{"bucket reset", func(o *Observation) { o.Canary.Latency.Counts[0] = 50 }, []string{"canary.latency.counts[0]: decreased from 90 to 50"}},
		{"bounds mismatch", func(o *Observation) { o.Stable.Latency.Counts = o.Stable.Latency.Counts[:3] }, []string{"stable.latency: 5 bounds but 3 counts"}},
		{"bounds not increasing", func(o *Observation) {
			o.Canary.Latency.Bounds = []float64{0.1, 0.5, 0.25, 1, math.Inf(1)}
		}, []string{"canary.latency.bounds[2]: 0.25 does not increase from 0.5"}},
		{"NaN bound", func(o *Observation) { o.Canary.Latency.Bounds = []float64{0.1, math.NaN(), 0.5, 1, math.Inf(1)} },
			[]string{"canary.latency.bounds[1]: NaN is not a bucket bound"}},
		{"bounds changed", func(o *Observation) { o.Canary.Latency.Bounds = []float64{0.1, 0.3, 0.5, 1, math.Inf(1)} },
			[]string{"canary.latency.bounds: changed from [0.1 0.25 0.5 1 +Inf] to [0.1 0.3 0.5 1 +Inf]"}},
		{"slow requests decrease", func(o *Observation) {
			// 100 more requests, but 105 more within 0.1 s: fewer
			// requests slower than 0.1 s than before.
			o.Canary.Latency.Count = 200
			o.Canary.Latency.Counts = []float64{195, 200, 200, 200, 200}
		}, []string{"canary.latency.counts[0]: grew by 105 since the previous observation but latency.count only by 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, Config{})
			if v := a.Observe(good); v.Decision != Continue {
				t.Fatalf("Observe(good) = %v: %s, want continue", v.Decision, v.Reason)
			}
			bad := Observation{At: at(20), Stable: track(1800, 8), Canary: track(200, 1)}
			tt.edit(&bad)
			v := a.Observe(bad)
			if v.Decision != Inconclusive {
				t.Errorf("Observe(%s) decision = %v, want inconclusive", tt.name, v.Decision)
			}
			for _, want := range tt.reason {
				if !strings.Contains(v.Reason, want) {
					t.Errorf("Observe(%s) reason = %q, want it to contain %q", tt.name, v.Reason, want)
				}
			}
			// The bad observation was not taken: the next good one is
			// compared with the first.
			next := Observation{At: at(30), Stable: track(2700, 12), Canary: track(300, 1)}
			v = a.Observe(next)
			if v.Decision != Continue {
				t.Errorf("Observe(next) = %v: %s, want continue", v.Decision, v.Reason)
			}
			if got := test(t, v, TestErrorRate).CanaryRequests; got != 300 {
				t.Errorf("error-rate test counted %v canary requests, want 300", got)
			}
		})
	}
}

func TestObserveFirstObservationErrorsAboveRequests(t *testing.T) {
	a := mustNew(t, Config{})
	v := a.Observe(Observation{At: at(1), Stable: track(100, 0), Canary: Counts{Requests: 3, Errors: 5}})
	want := "canary.errors: grew by 5 since the previous observation but requests only by 3"
	if v.Decision != Inconclusive || !strings.Contains(v.Reason, want) {
		t.Errorf("Observe() = %v: %q, want inconclusive naming %q", v.Decision, v.Reason, want)
	}
}

func TestObserveNoData(t *testing.T) {
	a := mustNew(t, Config{MaxErrorRate: 0.01})
	// A canary whose errors would fail every test, had it served anything
	// new: the same counts again are no data.
	o := Observation{At: at(1), Stable: track(0, 0), Canary: track(0, 0)}
	for i := range 5 {
		o.At = at(i + 1)
		v := a.Observe(o)
		if v.Decision != Inconclusive || v.Reason != "no new requests in either track since the previous observation" {
			t.Errorf("Observe(no requests, %d) = %v: %q, want inconclusive for lack of data", i, v.Decision, v.Reason)
		}
	}
	o = Observation{At: at(10), Stable: track(900, 0), Canary: track(100, 0)}
	if v := a.Observe(o); v.Decision != Continue {
		t.Fatalf("Observe(traffic) = %v: %s, want continue", v.Decision, v.Reason)
	}
	o.At = at(11)
	if v := a.Observe(o); v.Decision != Inconclusive {
		t.Errorf("Observe(same counts) = %v: %s, want inconclusive", v.Decision, v.Reason)
	}
}

func TestObserveErrorRateFails(t *testing.T) {
	a := mustNew(t, Config{})
	// A second at 10% weight: 3 of 10 canary requests fail, none of 90
	// stable ones. M = 286.9 ≥ 200 (TestRatioTestKnownValues).
	v := a.Observe(Observation{At: at(1), Stable: track(90, 0), Canary: track(10, 3)})
	if v.Decision != Fail {
		t.Fatalf("Observe() = %v: %s, want fail", v.Decision, v.Reason)
	}
	got := test(t, v, TestErrorRate)
	want := TestResult{
		Name: TestErrorRate, Status: StatusFail, Sequential: true,
		Statistic: 286.9362612277279, Threshold: 200, PValue: 0.0034850945492955546,
		CanaryEvents: 3, CanaryRequests: 10, StableEvents: 0, StableRequests: 90,
		Detail: "canary error rate 30% (3/10) is above stable's 0% (0/90) (p = 0.00349 ≤ α/2 = 0.005)",
	}
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("error-rate test (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(v.Reason, "error_rate: canary error rate 30%") {
		t.Errorf("reason = %q, want the error-rate test's detail", v.Reason)
	}
	// The failure stays, even when the counts no longer say so and when
	// an observation is invalid.
	v = a.Observe(Observation{At: at(60), Stable: track(5400, 30), Canary: track(600, 3)})
	if v.Decision != Fail {
		t.Errorf("Observe(later) = %v: %s, want fail", v.Decision, v.Reason)
	}
	v = a.Observe(Observation{At: at(61), Stable: track(5400, math.NaN()), Canary: track(600, 3)})
	if v.Decision != Fail || !strings.Contains(v.Reason, "stable.errors: NaN") {
		t.Errorf("Observe(invalid) = %v: %s, want fail mentioning the invalid field", v.Decision, v.Reason)
	}
}

func TestObserveTwoCanaryErrorsContinue(t *testing.T) {
	a := mustNew(t, Config{})
	v := a.Observe(Observation{At: at(1), Stable: track(90, 0), Canary: track(10, 2)})
	if v.Decision != Continue {
		t.Errorf("Observe() = %v: %s, want continue: two errors are not enough at α = 0.01", v.Decision, v.Reason)
	}
}

func TestSLOGuards(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		canary    Counts
		errStatus Status
		p95Status Status
		p95       float64
		reason    string
	}{
		{"off", Config{}, track(1000, 50), StatusSkipped, StatusSkipped, 0, ""},
		{"too few requests", Config{MaxErrorRate: 0.01, MaxLatencyP95: 200 * time.Millisecond}, track(99, 50),
			StatusPending, StatusPending, 0, ""},
		{"within limits", Config{MaxErrorRate: 0.01, MaxLatencyP95: 250 * time.Millisecond}, track(1000, 10),
			StatusOK, StatusOK, 0.175, ""},
		// 900 of 1000 requests ≤ 0.1 s, all ≤ 0.25 s: rank 950 gives
		// 0.1 + 0.15·50/100 = 0.175 s.
		{"p95 above", Config{MaxLatencyP95: 150 * time.Millisecond}, track(1000, 0),
			StatusSkipped, StatusFail, 0.175, "slo_latency_p95: canary p95 latency 0.175s exceeds the limit 0.15s"},
		{"error rate above", Config{MaxErrorRate: 0.01}, track(1000, 11),
			StatusFail, StatusSkipped, 0, "slo_error_rate: canary error rate 1.1% (11/1000) exceeds the limit 1%"},
		{"lower minimum", Config{MaxErrorRate: 0.01, MinRequests: 10}, track(20, 1),
			StatusFail, StatusSkipped, 0, "slo_error_rate: canary error rate 5% (1/20) exceeds the limit 1%"},
		{"no histogram", Config{MaxLatencyP95: 150 * time.Millisecond}, Counts{Requests: 1000},
			StatusSkipped, StatusError, 0, "slo_latency_p95: the canary served 1000 requests but has no latency histogram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, tt.cfg)
			// Stable fails as often as the canary: the sequential tests
			// find nothing, only the guards judge.
			stable := track(9*tt.canary.Requests, 9*tt.canary.Errors)
			v := a.Observe(Observation{At: at(1), Stable: stable, Canary: tt.canary})
			e, p := test(t, v, TestSLOErrorRate), test(t, v, TestSLOLatency)
			if e.Status != tt.errStatus || p.Status != tt.p95Status {
				t.Errorf("guards = %v, %v (%s; %s), want %v, %v", e.Status, p.Status, e.Detail, p.Detail, tt.errStatus, tt.p95Status)
			}
			if p.Status == StatusOK || p.Status == StatusFail {
				if diff := cmp.Diff(tt.p95, p.Statistic, approx); diff != "" {
					t.Errorf("p95 = %v, want %v", p.Statistic, tt.p95)
				}
			}
			wantDecision := Continue
			switch {
			case e.Status == StatusFail || p.Status == StatusFail:
				wantDecision = Fail
			case p.Status == StatusError:
				wantDecision = Inconclusive
			}
			if v.Decision != wantDecision {
				t.Errorf("decision = %v (%s), want %v", v.Decision, v.Reason, wantDecision)
			}
			if tt.reason != "" && v.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", v.Reason, tt.reason)
			}
		})
	}
}

func TestLatencyThreshold(t *testing.T) {
	// Stable: 60% of requests ≤ 0.1 s, 88% ≤ 0.25 s, 97% ≤ 0.5 s, 100% ≤ 1 s.
	stable := Counts{Requests: 1000, Latency: hist(1000, 600, 880, 970, 1000)}
	canary := Counts{Requests: 100, Latency: hist(100, 60, 88, 97, 100)}
	tests := []struct {
		name string
		cfg  Config
		want float64
	}{
		// |0.88 - 0.9| is the smallest distance.
		{"derived p90", Config{}, 0.25},
		{"derived p95", Config{LatencyQuantile: 0.95}, 0.5},
		{"derived median", Config{LatencyQuantile: 0.5}, 0.1},
		{"configured bound", Config{LatencyThreshold: 500 * time.Millisecond}, 0.5},
		{"configured, rounded up", Config{LatencyThreshold: 300 * time.Millisecond}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, tt.cfg)
			v := a.Observe(Observation{At: at(10), Stable: stable, Canary: canary})
			got := test(t, v, TestLatency)
			if got.Status != StatusOK || got.LatencyThreshold != tt.want {
				t.Errorf("latency test = %v at %vs (%s), want ok at %vs", got.Status, got.LatencyThreshold, got.Detail, tt.want)
			}
		})
	}
}

func TestLatencyThresholdWaits(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		stable     Counts
		canary     Counts
		wantStatus Status
		wantDetail string
	}{
		{"few stable requests", Config{}, track(99, 0), track(11, 0), StatusPending,
			"waiting for 100 stable requests in the latency histogram to fix the threshold"},
		{"no canary histogram", Config{LatencyThreshold: time.Second}, track(1000, 0), Counts{}, StatusPending,
			"waiting for both tracks' latency histograms"},
		{"threshold beyond the buckets", Config{LatencyThreshold: 2 * time.Second}, track(1000, 0), track(100, 0), StatusError,
			"no bucket bound common to both histograms is at least the configured threshold 2s"},
		{"no common bound", Config{}, track(1000, 0),
			Counts{Requests: 100, Latency: Histogram{Bounds: []float64{0.3, math.Inf(1)}, Counts: []float64{100, 100}, Count: 100}},
			StatusError, "the canary and stable histograms have no finite bucket bound in common"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, tt.cfg)
			v := a.Observe(Observation{At: at(1), Stable: tt.stable, Canary: tt.canary})
			got := test(t, v, TestLatency)
			if got.Status != tt.wantStatus || got.Detail != tt.wantDetail {
				t.Errorf("latency test = %v: %q, want %v: %q", got.Status, got.Detail, tt.wantStatus, tt.wantDetail)
			}
			wantDecision := Continue
			if tt.wantStatus == StatusError {
				wantDecision = Inconclusive
			}
			if v.Decision != wantDecision {
				t.Errorf("decision = %v (%s), want %v", v.Decision, v.Reason, wantDecision)
			}
		})
	}
}

// TestLatencyFails feeds the latency test a canary whose requests are all
// slower than the threshold while stable's are not, and checks that only
// the intervals after the threshold was derived count.
func TestLatencyFails(t *testing.T) {
	a := mustNew(t, Config{})
	stable := Counts{Requests: 900, Latency: hist(900, 540, 792, 873, 900)} // 12% slower than 0.25 s
	canary := Counts{Requests: 100, Latency: hist(100, 60, 88, 97, 100)}
	v := a.Observe(Observation{At: at(1), Stable: stable, Canary: canary})
	got := test(t, v, TestLatency)
	if got.LatencyThreshold != 0.25 || got.CanaryRequests != 0 || got.Statistic != 1 {
		t.Fatalf("latency test after the first observation = %+v, want threshold 0.25 s and nothing counted yet", got)
	}
	// Next second: 10 canary requests, all slower than 0.25 s; 90 stable
	// requests, 10 of them slower.
	stable = Counts{Requests: 990, Latency: hist(990, 600, 872, 960, 990)}
	canary = Counts{Requests: 110, Latency: hist(110, 60, 88, 97, 100)}
	v = a.Observe(Observation{At: at(2), Stable: stable, Canary: canary})
	got = test(t, v, TestLatency)
	// w = 0.1, x = 10 of e = 20 events: M = mean over the grid of
	// ρ^10 / (1 + 0.1(ρ-1))^20, far above 200.
	want := 0.0
	for _, r := range latencyRatios {
		want += math.Pow(r, 10) / math.Pow(1+0.1*(r-1), 20) / float64(len(latencyRatios))
	}
	if got.Status != StatusFail || v.Decision != Fail {
		t.Fatalf("latency test = %+v, decision %v, want fail", got, v.Decision)
	}
	if diff := cmp.Diff(want, got.Statistic, approx); diff != "" {
		t.Errorf("latency e-value = %v, want %v", got.Statistic, want)
	}
	wantCounts := [4]float64{10, 10, 10, 90}
	gotCounts := [4]float64{got.CanaryEvents, got.CanaryRequests, got.StableEvents, got.StableRequests}
	if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
		t.Errorf("latency test counts (canary events, requests, stable events, requests) (-want +got):\n%s", diff)
	}
}

// TestObserveCopies checks that the analyzer keeps its own copy of the
// histograms, so that a caller may reuse its slices.
func TestObserveCopies(t *testing.T) {
	a := mustNew(t, Config{})
	o := Observation{At: at(1), Stable: track(900, 0), Canary: track(100, 0)}
	a.Observe(o)
	o.Canary.Latency.Counts[0] = 0 // the caller reuses its slice
	o = Observation{At: at(2), Stable: track(1800, 0), Canary: track(200, 0)}
	if v := a.Observe(o); v.Decision != Continue {
		t.Errorf("Observe() = %v: %s, want continue", v.Decision, v.Reason)
	}
}

// TestVerdictJSON checks that overwhelming evidence keeps the verdict
// finite, so that it can be marshalled.
func TestVerdictJSON(t *testing.T) {
	a := mustNew(t, Config{})
	v := a.Observe(Observation{At: at(60), Stable: track(9000, 0), Canary: track(1000, 1000)})
	got := test(t, v, TestErrorRate)
	if v.Decision != Fail || got.Statistic != math.MaxFloat64 || got.PValue != 0 {
		t.Errorf("error-rate test = %v, e-value %v, p %v; want fail, the largest float64 and 0", got.Status, got.Statistic, got.PValue)
	}
	if _, err := json.Marshal(v); err != nil {
		t.Errorf("json.Marshal(verdict) error: %v", err)
	}
}
