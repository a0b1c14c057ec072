package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultQueryTimeout bounds a read of one track's counts (its two to four
// queries together) when PrometheusOptions.Timeout is zero. The queries
// take milliseconds; a Prometheus that has not answered them in seconds is
// stuck, and a read that waits longer delays the controller's look at the
// rollout, and with it the error budget that pauses the rollout when the
// source keeps failing.
const DefaultQueryTimeout = 5 * time.Second

// maxResponseBytes bounds a query's response: the answers expected are a
// few samples.
const maxResponseBytes = 16 << 20

// PrometheusOptions configures a Prometheus source.
type PrometheusOptions struct {
	// URL is Prometheus' base URL, e.g. http://prometheus:9090; a path
	// (a proxy's prefix) is kept: http://host/prometheus.
	URL string
	// Client sends the queries; nil is http.DefaultClient's equivalent.
	// Set one for TLS or authentication.
	Client *http.Client
	// Timeout bounds each read of a track's counts (Counts), all its
	// queries together; zero is DefaultQueryTimeout, negative is none
	// (the Client's own timeout alone).
	Timeout time.Duration
	// Templates are the queries; zero is DefaultTemplates.
	Templates Templates
	// LatencyUnit is the unit of the latency metric's le and sum (Istio's
	// are milliseconds); zero is time.Second.
	LatencyUnit time.Duration
	// Now is the clock; nil is time.Now. Queries are evaluated at
	// Query.At (Now when zero) less Settle, over a window back to
	// Query.Since.
	Now func() time.Time
	// Settle is how far before the reading's moment queries are
	// evaluated (DefaultSettle; negative: not at all): a scrape
	// timestamped just before the moment may not be stored yet when the
	// first of a look's queries runs, and stored when the next does, and
	// the two tracks would then be counted from different scrapes.
	Settle time.Duration
}

// DefaultSettle is PrometheusOptions.Settle's default.
const DefaultSettle = time.Second

// Prometheus reads counts from a Prometheus server's HTTP API: one instant
// query (/api/v1/query) per template, all of one look evaluated at the
// same moment (Query.At less PrometheusOptions.Settle), over the window
// since Query.Since.
//
// With the default templates (and a queries file's counters) the counts
// are exact: each series' scraped value now less its scraped value at the
// start, a counter that restarted counted from its restart, and a series
// gone since the start kept at its last value (sinceStart). They move once
// per scrape. They are not increase()s, which Prometheus extrapolates
// between scrapes, and whose made-up counts break the analysis's
// guarantee, which is for counts.
//
// A Prometheus is safe for concurrent use.
type Prometheus struct {
	endpoint  string
	client    *http.Client
	timeout   time.Duration
	templates compiledTemplates
	unit      float64
	now       func() time.Time
	settle    time.Duration
}

// NewPrometheus returns a source querying the server at opts.URL. It checks
// the options and every template now (reporting every problem at once), so
// a bad template fails at configuration, not in the middle of a rollout.
func NewPrometheus(opts PrometheusOptions) (*Prometheus, error) {
	var errs []error
	u, err := url.Parse(opts.URL)
	switch {
	case opts.URL == "":
		errs = append(errs, errors.New("URL is empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("URL: %w", err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("URL %q: want http(s)://host[:port][/path]", opts.URL))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("URL %q: want no query or fragment", opts.URL))
	}
	if opts.LatencyUnit < 0 {
		errs = append(errs, fmt.Errorf("latency unit %s is negative", opts.LatencyUnit))
	}
	templates, err := compileTemplates(opts.Templates)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("prometheus source: %w", err)
	}
	p := &Prometheus{
		endpoint:  strings.TrimSuffix(opts.URL, "/") + "/api/v1/query",
		client:    opts.Client,
		templates: templates,
		unit:      time.Second.Seconds(),
		now:       opts.Now,
	}
	if p.client == nil {
		p.client = &http.Client{}
	}
	switch {
	case opts.Timeout == 0:
		p.timeout = DefaultQueryTimeout
	case opts.Timeout > 0:
		p.timeout = opts.Timeout
	}
	if opts.LatencyUnit > 0 {
		p.unit = opts.LatencyUnit.Seconds()
	}
	if p.now == nil {
		p.now = time.Now
	}
	switch {
	case opts.Settle == 0:
		p.settle = DefaultSettle
	case opts.Settle > 0:
		p.settle = opts.Settle
	}
	return p, nil
}

// LooksBack reports that the counts since a Query's Since are everything
// counted since then, whichever process served the requests: Prometheus
// keeps every scraped replica's counters, across their restarts. A
// Builtin counts only what this process counted.
func (p *Prometheus) LooksBack() bool { return true }

// Counts queries q's counts over the window from q.Since to now. An error
// wraps ErrNoData when the requests query returns no sample (Prometheus has
// not scraped the series yet, or they do not exist) or any query returns
// NaN; it is a *QueryError when Prometheus refused or failed a query.
func (p *Prometheus) Counts(ctx context.Context, q Query) (Counts, error) {
	if err := q.validate(); err != nil {
		return Counts{}, err
	}
	now := q.At
	if now.IsZero() {
		now = p.now()
	}
	// Both tracks of a look from the same scrapes (PrometheusOptions.Settle).
	// A window that would end before its start ends at the start: no
	// requests yet.
	now = now.Add(-p.settle)
	if now.Before(q.Since) {
		now = q.Since
	}
	data := newTemplateData(q, now)
	outer := ctx
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	wrap := func(err error) error {
		if outer.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("prometheus did not answer within %s: %w", p.timeout, err)
		}
		return fmt.Errorf("prometheus counts for %s: %w", q, err)
	}

	var c Counts
	var err error
	if c.Requests, err = p.single(ctx, p.templates.requests, data, now, false); err != nil {
		return Counts{}, wrap(err)
	}
	if c.Errors, err = p.single(ctx, p.templates.errors, data, now, true); err != nil {
		return Counts{}, wrap(err)
	}
	if p.templates.latency {
		if c.Latency, err = p.histogram(ctx, data, now); err != nil {
			return Counts{}, wrap(err)
		}
	}
	if err := consistent(&c); err != nil {
		return Counts{}, wrap(err)
	}
	return c, nil
}

