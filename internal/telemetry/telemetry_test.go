package telemetry

import (
	"errors"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves r through its Handler and parses the text the way
// Prometheus' own parser does.
func scrape(t *testing.T, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(r.Handler(nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the text format 0.0.4", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// sample is one series as read back: its labels and value (a counter's or
// gauge's value, a histogram's count).
type sample struct {
	Labels map[string]string
	Value  float64
}

func samples(mf *dto.MetricFamily) []sample {
	var out []sample
	for _, m := range mf.GetMetric() {
		s := sample{Labels: map[string]string{}}
		for _, l := range m.GetLabel() {
			s.Labels[l.GetName()] = l.GetValue()
		}
		switch {
		case m.Counter != nil:
			s.Value = m.GetCounter().GetValue()
		case m.Gauge != nil:
			s.Value = m.GetGauge().GetValue()
		case m.Histogram != nil:
			s.Value = float64(m.GetHistogram().GetSampleCount())
		}
		out = append(out, s)
	}
	return out
}

func TestExposition(t *testing.T) {
	r := NewRegistry()
	req, err := r.Counter("app_requests_total", "Requests.", "route", "code")
	if err != nil {
		t.Fatal(err)
	}
	req.With("/a", "200").Inc()
	req.With("/a", "200").Add(2)
	req.With("/b", "500").Inc()
	req.With("/b", "500").Add(-5) // ignored: counters never decrease
	// Label values with the characters the text format escapes.
	req.With("q\"uo\\te\nline", "200").Inc()
	g, err := r.Gauge("app_weight", "Weight.", "model")
	if err != nil {
		t.Fatal(err)
	}
	g.With("m").Set(0.25)
	g.With("n").Set(3)
	g.With("n").Dec()
	if err := r.GaugeFunc("app_answer", "Answer.", func() float64 { return 42 }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Counter("app_unused_total", "Never incremented: no series, not listed."); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, r)
	want := map[string][]sample{
		"app_requests_total": {
			{map[string]string{"route": "/a", "code": "200"}, 3},
			{map[string]string{"route": "/b", "code": "500"}, 1},
			{map[string]string{"route": "q\"uo\\te\nline", "code": "200"}, 1},
		},
		"app_weight": {
			{map[string]string{"model": "m"}, 0.25},
			{map[string]string{"model": "n"}, 2},
		},
		"app_answer": {{map[string]string{}, 42}},
	}
	got := map[string][]sample{}
	for name, mf := range fams {
		got[name] = samples(mf)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("scraped series (-want +got):\n%s", d)
	}
	if typ := fams["app_requests_total"].GetType(); typ != dto.MetricType_COUNTER {
		t.Errorf("app_requests_total is a %v, want a counter", typ)
	}
	if typ := fams["app_weight"].GetType(); typ != dto.MetricType_GAUGE {
		t.Errorf("app_weight is a %v, want a gauge", typ)
	}
	if h := fams["app_weight"].GetHelp(); h != "Weight." {
		t.Errorf("app_weight's help = %q", h)
	}
}

func TestHistogramBuckets(t *testing.T) {
	r := NewRegistry()
	hv, err := r.Histogram("app_seconds", "Durations.", []float64{0.1, 0.5, 1}, "track")
	if err != nil {
		t.Fatal(err)
	}
	h := hv.With("stable")
	// An observation equal to a bound counts in that bound's bucket (le).
	for _, x := range []float64{0.05, 0.1, 0.3, 0.5, 0.7, 1, 2, 30} {
		h.Observe(x)
	}
	mf := scrape(t, r)["app_seconds"]
	if mf.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("app_seconds is a %v, want a histogram", mf.GetType())
	}
	hist := mf.GetMetric()[0].GetHistogram()
	got := map[float64]uint64{}
	for _, b := range hist.GetBucket() {
		got[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	want := map[float64]uint64{0.1: 2, 0.5: 4, 1: 6, math.Inf(+1): 8}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("cumulative buckets (-want +got):\n%s", d)
	}
	if n := hist.GetSampleCount(); n != 8 {
		t.Errorf("count = %d, want 8", n)
	}
	if s := hist.GetSampleSum(); math.Abs(s-34.65) > 1e-9 {
		t.Errorf("sum = %v, want 34.65", s)
	}
}

func TestFamiliesAreSharedByShape(t *testing.T) {
	r := NewRegistry()
	a, err := r.Counter("x_total", "X.", "model")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Counter("x_total", "X.", "model")
	if err != nil {
		t.Fatalf("the same family asked twice: %v", err)
	}
	a.With("m").Inc()
	b.With("m").Inc()
	if v := a.With("m").Value(); v != 2 {
		t.Errorf("two handles of one family counted %v, want 2", v)
	}

	for _, tc := range []struct {
		name string
		ask  func() error
		want string
	}{
		{"other labels", func() error { _, err := r.Counter("x_total", "X.", "env"); return err }, `registered as a counter with labels ["model"]`},
		{"other type", func() error { _, err := r.Gauge("x_total", "X.", "model"); return err }, "asked for a gauge"},
		{"other buckets", func() error {
			if _, err := r.Histogram("h", "H.", []float64{1, 2}); err != nil {
				return err
			}
			_, err := r.Histogram("h", "H.", []float64{1, 3})
			return err
		}, "metric h: registered as a histogram"},
		{"bad name", func() error { _, err := r.Counter("1x", "X."); return err }, `name "1x"`},
		{"bad label", func() error { _, err := r.Counter("y", "Y.", "a-b"); return err }, `label name "a-b"`},
		{"colon in a label", func() error { _, err := r.Counter("y2", "Y.", "a:b"); return err }, `label name "a:b"`},
		{"reserved label", func() error { _, err := r.Histogram("z", "Z.", []float64{1}, "le"); return err }, `"le" is reserved`},
		{"unsorted buckets", func() error { _, err := r.Histogram("w", "W.", []float64{2, 1}); return err }, "increasing order"},
		{"no buckets", func() error { _, err := r.Histogram("v", "V.", nil); return err }, "needs buckets"},
		{"function twice", func() error {
			if err := r.GaugeFunc("f", "F.", func() float64 { return 1 }); err != nil {
				return err
			}
			return r.GaugeFunc("f", "F.", func() float64 { return 2 })
		}, "registered once"},
		{"a counter over a function", func() error {
			if err := r.CounterFunc("g_total", "G.", func() float64 { return 1 }); err != nil {
				return err
			}
			_, err := r.Counter("g_total", "G.")
			return err
		}, "metric g_total: already registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ask()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWrongLabelCountPanics(t *testing.T) {
	r := NewRegistry()
	c, err := r.Counter("x_total", "X.", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), `1 label values for the labels ["a" "b"]`) {
			t.Fatalf("panic = %v, want one naming the labels", p)
		}
	}()
	c.With("only one")
}

func TestConcurrentCounting(t *testing.T) {
	r := NewRegistry()
	c, _ := r.Counter("x_total", "X.", "k")
	hv, _ := r.Histogram("h_seconds", "H.", []float64{1})
	const workers, each = 8, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c.With([]string{"a", "b"}[(w+i)%2]).Inc()
				hv.With().Observe(0.5)
			}
		}()
	}
	wg.Wait()
	total := c.With("a").Value() + c.With("b").Value()
	if total != workers*each {
		t.Errorf("counted %v, want %d", total, workers*each)
	}
	fams, _ := r.Gather()
	for _, mf := range fams {
		if mf.GetName() == "h_seconds" {
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != workers*each {
				t.Errorf("histogram count %d, want %d", n, workers*each)
			}
		}
	}
}

func TestRuntimeMetrics(t *testing.T) {
	r := NewRegistry()
	if err := RegisterRuntime(r); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, r)
	value := func(name string) float64 {
		t.Helper()
		mf, ok := fams[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		return samples(mf)[0].Value
	}
	if v := value("go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if v := value("go_memstats_alloc_bytes"); v <= 0 {
		t.Errorf("go_memstats_alloc_bytes = %v", v)
	}
	if got := samples(fams["go_info"])[0].Labels["version"]; !strings.HasPrefix(got, "go") {
		t.Errorf("go_info's version = %q", got)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: the process metrics are left out")
	}
	start := value("process_start_time_seconds")
	if now := float64(time.Now().Unix()); start > now+1 || start < now-24*3600 {
		t.Errorf("process_start_time_seconds = %v, now %v: this test process did not start in the last day", start, now)
	}
	if v := value("process_resident_memory_bytes"); v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v, want at least 1 MiB", v)
	}
	if v := value("process_open_fds"); v < 3 {
		t.Errorf("process_open_fds = %v, want at least 3", v)
	}
	// CPU time counts in ticks of 10 ms: spend some, then it must show.
	deadline := time.Now().Add(2 * time.Second)
	for x := 0.0; time.Now().Before(deadline); x = math.Sqrt(x + 2) {
		if st, err := readProcStat(); err == nil && st.cpuSeconds >= 0.02 {
			break
		}
	}
	if v := samples(scrape(t, r)["process_cpu_seconds_total"])[0].Value; v < 0.02 {
		t.Errorf("process_cpu_seconds_total = %v after spinning, want at least 0.02", v)
	}
}

