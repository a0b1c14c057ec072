package metrics

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/strictyaml"
)

// queriesKeys are the keys of a queries file.
var queriesKeys = []string{"requests", "errors", "latencyBuckets", "latencySum", "latencyUnit"}

// ParseQueries reads a queries file (YAML): the PromQL templates the
// Prometheus source asks, and the unit of their latency, for metrics other
// than the splitter's (a service mesh's, an ingress's). It returns them as
// the Templates and LatencyUnit of PrometheusOptions, and reports every
// problem at once with its line:
//
//	requests: sum(increase(istio_requests_total{reporter="destination",destination_workload="{{.Model}}-{{.Track}}"}[{{.Window}}]))
//	errors: sum(increase(istio_requests_total{reporter="destination",destination_workload="{{.Model}}-{{.Track}}",response_code=~"5.."}[{{.Window}}]))
//	latencyUnit: 1ms
//
// (a short sketch: increase() extrapolates between scrapes, which the
// analysis's guarantee does not allow for; docs/rollouts.md gives the full
// Istio file, which counts scraped values since the start as the default
// templates do).
//
// requests and errors are required; latencyBuckets and latencySum go
// together or not at all; latencyUnit (default 1s) is the unit of the
// latency metric's le and sum. The templates are compiled and checked as
// NewPrometheus does.
func ParseQueries(file string, data []byte) (PrometheusOptions, error) {
	d := &strictyaml.Decoder{File: file}
	root := d.Parse(data)
	if root == nil {
		return PrometheusOptions{}, d.Err()
	}
	var opts PrometheusOptions
	d.Mapping(root, "queries file", queriesKeys, func(key string, _, v *yaml.Node) {
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