// Check has Prometheus parse every template, rendered as a rollout's look
// renders it, so that a PromQL mistake (a missing comma or parenthesis, a
// function given the wrong type) is found when the server starts rather
// than at the first look of the first rollout, where it would fail every
// read. The queries run once, over the last minute, for a model and an
// environment that need not exist: what they answer is not looked at,
// beyond its type.
//
// A query that Prometheus refuses as bad data, or answers with anything
// but an instant vector (which no data changes), is a *TemplateError
// naming the template and Prometheus' message (all of them at once,
// joined). Any other failure (Prometheus unreachable, slow or failing to run a query)
// says nothing about the templates: it is returned as it is, for the
// caller to report and go on, as a rollout's reads would retry it.
func (p *Prometheus) Check(ctx context.Context) error {
	now := p.now()
	data := newTemplateData(Query{Model: "model", Env: "env", Track: TrackStable, Since: now.Add(-time.Minute)}, now)
	qs := []query{p.templates.requests, p.templates.errors}
	if p.templates.latency {
		qs = append(qs, p.templates.latencyBuckets, p.templates.latencySum)
	}
	var errs []error
	for _, t := range qs {
		promql, err := t.render(data)
		if err != nil {
			return err
		}
		_, err = p.instantQuery(ctx, promql, now)
		var qe *QueryError
		var rt *resultTypeError
		switch {
		case err == nil:
		case errors.As(err, &qe) && qe.Type == "bad_data":
			errs = append(errs, &TemplateError{Template: t.name, Query: promql, Message: qe.Message})
		case errors.As(err, &rt):
			// Prometheus answered, and will answer every read the same
			// way: the template is at fault, not Prometheus.
			errs = append(errs, &TemplateError{Template: t.name, Query: promql, ran: true,
				Message: fmt.Sprintf("it answers a %q result where a count needs an instant vector (a range selector needs a function around it, such as last_over_time)", rt.got)})
		default:
			return fmt.Errorf("check the %s query with prometheus: %w", t.name, err)
		}
	}
	return errors.Join(errs...)
}

// TemplateError is a template whose query Prometheus refuses to run as it
// is written (Check).
type TemplateError struct {
	// Template names the template: requests, errors, latency buckets or
	// latency sum.
	Template string
	// Query is the PromQL sent, the template rendered.
	Query string
	// Message is Prometheus' error, with the position of the mistake, or
	// what is wrong with the answer to a query it ran.
	Message string
	// ran says that Prometheus ran the query, and its answer is wrong.
	ran bool
}

// Error names the template and quotes Prometheus.
func (e *TemplateError) Error() string {
	if e.ran {
		return fmt.Sprintf("%s template: prometheus runs it, but %s (rendered: %s)", e.Template, e.Message, e.Query)
	}
	return fmt.Sprintf("%s template: prometheus cannot run it: %s (rendered: %s)", e.Template, e.Message, e.Query)
}