// A scraper that asks for OpenMetrics gets it, ended as the format wants.
func TestOpenMetricsNegotiated(t *testing.T) {
	r := NewRegistry()
	c, _ := r.Counter("app_requests_total", "Requests.", "code")
	c.With("200").Inc()
	srv := httptest.NewServer(r.Handler(nil))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Content-Type = %q, want OpenMetrics", ct)
	}
	for _, want := range []string{"# TYPE app_requests counter\n", `app_requests_total{code="200"} 1.0`, "# EOF\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("OpenMetrics body lacks %q:\n%s", want, body)
		}
	}
}

// TestOnly: a subset gathers the families it names, as Gather does, and
// never reads the others.
func TestOnly(t *testing.T) {
	r := NewRegistry()
	reqs, err := r.Counter("a_total", "a", "k")
	if err != nil {
		t.Fatal(err)
	}
	reqs.With("v").Add(3)
	if _, err := r.Counter("b_total", "b", "k"); err != nil {
		t.Fatal(err)
	}
	var read int
	if err := r.GaugeFunc("c", "c", func() float64 { read++; return 1 }); err != nil {
		t.Fatal(err)
	}
	got, err := r.Only("a_total", "b_total", "missing").Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetName() != "a_total" || got[0].GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Errorf("Only(a_total, b_total).Gather() = %v, want a_total alone (b_total has no series)", got)
	}
	if read != 0 {
		t.Errorf("Only read the gauge c %d times, want never", read)
	}
	if all, _ := r.Gather(); len(all) != 2 || read != 1 {
		t.Errorf("Gather() = %d families, c read %d times; want 2 and once", len(all), read)
	}
}

