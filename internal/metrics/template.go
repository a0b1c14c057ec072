package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// selector is the default templates' label matchers for one track.
const selector = LabelModel + `="{{.Model}}",` + LabelEnv + `="{{.Env}}",` + LabelTrack + `="{{.Track}}"`

// The default templates query the splitter's metrics: what each series
// counted since the window's start, as the counters' value now less their
// value then, both as scraped, and not increase(), which extrapolates
// between scrapes: the extrapolated counts of each look break the
// analysis's guarantee, which is for counts (docs/analysis-statistics.md,
// "Counts are counts"). See sinceStart.
var (
	DefaultRequestsTemplate = sinceStart("", RequestsMetric+`{`+selector+`}`)
	DefaultErrorsTemplate   = sinceStart("", RequestsMetric+`{`+selector+`,`+LabelOutcome+
		`=~"`+OutcomeServerError+`|`+OutcomeTimeout+`|`+OutcomeConnectionError+`|`+OutcomeMismatch+`"}`)
	DefaultLatencyBucketsTemplate = sinceStart("le", DurationMetric+`_bucket{`+selector+`}`)
	DefaultLatencySumTemplate     = sinceStart("", DurationMetric+`_sum{`+selector+`}`)
)

// sinceStart is the PromQL of what the series s counted since the
// rollout's start, summed (by the label by, when set):
//
//	sum (((last_over_time(s[window]) - s @ start)
//	      unless (resets(s[window]) > 0 or min_over_time(s[window]) < s @ start))
//	     or last_over_time(s[window]))
//
// per series, its value now less its value at the start (the last sample
// at or before it, read with @: the same start at every look). The value
// now is the series' last sample in the window: a series gone since the
// start (its replica replaced or scaled down, and Prometheus marked it
// stale) keeps what it counted, where a bare s would drop it from the sum
// and take its counts back. The window starts at the start exactly
// (formatWindow), so a series gone before it has no sample there.
//
// A series absent at the start counts from zero (its last value); so does
// one whose counter went back since (its process restarted): it counts
// what it served since the restart, whether or not it has passed its value
// at the start again. A restart shows as a drop between two samples in the
// window (resets) or, when it came between the sample the start reads,
// which the window does not hold (it is up to a scrape interval older), and
// the first sample after it, as a sample lower than that value
// (min_over_time). A restart after which the counter passed its value at
// the start before the next scrape cannot be told from counting. or and
// unless match series by their labels, the metric's name aside
// (Prometheus' set operators).
func sinceStart(by, s string) string {
	agg := "sum"
	if by != "" {
		agg = "sum by (" + by + ")"
	}
	window, start := s+"[{{.Window}}]", s+" @ {{.Start}}"
	last := "last_over_time(" + window + ")"
	return agg + " (((" + last + " - " + start + ") unless (resets(" + window + ") > 0 or min_over_time(" + window + ") < " + start + ")) or " + last + ")"
}

// Templates are the PromQL queries of a Prometheus source, as text/template
// templates over .Model, .Env, .Track, .Window and .Start. Each must
// return an instant vector (or a scalar) of counts accumulated since the
// start.
//
// .Model, .Env and .Track are escaped for a PromQL double-quoted string, and
// only there are they safe: a template that puts them anywhere else (in a
// single-quoted or raw string, a comment, or bare) is refused. Inside a
// regular expression (=~) a value's metacharacters keep their meaning, so
// match them with =. .Window is now − Query.Since as a Prometheus duration
// to the millisecond ("5m2s500ms"), at least "1ms", for range selectors: a
// range over it starts at the start exactly (formatWindow); .Start is
// Query.Since in Unix seconds, for the @ modifier (`sum(s @ {{.Start}})`,
// the value at the start, the same at every look).
type Templates struct {
	// Requests returns one sample: the requests over the window. No
	// sample at all means no data.
	Requests string
	// Errors returns one sample: the failed requests over the window. No
	// sample means no errors (an error series exists only from its first
	// error).
	Errors string
	// LatencyBuckets returns one sample per bucket, labelled le (the
	// bucket's upper bound, +Inf included), with the requests over the
	// window that took at most le. Empty: no latency is queried.
	LatencyBuckets string
	// LatencySum returns one sample: the total latency of the requests
	// over the window. Set exactly when LatencyBuckets is.
	LatencySum string
}

