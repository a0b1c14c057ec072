package policy

import (
	"strings"
	"testing"
)

// A fairness gap is compared with the baseline's only over the same groups:
// a candidate that lost its worst group must not read as fairer.
func TestFairnessDeltaOverDifferentGroupsIsAnError(t *testing.T) {
	two := `{"groups": {"female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07}, "male": {"selection_rate": 0.34, "tpr": 0.85, "fpr": 0.08}}}`
	three := `{"groups": {"female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07}, "male": {"selection_rate": 0.34, "tpr": 0.85, "fpr": 0.08}, "nonbinary": {"selection_rate": 0.2, "tpr": 0.7, "fpr": 0.1}}}`
	direct := `{"demographic_parity_difference": 0.14, "equalized_odds_difference": 0.15}`
	policy := "gate:\n  metrics:\n    demographic_parity_difference_delta: '<= 0'\n    equalized_odds_difference_change: '<= 0%'\n  rules:\n    - name: cel\n      expr: delta.demographic_parity_difference <= 0.0\n"
	tests := []struct {
		name, candidate, baseline string
		status                    Status
		message                   string
	}{
		{"a group dropped", two, three, StatusError, `demographic_parity_difference is a gap over different groups in the candidate and the baseline: "nonbinary" only in the baseline (base.json)`},
		{"a group added", three, two, StatusError, `"nonbinary" only in the candidate (cand.json)`},
		{"the same groups", three, three, StatusPass, "demographic_parity_difference_delta 0 <= 0"},
		{"a baseline that gives the metric directly", two, direct, StatusPass, "demographic_parity_difference_delta -0.11 <= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGate(t, policy, "")
			c, err := ParseEvidence("cand.json", []byte(tt.candidate))
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseEvidence("base.json", []byte(tt.baseline))
			if err != nil {
				t.Fatal(err)
			}
			d := g.Evaluate(Input{Candidate: c, Baseline: b})
			r := resultOf(t, d, "demographic_parity_difference_delta")
			if r.Status != tt.status || !strings.Contains(r.Message, tt.message) {
				t.Errorf("demographic_parity_difference_delta = %s %q, want %s with %q", r.Status, r.Message, tt.status, tt.message)
			}
			if tt.status == StatusError {
				if r := resultOf(t, d, "equalized_odds_difference_change"); r.Status != StatusError || !strings.Contains(r.Message, "different groups") {
					t.Errorf("equalized_odds_difference_change = %s %q, want an error over different groups", r.Status, r.Message)
				}
				if r := resultOf(t, d, "cel"); r.Status != StatusError || !strings.Contains(r.Message, "delta.demographic_parity_difference is left out: ") {
					t.Errorf("cel = %s %q, want an error saying the delta is left out", r.Status, r.Message)
				}
				if d.Allowed {
					t.Errorf("Evaluate() allowed a comparison over different groups: %+v", d.Results)
				}
			}
		})
	}
}
