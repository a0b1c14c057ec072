package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/promtest"
)

// istioBuckets are the bounds of Istio's istio_request_duration_milliseconds,
// in milliseconds (its proxies' default buckets).
func istioBuckets() []float64 {
	return []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}
}

// istioSeries is the metrics one proxy reports for one destination workload
// and response code: a request counter and a latency histogram in
// milliseconds.
type istioSeries struct {
	reporter, pod   string // the reporting proxy's pod
	namespace       string // the destination workload's
	workload, track string // the destination workload and its version
	code            string
	requests, sumMs float64
	buckets         []float64 // cumulative, over istioBuckets
	// What the series counted since the rollout's start, or since its
	// container restarted.
	counted, countedSum float64
	countedBuckets      []float64
	removed             bool
}

// istioMesh serves metrics shaped like Istio's standard metrics
// (https://istio.io/latest/docs/reference/config/metrics/) for one model
// behind an ingress gateway, in a namespace per environment
// (<model>-<env>, as docs/gitops.md deploys them) with the same workload
// names in each: every request is reported twice, by the gateway's proxy
// (reporter="source") and by the sidecar of the pod that served it
// (reporter="destination"), both labelled with the destination workload.
// The pod label, which Prometheus' service discovery would add, is in the
// exposition.
type istioMesh struct {
	model string

	mu     sync.Mutex
	series []*istioSeries
}

func (m *istioMesh) get(reporter, pod, env, track, code string) *istioSeries {
	namespace, workload := m.model+"-"+env, m.model+"-"+track
	for _, s := range m.series {
		if !s.removed && s.reporter == reporter && s.pod == pod && s.namespace == namespace && s.workload == workload && s.code == code {
			return s
		}
	}
	n := len(istioBuckets())
	s := &istioSeries{reporter: reporter, pod: pod, namespace: namespace, workload: workload, track: track, code: code,
		buckets: make([]float64, n), countedBuckets: make([]float64, n)}
	m.series = append(m.series, s)
	return s
}

// serve records n requests to pod of env's track with the response code,
// each taking latencyMs, as the gateway and the pod's sidecar report them.
func (m *istioMesh) serve(env, pod, track, code string, n int, latencyMs float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range []*istioSeries{m.get("source", "istio-ingressgateway-5d8f7", env, track, code), m.get("destination", pod, env, track, code)} {
		s.requests += float64(n)
		s.sumMs += float64(n) * latencyMs
		s.counted += float64(n)
		s.countedSum += float64(n) * latencyMs
		for i, le := range istioBuckets() {
			if latencyMs <= le {
				s.buckets[i] += float64(n)
				s.countedBuckets[i] += float64(n)
			}
		}
	}
}

// start marks the rollout's start: counts from now on.
func (m *istioMesh) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		s.counted, s.countedSum = 0, 0
		clear(s.countedBuckets)
	}
}

// restart restarts pod's container: its sidecar's counters start again from
// zero, under the same labels (the pod keeps its name).
func (m *istioMesh) restart(pod string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		if s.pod == pod && !s.removed {
			s.requests, s.sumMs, s.counted, s.countedSum = 0, 0, 0, 0
			clear(s.buckets)
			clear(s.countedBuckets)
		}
	}
}

// remove deletes pod, as a rolling restart or a scale-down does: its series
// are no longer exposed, and Prometheus marks them stale. What it served
// since the start still counts.
func (m *istioMesh) remove(pod string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.series {
		if s.pod == pod {
			s.removed = true
		}
	}
}

// want returns the counts the sidecars (reporter="destination") of env's
// track counted since the start, latency in seconds.
func (m *istioMesh) want(env, track string) Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	bounds := istioBuckets()
	c := Counts{Latency: Histogram{Counts: make([]float64, len(bounds))}}
	for _, b := range bounds {
		c.Latency.Bounds = append(c.Latency.Bounds, b/1000)
	}
	for _, s := range m.series {
		if s.reporter != "destination" || s.namespace != m.model+"-"+env || s.track != track {
			continue
		}
		c.Requests += s.counted
		if strings.HasPrefix(s.code, "5") {
			c.Errors += s.counted
		}
		for i := range bounds {
			c.Latency.Counts[i] += s.countedBuckets[i]
		}
		c.Latency.Count += s.counted
		c.Latency.Sum += s.countedSum / 1000
	}
	return c
}

// ServeHTTP writes the exposition.
func (m *istioMesh) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	labels := func(s *istioSeries) string {
		policy := "mutual_tls"
		if s.reporter == "source" {
			policy = "unknown"
		}
		return fmt.Sprintf(`reporter=%q,pod=%q,source_workload="istio-ingressgateway",source_workload_namespace="istio-system",`+
			`destination_workload=%q,destination_workload_namespace=%q,destination_service=%q,destination_service_name=%q,`+
			`destination_service_namespace=%q,destination_app=%q,destination_version=%q,request_protocol="http",response_code=%q,`+
			`response_flags="-",connection_security_policy=%q`,
			s.reporter, s.pod, s.workload, s.namespace, m.model+"."+s.namespace+".svc.cluster.local", m.model,
			s.namespace, m.model, s.track, s.code, policy)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	b.WriteString("# TYPE istio_requests_total counter\n")
	for _, s := range m.series {
		if !s.removed {
			fmt.Fprintf(&b, "istio_requests_total{%s} %s\n", labels(s), f(s.requests))
		}
	}
	b.WriteString("# TYPE istio_request_duration_milliseconds histogram\n")
	for _, s := range m.series {
		if s.removed {
			continue
		}
		for i, le := range istioBuckets() {
			fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,le=%q} %s\n", labels(s), f(le), f(s.buckets[i]))
		}
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,le=\"+Inf\"} %s\n", labels(s), f(s.requests))
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_sum{%s} %s\n", labels(s), f(s.sumMs))
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_count{%s} %s\n", labels(s), f(s.requests))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprint(w, b.String())
}

