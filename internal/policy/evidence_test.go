package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseEvidence(t *testing.T) {
	src := `{
  "accuracy": 0.91,
  "metrics": {"f1": 0.88, "latency_p95_ms": 140},
  "checks": {"tests_passed": true, "data_quality": false},
  "groups": {
    "female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07, "count": 1200},
    "male":   {"selection_rate": 0.35, "tpr": 0.86, "fpr": 0.10, "count": 1300}
  },
  "params": {"lr": "0.01"},
  "metadata": {"run_id": "abc"}
}`
	e, err := ParseEvidence("m.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Evidence{
		Metrics: map[string]float64{
			"accuracy": 0.91, "f1": 0.88, "latency_p95_ms": 140,
			MetricDemographicParity: 0.04, MetricEqualOpportunity: 0.04, MetricEqualizedOdds: 0.04,
		},
		Checks: map[string]bool{"tests_passed": true, "data_quality": false},
		Groups: map[string]map[string]float64{
			"female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07, "count": 1200},
			"male":   {"selection_rate": 0.35, "tpr": 0.86, "fpr": 0.10, "count": 1300},
		},
	}
	if diff := cmp.Diff(want, e, cmpopts.IgnoreUnexported(Evidence{}), cmpopts.IgnoreFields(Evidence{}, "File"), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("ParseEvidence mismatch (-want +got):\n%s", diff)
	}
}

func TestParseEvidenceErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"empty", "", "m.json: file is empty"},
		{"truncated", `{"accuracy": 0.9`, "m.json:"},
		{"NaN", "{\n  \"accuracy\": NaN\n}", `m.json:2:15: accuracy: NaN is not a finite number`},
		{"Infinity", `{"latency": -Infinity}`, `latency: -Infinity is not a finite number`},
		{"yaml nan", `{"latency": .nan}`, `latency: .nan is not a finite number`},
		{"overflow", `{"latency": 1e400}`, `latency: 1e400 is out of range`},
		{"string", `{"accuracy": "0.91"}`, `accuracy: want a number, got the string "0.91"`},
		{"nested string", `{"metrics": {"f1": "high"}}`, `metrics.f1: want a number, got the string "high"`},
		{"null", `{"accuracy": null}`, `accuracy: want a number, got null`},
		{"top-level bool", `{"tests_passed": true}`, `put named booleans under "checks"`},
		{"array", `{"accuracy": [0.9]}`, `accuracy: want a number (a metric) or one of metrics, checks, groups`},
		{"duplicate", `{"f1": 0.8, "metrics": {"f1": 0.9}}`, `metrics.f1: metric given twice (first at line 1)`},
		{"duplicate key", "{\"f1\": 0.8,\n \"f1\": 0.9}", `m.json:2:2: metrics file: key "f1" repeated (first at line 1)`},
		{"check not bool", `{"checks": {"tests_passed": "yes"}}`, `checks.tests_passed: want true or false, got the string "yes"`},
		{"checks not map", `{"checks": [1]}`, `checks: want a mapping, got a list`},
		{"rate out of range", `{"groups": {"a": {"tpr": 1.2}}}`, `groups.a.tpr: 1.2 is not a rate between 0 and 1`},
		{"count fractional", `{"groups": {"a": {"count": 1.5}}}`, `groups.a.count: 1.5 is not a whole number`},
		{"derived name", `{"f1_delta": 0.1}`, `f1_delta: a metric may not end in _delta or _change`},
		{"bad name", `{"9lives": 1}`, `"9lives" is not a valid metric name`},
		{"two objects", `{"accuracy": 0.5}{"accuracy": 0.95}`, "m.json: content after the first document"},
		{"two objects on two lines", "{\"accuracy\": 0.5}\n{\"accuracy\": 0.95}\n", "content after the first document"},
		{"second document", "accuracy: 0.5\n---\naccuracy: 0.95\n", "m.json:3:1: a second document begins here"},
		{"text after the object", `{"accuracy": 0.5} trailing`, "m.json: content after the first document"},
		{"hex", `{"accuracy": 0x10}`, `accuracy: 0x10 is not a decimal number`},
		{"hex float", `{"accuracy": 0x1p-2}`, `accuracy: 0x1p-2 is not a decimal number`},
		{"not an object", `[1, 2]`, `metrics file: want a mapping, got a list`},
		{"conflicting fairness", `{"demographic_parity_difference": 0.5, "groups": {"a": {"selection_rate": 0.1}, "b": {"selection_rate": 0.2}}}`, `demographic_parity_difference: the file gives 0.5 but its groups give 0.1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEvidence("m.json", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseEvidence(%q) error = %v, want it to contain %q", tt.src, err, tt.want)
			}
		})
	}
}

func TestEvidenceMerge(t *testing.T) {
	a, _ := ParseEvidence("a.json", []byte(`{"f1": 0.9}`))
	b, _ := ParseEvidence("drift.json", []byte(`{"metrics": {"drift_psi_max": 0.1}}`))
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.Metrics["drift_psi_max"] != 0.1 || a.Metrics["f1"] != 0.9 {
		t.Errorf("Merge = %v", a.Metrics)
	}
	c, _ := ParseEvidence("c.json", []byte(`{"f1": 0.1}`))
	if err := a.Merge(c); err == nil || !strings.Contains(err.Error(), "metric f1 is in both a.json and c.json") {
		t.Errorf("Merge of a conflicting metric: error = %v", err)
	}
	if a.Metrics["f1"] != 0.9 {
		t.Errorf("a conflicting Merge changed f1 to %v", a.Metrics["f1"])
	}
	// A metric merged in earlier is named with the file it came from, and
	// a refused Merge adds none of its other metrics.
	d, _ := ParseEvidence("drift2.json", []byte(`{"metrics": {"drift_psi_max": 0.2, "drift_ks_max": 0.3}}`))
	if err := a.Merge(d); err == nil || !strings.Contains(err.Error(), "metric drift_psi_max is in both drift.json and drift2.json") {
		t.Errorf("Merge of a metric merged earlier: error = %v", err)
	}
	if _, added := a.Metrics["drift_ks_max"]; added || a.Metrics["drift_psi_max"] != 0.1 {
		t.Errorf("a refused Merge changed the evidence: %v", a.Metrics)
	}
}

func TestFairness(t *testing.T) {
	// Worked by hand: selection rates 0.31, 0.35, 0.28 → 0.35 − 0.28 = 0.07;
	// TPR 0.82, 0.86, 0.80 → 0.06; FPR 0.07, 0.10, 0.02 → 0.08, so equalized
	// odds is max(0.06, 0.08) = 0.08.
	groups := map[string]map[string]float64{
		"a": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07},
		"b": {"selection_rate": 0.35, "tpr": 0.86, "fpr": 0.10},
		"c": {"selection_rate": 0.28, "tpr": 0.80, "fpr": 0.02},
	}
	tests := []struct {
		name string
		fn   func(map[string]map[string]float64) (float64, error)
		want float64
	}{
		{"demographic parity", DemographicParityDifference, 0.07},
		{"equal opportunity", EqualOpportunityDifference, 0.06},
		{"equalized odds", EqualizedOddsDifference, 0.08},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fn(groups)
			if err != nil || got != tt.want {
				t.Errorf("%s = %v, %v; want %v", tt.name, got, err, tt.want)
			}
		})
	}
	// Equal selection rates are parity: a difference of 0.
	if got, _ := DemographicParityDifference(map[string]map[string]float64{"a": {"selection_rate": 0.6}, "b": {"selection_rate": 0.6}}); got != 0 {
		t.Errorf("parity of equal groups = %v, want 0", got)
	}
	if _, err := DemographicParityDifference(map[string]map[string]float64{"a": {"selection_rate": 0.6}}); err == nil {
		t.Error("one group: want an error")
	}
	if _, err := EqualizedOddsDifference(map[string]map[string]float64{"a": {"tpr": 0.6}, "b": {"tpr": 0.5}}); err == nil || !strings.Contains(err.Error(), "has no fpr") {
		t.Errorf("missing fpr: error = %v", err)
	}
}

// A metric missing from a candidate with drift reports merged into it may
// belong in either file: the message names them all.
func TestMissingMetricNamesMergedFiles(t *testing.T) {
	p, err := Load("p.yaml", []byte("gate:\n  metrics:\n    drift_ks_income: '<= 0.1'\n"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Gate("")
	if err != nil {
		t.Fatal(err)
	}
	cand, _ := ParseEvidence("metrics.json", []byte(`{"f1": 0.9}`))
	drift, _ := ParseEvidence("drift.json", []byte(`{"metrics": {"drift_ks_income__usd_": 0.1}}`))
	if err := cand.Merge(drift); err != nil {
		t.Fatal(err)
	}
	d := g.Evaluate(Input{Candidate: cand})
	want := "the candidate has no metric drift_ks_income (in metrics.json or drift.json)"
	if got := d.Results[0].Message; got != want {
		t.Errorf("Evaluate message = %q, want %q", got, want)
	}
}
