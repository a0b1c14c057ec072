package metrics

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/strictyaml"
)

// queriesKeys are the keys of a queries file.
var queriesKeys = []string{"counters", "requests", "errors", "latencyBuckets", "latencySum", "latencyUnit"}

// counterKeys are the keys of a queries file's counters: its queries, by
// the counter each counts.
var counterKeys = []string{"requests", "errors", "latencyBuckets", "latencySum"}

// counterSelector is a PromQL series selector: a metric name, label
// matchers in braces, or both, and nothing else (no function, range or
// operator), as counters takes them.
var counterSelector = regexp.MustCompile(`^\s*(?:[a-zA-Z_:][a-zA-Z0-9_:]*\s*(?:\{.*\})?|\{.*\})\s*$`)

// ParseQueries reads a queries file (YAML): the PromQL templates the
// Prometheus source asks, and the unit of their latency, for metrics other
// than the splitter's (a service mesh's, an ingress's). It returns them as
// the Templates and LatencyUnit of PrometheusOptions, and reports every
// problem at once with its line.
//
// The usual file names counters alone, by their series selectors, and
// Promote counts them since the rollout's start as its default templates
// count the splitter's (sinceStart: scraped values, a restart counted from
// zero, a gone series kept):
//
//	counters:
//	  requests: istio_requests_total{reporter="destination",destination_workload="{{.Model}}-{{.Track}}"}
//	  errors: istio_requests_total{reporter="destination",destination_workload="{{.Model}}-{{.Track}}",response_code=~"5.."}
//	latencyUnit: 1ms
//
// A query given at the top level instead (requests: PROMQL) is a whole
// PromQL template, for anything a counter cannot say; each query is given
// one way or the other. requests and errors are required; latencyBuckets
// and latencySum go together or not at all; latencyUnit (default 1s) is
// the unit of the latency metric's le and sum. The templates are compiled
// and checked as NewPrometheus does.
func ParseQueries(file string, data []byte) (PrometheusOptions, error) {
	d := &strictyaml.Decoder{File: file}
	root := d.Parse(data)
	if root == nil {
		return PrometheusOptions{}, d.Err()
	}
	var opts PrometheusOptions
	given := map[string]string{} // query → how it was given, for a second way
	set := func(key, s, how string, at *yaml.Node) {
		if was, dup := given[key]; dup {
			d.Errorf(at, "%s: given both as %s and as %s; give it one way", key, was, how)
			return
		}
		given[key] = how
		switch key {
		case "requests":
			opts.Templates.Requests = s
		case "errors":
			opts.Templates.Errors = s
		case "latencyBuckets":
			opts.Templates.LatencyBuckets = s
		case "latencySum":
			opts.Templates.LatencySum = s
		}
	}
	d.Mapping(root, "queries file", queriesKeys, func(key string, _, v *yaml.Node) {
		if key == "counters" {
			d.Mapping(v, "counters", counterKeys, func(ck string, _, cv *yaml.Node) {
				sel, ok := d.Str(cv, "counters."+ck)
				if !ok {
					return
				}
				if !counterSelector.MatchString(sel) {
					d.Errorf(cv, "counters.%s: %q is not a series selector (a metric name and {label matchers}, no function or range): write a whole PromQL template as %s instead", ck, sel, ck)
					return
				}
				by := ""
				if ck == "latencyBuckets" {
					by = "le"
				}
				set(ck, sinceStart(by, strings.TrimSpace(sel)), "counters."+ck, cv)
			})
			return
		}
		if key == "latencyUnit" {
			if u, ok := d.Duration(v, key); ok {
				if u <= 0 {
					d.Errorf(v, "latencyUnit: %s: want a positive unit such as 1ms or 1s", u)
				}
				opts.LatencyUnit = u
			}
			return
		}
		s, ok := d.Str(v, key)
		if !ok {
			return
		}
		set(key, s, "a PromQL template", v)
	})
	if err := d.Err(); err != nil {
		return PrometheusOptions{}, err
	}
	if opts.Templates == (Templates{}) {
		return PrometheusOptions{}, fmt.Errorf("%s: no queries: want at least requests and errors", file)
	}
	if _, err := compileTemplates(opts.Templates); err != nil {
		return PrometheusOptions{}, fmt.Errorf("%s: %w", file, err)
	}
	return opts, nil
}
