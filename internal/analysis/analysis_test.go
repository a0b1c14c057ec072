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
		{"everything set", Config{Alpha: 0.05, ErrorAlphaShare: 0.5, GuardAlpha: 0.02, MaxErrorRate: 0.01, MaxLatencyP95: 150 * time.Millisecond, MinRequests: 500,
			LatencyThreshold: 250 * time.Millisecond, LatencyQuantile: 0.75}, nil},
		{"every field wrong", Config{Alpha: 0.7, ErrorAlphaShare: 1, GuardAlpha: -0.1, MaxErrorRate: 1.5, MaxLatencyP95: -time.Second, MinRequests: -3,
			LatencyThreshold: -time.Millisecond, LatencyQuantile: 1},
			[]string{"alpha: 0.7", "errorAlphaShare: 1", "guardAlpha: -0.1", "maxErrorRate: 1.5", "maxLatencyP95: -1s", "minRequests: -3", "latencyThreshold: -1ms", "latencyQuantile: 1"}},
		{"NaN", Config{Alpha: math.NaN(), ErrorAlphaShare: math.NaN(), GuardAlpha: math.NaN(), MaxErrorRate: math.NaN(), MinRequests: math.NaN(), LatencyQuantile: math.NaN()},
			[]string{"alpha: NaN", "errorAlphaShare: NaN", "guardAlpha: NaN", "maxErrorRate: NaN", "minRequests: NaN", "latencyQuantile: NaN"}},
		{"guard alpha above 0.5", Config{GuardAlpha: 0.6}, []string{"guardAlpha: 0.6"}},
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
	want := Config{Alpha: 0.01, ErrorAlphaShare: 0.75, GuardAlpha: 0.01, MinRequests: 100, LatencyQuantile: 0.9}
	if diff := cmp.Diff(want, a.cfg); diff != "" {
		t.Errorf("New(Config{}) config (-want +got):\n%s", diff)
	}
	// GuardAlpha follows Alpha unless set.
	if got := mustNew(t, Config{Alpha: 0.002}).cfg.GuardAlpha; got != 0.002 {
		t.Errorf("New(Config{Alpha: 0.002}) GuardAlpha = %v, want 0.002", got)
	}
	v := a.Observe(Observation{At: at(1), Stable: track(900, 0), Canary: track(100, 0)})
	if got := test(t, v, TestErrorRate).Threshold; math.Abs(got-400.0/3) > 1e-9 {
		t.Errorf("error-rate test threshold = %v, want 1/(0.75α) = 133.3", got)
	}
	if got := test(t, v, TestLatency).Threshold; math.Abs(got-400) > 1e-9 {
		t.Errorf("latency test threshold = %v, want 1/(0.25α) = 400", got)
	}
	// The split follows ErrorAlphaShare.
	v = mustNew(t, Config{ErrorAlphaShare: 0.5}).Observe(Observation{At: at(1), Stable: track(900, 0), Canary: track(100, 0)})
	if e, l := test(t, v, TestErrorRate).Threshold, test(t, v, TestLatency).Threshold; e != 200 || l != 200 {
		t.Errorf("ErrorAlphaShare 0.5: thresholds %v and %v, want 2/α = 200 for both", e, l)
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
	// stable ones. M = 247.3 ≥ 1/(0.75α) = 133.3 (TestRatioTestKnownValues).
	v := a.Observe(Observation{At: at(1), Stable: track(90, 0), Canary: track(10, 3)})
	if v.Decision != Fail {
		t.Fatalf("Observe() = %v: %s, want fail", v.Decision, v.Reason)
	}
	got := test(t, v, TestErrorRate)
	want := TestResult{
		Name: TestErrorRate, Status: StatusFail, Sequential: true,
		Statistic: 247.3496225986784, Threshold: 400.0 / 3, PValue: 0.004042860423613774,
		CanaryEvents: 3, CanaryRequests: 10, StableEvents: 0, StableRequests: 90,
		Detail: "canary error rate 30% (3/10) is above stable's 0% (0/90) (p = 0.00404 ≤ 0.0075, this test's level: 0.75 of the comparisons' α = 0.01)",
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
	// The e-values were computed with plain Python from
	// M = mean over guardRatios of ρ^x / (1 + L(ρ-1))^n (TestLimitTestKnownValues).
	tests := []struct {
		name      string
		cfg       Config
		canary    Counts
		errStatus Status
		p95Status Status
		errE      float64 // the error guard's e-value, when it judges
		p95E      float64 // the p95 guard's e-value, when it judges
		bound     float64 // the p95 guard's bucket bound
		slow      float64 // canary requests slower than it
		reason    string
	}{
		{name: "off", canary: track(1000, 50), errStatus: StatusSkipped, p95Status: StatusSkipped},
		{name: "too few requests", cfg: Config{MaxErrorRate: 0.01, MaxLatencyP95: 200 * time.Millisecond}, canary: track(99, 50),
			errStatus: StatusPending, p95Status: StatusPending, errE: 1, p95E: 1, bound: 0.25},
		// 1% errors against 1%; no request slower than 0.25 s.
		{name: "within limits", cfg: Config{MaxErrorRate: 0.01, MaxLatencyP95: 250 * time.Millisecond}, canary: track(1000, 10),
			errStatus: StatusOK, p95Status: StatusOK, errE: 0.03994983095423307, p95E: 1.8885766168521156e-12, bound: 0.25},
		// 2% errors against 1% in 1,000 requests is not enough evidence;
		// 2.5% is (the least count that is, at GuardAlpha/2 = 0.005).
		{name: "error rate above, not confidently", cfg: Config{MaxErrorRate: 0.01}, canary: track(1000, 20),
			errStatus: StatusOK, p95Status: StatusSkipped, errE: 6.035117838455743},
		{name: "error rate above", cfg: Config{MaxErrorRate: 0.01}, canary: track(1000, 25),
			errStatus: StatusFail, p95Status: StatusSkipped, errE: 339.52403248301573,
			reason: "slo_error_rate: canary error rate is above the limit 1% (p = 0.00295 ≤ GuardAlpha/2 = 0.005); observed 2.5% (25/1000)"},
		{name: "lower minimum", cfg: Config{MaxErrorRate: 0.01, MinRequests: 10}, canary: track(20, 5),
			errStatus: StatusFail, p95Status: StatusSkipped, errE: 42797.388666382714,
			reason: "slo_error_rate: canary error rate is above the limit 1% (p = 2.34e-05 ≤ GuardAlpha/2 = 0.005); observed 25% (5/20)"},
		// 100 of 1000 requests are slower than 0.1 s.
		{name: "p95 above", cfg: Config{MaxLatencyP95: 100 * time.Millisecond}, canary: track(1000, 0),
			errStatus: StatusSkipped, p95Status: StatusFail, p95E: 45941088.50186775, bound: 0.1, slow: 100,
			reason: "slo_latency_p95: canary p95 latency is above the limit 0.1s: more than 5% of its requests are slower (p = 2.18e-08 ≤ GuardAlpha/2 = 0.005); observed 10% (100/1000) slower than 0.1s, histogram_quantile p95 0.175s"},
		{name: "p95 above a rounded-up limit", cfg: Config{MaxLatencyP95: 80 * time.Millisecond}, canary: track(1000, 0),
			errStatus: StatusSkipped, p95Status: StatusFail, p95E: 45941088.50186775, bound: 0.1, slow: 100,
			reason: "slo_latency_p95: canary p95 latency is above 0.1s, the limit 0.08s rounded up to a bucket bound: more than 5% of its requests are slower (p = 2.18e-08 ≤ GuardAlpha/2 = 0.005); observed 10% (100/1000) slower than 0.1s, histogram_quantile p95 0.175s"},
		// histogram_quantile interpolates 0.175 s, but every request
		// may have taken 0.11 s: the buckets cannot show that the p95 is
		// above 0.15 s, and the guard, counting above 0.25 s, passes.
		{name: "p95 limit between bounds", cfg: Config{MaxLatencyP95: 150 * time.Millisecond}, canary: track(1000, 0),
			errStatus: StatusSkipped, p95Status: StatusOK, p95E: 1.8885766168521156e-12, bound: 0.25},
		{name: "p95 limit beyond the buckets", cfg: Config{MaxLatencyP95: 2 * time.Second}, canary: track(1000, 0),
			errStatus: StatusSkipped, p95Status: StatusError,
			reason: "slo_latency_p95: no finite bucket bound of the canary's latency histogram is at least the limit 2s"},
		{name: "no histogram", cfg: Config{MaxLatencyP95: 150 * time.Millisecond}, canary: Counts{Requests: 1000},
			errStatus: StatusSkipped, p95Status: StatusError,
			reason: "slo_latency_p95: the canary served 1000 requests but has no latency histogram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, tt.cfg)
			// Stable fails as often as the canary: the comparisons with
			// stable find nothing, only the guards judge.
			stable := track(9*tt.canary.Requests, 9*tt.canary.Errors)
			v := a.Observe(Observation{At: at(1), Stable: stable, Canary: tt.canary})
			e, p := test(t, v, TestSLOErrorRate), test(t, v, TestSLOLatency)
			if e.Status != tt.errStatus || p.Status != tt.p95Status {
				t.Errorf("guards = %v, %v (%s; %s), want %v, %v", e.Status, p.Status, e.Detail, p.Detail, tt.errStatus, tt.p95Status)
			}
			if tt.errE != 0 {
				if diff := cmp.Diff(tt.errE, e.Statistic, approx); diff != "" {
					t.Errorf("error guard e-value = %v, want %v", e.Statistic, tt.errE)
				}
				if e.Threshold != 200 || e.CanaryEvents != tt.canary.Errors || e.CanaryRequests != tt.canary.Requests {
					t.Errorf("error guard threshold %v, counts %v/%v; want 200, %v/%v", e.Threshold, e.CanaryEvents, e.CanaryRequests, tt.canary.Errors, tt.canary.Requests)
				}
			}
			if tt.p95E != 0 {
				if diff := cmp.Diff(tt.p95E, p.Statistic, approx); diff != "" {
					t.Errorf("p95 guard e-value = %v, want %v", p.Statistic, tt.p95E)
				}
			}
			if p.LatencyThreshold != tt.bound || p.CanaryEvents != tt.slow {
				t.Errorf("p95 guard bound %v, slow requests %v; want %v, %v", p.LatencyThreshold, p.CanaryEvents, tt.bound, tt.slow)
			}
			for _, r := range []TestResult{e, p} {
				if r.Sequential {
					t.Errorf("%s: Sequential = true, want false for a guard", r.Name)
				}
				if r.Status == StatusOK || r.Status == StatusFail {
					if want := min(1, 1/r.Statistic); math.Abs(r.PValue-want) > 1e-12*want {
						t.Errorf("%s: p-value = %v, want 1/max(1, M) = %v", r.Name, r.PValue, want)
					}
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

// TestSLOGuardStaysFailed checks that a guard that found the canary above
// its limit stays failed when later counts dilute the evidence: the
// always-valid p-value keeps the largest e-value.
func TestSLOGuardStaysFailed(t *testing.T) {
	a := mustNew(t, Config{MaxErrorRate: 0.01})
	v := a.Observe(Observation{At: at(1), Stable: track(9000, 225), Canary: track(1000, 25)})
	if got := test(t, v, TestSLOErrorRate); got.Status != StatusFail {
		t.Fatalf("error guard = %v (%s), want fail", got.Status, got.Detail)
	}
	v = a.Observe(Observation{At: at(2), Stable: track(90000, 270), Canary: track(10000, 30)})
	got := test(t, v, TestSLOErrorRate)
	if v.Decision != Fail || got.Status != StatusFail || got.Statistic >= 1 || math.Abs(got.PValue-1/339.52403248301573) > 1e-12 {
		t.Errorf("later: decision %v, guard %v, e-value %v, p %v; want fail, an e-value below 1 and p = 1/339.524", v.Decision, got.Status, got.Statistic, got.PValue)
	}
	if want := "observed 0.3% (30/10000)"; !strings.HasSuffix(got.Detail, want) {
		t.Errorf("detail = %q, want it to end with %q", got.Detail, want)
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
	a := mustNew(t, Config{MaxErrorRate: 0.01})
	v := a.Observe(Observation{At: at(60), Stable: track(9000, 0), Canary: track(1000, 1000)})
	for _, name := range []string{TestErrorRate, TestSLOErrorRate} {
		got := test(t, v, name)
		if got.Status != StatusFail || got.Statistic != math.MaxFloat64 || got.PValue != 0 {
			t.Errorf("%s = %v, e-value %v, p %v; want fail, the largest float64 and 0", name, got.Status, got.Statistic, got.PValue)
		}
	}
	if v.Decision != Fail {
		t.Errorf("decision = %v, want fail", v.Decision)
	}
	if _, err := json.Marshal(v); err != nil {
		t.Errorf("json.Marshal(verdict) error: %v", err)
	}
}
