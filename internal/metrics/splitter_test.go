package metrics

import (
	"testing"

	"github.com/promote-ml/promote/internal/telemetry"
)

// splitterBuckets are the splitter's latency buckets, in seconds (its
// contract with this package).
func splitterBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .075, .1, .15, .2, .25, .3, .4, .5, .75, 1, 1.5, 2.5, 5, 10}
}

// testSplitter holds the splitter's metrics, as the splitter declares them,
// on a registry of its own: the tests count requests the way the splitter
// does without importing it.
type testSplitter struct {
	reg      *telemetry.Registry
	requests *telemetry.CounterVec
	duration *telemetry.HistogramVec
}

func newTestSplitter(t *testing.T) *testSplitter {
	t.Helper()
	s := &testSplitter{reg: telemetry.NewRegistry()}
	var err error
	if s.requests, err = s.reg.Counter(RequestsMetric, "Requests the splitter answered.", LabelModel, LabelEnv, LabelTrack, LabelOutcome); err != nil {
		t.Fatal(err)
	}
	if s.duration, err = s.reg.Histogram(DurationMetric, "Time to answer a request.", splitterBuckets(), LabelModel, LabelEnv, LabelTrack); err != nil {
		t.Fatal(err)
	}
	return s
}

// touch creates a track's series at zero, as a splitter does when it starts
// routing to the track, so that Prometheus sees them start from zero.
func (s *testSplitter) touch(model, env, track string) {
	for _, o := range []string{OutcomeOK, OutcomeClientError, OutcomeServerError, OutcomeTimeout, OutcomeConnectionError, OutcomeMismatch} {
		s.requests.With(model, env, track, o)
	}
	s.duration.With(model, env, track)
}

// serve counts n requests with the outcome, each taking latency seconds.
func (s *testSplitter) serve(model, env, track, outcome string, n int, latency float64) {
	s.requests.With(model, env, track, outcome).Add(float64(n))
	h := s.duration.With(model, env, track)
	for range n {
		h.Observe(latency)
	}
}

// batch is requests of one outcome and latency.
type batch struct {
	outcome string
	n       int
	latency float64
}

// serveAll serves the batches to a track.
func (s *testSplitter) serveAll(model, env, track string, batches []batch) {
	for _, b := range batches {
		s.serve(model, env, track, b.outcome, b.n, b.latency)
	}
}

// expectCounts returns the counts of batches, written out independently of
// the code under test: requests, the errors given, and a cumulative
// histogram over bounds.
func expectCounts(batches []batch, errors float64, bounds []float64) Counts {
	c := Counts{Errors: errors, Latency: Histogram{Bounds: bounds, Counts: make([]float64, len(bounds))}}
	for _, b := range batches {
		n := float64(b.n)
		c.Requests += n
		c.Latency.Count += n
		c.Latency.Sum += n * b.latency
		for i, le := range bounds {
			if b.latency <= le {
				c.Latency.Counts[i] += n
			}
		}
	}
	return c
}
