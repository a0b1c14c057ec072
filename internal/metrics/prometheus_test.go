package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// exactSelector is the label matchers of the exact templates.
const exactSelector = `{model="{{.Model}}",env="{{.Env}}",track="{{.Track}}"`

// exactTemplates count the splitter's metrics without extrapolation: the
// growth of each series over the window (max − min), exact for counters
// that did not reset and existed, at zero, before the window began. Users
// may prefer them to increase() when their series are long-lived.
func exactTemplates() Templates {
	delta := func(metric, matchers string) string {
		sel := metric + exactSelector + matchers + `}[{{.Window}}]`
		return `(max_over_time(` + sel + `) - min_over_time(` + sel + `))`
	}
	return Templates{
		Requests:       `sum` + delta(RequestsMetric, ""),
		Errors:         `sum` + delta(RequestsMetric, `,outcome=~"server_error|timeout|connection_error|mismatch"`),
		LatencyBuckets: `sum by (le) ` + delta(DurationMetric+"_bucket", ""),
		LatencySum:     `sum` + delta(DurationMetric+"_sum", ""),
	}
}

// istioTemplates read metrics shaped like Istio's (a version label for the
// track, response codes, latency in milliseconds), exactly as exactTemplates
// do: a user's own metrics.
func istioTemplates() Templates {
	delta := func(metric, matchers string) string {
		sel := metric + `{destination_workload="{{.Model}}",destination_workload_namespace="{{.Env}}",destination_version="{{.Track}}"` + matchers + `}[{{.Window}}]`
		return `(max_over_time(` + sel + `) - min_over_time(` + sel + `))`
	}
	return Templates{
		Requests:       `sum` + delta("istio_requests_total", ""),
		Errors:         `sum` + delta("istio_requests_total", `,response_code=~"5.."`),
		LatencyBuckets: `sum by (le) ` + delta("istio_request_duration_milliseconds_bucket", ""),
		LatencySum:     `sum` + delta("istio_request_duration_milliseconds_sum", ""),
	}
}