// DefaultTemplates returns the templates of the splitter's metrics.
func DefaultTemplates() Templates {
	return Templates{
		Requests:       DefaultRequestsTemplate,
		Errors:         DefaultErrorsTemplate,
		LatencyBuckets: DefaultLatencyBucketsTemplate,
		LatencySum:     DefaultLatencySumTemplate,
	}
}

// templateData is what a template sees.
type templateData struct {
	// Model, Env and Track are escaped for a double-quoted string.
	Model, Env, Track string
	Window            string
	// Start is Query.Since as Unix seconds with milliseconds ("1772366400.000"),
	// for the @ modifier.
	Start string
}

// newTemplateData returns q's template data for an evaluation at now.
func newTemplateData(q Query, now time.Time) templateData {
	return templateData{
		Model: escapeString(q.Model),
		Env:   escapeString(q.Env),
		Track: escapeString(q.Track),
		// Wall clocks, to the millisecond: Prometheus' samples and the
		// query's time are, so a jump of the clock must not shrink the
		// window, and the window must end at the query's time and start
		// at .Start, both in whole milliseconds (UnixMilli, as
		// instantQuery sends the time).
		Window: formatWindow(time.Duration(now.UnixMilli()-q.Since.UnixMilli()) * time.Millisecond),
		Start:  strconv.FormatFloat(float64(q.Since.UnixMilli())/1e3, 'f', 3, 64),
	}
}

// escapeString escapes s for the inside of a PromQL double-quoted string.
// PromQL's strings take Go's escapes (\", \\, \n, \xNN, \uNNNN, …; see
// promql/parser/lex.go, lexEscape), which is what strconv.Quote writes.
func escapeString(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// formatWindow renders d as a Prometheus duration in hours, minutes,
// seconds and milliseconds ("1h2m3s456ms"), truncated to the millisecond,
// and at least one.
//
// It is exact, not rounded up to a second, so that a range selector over
// it holds no sample from before the start: a series that went stale
// (its replica gone) just before the start, with its last sample in the
// part of a rounded-up range before it, is absent at the start, and
// last_over_time would count its whole value as new since the start.
// Prometheus closes a range at both ends up to 2.x ([now − d, now]) and
// opens it at its start from 3.0 ((now − d, now]); a sample exactly at the
// start is the start's own value either way. Only the one-millisecond
// floor, for a window that would be empty, reaches before the start, and
// a sample and the stale marker that follows it a millisecond later take
// a scrape interval of a millisecond.
func formatWindow(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	var b strings.Builder
	if h := ms / 3600e3; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := ms % 3600e3 / 60e3; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec := ms % 60e3 / 1e3; sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	if milli := ms % 1e3; milli > 0 {
		fmt.Fprintf(&b, "%dms", milli)
	}
	return b.String()
}

// query is one compiled template.
type query struct {
	name string
	tmpl *template.Template
}

// render executes the template for data.
func (t query) render(data templateData) (string, error) {
	var buf bytes.Buffer
	if err := t.tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("%s template: %w", t.name, err)
	}
	return buf.String(), nil
}

// compiledTemplates are Templates, parsed and checked.
type compiledTemplates struct {
	requests, errors query
	// latency is false when no latency is queried.
	latency                    bool
	latencyBuckets, latencySum query
}

