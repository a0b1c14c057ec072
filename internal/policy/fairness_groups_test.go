package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// A fairness metric is judged only over the groups it must cover: the
// baseline's, or those the policy lists in fairnessGroups. A candidate that
// lost a group has a gap over fewer groups, which is never larger, so a
// plain threshold on it would pass what the full gap fails.
func TestFairnessOverFewerGroupsIsAnError(t *testing.T) {
	// Over female and male: parity 0.34 − 0.31 = 0.03, TPR gap 0.85 − 0.82 =
	// 0.03, FPR gap 0.01. With nonbinary: parity 0.34 − 0.2 = 0.14, TPR gap
	// 0.85 − 0.7 = 0.15, FPR gap 0.1 − 0.07 = 0.03, equalized odds 0.15.
	two := `{"groups": {"female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07}, "male": {"selection_rate": 0.34, "tpr": 0.85, "fpr": 0.08}}}`
	three := `{"groups": {"female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07}, "male": {"selection_rate": 0.34, "tpr": 0.85, "fpr": 0.08}, "nonbinary": {"selection_rate": 0.2, "tpr": 0.7, "fpr": 0.1}}}`
	relabelled := strings.Replace(three, `"nonbinary"`, `"non-binary"`, 1)
	direct := `{"demographic_parity_difference": 0.03}`
	gate := func(extra string) string {
		return "gate:\n" + extra + `  metrics:
    demographic_parity_difference: "<= 0.05"
    equalized_odds_difference: {threshold: "<= 0.05", severity: warn}
  rules:
    - name: cel
      expr: candidate.demographic_parity_difference <= 0.05
    - name: cel-baseline
      expr: "!has_baseline || baseline.demographic_parity_difference <= 0.2"
`
	}
	const listed = "  fairnessGroups: [female, male, nonbinary]\n"
	type want struct {
		status  Status
		actual  any
		message string
	}
	tests := []struct {
		name, policy, candidate, baseline string
		allowed                           bool
		dpd, eod, cel                     want
	}{
		{
			name: "the candidate lost the baseline's worst group", policy: gate(""), candidate: two, baseline: three,
			dpd: want{StatusError, nil, `demographic_parity_difference is a gap over fewer groups than the baseline's: the candidate (cand.json) lacks "nonbinary", which the baseline (base.json) has`},
			eod: want{StatusWarn, nil, `equalized_odds_difference is a gap over fewer groups than the baseline's`},
			cel: want{StatusError, nil, `candidate.demographic_parity_difference is left out: demographic_parity_difference is a gap over fewer groups`},
		},
		{
			name: "a group relabelled", policy: gate(""), candidate: relabelled, baseline: three,
			dpd: want{StatusError, nil, `lacks "nonbinary" (it has "non-binary"), which the baseline (base.json) has`},
			eod: want{StatusWarn, nil, `lacks "nonbinary"`},
			cel: want{StatusError, nil, "is left out"},
		},
		{
			name: "the same groups", policy: gate(""), candidate: three, baseline: three,
			dpd: want{StatusFail, 0.14, "demographic_parity_difference 0.14 is not <= 0.05"},
			eod: want{StatusWarn, 0.15, "equalized_odds_difference 0.15 is not <= 0.05"},
			cel: want{StatusFail, false, "candidate.demographic_parity_difference = 0.14"},
		},
		{
			name: "a group the baseline does not have", policy: gate(""), candidate: three, baseline: two,
			dpd: want{StatusFail, 0.14, "demographic_parity_difference 0.14 is not <= 0.05"},
			eod: want{StatusWarn, 0.15, "equalized_odds_difference 0.15 is not <= 0.05"},
			cel: want{StatusFail, false, "candidate.demographic_parity_difference = 0.14"},
		},
		{
			name: "no baseline and no list", policy: gate(""), candidate: two, allowed: true,
			dpd: want{StatusPass, 0.03, "demographic_parity_difference 0.03 <= 0.05"},
			eod: want{StatusPass, 0.03, "equalized_odds_difference 0.03 <= 0.05"},
			cel: want{StatusPass, true, "candidate.demographic_parity_difference = 0.03"},
		},
		{
			name: "a candidate that gives the metric directly", policy: gate(""), candidate: direct, baseline: three,
			dpd: want{StatusPass, 0.03, "demographic_parity_difference 0.03 <= 0.05"},
			eod: want{StatusWarn, nil, "the candidate has no metric equalized_odds_difference"},
			cel: want{StatusPass, true, "candidate.demographic_parity_difference = 0.03"}, allowed: true,
		},
		{
			name: "fairnessGroups allows what the baseline had", policy: gate("  fairnessGroups: [female, male]\n"), candidate: two, baseline: three, allowed: true,
			dpd: want{StatusPass, 0.03, "demographic_parity_difference 0.03 <= 0.05"},
			eod: want{StatusPass, 0.03, "equalized_odds_difference 0.03 <= 0.05"},
			cel: want{StatusPass, true, "candidate.demographic_parity_difference = 0.03"},
		},
		{
			name: "fairnessGroups requires a group, without a baseline", policy: gate(listed), candidate: two,
			dpd: want{StatusError, nil, `demographic_parity_difference does not cover the groups fairnessGroups requires: the candidate (cand.json) lacks "nonbinary"`},
			eod: want{StatusWarn, nil, `lacks "nonbinary"`},
			cel: want{StatusError, nil, "candidate.demographic_parity_difference is left out: demographic_parity_difference does not cover"},
		},
		{
			name: "fairnessGroups and a candidate without groups", policy: gate(listed), candidate: direct, baseline: three,
			dpd: want{StatusError, nil, `demographic_parity_difference does not cover the groups fairnessGroups requires: the candidate (cand.json) gives it without groups`},
			eod: want{StatusWarn, nil, "the candidate has no metric equalized_odds_difference"},
			cel: want{StatusError, nil, "is left out"},
		},
		{
			name: "fairnessGroups, all present", policy: gate(listed), candidate: three, baseline: two,
			dpd: want{StatusFail, 0.14, "demographic_parity_difference 0.14 is not <= 0.05"},
			eod: want{StatusWarn, 0.15, "equalized_odds_difference 0.15 is not <= 0.05"},
			cel: want{StatusFail, false, "candidate.demographic_parity_difference = 0.14"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGate(t, tt.policy, "")
			in := Input{Candidate: mustParse(t, "cand.json", tt.candidate)}
			if tt.baseline != "" {
				in.Baseline = mustParse(t, "base.json", tt.baseline)
			}
			d := g.Evaluate(in)
			for rule, w := range map[string]want{"demographic_parity_difference": tt.dpd, "equalized_odds_difference": tt.eod, "cel": tt.cel} {
				r := resultOf(t, d, rule)
				if r.Status != w.status || r.Actual != w.actual || !strings.Contains(r.Message, w.message) {
					t.Errorf("Evaluate(%s) = %s %v %q, want %s %v with %q", rule, r.Status, r.Actual, r.Message, w.status, w.actual, w.message)
				}
			}
			if r := resultOf(t, d, "cel-baseline"); r.Status != StatusPass {
				t.Errorf("Evaluate(cel-baseline) = %s %q, want pass: the baseline's own gap is over its own groups", r.Status, r.Message)
			}
			if d.Allowed != tt.allowed {
				t.Errorf("Evaluate().Allowed = %v, want %v: %+v", d.Allowed, tt.allowed, d.Results)
			}
		})
	}
}