// consistent checks the answers of the separate queries against each
// other: no more errors than requests, buckets that only grow with their
// bound, and a +Inf bucket holding them all. increase() extrapolates each
// series on its own, so that answers over the same requests can differ a
// little: within 1 + 5% the counts are evened out; beyond, the answer is
// wrong (templates over metrics that do not belong together), and an error
// names it rather than letting a made-up rate reach the analysis.
func consistent(c *Counts) error {
	slack := func(x float64) float64 { return 1 + 0.05*x }
	if c.Errors > c.Requests+slack(c.Requests) {
		return fmt.Errorf("the errors query counted %g, more than the requests query's %g", c.Errors, c.Requests)
	}
	c.Errors = min(c.Errors, c.Requests)
	h := &c.Latency
	for i := 1; i < len(h.Counts); i++ {
		if h.Counts[i] < h.Counts[i-1]-slack(h.Counts[i-1]) {
			return fmt.Errorf("the latency buckets are not cumulative: le %gs holds %g, fewer than le %gs's %g", h.Bounds[i], h.Counts[i], h.Bounds[i-1], h.Counts[i-1])
		}
		h.Counts[i] = max(h.Counts[i], h.Counts[i-1])
	}
	if n := len(h.Counts); n > 0 {
		if h.Count < h.Counts[n-1]-slack(h.Counts[n-1]) {
			return fmt.Errorf(`the latency buckets are not cumulative: le "+Inf" holds %g, fewer than le %gs's %g`, h.Count, h.Bounds[n-1], h.Counts[n-1])
		}
		h.Count = max(h.Count, h.Counts[n-1])
	}
	return nil
}

// single runs a query that returns one number. No sample is ErrNoData, or
// zero when emptyIsZero.
func (p *Prometheus) single(ctx context.Context, t query, data templateData, now time.Time, emptyIsZero bool) (float64, error) {
	samples, err := p.run(ctx, t, data, now)
	if err != nil {
		return 0, err
	}
	switch len(samples) {
	case 0:
		if emptyIsZero {
			return 0, nil
		}
		return 0, fmt.Errorf("%s query returned no sample: %w", t.name, ErrNoData)
	case 1:
		return count(t.name, samples[0].value)
	}
	return 0, fmt.Errorf("%s query returned %d series, want one (aggregate it with sum())", t.name, len(samples))
}

