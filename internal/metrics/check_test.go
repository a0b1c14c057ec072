package metrics

import (
	"errors"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/nettest"
	"github.com/promote-ml/promote/internal/promtest"
)

// TestPrometheusCheck has a real Prometheus parse the templates, as the
// server does when it starts: a PromQL mistake in a queries file is named
// then, with the template and Prometheus' message, and not at the first
// look of the first rollout.
func TestPrometheusCheck(t *testing.T) {
	prom := promtest.Launch(t)
	check := func(opts PrometheusOptions) error {
		t.Helper()
		opts.URL = prom.URL
		src, err := NewPrometheus(opts)
		if err != nil {
			t.Fatal(err)
		}
		return src.Check(t.Context())
	}
	if err := check(PrometheusOptions{}); err != nil {
		t.Errorf("Check of the default templates = %v, want nil", err)
	}
	good, err := ParseQueries("istio-queries.yaml", docQueries(t, "# istio-queries.yaml: Istio's standard metrics; each track is a workload <model>-<track>"))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(good); err != nil {
		t.Errorf("Check of the Istio queries = %v, want nil", err)
	}

	// A comma missing between two label matchers, and a parenthesis
	// missing in a whole template: both pass ParseQueries and
	// NewPrometheus, which do not parse PromQL.
	bad, err := ParseQueries("queries.yaml", []byte(`counters:
  requests: http_requests_total{job="{{.Model}}" track="{{.Track}}"}
errors: sum(http_errors_total{job="{{.Model}}",track="{{.Track}}"}
`))
	if err != nil {
		t.Fatalf("ParseQueries of a file whose PromQL does not parse: %v; want it accepted (only Prometheus parses PromQL)", err)
	}
	err = check(bad)
	var te *TemplateError
	if !errors.As(err, &te) {
		t.Fatalf("Check of templates that do not parse = %v, want a *TemplateError", err)
	}
	for _, want := range []string{"requests template: prometheus cannot run it: ", "errors template: prometheus cannot run it: ", "parse error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check of templates that do not parse = %v, want it to say %q", err, want)
		}
	}

	// A range selector without a function around it parses, and
	// Prometheus answers it at every read with a range vector, from which
	// no count can be read: a template mistake too, not Prometheus'.
	ranged, err := ParseQueries("queries.yaml", []byte(`requests: http_requests_total{job="{{.Model}}",track="{{.Track}}"}[{{.Window}}]
errors: sum(http_errors_total{job="{{.Model}}",track="{{.Track}}"})
`))
	if err != nil {
		t.Fatal(err)
	}
	err = check(ranged)
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `requests template: prometheus runs it, but it answers a "matrix" result where a count needs an instant vector`) {
		t.Errorf("Check of a template answering a range vector = %v, want a *TemplateError saying so", err)
	}

	// A Prometheus that does not answer says nothing about the templates.
	src, err := NewPrometheus(PrometheusOptions{URL: "http://" + nettest.FreeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Check(t.Context()); err == nil || errors.As(err, &te) {
		t.Errorf("Check with Prometheus down = %v, want an error that is not a *TemplateError", err)
	}
}