// A delta still needs the same groups in both files, whatever the policy
// lists: fairnessGroups says which groups a gap must cover, not that gaps
// over different groups compare.
func TestFairnessGroupsDoNotMakeADeltaComparable(t *testing.T) {
	two := `{"groups": {"a": {"selection_rate": 0.31}, "b": {"selection_rate": 0.34}}}`
	three := `{"groups": {"a": {"selection_rate": 0.31}, "b": {"selection_rate": 0.34}, "c": {"selection_rate": 0.2}}}`
	g := mustGate(t, "gate:\n  fairnessGroups: [a, b]\n  metrics:\n    demographic_parity_difference_delta: '<= 0'\n", "")
	d := g.Evaluate(Input{Candidate: mustParse(t, "cand.json", two), Baseline: mustParse(t, "base.json", three)})
	if r := resultOf(t, d, "demographic_parity_difference_delta"); r.Status != StatusError || !strings.Contains(r.Message, `"c" only in the baseline (base.json)`) {
		t.Errorf("Evaluate(demographic_parity_difference_delta) = %s %q, want an error over different groups", r.Status, r.Message)
	}
}

func TestFairnessGroupsLoad(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"a typo in the key", "gate:\n  fairnesGroups: [a, b]\n", `p.yaml:2:3: gate: unknown key "fairnesGroups" (did you mean "fairnessGroups"?)`},
		{"not a list", "gate:\n  fairnessGroups: a\n", `p.yaml:2:19: gate.fairnessGroups: want a list of the groups fairness metrics must cover, got "a"`},
		{"one group", "gate:\n  fairnessGroups: [a]\n", `p.yaml:2:19: gate.fairnessGroups: a fairness metric is a gap between groups; list at least two`},
		{"empty", "gate:\n  fairnessGroups: []\n", `gate.fairnessGroups: a fairness metric is a gap between groups; list at least two`},
		{"twice", "gate:\n  fairnessGroups: [a, b, a]\n", `p.yaml:2:26: gate.fairnessGroups: "a" listed twice`},
		{"an empty name", "gate:\n  fairnessGroups: [a, '']\n", `p.yaml:2:23: gate.fairnessGroups: a group name is empty`},
		{"not a string", "gate:\n  fairnessGroups: [a, {b: 1}]\n", `gate.fairnessGroups: want a string, got a mapping`},
		{"in an environment", "environments:\n  prod:\n    gate:\n      fairnessGroups: [a]\n      metrics: {accuracy: '>= 0.9'}\n", `environments.prod.gate.fairnessGroups: a fairness metric is a gap between groups`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if !strings.HasPrefix(src, "environments:") {
				src += "  metrics: {accuracy: '>= 0.9'}\n"
			}
			_, err := Load("p.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%q) = %v, want %q", tt.src, err, tt.want)
			}
		})
	}
}

// An environment's fairnessGroups replaces the common one, as noBaseline does.
func TestFairnessGroupsMerge(t *testing.T) {
	p, err := Load("p.yaml", []byte(`gate:
  fairnessGroups: [a, b]
  metrics: {accuracy: ">= 0.9"}
environments:
  dev: {}
  prod:
    gate:
      fairnessGroups: ["a", "b", "c d"]
`))
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string][]string{"dev": {"a", "b"}, "prod": {"a", "b", "c d"}} {
		g, err := p.Gate(env)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, g.FairnessGroups); diff != "" {
			t.Errorf("Gate(%q).FairnessGroups (-want +got):\n%s", env, diff)
		}
	}
}

func mustParse(t *testing.T, file, src string) *Evidence {
	t.Helper()
	e, err := ParseEvidence(file, []byte(src))
	if err != nil {
		t.Fatalf("ParseEvidence(%s): %v", file, err)
	}
	return e
}