// histogram runs the latency queries.
func (p *Prometheus) histogram(ctx context.Context, data templateData, now time.Time) (Histogram, error) {
	t := p.templates.latencyBuckets
	samples, err := p.run(ctx, t, data, now)
	if err != nil {
		return Histogram{}, err
	}
	if len(samples) == 0 {
		return Histogram{}, fmt.Errorf("%s query returned no sample: %w", t.name, ErrNoData)
	}
	type bucket struct{ bound, count float64 }
	buckets := make([]bucket, 0, len(samples))
	var h Histogram
	hasInf := false
	for _, s := range samples {
		le, ok := s.metric["le"]
		if !ok {
			return Histogram{}, fmt.Errorf("%s query returned a sample without an le label (aggregate it with sum by (le))", t.name)
		}
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil || math.IsNaN(bound) {
			return Histogram{}, fmt.Errorf("%s query returned le %q, want a number", t.name, le)
		}
		n, err := count(t.name, s.value)
		if err != nil {
			return Histogram{}, err
		}
		if math.IsInf(bound, +1) {
			h.Count, hasInf = n, true
			continue
		}
		buckets = append(buckets, bucket{bound * p.unit, n})
	}
	if !hasInf {
		return Histogram{}, fmt.Errorf(`%s query returned no le="+Inf" bucket`, t.name)
	}
	slices.SortFunc(buckets, func(a, b bucket) int { return compareFloat(a.bound, b.bound) })
	for i, b := range buckets {
		if i > 0 && b.bound == buckets[i-1].bound {
			return Histogram{}, fmt.Errorf("%s query returned le %g twice (aggregate it with sum by (le))", t.name, b.bound/p.unit)
		}
		h.Bounds = append(h.Bounds, b.bound)
		h.Counts = append(h.Counts, b.count)
	}
	sum, err := p.single(ctx, p.templates.latencySum, data, now, false)
	if err != nil {
		return Histogram{}, err
	}
	h.Sum = sum * p.unit
	return h, nil
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// count checks that a query's value is a count: NaN means nothing to count
// (ErrNoData); infinite or negative values are errors.
func count(name string, v float64) (float64, error) {
	switch {
	case math.IsNaN(v):
		return 0, fmt.Errorf("%s query returned NaN: %w", name, ErrNoData)
	case math.IsInf(v, 0):
		return 0, fmt.Errorf("%s query returned %g, want a finite count", name, v)
	case v < 0:
		return 0, fmt.Errorf("%s query returned %g, want a count (not negative: a counter went back, as when the process counting restarts)", name, v)
	}
	return v, nil
}

// QueryError is a query that Prometheus refused or failed to run (its API's
// error object), or an answer that is not the API's.
type QueryError struct {
	// Query is the PromQL sent.
	Query string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Type is the API's errorType (bad_data, execution, timeout, …), empty
	// when the answer was not the API's.
	Type string
	// Message is the API's error, or the start of an answer that was not
	// the API's.
	Message string
}

// Error describes the failure with the query.
func (e *QueryError) Error() string {
	typ := e.Type
	if typ == "" {
		typ = "unexpected answer"
	}
	return fmt.Sprintf("prometheus answered %d %s: %s (query %s)", e.StatusCode, typ, e.Message, e.Query)
}

// sample is one element of an instant vector (or a scalar, unlabelled).
type sample struct {
	metric map[string]string
	value  float64
}

// run renders t for data and runs it at now.
func (p *Prometheus) run(ctx context.Context, t query, data templateData, now time.Time) ([]sample, error) {
	promql, err := t.render(data)
	if err != nil {
		return nil, err
	}
	samples, err := p.instantQuery(ctx, promql, now)
	if err != nil {
		return nil, fmt.Errorf("%s query: %w", t.name, err)
	}
	return samples, nil
}

// apiResponse is the envelope of Prometheus' HTTP API, as documented at
// https://prometheus.io/docs/prometheus/latest/querying/api/ (format
// overview, and expression query result formats).
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// instantQuery runs promql at ts through /api/v1/query (POST, so a long
// query never meets a URL length limit).
func (p *Prometheus) instantQuery(ctx context.Context, promql string, ts time.Time) ([]sample, error) {
	form := url.Values{
		"query": {promql},
		"time":  {strconv.FormatFloat(float64(ts.UnixMilli())/1e3, 'f', 3, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("build the query request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read prometheus' answer: %w", err)
	}
	if len(body) > maxResponseBytes {
		return nil, &QueryError{Query: promql, StatusCode: resp.StatusCode, Message: fmt.Sprintf("answer longer than %d bytes", maxResponseBytes)}
	}
	return parseResponse(promql, resp.StatusCode, body)
}

// parseResponse decodes an answer of /api/v1/query.
func parseResponse(promql string, status int, body []byte) ([]sample, error) {
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil || r.Status == "" {
		return nil, &QueryError{Query: promql, StatusCode: status, Message: snippet(body)}
	}
	if r.Status != "success" {
		return nil, &QueryError{Query: promql, StatusCode: status, Type: r.ErrorType, Message: r.Error}
	}
	if status/100 != 2 {
		return nil, &QueryError{Query: promql, StatusCode: status, Message: snippet(body)}
	}
	switch r.Data.ResultType {
	case "vector":
		var raw []struct {
			Metric    map[string]string `json:"metric"`
			Value     []json.RawMessage `json:"value"`
			Histogram json.RawMessage   `json:"histogram"`
		}
		if err := json.Unmarshal(r.Data.Result, &raw); err != nil {
			return nil, fmt.Errorf("decode prometheus' vector: %w", err)
		}
		samples := make([]sample, 0, len(raw))
		for _, s := range raw {
			if s.Value == nil && s.Histogram != nil {
				return nil, errors.New("prometheus returned a native histogram sample: query classic histograms (_bucket with le)")
			}
			v, err := sampleValue(s.Value)
			if err != nil {
				return nil, err
			}
			samples = append(samples, sample{metric: s.Metric, value: v})
		}
		return samples, nil
	case "scalar":
		var value []json.RawMessage
		if err := json.Unmarshal(r.Data.Result, &value); err != nil {
			return nil, fmt.Errorf("decode prometheus' scalar: %w", err)
		}
		v, err := sampleValue(value)
		if err != nil {
			return nil, err
		}
		return []sample{{value: v}}, nil
	}
	return nil, &resultTypeError{got: r.Data.ResultType}
}

// resultTypeError is an answer that is not an instant vector: a template
// that Prometheus runs but whose answer no count can be read from (a range
// selector without a function around it answers a matrix), whatever the
// data.
type resultTypeError struct{ got string }

func (e *resultTypeError) Error() string {
	return fmt.Sprintf("prometheus returned a %q result, want an instant vector", e.got)
}

// sampleValue decodes a sample's [timestamp, "value"] pair; the value may be
// NaN or ±Inf.
func sampleValue(pair []json.RawMessage) (float64, error) {
	if len(pair) != 2 {
		return 0, fmt.Errorf("decode prometheus' sample: %d elements, want [time, value]", len(pair))
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, fmt.Errorf("decode prometheus' sample value: %w", err)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("decode prometheus' sample value %q: %w", s, err)
	}
	return v, nil
}

// snippet is the start of an unexpected answer, for an error message.
func snippet(body []byte) string {
	const max = 200
	s := strings.TrimSpace(string(body))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return strconv.Quote(s)
}