// A family against Prometheus' naming conventions or Promote's label
// names is refused when it is made, with what is wrong, and leaves the
// registry as it was.
func TestRegistryRefusesFamiliesAgainstTheConventions(t *testing.T) {
	for _, tc := range []struct {
		name string
		ask  func(r *Registry) error
		want string
	}{
		{"counter without _total", func(r *Registry) error { _, err := r.Counter("promote_app_requests", "R."); return err },
			"metric promote_app_requests: a counter's name must end in _total"},
		{"counter function without _total", func(r *Registry) error { return r.CounterFunc("promote_app_cycles", "C.", func() float64 { return 1 }) },
			"metric promote_app_cycles: a counter's name must end in _total"},
		{"gauge with _total", func(r *Registry) error { _, err := r.Gauge("promote_app_pending_total", "P."); return err },
			"metric promote_app_pending_total: a gauge's name must not end in _total"},
		{"histogram with _total", func(r *Registry) error {
			_, err := r.Histogram("promote_app_seconds_total", "S.", []float64{1})
			return err
		}, "a histogram's name must not end in _total"},
		{"_info histogram", func(r *Registry) error {
			_, err := r.Histogram("promote_app_build_info", "B.", []float64{1})
			return err
		},
			"metric promote_app_build_info: an _info family must be a gauge, not a histogram"},
		{"_count gauge", func(r *Registry) error { _, err := r.Gauge("promote_app_queue_count", "Q."); return err },
			"metric promote_app_queue_count: the suffix _count is the exposition's"},
		{"_bucket gauge", func(r *Registry) error { _, err := r.Gauge("promote_app_bucket", "B."); return err }, "the suffix _bucket"},
		{"_sum gauge function", func(r *Registry) error { return r.GaugeFunc("promote_app_sum", "S.", func() float64 { return 1 }) }, "the suffix _sum"},
		{"_created gauge", func(r *Registry) error { _, err := r.Gauge("promote_app_created", "C."); return err }, "the suffix _created"},
		{"milliseconds", func(r *Registry) error {
			_, err := r.Histogram("promote_app_request_duration_milliseconds", "D.", []float64{1})
			return err
		}, "metric promote_app_request_duration_milliseconds: milliseconds is not a base unit: use seconds"},
		{"megabytes", func(r *Registry) error { _, err := r.Gauge("promote_app_heap_megabytes", "H."); return err }, "megabytes is not a base unit: use bytes"},
		{"percent", func(r *Registry) error {
			_, err := r.Gauge("promote_app_canary_weight_percent", "W.", "env")
			return err
		},
			"percent is not a base unit: use ratio"},
		{"environment label", func(r *Registry) error {
			_, err := r.Gauge("promote_app_pending_changes", "P.", "environment")
			return err
		}, `metric promote_app_pending_changes: label "environment": Promote's metrics name it "env"`},
		{"environment label of a counter", func(r *Registry) error {
			_, err := r.Counter("promote_app_failures_total", "F.", "env", "reason", "environment")
			return err
		}, `label "environment": Promote's metrics name it "env"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			err := tc.ask(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if n := len(r.families); n != 0 {
				t.Errorf("the refused family was registered: %d families", n)
			}
		})
	}
}

// Families that keep to the conventions are taken: units and a ratio in
// their names, an _info gauge, a label that only begins with
// "environment", and the runtime's families. So are another exporter's,
// whose names are not Promote's to choose.
func TestRegistryTakesFamiliesOfTheConventions(t *testing.T) {
	r := NewRegistry()
	if err := RegisterRuntime(r); err != nil {
		t.Fatalf("RegisterRuntime: %v", err)
	}
	cpu, err1 := r.Counter("promote_app_cpu_seconds_total", "C.", "env")
	weight, err2 := r.Gauge("promote_app_canary_weight_ratio", "W.", "model", "env")
	commit, err3 := r.Gauge("promote_app_applied_commit_info", "I.", "env", "commit")
	duration, err4 := r.Histogram("promote_app_request_duration_seconds", "D.", []float64{1}, "env", "track")
	accounts, err5 := r.Gauge("promote_app_accounts", "A.", "environment_kind")
	istio, err6 := r.Histogram("istio_request_duration_milliseconds", "I.", []float64{10}, "environment")
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		t.Fatal(err)
	}
	cpu.With("prod").Add(2)
	weight.With("m", "prod").Set(0.25)
	commit.With("prod", "abc").Set(1)
	duration.With("prod", "canary").Observe(0.5)
	accounts.With("cloud").Set(3)
	istio.With("prod").Observe(5)
	fams, err := r.Only("promote_app_cpu_seconds_total", "promote_app_canary_weight_ratio", "promote_app_applied_commit_info",
		"promote_app_request_duration_seconds", "promote_app_accounts", "istio_request_duration_milliseconds").Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		got = append(got, f.GetName())
	}
	want := []string{"istio_request_duration_milliseconds", "promote_app_accounts", "promote_app_applied_commit_info",
		"promote_app_canary_weight_ratio", "promote_app_cpu_seconds_total", "promote_app_request_duration_seconds"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gathered families (-want +got):\n%s", diff)
	}
}

// GatherWhere returns the series of Gather whose labels have the values
// asked for, a label a family lacks being "", and no family without such
// a series; series deleted, or reset, are gone from it as from Gather.
func TestGatherWhere(t *testing.T) {
	r := NewRegistry()
	reqs, err := r.Counter("requests_total", "r", "model", "env", "track", "outcome")
	if err != nil {
		t.Fatal(err)
	}
	dur, err := r.Histogram("duration_seconds", "d", []float64{0.1, 1}, "model", "env", "track")
	if err != nil {
		t.Fatal(err)
	}
	state, err := r.Gauge("state", "s", "model")
	if err != nil {
		t.Fatal(err)
	}
	other, err := r.Counter("other_total", "o", "zone")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.GaugeFunc("up", "u", func() float64 { return 1 }); err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, m := range []string{"a", "b", "c"} {
		for _, env := range []string{"staging", "prod"} {
			for _, track := range []string{"stable", "canary"} {
				for _, outcome := range []string{"ok", "error"} {
					n++
					reqs.With(m, env, track, outcome).Add(n)
				}
				dur.With(m, env, track).Observe(n / 10)
			}
		}
		state.With(m).Set(n)
	}
	other.With("eu").Inc()
	state.Delete("c")

	// want filters Gather's series, as read back, by match.
	want := func(names []string, match map[string]string) map[string][]sample {
		all, err := r.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]sample{}
		for _, mf := range all {
			if names != nil && !slices.Contains(names, mf.GetName()) {
				continue
			}
			for _, s := range samples(mf) {
				ok := true
				for k, v := range match {
					ok = ok && s.Labels[k] == v
				}
				if ok {
					out[mf.GetName()] = append(out[mf.GetName()], s)
				}
			}
		}
		return out
	}
	got := func(fams []*dto.MetricFamily, err error) map[string][]sample {
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]sample{}
		for _, mf := range fams {
			if len(mf.GetMetric()) == 0 {
				t.Errorf("family %s gathered without a series", mf.GetName())
			}
			out[mf.GetName()] = samples(mf)
		}
		return out
	}
	tests := []struct {
		name     string
		match    map[string]string
		families []string // the families that match, to check want itself
	}{
		{"one track", map[string]string{"model": "b", "env": "prod", "track": "canary"}, []string{"duration_seconds", "requests_total"}},
		{"one model", map[string]string{"model": "a"}, []string{"duration_seconds", "requests_total", "state"}},
		{"a deleted series", map[string]string{"model": "c", "env": ""}, nil},
		{"a label no family has, empty", map[string]string{"region": ""}, []string{"duration_seconds", "other_total", "requests_total", "state", "up"}},
		{"a label no family has", map[string]string{"region": "eu"}, nil},
		{"a value no series has", map[string]string{"model": "d"}, nil},
		{"everything", nil, []string{"duration_seconds", "other_total", "requests_total", "state", "up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := want(nil, tt.match)
			if diff := cmp.Diff(tt.families, slices.Sorted(maps.Keys(w))); diff != "" {
				t.Fatalf("the families Gather has of %v (-want +got):\n%s", tt.match, diff)
			}
			if diff := cmp.Diff(w, got(r.GatherWhere(tt.match))); diff != "" {
				t.Errorf("GatherWhere(%v) (-want +got):\n%s", tt.match, diff)
			}
			only := []string{"requests_total", "state"}
			if diff := cmp.Diff(want(only, tt.match), got(r.Only(only...).GatherWhere(tt.match))); diff != "" {
				t.Errorf("Only(%v).GatherWhere(%v) (-want +got):\n%s", only, tt.match, diff)
			}
		})
	}
	// A series made after a reset is found, the old ones not.
	reqs.Reset()
	reqs.With("a", "prod", "canary", "ok").Inc()
	match := map[string]string{"model": "a", "env": "prod"}
	if diff := cmp.Diff(want(nil, match), got(r.GatherWhere(match))); diff != "" {
		t.Errorf("GatherWhere(%v) after a reset (-want +got):\n%s", match, diff)
	}
	if g := got(r.GatherWhere(match)); len(g["requests_total"]) != 1 {
		t.Errorf("GatherWhere(%v) after a reset = %d requests series, want 1", match, len(g["requests_total"]))
	}
}
