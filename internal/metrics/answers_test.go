package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// answering is an HTTP server that answers /api/v1/query with a canned
// vector per query, by the metric the query names (r, e, b or s). A real
// Prometheus (TestPrometheus) cannot be made to answer malformed vectors,
// oversized bodies or counts that contradict each other, which a template
// over the wrong metrics or a proxy in front of Prometheus can produce: the
// source must name them, not count them.
func answering(t *testing.T, answers map[string]string) *Prometheus {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		for name, result := range answers {
			if strings.Contains(q, "("+name+"{") {
				fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, result)
				return
			}
		}
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	t.Cleanup(srv.Close)
	src, err := NewPrometheus(PrometheusOptions{URL: srv.URL, Templates: Templates{
		Requests:       `sum(r{track="{{.Track}}"})`,
		Errors:         `sum(e{track="{{.Track}}"})`,
		LatencyBuckets: `sum by (le) (b{track="{{.Track}}"})`,
		LatencySum:     `sum(s{track="{{.Track}}"})`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// one is a vector's sample without labels; le is one with an le label.
func one(v string) string { return `{"metric":{},"value":[1,"` + v + `"]}` }
func le(bound, v string) string {
	return `{"metric":{"le":"` + bound + `"},"value":[1,"` + v + `"]}`
}

func TestCountsRefuseMalformedAnswers(t *testing.T) {
	good := map[string]string{
		"r": one("20"), "e": one("2"), "s": one("1.5"),
		"b": le("0.1", "5") + "," + le("0.5", "15") + "," + le("+Inf", "20"),
	}
	with := func(name, result string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		m[name] = result
		return m
	}
	q := Query{Model: "m", Env: "prod", Track: TrackCanary, Since: time.Now().Add(-time.Minute)}
	c, err := answering(t, good).Counts(t.Context(), q)
	if err != nil || c.Requests != 20 || c.Errors != 2 || c.Latency.Count != 20 || len(c.Latency.Counts) != 2 || c.Latency.Counts[1] != 15 {
		t.Fatalf("Counts of a good answer = %+v, %v", c, err)
	}
	for _, tt := range []struct {
		name    string
		answers map[string]string
		want    string
	}{
		{"more errors than requests", with("e", one("70")), "the errors query counted 70, more than the requests query's 20"},
		{"buckets not cumulative", with("b", le("0.1", "15")+","+le("0.5", "5")+","+le("+Inf", "20")), "le 0.5s holds 5, fewer than le 0.1s's 15"},
		{"+Inf below a bucket", with("b", le("0.1", "5")+","+le("0.5", "15")+","+le("+Inf", "8")), `le "+Inf" holds 8, fewer than le 0.5s's 15`},
		{"no +Inf bucket", with("b", le("0.1", "5")+","+le("0.5", "15")), `no le="+Inf" bucket`},
		{"le twice", with("b", le("0.1", "5")+","+le("0.1", "6")+","+le("+Inf", "20")), "le 0.1 twice"},
		{"a bucket without le", with("b", one("5")+","+le("+Inf", "20")), "without an le label"},
		{"infinite count", with("r", one("+Inf")), "want a finite count"},
		{"negative count", with("r", one("-4")), "a counter went back"},
		{"several series", with("r", one("20")+","+`{"metric":{"pod":"b"},"value":[1,"3"]}`), "returned 2 series, want one"},
		{"oversized answer", with("r", one("20")+strings.Repeat(`,{"metric":{"pod":"x"},"value":[1,"1"]}`, maxResponseBytes/36)), "answer longer than"},
	} {
		c, err := answering(t, tt.answers).Counts(t.Context(), q)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Counts = %+v, %v; want an error saying %q", tt.name, c, err, tt.want)
		}
	}
	// Within the slack of separate extrapolations, counts are evened out.
	c, err = answering(t, with("e", one("20.5"))).Counts(t.Context(), q)
	if err != nil || c.Errors != 20 {
		t.Errorf("errors a little above the requests: Counts = %+v, %v; want errors clamped to 20", c, err)
	}
}
