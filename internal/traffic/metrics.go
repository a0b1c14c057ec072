package traffic

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/promote-ml/promote/internal/telemetry"
)

// Metric names. They are a contract: dashboards, alerts and the analysis of
// a canary query them by these names (see the package doc).
const (
	MetricRequests          = "promote_traffic_requests_total"
	MetricRequestDuration   = "promote_traffic_request_duration_seconds"
	MetricCanaryWeight      = "promote_traffic_canary_weight_ratio"
	MetricBackendHealthy    = "promote_traffic_backend_healthy"
	MetricShadowComparisons = "promote_traffic_shadow_comparisons_total"
	MetricShadowDropped     = "promote_traffic_shadow_dropped_total"
)

// Metric label names.
const (
	LabelModel   = "model"
	LabelEnv     = "env"
	LabelTrack   = "track"
	LabelOutcome = "outcome"
	LabelResult  = "result"
)

// Outcome is the value of the outcome label of MetricRequests: what became
// of one proxied request.
type Outcome string

// The outcomes of a request.
const (
	// OutcomeOK is a response with a status below 400.
	OutcomeOK Outcome = "ok"
	// OutcomeClientError is a 4xx response, or a client that went away
	// before the response was complete (nginx's 499).
	OutcomeClientError Outcome = "client_error"
	// OutcomeServerError is a 5xx response from the backend.
	OutcomeServerError Outcome = "server_error"
	// OutcomeTimeout is a backend that did not answer within
	// Config.Timeout (or Shadow.Timeout).
	OutcomeTimeout Outcome = "timeout"
	// OutcomeConnectionError is a backend that could not be reached or
	// broke the connection.
	OutcomeConnectionError Outcome = "connection_error"
	// OutcomeMismatch is a shadow's answer that differs from the
	// primary's (a status_mismatch or body_mismatch comparison) where
	// neither failed: the candidate answered a request otherwise than
	// stable did, which the analysis counts against it as an error. Only
	// the shadow track counts it.
	OutcomeMismatch Outcome = "mismatch"
)

// outcomes lists every Outcome, in the order of the outcome index.
var outcomes = [...]Outcome{OutcomeOK, OutcomeClientError, OutcomeServerError, OutcomeTimeout, OutcomeConnectionError, OutcomeMismatch}

// outcome indexes outcomes, so that a request's outcome picks a cached
// counter without a map lookup.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeClientError
	outcomeServerError
	outcomeTimeout
	outcomeConnectionError
	outcomeMismatch
)

// failure reports whether o counts against a backend's passive health.
func (o outcome) failure() bool { return o == outcomeTimeout || o == outcomeConnectionError }

// isError reports whether o counts as an error of its track in the
// analysis of a canary (the package doc's error rate): a 5xx, a timeout
// or a connection error. A client's error is not the backend's.
func (o outcome) isError() bool { return o == outcomeServerError || o.failure() }

// outcomeOf classifies a backend's response status.
func outcomeOf(status int) outcome {
	switch {
	case status >= 500:
		return outcomeServerError
	case status >= 400:
		return outcomeClientError
	default:
		return outcomeOK
	}
}

// Result is the value of the result label of MetricShadowComparisons.
type Result string

// The results of comparing a mirrored request's response with the
// primary's.
const (
	// ResultMatch is the same status (and, with Shadow.CompareBodies, the
	// same body).
	ResultMatch Result = "match"
	// ResultStatusMismatch is a different status code.
	ResultStatusMismatch Result = "status_mismatch"
	// ResultBodyMismatch is the same status with a different body.
	ResultBodyMismatch Result = "body_mismatch"
	// ResultError is a primary or shadow request that got no complete
	// response (a timeout or a connection error), so nothing to compare.
	ResultError Result = "error"
)

// DurationBuckets are the buckets of MetricRequestDuration, in seconds:
// fine between 5 ms and 500 ms, where model latencies and their objectives
// lie, and coarse up to 10 s.
var DurationBuckets = []float64{.005, .01, .025, .05, .075, .1, .15, .2, .25, .3, .4, .5, .75, 1, 1.5, 2.5, 5, 10}

// Metrics are the traffic metrics of every Splitter that shares them: one
// set of families on one registry, whose series the splitters tell apart by
// their model and env labels.
type Metrics struct {
	requests    *telemetry.CounterVec
	duration    *telemetry.HistogramVec
	weight      *telemetry.GaugeVec
	healthy     *telemetry.GaugeVec
	comparisons *telemetry.CounterVec
	dropped     *telemetry.CounterVec

	// candidate is called after each canary or shadow request is counted
	// (OnCandidate); nil until set.
	candidate atomic.Pointer[func()]
}