// compileTemplates parses and checks t (every problem at once): a zero t
// means DefaultTemplates.
func compileTemplates(t Templates) (compiledTemplates, error) {
	if t == (Templates{}) {
		t = DefaultTemplates()
	}
	var errs []error
	compile := func(name, text string, required bool) query {
		if strings.TrimSpace(text) == "" {
			if required {
				errs = append(errs, fmt.Errorf("%s template is empty", name))
			}
			return query{}
		}
		q, err := compileTemplate(name, text)
		if err != nil {
			errs = append(errs, err)
		}
		return q
	}
	var c compiledTemplates
	c.requests = compile("requests", t.Requests, true)
	c.errors = compile("errors", t.Errors, true)
	hasBuckets, hasSum := strings.TrimSpace(t.LatencyBuckets) != "", strings.TrimSpace(t.LatencySum) != ""
	if hasBuckets != hasSum {
		errs = append(errs, errors.New("latency buckets and latency sum templates must be set together"))
	}
	c.latency = hasBuckets && hasSum
	c.latencyBuckets = compile("latency buckets", t.LatencyBuckets, false)
	c.latencySum = compile("latency sum", t.LatencySum, false)
	if err := errors.Join(errs...); err != nil {
		return compiledTemplates{}, fmt.Errorf("invalid templates: %w", err)
	}
	return c, nil
}

// Sentinels stand for label values while a template is checked: letters
// only, so escaping leaves them alone, and unlikely in a template's text.
const (
	sentinelModel = "PROMOTEzMODELzSENTINEL"
	sentinelEnv   = "PROMOTEzENVzSENTINEL"
	sentinelTrack = "PROMOTEzTRACKzSENTINEL"
)

// compileTemplate parses text and checks it by rendering it: it must name
// only known fields, render a non-empty query, depend on .Track, and put
// .Model, .Env and .Track only inside double-quoted strings.
func compileTemplate(name, text string) (query, error) {
	tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return query{}, fmt.Errorf("%s template: %w", name, err)
	}
	q := query{name: name, tmpl: tmpl}
	// The sentinel rendering checks where values land; renderings with
	// each real track also cover templates that branch on the track.
	renders := map[string]string{}
	for _, track := range []string{sentinelTrack, TrackStable, TrackCanary, TrackShadow} {
		out, err := q.render(templateData{Model: sentinelModel, Env: sentinelEnv, Track: track, Window: "5m", Start: "1772366400.000"})
		if err != nil {
			return query{}, err
		}
		if strings.TrimSpace(out) == "" {
			return query{}, fmt.Errorf("%s template renders an empty query for track %q", name, track)
		}
		if field, ok := unquotedSentinel(out); !ok {
			return query{}, fmt.Errorf("%s template: {{.%s}} must be inside a double-quoted PromQL string (\"...\"), the only place its value is escaped; rendered: %s", name, field, out)
		}
		renders[track] = out
	}
	if renders[TrackStable] == renders[TrackCanary] {
		return query{}, fmt.Errorf("%s template does not depend on {{.Track}}: every track would get the same counts", name)
	}
	return q, nil
}

// unquotedSentinel scans a rendered PromQL query and reports the first
// sentinel found outside a double-quoted string (in a single-quoted or raw
// string, a comment, or bare), by its field name; ok when there is none.
func unquotedSentinel(promql string) (field string, ok bool) {
	sentinels := []struct{ value, field string }{
		{sentinelModel, "Model"}, {sentinelEnv, "Env"}, {sentinelTrack, "Track"},
	}
	// end is the byte that ends the current string or comment; 0 outside.
	var end byte
	for i := 0; i < len(promql); i++ {
		c := promql[i]
		if end == '"' {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				end = 0
			}
			continue
		}
		for _, s := range sentinels {
			if strings.HasPrefix(promql[i:], s.value) {
				return s.field, false
			}
		}
		switch {
		case end == 0 && c == '#':
			end = '\n'
		case end == 0 && (c == '"' || c == '\'' || c == '`'):
			end = c
		case end == '\'' && c == '\\':
			i++
		case end != 0 && c == end:
			end = 0
		}
	}
	return "", true
}
