package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestParseQueries(t *testing.T) {
	src := `requests: sum(increase(istio_requests_total{destination_workload="{{.Model}}-{{.Track}}"}[{{.Window}}]))
errors: sum(increase(istio_requests_total{destination_workload="{{.Model}}-{{.Track}}",response_code=~"5.."}[{{.Window}}]))
latencyBuckets: sum by (le) (increase(istio_request_duration_milliseconds_bucket{destination_workload="{{.Model}}-{{.Track}}"}[{{.Window}}]))
latencySum: sum(increase(istio_request_duration_milliseconds_sum{destination_workload="{{.Model}}-{{.Track}}"}[{{.Window}}]))
latencyUnit: 1ms
`
	opts, err := ParseQueries("queries.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if opts.LatencyUnit != time.Millisecond || !strings.HasPrefix(opts.Templates.Requests, "sum(increase(istio_requests_total") ||
		!strings.Contains(opts.Templates.Errors, `response_code=~"5.."`) || opts.Templates.LatencySum == "" {
		t.Errorf("ParseQueries = %+v", opts)
	}
	// The options make a working source.
	opts.URL = "http://127.0.0.1:9090"
	if _, err := NewPrometheus(opts); err != nil {
		t.Errorf("NewPrometheus with the parsed queries: %v", err)
	}

	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "requests: x\nerrros: y\n", []string{`queries.yaml:2:1`, "errros"}},
		{"abbreviated key", "req: x\nerrors: y\n", []string{`queries.yaml:1:1: queries file: unknown key "req" (did you mean "requests"?)`}},
		{"abbreviated latency key", "requests: x\nerrors: y\nlatencyB: z\n", []string{`unknown key "latencyB" (did you mean "latencyBuckets"?)`}},
		{"abbreviation of two keys", "requests: x\nerrors: y\nlatency: z\n", []string{`unknown key "latency" (known keys: counters, requests, errors, latencyBuckets, latencySum, latencyUnit)`}},
		{"empty", "{}\n", []string{"no queries: want at least requests and errors"}},
		{"errors missing", `requests: sum(rate(x{track="{{.Track}}"}[{{.Window}}]))` + "\n", []string{"errors template is empty"}},
		{"half the latency", `requests: sum(x{track="{{.Track}}"})` + "\n" + `errors: sum(y{track="{{.Track}}"})` + "\n" + `latencySum: sum(z{track="{{.Track}}"})` + "\n",
			[]string{"latency buckets and latency sum templates must be set together"}},
		{"unquoted label", `requests: sum(x{track={{.Track}}})` + "\n" + `errors: sum(y{track="{{.Track}}"})` + "\n", []string{"must be inside a double-quoted PromQL string"}},
		{"bad unit", `requests: sum(x{track="{{.Track}}"})` + "\n" + `errors: sum(y{track="{{.Track}}"})` + "\nlatencyUnit: -1ms\n", []string{`latencyUnit: "-1ms" is not a duration`}},
		{"zero unit", `requests: sum(x{track="{{.Track}}"})` + "\n" + `errors: sum(y{track="{{.Track}}"})` + "\nlatencyUnit: 0s\n", []string{"latencyUnit: 0s: want a positive unit"}},
		{"not YAML", "requests: [\n", []string{"queries.yaml"}},
		{"counter and template", "counters:\n  requests: x{track=\"{{.Track}}\"}\n  errors: y{track=\"{{.Track}}\"}\nrequests: sum(x{track=\"{{.Track}}\"})\n",
			[]string{"queries.yaml:4:11", "requests: given both as counters.requests and as a PromQL template"}},
		{"counter not a selector", "counters:\n  requests: rate(x{track=\"{{.Track}}\"}[5m])\n  errors: y{track=\"{{.Track}}\"}\n",
			[]string{"queries.yaml:2:13", "counters.requests", "is not a series selector", "write a whole PromQL template as requests instead"}},
		{"unknown counter", "counters:\n  requests: x{track=\"{{.Track}}\"}\n  errors: y{track=\"{{.Track}}\"}\n  latency: z\n", []string{"queries.yaml:4:3", "latency"}},
		{"counter unquoted label", "counters:\n  requests: x{track={{.Track}}}\n  errors: y{track=\"{{.Track}}\"}\n", []string{"must be inside a double-quoted PromQL string"}},
	} {
		_, err := ParseQueries("queries.yaml", []byte(tt.src))
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v, want it to say %q", tt.name, err, w)
			}
		}
	}
}

// A counters file names series selectors; Promote counts each since the
// start as its default templates count the splitter's counters.
func TestParseQueriesCounters(t *testing.T) {
	src := `counters:
  requests: istio_requests_total{reporter="destination",destination_workload="{{.Model}}-{{.Track}}"}
  errors: 'istio_requests_total{reporter="destination",destination_workload="{{.Model}}-{{.Track}}",response_code=~"5.."}'
  latencyBuckets: istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="{{.Model}}-{{.Track}}"}
  latencySum: istio_request_duration_milliseconds_sum{reporter="destination",destination_workload="{{.Model}}-{{.Track}}"}
latencyUnit: 1ms
`
	opts, err := ParseQueries("queries.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sel := `istio_requests_total{reporter="destination",destination_workload="{{.Model}}-{{.Track}}"}`
	if want := sinceStart("", sel); opts.Templates.Requests != want {
		t.Errorf("counters.requests = %s\nwant %s", opts.Templates.Requests, want)
	}
	if want := sinceStart("le", `istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="{{.Model}}-{{.Track}}"}`); opts.Templates.LatencyBuckets != want {
		t.Errorf("counters.latencyBuckets = %s\nwant %s", opts.Templates.LatencyBuckets, want)
	}
	if !strings.Contains(opts.Templates.Errors, `response_code=~"5.."`) || opts.LatencyUnit != time.Millisecond {
		t.Errorf("ParseQueries = %+v", opts)
	}
	opts.URL = "http://127.0.0.1:9090"
	if _, err := NewPrometheus(opts); err != nil {
		t.Errorf("NewPrometheus with the parsed counters: %v", err)
	}
}
