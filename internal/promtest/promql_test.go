package promtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"selector", `up`, []string{"up"}},
		{"matchers and range", `rate(promote_http_requests_total{code=~"5..", route!="GET /readyz"}[5m])`, []string{"promote_http_requests_total"}},
		{"aggregation with a label list", "sum by (job, instance) (increase(a_total[5m])) > 0\nunless on (job, instance)\nsum by (job, instance) (b_total) > 0", []string{"a_total", "b_total"}},
		{"aggregation's list after its argument", `max(x) by (endpoint) > 0`, []string{"x"}},
		{"keywords and numbers", `a == 0 or time() - b > 6e2 and bool c offset 5m`, []string{"a", "b", "c"}},
		{"braces and words in strings", `a{l="}{ by (x) y", m='q\'r'}`, []string{"a"}},
		{"group_left", `a * on (env) group_left (commit) b_info`, []string{"a", "b_info"}},
		{"histogram_quantile", `histogram_quantile(0.95, sum by (le) (rate(d_seconds_bucket[5m])))`, []string{"d_seconds_bucket"}},
		{"repeats once", `a / a`, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MetricNames(tc.expr)
			if err != nil {
				t.Fatalf("MetricNames(%q): %v", tc.expr, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("MetricNames(%q) (-want +got):\n%s", tc.expr, diff)
			}
		})
	}
	for _, expr := range []string{`{__name__="a"}`, `sum(a`, `a{l="x}`, `rate(a[5m)`} {
		if got, err := MetricNames(expr); err == nil {
			t.Errorf("MetricNames(%q) = %q, want an error", expr, got)
		}
	}
}
