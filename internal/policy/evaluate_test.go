package policy

import (
	"strconv"
	"strings"
	"testing"
)

func mustGate(t testing.TB, src, env string) *Gate {
	t.Helper()
	p, err := Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	g, err := p.Gate(env)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustEvidence(t testing.TB, src string) *Evidence {
	t.Helper()
	e, err := ParseEvidence("e.json", []byte(src))
	if err != nil {
		t.Fatalf("ParseEvidence(%s): %v", src, err)
	}
	return e
}

func resultOf(t *testing.T, d *Decision, rule string) Result {
	t.Helper()
	for _, r := range d.Results {
		if r.Rule == rule {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", rule, d.Results)
	return Result{}
}

func TestWarnNeverBlocks(t *testing.T) {
	g := mustGate(t, `gate:
  metrics:
    latency_p95_ms: {threshold: "<= 100", severity: warn, description: keep it snappy}
    accuracy: ">= 0.8"
  rules:
    - name: missing-metric-warns
      severity: warn
      metric: throughput
      threshold: ">= 10"
`, "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"latency_p95_ms": 150, "accuracy": 0.9}`)})
	if !d.Allowed {
		t.Fatalf("Allowed = false, want true: %+v", d.Results)
	}
	if r := resultOf(t, d, "latency_p95_ms"); r.Status != StatusWarn || r.Description != "keep it snappy" {
		t.Errorf("latency result = %+v, want warn with its description", r)
	}
	if r := resultOf(t, d, "missing-metric-warns"); r.Status != StatusWarn || !strings.Contains(r.Message, "no metric throughput") {
		t.Errorf("missing metric under warn = %+v", r)
	}
	if d.Summary != (Summary{Pass: 1, Warn: 2}) {
		t.Errorf("Summary = %+v, want 1 pass 2 warn", d.Summary)
	}
}

func TestNoBaselinePass(t *testing.T) {
	g := mustGate(t, "gate:\n  noBaseline: pass\n  metrics:\n    f1_delta: '>= -0.01'\n    f1: '>= 0.5'\n", "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"f1": 0.7}`)})
	if !d.Allowed || resultOf(t, d, "f1_delta").Status != StatusPass {
		t.Errorf("noBaseline: pass: %+v", d.Results)
	}
	d = g.Evaluate(Input{Candidate: mustEvidence(t, `{"f1": 0.4}`)})
	if d.Allowed {
		t.Error("noBaseline: pass let an absolute rule through")
	}
}

// A rule on the candidate's value alone judges only that value, but shows
// the baseline's beside it when the baseline reports the metric, so that
// whoever decides sees how far it moved; a baseline without the metric,
// or no baseline, is no error.
func TestValueRuleShowsTheBaseline(t *testing.T) {
	g := mustGate(t, "gate:\n  noBaseline: pass\n  metrics:\n    latency_p95_ms: '<= 150'\n", "")
	cand := mustEvidence(t, `{"latency_p95_ms": 146}`)
	for _, tt := range []struct {
		name     string
		baseline *Evidence
		want     *float64
	}{
		{"baseline reports it", mustEvidence(t, `{"latency_p95_ms": 120}`), new(120.0)},
		{"baseline lacks it", mustEvidence(t, `{"f1": 0.88}`), nil},
		{"no baseline", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := g.Evaluate(Input{Candidate: cand, Baseline: tt.baseline})
			r := resultOf(t, d, "latency_p95_ms")
			if !d.Allowed || r.Status != StatusPass || r.Actual != 146.0 || r.Message != "latency_p95_ms 146 <= 150" {
				t.Errorf("Evaluate() = %+v, want a pass judging 146 alone", r)
			}
			if got, want := fmtPtr(r.Baseline), fmtPtr(tt.want); got != want {
				t.Errorf("Evaluate().Baseline = %s, want %s", got, want)
			}
		})
	}
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

func TestChangeUndefinedAtZeroBaseline(t *testing.T) {
	g := mustGate(t, "gate:\n  metrics:\n    errors_change: '<= 10%'\n", "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"errors": 3}`), Baseline: mustEvidence(t, `{"errors": 0}`)})
	r := resultOf(t, d, "errors_change")
	if d.Allowed || r.Status != StatusError || !strings.Contains(r.Message, "baseline's errors is 0") {
		t.Errorf("change against 0 = %+v", r)
	}
}

func TestChangeIsRelativeToAbsoluteBaseline(t *testing.T) {
	// A negative baseline: from -10 to -5 is +50% (up), per |baseline|.
	g := mustGate(t, "gate:\n  metrics:\n    margin_change: '>= 50%'\n", "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"margin": -5}`), Baseline: mustEvidence(t, `{"margin": -10}`)})
	if r := resultOf(t, d, "margin_change"); r.Status != StatusPass || r.Actual != 50.0 {
		t.Errorf("margin_change = %+v, want pass with actual 50", r)
	}
}

// An expression that reads a metric or check the evidence lacks (a typo,
// a metric one side does not have) is an error naming it, with the closest
// existing name when one is close, as the threshold rules say.
func TestExpressionMissingMetricNamed(t *testing.T) {
	cand := mustEvidence(t, `{"accuracy": 0.91, "latency_p95_ms": 90, "checks": {"tests_passed": true}}`)
	base := mustEvidence(t, `{"accuracy": 0.9, "latency_p95_ms": 100}`)
	for _, tc := range []struct {
		name, expr string
		want       []string
		wantNot    string
	}{
		{"candidate typo", "candidate.acuracy >= 0.9", []string{"the candidate has no metric acuracy (in e.json); did you mean accuracy?"}, ""},
		{"indexed typo", `candidate["latency_p59_ms"] <= 100.0`, []string{"the candidate has no metric latency_p59_ms (in e.json); did you mean latency_p95_ms?"}, ""},
		{"delta typo", "delta.acuracy >= 0.0", []string{"the candidate has no metric acuracy (in e.json); did you mean accuracy?"}, ""},
		{"baseline typo", "baseline.acuracy <= candidate.accuracy", []string{"the baseline has no metric acuracy (in e.json); did you mean accuracy?"}, ""},
		{"check typo", "checks.test_passed", []string{"the candidate has no check test_passed; did you mean tests_passed?"}, ""},
		{"nothing close", "candidate.throughput >= 1.0", []string{"the candidate has no metric throughput (in e.json)"}, "did you mean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := mustGate(t, "gate:\n  rules:\n    - name: r\n      expr: '"+tc.expr+"'\n", "")
			r := resultOf(t, g.Evaluate(Input{Candidate: cand, Baseline: base}), "r")
			if r.Status != StatusError {
				t.Errorf("Evaluate(%s) = %s (%s), want error", tc.expr, r.Status, r.Message)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.Message, want) {
					t.Errorf("Evaluate(%s) message = %q, want it to say %q", tc.expr, r.Message, want)
				}
			}
			if tc.wantNot != "" && strings.Contains(r.Message, tc.wantNot) {
				t.Errorf("Evaluate(%s) message = %q, want no %q", tc.expr, r.Message, tc.wantNot)
			}
		})
	}
}

func TestExpressions(t *testing.T) {
	src := `gate:
  rules:
    - name: tradeoff
      expr: delta.accuracy >= 0.0 || (delta.accuracy >= -0.005 && change.latency_p95_ms <= -0.10)
    - name: first-version-ok
      expr: "!has_baseline || delta.f1 >= 0.0"
    - name: checks
      expr: checks.tests_passed && checks.artifact_signed
`
	g := mustGate(t, src, "")
	tests := []struct {
		name      string
		cand      string
		base      string
		signed    bool
		want      map[string]Status
		wantInMsg string
	}{
		{"trade accepted", `{"accuracy": 0.905, "latency_p95_ms": 90, "f1": 0.8, "checks": {"tests_passed": true}}`, `{"accuracy": 0.91, "latency_p95_ms": 100, "f1": 0.8}`, true,
			map[string]Status{"tradeoff": StatusPass, "first-version-ok": StatusPass, "checks": StatusPass}, ""},
		{"trade refused", `{"accuracy": 0.905, "latency_p95_ms": 95, "f1": 0.8, "checks": {"tests_passed": true}}`, `{"accuracy": 0.91, "latency_p95_ms": 100, "f1": 0.8}`, true,
			map[string]Status{"tradeoff": StatusFail}, ""},
		{"signature claim is not taken", `{"accuracy": 1, "latency_p95_ms": 1, "f1": 1, "checks": {"tests_passed": true, "artifact_signed": true}}`, `{"accuracy": 1, "latency_p95_ms": 1, "f1": 1}`, false,
			map[string]Status{"checks": StatusFail}, ""},
		{"missing metric is an error", `{"latency_p95_ms": 1, "f1": 1, "checks": {"tests_passed": true}}`, `{"accuracy": 1, "latency_p95_ms": 1, "f1": 1}`, true,
			map[string]Status{"tradeoff": StatusError}, "no such key: accuracy"},
		{"no baseline: has_baseline handles it, others fail closed", `{"accuracy": 1, "latency_p95_ms": 1, "f1": 1, "checks": {"tests_passed": true}}`, ``, true,
			map[string]Status{"tradeoff": StatusFail, "first-version-ok": StatusPass}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Candidate: mustEvidence(t, tt.cand), Signed: tt.signed}
			if tt.base != "" {
				in.Baseline = mustEvidence(t, tt.base)
			}
			d := g.Evaluate(in)
			for rule, want := range tt.want {
				r := resultOf(t, d, rule)
				if r.Status != want {
					t.Errorf("Evaluate(%s) %s = %s (%s), want %s", tt.name, rule, r.Status, r.Message, want)
				}
				if tt.wantInMsg != "" && want == StatusError && !strings.Contains(r.Message, tt.wantInMsg) {
					t.Errorf("Evaluate(%s) %s message = %q, want %q", tt.name, rule, r.Message, tt.wantInMsg)
				}
			}
		})
	}
}

func TestExpressionCostLimit(t *testing.T) {
	// A comprehension over a large list exceeds the cost limit and is an
	// error that blocks, not a hang.
	g := mustGate(t, "gate:\n  rules:\n    - name: spin\n      expr: \"[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))\"\n", "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"a": 1}`)})
	r := resultOf(t, d, "spin")
	if d.Allowed || r.Status != StatusError || !strings.Contains(r.Message, "cost limit") {
		t.Errorf("cost-limited expression = %+v", r)
	}
}

func TestBadSignatureBlocksEvenWhenNotRequired(t *testing.T) {
	g := mustGate(t, "gate:\n  metrics:\n    f1: '>= 0.5'\n", "")
	in := Input{Candidate: mustEvidence(t, `{"f1": 0.9}`), SignatureChecked: true, SignatureNote: "signature does not verify"}
	d := g.Evaluate(in)
	if d.Allowed || resultOf(t, d, CheckArtifactSigned).Message != "signature does not verify" {
		t.Errorf("bad signature: %+v", d.Results)
	}
	in.Signed, in.SignatureNote = true, "verified"
	if d := g.Evaluate(in); !d.Allowed || len(d.Results) != 1 {
		t.Errorf("good signature, not required: %+v", d.Results)
	}
}

func TestApprovals(t *testing.T) {
	tests := []struct {
		name      string
		approvals string
		approvers []Approver
		requester string
		want      Status
		count     float64
	}{
		{"two distinct", "{min: 2}", []Approver{{Name: "alice"}, {Name: "bob"}}, "carol", StatusPass, 2},
		{"same person twice counts once", "{min: 2}", []Approver{{Name: "alice"}, {Name: " Alice "}}, "carol", StatusFail, 1},
		{"requester excluded", "{min: 1}", []Approver{{Name: "carol"}}, "carol", StatusFail, 0},
		{"requester allowed", "{min: 1, allowSelfApproval: true}", []Approver{{Name: "carol"}}, "carol", StatusPass, 1},
		{"role required", "{min: 1, roles: [ml-lead]}", []Approver{{Name: "alice", Roles: []string{"engineer"}}}, "carol", StatusFail, 0},
		{"role held", "{min: 1, roles: [ml-lead, risk]}", []Approver{{Name: "alice", Roles: []string{"Risk"}}}, "carol", StatusPass, 1},
		{"empty names ignored", "{min: 1}", []Approver{{Name: " "}}, "", StatusFail, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGate(t, "gate:\n  approvals: "+tt.approvals+"\n", "")
			d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"f1": 1}`), Approvers: tt.approvers, RequestedBy: tt.requester})
			r := resultOf(t, d, "approvals")
			if r.Status != tt.want || r.Actual != tt.count {
				t.Errorf("approvals %s = %s %v (%s), want %s %v", tt.approvals, r.Status, r.Actual, r.Message, tt.want, tt.count)
			}
		})
	}
}

// A policy with min: 0 approvals has no approvals rule at all.
func TestApprovalsZero(t *testing.T) {
	g := mustGate(t, "gate:\n  metrics: {f1: '> 0'}\n  approvals: {min: 0}\n", "")
	if len(g.Rules) != 1 || g.Rules[0].Name != "f1" {
		t.Errorf("rules = %+v, want only f1", g.Rules)
	}
}

// A gate that judges nothing would allow anything: it is a load error.
func TestEmptyGateFailsClosed(t *testing.T) {
	for _, src := range []string{"gate: {}\n", "gate:\n  approvals: {min: 0}\n", "apiVersion: promote.dev/v1\nkind: Policy\nenvironments:\n  dev: {}\n"} {
		if _, err := Load("p.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "empty gate") {
			t.Errorf("Load(%q) error = %v, want an empty gate error", src, err)
		}
	}
}

func TestOverflowingDeltaIsAnError(t *testing.T) {
	g := mustGate(t, "gate:\n  metrics:\n    x_delta: '>= 0'\n", "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"x": 1.7e308}`), Baseline: mustEvidence(t, `{"x": -1.7e308}`)})
	if r := resultOf(t, d, "x_delta"); d.Allowed || r.Status != StatusError || r.Actual != nil {
		t.Errorf("overflowing delta = %+v", r)
	}
}

// An expression never passes on a delta or change that overflowed: it is
// an error, as the NAME_delta and NAME_change rules are.
func TestOverflowingDeltaInExpressionIsAnError(t *testing.T) {
	g := mustGate(t, "gate:\n  rules:\n    - name: d\n      expr: delta.x >= 0.0\n    - name: c\n      expr: change[\"y\"] >= 0.0\n", "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"x": 1.7e308, "y": 1}`), Baseline: mustEvidence(t, `{"x": -1.7e308, "y": 1e-320}`)})
	for _, name := range []string{"d", "c"} {
		if r := resultOf(t, d, name); r.Status != StatusError || !strings.Contains(r.Message, "is not a finite number") {
			t.Errorf("%s = %+v, want an error naming the overflow", name, r)
		}
	}
	if d.Allowed {
		t.Errorf("an overflowing delta allowed the candidate: %+v", d.Results)
	}
}

func TestDuplicateApproverRolesMerge(t *testing.T) {
	g := mustGate(t, "gate:\n  approvals: {min: 1, roles: [risk]}\n", "")
	d := g.Evaluate(Input{Candidate: mustEvidence(t, `{"f1": 1}`), Approvers: []Approver{{Name: "alice"}, {Name: "Alice", Roles: []string{"risk"}}}})
	if r := resultOf(t, d, "approvals"); r.Status != StatusPass || r.Actual != 1.0 {
		t.Errorf("approvals = %+v", r)
	}
}

func TestExpressionMessageShowsValues(t *testing.T) {
	g := mustGate(t, "gate:\n  rules:\n    - name: x\n      expr: delta.accuracy >= -0.005 && change[\"latency_p95_ms\"] <= -0.1 && checks.tests_passed\n", "")
	d := g.Evaluate(Input{
		Candidate: mustEvidence(t, `{"accuracy": 0.905, "latency_p95_ms": 95, "checks": {"tests_passed": true}}`),
		Baseline:  mustEvidence(t, `{"accuracy": 0.91, "latency_p95_ms": 100}`),
	})
	want := "expression is false: delta.accuracy = -0.005, change.latency_p95_ms = -0.05, checks.tests_passed = true"
	if r := resultOf(t, d, "x"); r.Message != want {
		t.Errorf("message = %q, want %q", r.Message, want)
	}
}

// A compiled gate is shared by a server's concurrent requests: evaluations
// must not write to it (run with -race).
func TestConcurrentEvaluations(t *testing.T) {
	p := loadPolicyFile(t, "exercise1.yaml")
	g, err := p.Gate("prod")
	if err != nil {
		t.Fatal(err)
	}
	cand := mustEvidence(t, `{"f1": 0.9, "latency_p95_ms": 100, "demographic_parity_difference": 0.01, "checks": {"tests_passed": true}}`)
	base := mustEvidence(t, `{"f1": 0.88}`)
	done := make(chan bool)
	for i := 0; i < 8; i++ {
		go func() {
			ok := true
			for j := 0; j < 50; j++ {
				d := g.Evaluate(Input{Candidate: cand, Baseline: base, Approvers: []Approver{{Name: "a"}}})
				ok = ok && d.Allowed && d.Results[0].Message == "tests_passed is true"
			}
			done <- ok
		}()
	}
	for i := 0; i < 8; i++ {
		if !<-done {
			t.Error("a concurrent evaluation gave a different decision")
		}
	}
}

// Expressions that iterate over delta or change see every key; those that
// name keys see those keys.
func TestDerivedKeys(t *testing.T) {
	cand := `{"a": 2, "b": 3, "c": 4}`
	base := `{"a": 1, "b": 1, "c": 1}`
	tests := []struct {
		expr string
		want bool
	}{
		{"delta.a == 1.0 && change.b == 2.0", true},
		{`delta["c"] == 3.0`, true},
		{"delta.all(k, delta[k] >= 1.0)", true},
		{"size(delta) == 3", true},
		{"delta.exists(k, k == 'b' && delta[k] == 2.0)", true},
		{"size(change) == 2", false},
	}
	for _, tt := range tests {
		g := mustGate(t, "gate:\n  rules:\n    - name: x\n      expr: '"+strings.ReplaceAll(tt.expr, "'", "''")+"'\n", "")
		d := g.Evaluate(Input{Candidate: mustEvidence(t, cand), Baseline: mustEvidence(t, base)})
		if d.Allowed != tt.want {
			t.Errorf("Evaluate(%q) allowed = %v (%s), want %v", tt.expr, d.Allowed, d.Results[0].Message, tt.want)
		}
	}
}
