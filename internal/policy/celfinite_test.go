package policy

import (
	"strings"
	"testing"
)

// An expression whose arithmetic leaves the finite numbers is an error, not
// a verdict: +Inf and NaN compare in ways that would let a candidate through.
func TestExpressionNonFiniteArithmeticIsAnError(t *testing.T) {
	candidate := `{"accuracy": 0.95, "f1": 0, "z": 0}`
	baseline := `{"accuracy": 0.9, "f1": 0}`
	tests := []struct {
		name, expr string
		status     Status
		message    string
	}{
		{"ratio over a zero baseline", "candidate.accuracy / baseline.f1 >= 0.99", StatusError, "a division gives +Inf, which is not a finite number"},
		{"negative infinity", "-candidate.accuracy / candidate.z <= 0.0", StatusError, "a division gives -Inf"},
		{"NaN under a negation", "!(candidate.f1 / candidate.z < 0.5)", StatusError, "a division gives NaN"},
		{"overflowing product", "candidate.accuracy * 1e308 * 10.0 > 1.0", StatusError, "a multiplication gives +Inf"},
		{"overflowing sum", "candidate.accuracy * 1e308 + 1.7e308 > 1.0", StatusError, "an addition gives +Inf"},
		{"finite arithmetic", "candidate.accuracy / 2.0 >= 0.4 && candidate.accuracy - baseline.accuracy > 0.0", StatusPass, "expression is true"},
		{"decided before the division", "candidate.accuracy > 0.9 || candidate.accuracy / candidate.z > 1.0", StatusPass, "expression is true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGate(t, "gate:\n  rules:\n    - name: r\n      expr: '"+tt.expr+"'\n", "")
			d := g.Evaluate(Input{Candidate: mustEvidence(t, candidate), Baseline: mustEvidence(t, baseline)})
			r := resultOf(t, d, "r")
			if r.Status != tt.status || !strings.Contains(r.Message, tt.message) {
				t.Errorf("Evaluate(%q) = %s %q, want %s with %q", tt.expr, r.Status, r.Message, tt.status, tt.message)
			}
			if d.Allowed != (tt.status == StatusPass) {
				t.Errorf("Evaluate(%q).Allowed = %v", tt.expr, d.Allowed)
			}
		})
	}
}

// A non-finite constant, which CEL folds when the policy loads, is a load
// error.
func TestExpressionNonFiniteConstantIsALoadError(t *testing.T) {
	for _, expr := range []string{`double("NaN") < 1.0 || true`, `candidate.exists(k, double("-inf") < candidate[k])`} {
		src := "gate:\n  rules:\n    - name: r\n      expr: '" + expr + "'\n"
		if _, err := Load("p.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "not a finite number") {
			t.Errorf("Load(%q) error = %v, want a non-finite number error", expr, err)
		}
	}
}
