package metrics

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/promtest"
)

// lastValueTemplates read the splitter's metrics in the form of
// docs/rollouts.md's Istio queries: the value now is a series' last
// sample in the window, so that a series gone since the start keeps what
// it counted.
func lastValueTemplates() Templates {
	f := func(agg, s string) string {
		last := "last_over_time(" + s + "[{{.Window}}])"
		return agg + " (((" + last + " - " + s + " @ {{.Start}}) unless resets(" + s + "[{{.Window}}]) > 0) or " + last + ")"
	}
	sel := RequestsMetric + exactSelector
	return Templates{
		Requests:       f("sum", sel+`}`),
		Errors:         f("sum", sel+`,outcome=~"server_error|timeout|connection_error|mismatch"}`),
		LatencyBuckets: f("sum by (le)", DurationMetric+"_bucket"+exactSelector+`}`),
		LatencySum:     f("sum", DurationMetric+"_sum"+exactSelector+`}`),
	}
}

// replica is one splitter replica, a scrape target of its own.
type replica struct {
	*testSplitter
	target *httptest.Server
	addr   string // the target's host:port, its instance label
}

func newReplica(t *testing.T) *replica {
	t.Helper()
	s := newTestSplitter(t)
	target := httptest.NewServer(s.reg.Handler(nil))
	t.Cleanup(target.Close)
	return &replica{testSplitter: s, target: target, addr: strings.TrimPrefix(target.URL, "http://")}
}

// TestPrometheusReplicaGoneBeforeTheStart reads the counts of a track one
// of whose two replicas went away just before the start: its series are
// stale at the start, and their last samples are less than a second
// before it (Prometheus scrapes every 200 ms here). They must not count:
// the window holds no sample from before the start.
func TestPrometheusReplicaGoneBeforeTheStart(t *testing.T) {
	const model, env = "credit-risk", "prod"
	r1, r2 := newReplica(t), newReplica(t)
	r1.touch(model, env, TrackCanary)
	r2.touch(model, env, TrackCanary)
	r2.serveAll(model, env, TrackCanary, []batch{{OutcomeOK, 50, 0.02}, {OutcomeServerError, 5, 0.3}})
	srv := &promServer{promtest.StartEvery(t, 200*time.Millisecond, r1.addr, r2.addr)}

	r2.target.Close()
	up := fmt.Sprintf(`up{instance=%q}`, r2.addr)
	waitFor(t, 10*time.Second, "the gone replica's failed scrape", func() (bool, string) {
		got, err := srv.query(t, up+" == 0")
		return err == nil && len(got) == 1, fmt.Sprintf("%+v %v", got, err)
	})
	// The failed scrape marks r2's series stale; the scrape before it
	// took their last samples.
	var last, stale time.Time
	for _, s := range srv.rawSamples(t, up) {
		if s.value == 1 {
			last, stale = s.at, time.Time{}
		} else if stale.IsZero() {
			stale = s.at
		}
	}
	if last.IsZero() || stale.IsZero() || stale.Sub(last) >= 999*time.Millisecond {
		t.Fatalf("r2's last scrape at %s and its failed one at %s: want them less than 999ms apart (the test's own setup)", last, stale)
	}
	since := stale // r2 is absent at the start

	// Since the start, r1 serves.
	served := []batch{{OutcomeOK, 30, 0.05}, {OutcomeTimeout, 2, 10}}
	r1.serveAll(model, env, TrackCanary, served)
	want := expectCounts(served, 2, splitterBuckets())
	waitFor(t, 10*time.Second, "r1's traffic scraped", func() (bool, string) {
		got, err := srv.query(t, fmt.Sprintf(`sum(%s{instance=%q,track="canary"})`, RequestsMetric, r1.addr))
		return err == nil && len(got) == 1 && got[0].value == want.Requests, fmt.Sprintf("%+v %v", got, err)
	})
	// A window 1 ms over whole seconds: rounded up to a second, it would
	// begin 999 ms before the start, before r2's last samples.
	at := since.Add(DefaultSettle + time.Millisecond)
	for at.Before(time.Now()) || at.Sub(since) < 2*time.Second {
		at = at.Add(time.Second)
	}
	time.Sleep(time.Until(at))
	q := Query{Model: model, Env: env, Track: TrackCanary, Since: since, At: at}

	for _, tt := range []struct {
		name      string
		templates Templates
	}{
		{"the Istio example's form", lastValueTemplates()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, err := NewPrometheus(PrometheusOptions{URL: srv.URL, Templates: tt.templates})
			if err != nil {
				t.Fatal(err)
			}
			got, err := src.Counts(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, approx); diff != "" {
				t.Errorf("Counts(%s) mismatch, r1's since the start (-want +got):\n%s", q, diff)
			}
		})
	}
}