// TestPrometheus runs the Prometheus source, and a Poller over it, against
// a real Prometheus scraping a registry with the splitter's metrics.
func TestPrometheus(t *testing.T) {
	const model, env = "credit-risk", "prod"
	const weird = `we"ird\model` // must round-trip through escaping
	s := newTestSplitter(t)
	istio, err := s.reg.Counter("istio_requests_total", "Requests.",
		"destination_workload", "destination_workload_namespace", "destination_version", "response_code")
	if err != nil {
		t.Fatal(err)
	}
	istioLatency, err := s.reg.Histogram("istio_request_duration_milliseconds", "Latency.", []float64{10, 50, 250, 1000},
		"destination_workload", "destination_workload_namespace", "destination_version")
	if err != nil {
		t.Fatal(err)
	}

	// Series exist, at zero, before the window starts and before the first
	// scrape, as the splitter's do once it routes to a track.
	since := time.Now()
	for _, track := range []string{TrackStable, TrackCanary, TrackShadow} {
		s.touch(model, env, track)
	}
	s.touch(weird, env, TrackCanary)
	for _, code := range []string{"200", "503"} {
		istio.With("scorer", "ml", "v2", code)
	}
	istioLatency.With("scorer", "ml", "v2")
	// A counter whose process restarts: a gauge stands for it, since a
	// counter never goes back. Two replicas of it.
	restarting, err := s.reg.Gauge("restarting_requests_total", "A counter that goes back.", "track", "replica")
	if err != nil {
		t.Fatal(err)
	}
	restarting.With("canary", "a").Set(10)
	restarting.With("canary", "b").Set(7)

	srv := startPrometheus(t, s.reg)
	t.Logf("prometheus ready and first scrape queryable %s after the start", time.Since(since).Round(time.Millisecond))

	stableTraffic := []batch{
		{OutcomeOK, 935, 0.02},
		{OutcomeOK, 50, 0.3},
		{OutcomeClientError, 10, 0.004}, // not an error
		{OutcomeServerError, 2, 0.5},
		{OutcomeTimeout, 2, 10},
		{OutcomeConnectionError, 1, 0.001},
	}
	canaryTraffic := []batch{
		{OutcomeOK, 80, 0.04},
		{OutcomeOK, 17, 1.2},
		{OutcomeServerError, 3, 0.07},
	}
	weirdTraffic := []batch{{OutcomeOK, 40, 0.01}, {OutcomeTimeout, 2, 10}}
	s.serveAll(model, env, TrackStable, stableTraffic)
	s.serveAll(model, env, TrackCanary, canaryTraffic)
	s.serveAll(model, env, TrackShadow, []batch{{OutcomeServerError, 70, 3}})
	s.serveAll(weird, env, TrackCanary, weirdTraffic)
	istio.With("scorer", "ml", "v2", "200").Add(48)
	istio.With("scorer", "ml", "v2", "503").Add(2)
	for i := range 50 {
		istioLatency.With("scorer", "ml", "v2").Observe(float64(5 + 20*i)) // 5…985 ms
	}
	want := map[string]Counts{
		TrackStable: expectCounts(stableTraffic, 5, splitterBuckets()),
		TrackCanary: expectCounts(canaryTraffic, 3, splitterBuckets()),
		weird:       expectCounts(weirdTraffic, 2, splitterBuckets()),
	}
	queryOf := func(model, track string) Query { return Query{Model: model, Env: env, Track: track, Since: since} }

	// counts polls src until q's requests reach want's (the traffic has
	// been scraped), and returns them.
	counts := func(t *testing.T, src *Prometheus, q Query, want float64) Counts {
		t.Helper()
		var c Counts
		waitFor(t, 10*time.Second, fmt.Sprintf("%g requests for %s", want, q), func() (bool, string) {
			var err error
			c, err = src.Counts(t.Context(), q)
			if err != nil {
				return false, err.Error()
			}
			return c.Requests >= want-1e-9, fmt.Sprintf("%+v", c)
		})
		return c
	}

	t.Run("exact templates", func(t *testing.T) {
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL, Templates: exactTemplates()})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []Query{queryOf(model, TrackStable), queryOf(model, TrackCanary), queryOf(weird, TrackCanary)} {
			key := q.Track
			if q.Model == weird {
				key = weird
			}
			got := counts(t, src, q, want[key].Requests)
			if diff := cmp.Diff(want[key], got, approx); diff != "" {
				t.Errorf("Counts(%s) mismatch (-want +got):\n%s", q, diff)
			}
		}
	})

	t.Run("default templates count exactly", func(t *testing.T) {
		// The counters' value now less their value at the start, as
		// scraped: no extrapolation (increase() would scale every count
		// by up to 2.1 here).
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		for _, track := range []string{TrackStable, TrackCanary} {
			q := queryOf(model, track)
			got := counts(t, src, q, want[track].Requests)
			if diff := cmp.Diff(want[track], got, approx); diff != "" {
				t.Errorf("Counts(%s) mismatch (-want +got):\n%s", q, diff)
			}
		}
	})

	t.Run("a counter that went back counts from its restart", func(t *testing.T) {
		src := restartingSource(t, srv.URL)
		start := time.Now() // after the first scrape, which saw 10 and 7
		q := Query{Model: model, Env: env, Track: "canary", Since: start}
		reads := func(want float64, what string) {
			t.Helper()
			waitFor(t, 10*time.Second, what, func() (bool, string) {
				c, err := src.Counts(t.Context(), q)
				if err != nil {
					return false, err.Error()
				}
				return c.Requests == want, fmt.Sprintf("%+v", c)
			})
		}
		restarting.With("canary", "a").Set(25) // 15 more
		restarting.With("canary", "b").Set(9)  // 2 more
		reads(17, "17 requests since the start")
		restarting.With("canary", "a").Set(4) // a restarted, and served 4 since
		reads(6, "a's 4 since its restart and b's 2")
		restarting.With("canary", "a").Set(12) // past its value at the start, 10
		reads(14, "a's 12 since its restart and b's 2")
		restarting.With("canary", "c").Set(3) // a replica new since the start
		reads(17, "c's 3 as well")
	})

	t.Run("a restart before the first scrape after the start counts from the restart", func(t *testing.T) {
		// Between the scrape the start reads and the next, a's process
		// restarts: no sample since the start shows it going back, only
		// that it is lower than at the start.
		src := restartingSource(t, srv.URL)
		a, b := restarting.With("early", "a"), restarting.With("early", "b")
		stored := func(wantA, wantB float64) {
			t.Helper()
			waitFor(t, 10*time.Second, fmt.Sprintf("a at %g and b at %g scraped", wantA, wantB), func() (bool, string) {
				got, err := srv.query(t, `restarting_requests_total{track="early"}`)
				ok := err == nil && len(got) == 2 && got[0].value+got[1].value == wantA+wantB &&
					(got[0].value == wantA || got[1].value == wantA)
				return ok, fmt.Sprintf("%+v %v", got, err)
			})
		}
		a.Set(10)
		b.Set(7)
		stored(10, 7)
		a.Set(4) // a restarted, and served 4 since
		b.Set(20)
		stored(4, 20)
		// The start: just after a's last sample at 10, so its samples
		// since are all 4.
		var since time.Time
		for _, s := range srv.rawSamples(t, `restarting_requests_total{track="early",replica="a"}`) {
			if s.value == 10 {
				since = s.at.Add(time.Millisecond)
			}
		}
		at := since.Add(DefaultSettle + 3*time.Second)
		time.Sleep(time.Until(at))
		q := Query{Model: model, Env: env, Track: "early", Since: since, At: at}
		c, err := src.Counts(t.Context(), q)
		if err != nil || c.Requests != 17 {
			t.Errorf("Counts(%s) = %+v, %v; want a's 4 since its restart and b's 13", q, c, err)
		}
	})

	t.Run("custom metrics in milliseconds", func(t *testing.T) {
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL, Templates: istioTemplates(), LatencyUnit: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		q := Query{Model: "scorer", Env: "ml", Track: "v2", Since: since}
		got := counts(t, src, q, 50)
		w := Counts{Requests: 50, Errors: 2, Latency: Histogram{
			Bounds: []float64{0.01, 0.05, 0.25, 1}, Counts: []float64{1, 3, 13, 50}, Count: 50, Sum: 24.75,
		}}
		if diff := cmp.Diff(w, got, approx); diff != "" {
			t.Errorf("Counts(%s) mismatch (-want +got):\n%s", q, diff)
		}
	})

	t.Run("no series is no data", func(t *testing.T) {
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []Query{queryOf("absent", TrackCanary), queryOf(model, "blue")} {
			if c, err := src.Counts(t.Context(), q); !errors.Is(err, ErrNoData) {
				t.Errorf("Counts(%s) = %+v, %v; want ErrNoData", q, c, err)
			}
		}
	})

	t.Run("NaN is no data", func(t *testing.T) {
		tmpl := DefaultTemplates()
		tmpl.Requests = `sum(increase(promote_traffic_requests_total{model="{{.Model}}",env="{{.Env}}",track="{{.Track}}"}[{{.Window}}])) * NaN`
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL, Templates: tmpl})
		if err != nil {
			t.Fatal(err)
		}
		q := queryOf(model, TrackStable)
		if c, err := src.Counts(t.Context(), q); !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "NaN") {
			t.Errorf("Counts(%s) = %+v, %v; want ErrNoData for NaN", q, c, err)
		}
	})

	t.Run("label values cannot inject PromQL", func(t *testing.T) {
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		// Unescaped in the default requests template, this model ends
		// the selector, its range, the last_over_time and the sum, adds
		// "or vector(1000)", and comments the rest of the query out.
		payload := `absent"}[1h]) or vector(1000)))) #`
		q := queryOf(payload, TrackCanary)
		naive := strings.NewReplacer("{{.Model}}", payload, "{{.Env}}", env, "{{.Track}}", TrackCanary, "{{.Window}}", "1h", "{{.Start}}", "0").
			Replace(DefaultRequestsTemplate)
		samples, err := srv.query(t, naive)
		if err != nil || len(samples) != 1 || samples[0].value != 1000 {
			t.Fatalf("the payload unescaped: query(%s) = %+v, %v; want the injected 1000 (the test must be able to fail)", naive, samples, err)
		}
		if c, err := src.Counts(t.Context(), q); !errors.Is(err, ErrNoData) {
			t.Errorf("Counts(model %q) = %+v, %v; want ErrNoData: the model named literally has no series", payload, c, err)
		}
	})

	t.Run("a query Prometheus refuses uses up the error budget", func(t *testing.T) {
		tmpl := DefaultTemplates()
		tmpl.Requests = strings.TrimSuffix(tmpl.Requests, ")") // unbalanced: a PromQL parse error
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL, Templates: tmpl})
		if err != nil {
			t.Fatal(err)
		}
		q := queryOf(model, TrackStable)
		_, err = src.Counts(t.Context(), q)
		var qe *QueryError
		if !errors.As(err, &qe) || qe.StatusCode != http.StatusBadRequest || qe.Type != "bad_data" {
			t.Fatalf("Counts(%s) error = %v, want a *QueryError: 400 bad_data", q, err)
		}
		poller, err := NewPoller(src, PollerOptions{ErrorBudget: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range []Status{StatusRetrying, StatusRetrying, StatusFailed} {
			r := poller.Read(t.Context(), q)
			if r.Status != w || !errors.As(r.Err, &qe) {
				t.Fatalf("Read() #%d = %s (%v), want %s with the *QueryError", i+1, r.Status, r.Err, w)
			}
		}
	})

	t.Run("a poller reads data and waits for no data", func(t *testing.T) {
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		poller, err := NewPoller(src, PollerOptions{NoDataLimit: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if r := poller.Read(t.Context(), queryOf(model, TrackCanary)); r.Status != StatusOK || r.Counts.Requests < 100-1e-9 {
			t.Errorf("Read(canary) = %s %+v (%v), want ok with at least 100 requests", r.Status, r.Counts, r.Err)
		}
		if r := poller.Read(t.Context(), queryOf("absent", TrackCanary)); r.Status != StatusWaiting || !errors.Is(r.Err, ErrNoData) {
			t.Errorf("Read(absent) = %s (%v), want %s with ErrNoData", r.Status, r.Err, StatusWaiting)
		}
	})

	// Last: it stops the server.
	t.Run("a stopped Prometheus uses up the error budget", func(t *testing.T) {
		src, err := NewPrometheus(PrometheusOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		poller, err := NewPoller(src, PollerOptions{ErrorBudget: 1})
		if err != nil {
			t.Fatal(err)
		}
		q := queryOf(model, TrackStable)
		if r := poller.Read(t.Context(), q); r.Status != StatusOK {
			t.Fatalf("Read() before the stop = %s (%v), want ok", r.Status, r.Err)
		}
		srv.Stop()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		for i, w := range []Status{StatusRetrying, StatusFailed} {
			r := poller.Read(ctx, q)
			if r.Status != w {
				t.Fatalf("Read() #%d after the stop = %s (%v), want %s", i+1, r.Status, r.Err, w)
			}
			checkReading(t, r)
		}
	})
}

// restartingSource is a Prometheus source at url whose requests are the
// restarting_requests_total series of a track, counted since the start
// as the default templates count, and whose errors are none.
func restartingSource(t *testing.T, url string) *Prometheus {
	t.Helper()
	series := `restarting_requests_total{track="{{.Track}}"}`
	src, err := NewPrometheus(PrometheusOptions{URL: url, Templates: Templates{
		Requests: sinceStart("", series),
		Errors:   `sum(` + series + `) * 0`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}
