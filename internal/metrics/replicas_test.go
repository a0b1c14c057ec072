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

// TestPrometheusReplicaGoneMidRollout reads the counts of a track served
// by two splitter replicas, each a scrape target, one of which goes away
// during the rollout (a pod replaced, a scale-down): Prometheus marks its
// series stale, and what it served since the start must still count,
// exactly, beside what the other serves after.
func TestPrometheusReplicaGoneMidRollout(t *testing.T) {
	const model, env = "credit-risk", "prod"
	r1, r2 := newReplica(t), newReplica(t)
	for _, r := range []*replica{r1, r2} {
		r.touch(model, env, TrackCanary)
	}
	// Before the rollout.
	r1.serveAll(model, env, TrackCanary, []batch{{OutcomeOK, 100, 0.01}, {OutcomeServerError, 4, 0.2}})
	r2.serveAll(model, env, TrackCanary, []batch{{OutcomeOK, 80, 0.03}, {OutcomeTimeout, 3, 10}})
	srv := &promServer{promtest.Start(t, r1.addr, r2.addr)}
	since := time.Now() // after both replicas' first scrape

	src, err := NewPrometheus(PrometheusOptions{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: model, Env: env, Track: TrackCanary, Since: since}
	var served []batch
	var errs float64
	serve := func(r *replica, batches []batch, errors float64) {
		r.serveAll(model, env, TrackCanary, batches)
		served = append(served, batches...)
		errs += errors
	}
	reads := func(what string) {
		t.Helper()
		want := expectCounts(served, errs, splitterBuckets())
		waitFor(t, 15*time.Second, what, func() (bool, string) {
			got, err := src.Counts(t.Context(), q)
			if err != nil {
				return false, err.Error()
			}
			diff := cmp.Diff(want, got, approx)
			return diff == "", "(-want +got)\n" + diff
		})
	}

	serve(r1, []batch{{OutcomeOK, 40, 0.02}, {OutcomeServerError, 1, 0.4}}, 1)
	serve(r2, []batch{{OutcomeOK, 25, 0.05}, {OutcomeConnectionError, 2, 0.001}, {OutcomeClientError, 3, 0.004}}, 2)
	reads("both replicas' traffic since the start")

	r2.target.Close()
	waitFor(t, 10*time.Second, "r2's failed scrape, which marks its series stale", func() (bool, string) {
		got, err := srv.query(t, fmt.Sprintf(`up{instance=%q} == 0`, r2.addr))
		return err == nil && len(got) == 1, fmt.Sprintf("%+v %v", got, err)
	})
	if n, err := srv.Count(fmt.Sprintf(`%s{instance=%q}`, RequestsMetric, r2.addr)); err != nil || n != 0 {
		t.Fatalf("r2's series after its failed scrape: %d, %v; want none (stale)", n, err)
	}
	// Scraped after r2's series went stale, so a read that sees it reads
	// r2 stale.
	serve(r1, []batch{{OutcomeOK, 12, 0.07}, {OutcomeTimeout, 1, 10}}, 1)
	reads("r2's traffic since the start, after it went away, and r1's since")
	time.Sleep(2 * time.Second)
	reads("the same, two scrapes later")
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
		{"default templates", DefaultTemplates()},
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