// OnCandidate has f called after every canary or shadow request that any
// splitter sharing m counted, on the request's goroutine: f must return
// at once (a non-blocking send). The rollout controller uses it to judge
// a canary as its evidence arrives rather than only at its interval. A
// nil f stops the calls.
func (m *Metrics) OnCandidate(f func()) {
	if f == nil {
		m.candidate.Store(nil)
		return
	}
	m.candidate.Store(&f)
}

// NewMetrics creates the traffic metrics on reg. When reg already holds
// them (another NewMetrics on the same registry), the families are shared;
// a family of the same name but of another shape is an error.
func NewMetrics(reg *telemetry.Registry) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("traffic metrics: no registry")
	}
	var errs []error
	counter := func(name, help string, labels ...string) *telemetry.CounterVec {
		v, err := reg.Counter(name, help, labels...)
		errs = append(errs, err)
		return v
	}
	gauge := func(name, help string, labels ...string) *telemetry.GaugeVec {
		v, err := reg.Gauge(name, help, labels...)
		errs = append(errs, err)
		return v
	}
	duration, err := reg.Histogram(MetricRequestDuration,
		"Time from receiving a request to the end of the backend's response, by track.",
		DurationBuckets, LabelModel, LabelEnv, LabelTrack)
	errs = append(errs, err)
	m := &Metrics{
		requests: counter(MetricRequests,
			"Requests proxied to a model's backends, by track (stable, canary, shadow, and pinned for those a candidate header sent to the candidate) and outcome ("+joined(outcomes[:])+"; mismatch only for the shadow track).",
			LabelModel, LabelEnv, LabelTrack, LabelOutcome),
		duration: duration,
		weight: gauge(MetricCanaryWeight,
			"The share of requests (0 to 1) routed to the canary, as set; 0 without a canary.",
			LabelModel, LabelEnv),
		healthy: gauge(MetricBackendHealthy,
			"1 when the track's backend takes traffic, 0 while it is ejected or fails its health checks.",
			LabelModel, LabelEnv, LabelTrack),
		comparisons: counter(MetricShadowComparisons,
			"Mirrored requests whose shadow response was compared with the primary's, by result ("+joined(results[:])+").",
			LabelModel, LabelEnv, LabelResult),
		dropped: counter(MetricShadowDropped,
			"Requests chosen for mirroring but not mirrored because the shadow's concurrency bound was full or their body was larger than the mirror's limit or than the room left for copies of bodies.",
			LabelModel, LabelEnv),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("traffic metrics: %w", err)
	}
	return m, nil
}

// trackMetrics are one track's collectors for one model and env, curried
// once so that a request only increments and observes.
type trackMetrics struct {
	requests [len(outcomes)]telemetry.Counter
	duration telemetry.Histogram
	// candidate is the Metrics' OnCandidate hook, for the canary and
	// shadow tracks; nil for stable and pinned.
	candidate *atomic.Pointer[func()]
}

func (m *Metrics) track(model, env string, t Track) *trackMetrics {
	tm := &trackMetrics{duration: m.duration.With(model, env, string(t))}
	if t == TrackCanary || t == TrackShadow {
		// Pinned requests are no evidence for the analysis.
		tm.candidate = &m.candidate
	}
	for i, o := range outcomes {
		tm.requests[i] = m.requests.With(model, env, string(t), string(o))
	}
	return tm
}

// observe counts one request of the track and its duration.
func (tm *trackMetrics) observe(o outcome, seconds float64) {
	tm.requests[o].Inc()
	tm.duration.Observe(seconds)
	if tm.candidate != nil {
		if f := tm.candidate.Load(); f != nil {
			(*f)()
		}
	}
}

// shadowMetrics are the shadow comparison counters for one model and env.
type shadowMetrics struct {
	results [4]telemetry.Counter // by result index
	dropped telemetry.Counter
}

// results lists every Result, in the order of the result index.
var results = [...]Result{ResultMatch, ResultStatusMismatch, ResultBodyMismatch, ResultError}

type result uint8

const (
	resultMatch result = iota
	resultStatusMismatch
	resultBodyMismatch
	resultError
)

func (m *Metrics) shadow(model, env string) *shadowMetrics {
	sm := &shadowMetrics{dropped: m.dropped.With(model, env)}
	for i, r := range results {
		sm.results[i] = m.comparisons.With(model, env, string(r))
	}
	return sm
}

// joined lists a label's values for a metric's help text, so that the
// text names each value the label takes.
func joined[T ~string](vals []T) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