// docQueries returns the queries file of docs/rollouts.md whose first line
// is the comment first, exactly as written there.
func docQueries(t *testing.T, first string) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../docs/rollouts.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n"+first+"\n")
	if !ok {
		t.Fatalf("docs/rollouts.md has no yaml block starting %q", first)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("docs/rollouts.md: the block starting %q does not end", first)
	}
	return []byte(first + "\n" + block)
}

// TestIstioQueriesDoc runs the Istio queries file of docs/rollouts.md, as
// written, against a real Prometheus scraping metrics shaped like Istio's:
// a gateway and sidecars reporting every request, a stable and a canary
// workload in prod and in staging, a container restart and a pod replaced
// during the rollout.
func TestIstioQueriesDoc(t *testing.T) {
	opts, err := ParseQueries("istio-queries.yaml", docQueries(t, "# istio-queries.yaml: Istio's standard metrics; each track is a workload <model>-<track>"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.LatencyUnit != time.Millisecond {
		t.Fatalf("latencyUnit = %s, want 1ms", opts.LatencyUnit)
	}
	const prod, staging = "prod", "staging"
	mesh := &istioMesh{model: "credit-risk"}
	// Before the rollout: stable has served for a while, the canary a
	// little (its deployment's readiness checks).
	mesh.serve(prod, "credit-risk-stable-a", TrackStable, "200", 500, 12)
	mesh.serve(prod, "credit-risk-stable-a", TrackStable, "503", 4, 400)
	mesh.serve(prod, "credit-risk-stable-b", TrackStable, "200", 480, 30)
	mesh.serve(prod, "credit-risk-canary-a", TrackCanary, "200", 20, 20)
	mesh.serve(staging, "credit-risk-stable-s", TrackStable, "200", 70, 10)
	target := httptest.NewServer(mesh)
	t.Cleanup(target.Close)
	srv := promtest.Start(t, strings.TrimPrefix(target.URL, "http://"))

	since := time.Now() // after the first scrape
	mesh.start()
	opts.URL = srv.URL
	src, err := NewPrometheus(opts)
	if err != nil {
		t.Fatal(err)
	}
	envs := []string{prod, staging}
	// reads waits until the source's counts of every track are the
	// sidecars' since the start.
	reads := func(what string) {
		t.Helper()
		for _, env := range envs {
			for _, track := range []string{TrackStable, TrackCanary} {
				q := Query{Model: mesh.model, Env: env, Track: track, Since: since}
				want := mesh.want(env, track)
				waitFor(t, 15*time.Second, fmt.Sprintf("%s: %s's counts", what, q), func() (bool, string) {
					got, err := src.Counts(t.Context(), q)
					if err != nil {
						return false, err.Error()
					}
					diff := cmp.Diff(want, got, approx)
					return diff == "", "(-want +got)\n" + diff
				})
			}
		}
	}

	mesh.serve(prod, "credit-risk-stable-a", TrackStable, "200", 100, 12)
	mesh.serve(prod, "credit-risk-stable-a", TrackStable, "503", 2, 400)
	mesh.serve(prod, "credit-risk-stable-b", TrackStable, "200", 90, 30)
	mesh.serve(prod, "credit-risk-stable-b", TrackStable, "404", 5, 2) // not an error
	mesh.serve(prod, "credit-risk-stable-b", TrackStable, "500", 1, 70)
	mesh.serve(prod, "credit-risk-canary-a", TrackCanary, "200", 40, 20)
	mesh.serve(prod, "credit-risk-canary-a", TrackCanary, "503", 3, 3000)
	// A canary in staging at the same time, under the same workload names.
	mesh.serve(staging, "credit-risk-stable-s", TrackStable, "200", 60, 10)
	mesh.serve(staging, "credit-risk-canary-s", TrackCanary, "200", 30, 40)
	mesh.serve(staging, "credit-risk-canary-s", TrackCanary, "500", 9, 5)
	if got := mesh.want(prod, TrackStable); got.Requests != 198 || got.Errors != 3 {
		t.Fatalf("prod's stable since the start: %+v, want 198 requests and 3 errors (the test's own bookkeeping)", got)
	}
	reads("the traffic since the start")

	// The canary's container restarts: it counts what it served since.
	mesh.restart("credit-risk-canary-a")
	mesh.serve(prod, "credit-risk-canary-a", TrackCanary, "200", 6, 15)
	mesh.serve(prod, "credit-risk-canary-a", TrackCanary, "503", 1, 50)
	// A stable pod is replaced (a rolling restart, a scale-down): what it
	// served since the start still counts.
	mesh.remove("credit-risk-stable-b")
	mesh.serve(prod, "credit-risk-stable-c", TrackStable, "200", 25, 8)
	mesh.serve(prod, "credit-risk-stable-c", TrackStable, "503", 1, 9000)
	if got := mesh.want(prod, TrackStable); got.Requests != 224 || got.Errors != 4 {
		t.Fatalf("prod's stable at the end: %+v, want 224 requests and 4 errors (the test's own bookkeeping)", got)
	}
	if got := mesh.want(prod, TrackCanary); got.Requests != 7 || got.Errors != 1 {
		t.Fatalf("prod's canary at the end: %+v, want 7 requests and 1 error (the test's own bookkeeping)", got)
	}
	reads("a restarted container and a replaced pod")
}
