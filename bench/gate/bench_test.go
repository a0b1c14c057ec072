package gate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/policy"
)

// The approvals run.sh passes to both tools: --approved-by alice:ml-lead
// --requested-by bob, and the same people in conftest-input.json.
var (
	approvers   = []policy.Approver{{Name: "alice", Roles: []string{"ml-lead"}}}
	requestedBy = "bob"
)

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func loadGate(tb testing.TB) *policy.Gate {
	tb.Helper()
	p, err := policy.Load("policy.yaml", readFile(tb, "policy.yaml"))
	if err != nil {
		tb.Fatalf("Load(policy.yaml): %v", err)
	}
	g, err := p.Gate("")
	if err != nil {
		tb.Fatalf("Gate(\"\"): %v", err)
	}
	return g
}

func loadEvidence(tb testing.TB, name string) *policy.Evidence {
	tb.Helper()
	e, err := policy.ParseEvidence(name, readFile(tb, name))
	if err != nil {
		tb.Fatalf("ParseEvidence(%s): %v", name, err)
	}
	return e
}

func input(tb testing.TB, candidate string) policy.Input {
	tb.Helper()
	return policy.Input{
		Candidate:   loadEvidence(tb, candidate),
		Baseline:    loadEvidence(tb, "baseline.json"),
		Approvers:   approvers,
		RequestedBy: requestedBy,
	}
}

// statuses maps each top-level rule of a decision to its status.
func statuses(d *policy.Decision) map[string]policy.Status {
	out := map[string]policy.Status{}
	for _, r := range d.Results {
		out[r.Rule] = r.Status
	}
	return out
}

// TestInputs pins the verdicts of the benchmark inputs, so that a change to
// the engine or to the files cannot leave the benchmarks measuring a
// different decision (a short-circuited error, a missing metric) unnoticed.
func TestInputs(t *testing.T) {
	g := loadGate(t)
	if len(g.Rules) != 10 {
		t.Fatalf("policy.yaml compiles to %d rules, want 10", len(g.Rules))
	}
	tests := []struct {
		name      string
		candidate string
		allowed   bool
		want      map[string]policy.Status
	}{
		{
			name:      "allowed",
			candidate: "candidate.json",
			allowed:   true,
			want: map[string]policy.Status{
				"tests_passed": policy.StatusPass, "data_validated": policy.StatusPass,
				"accuracy": policy.StatusPass, "latency_p95_ms": policy.StatusPass,
				"f1-regression": policy.StatusPass, "latency-creep": policy.StatusPass,
				"fairness-gap": policy.StatusPass, "accuracy-for-latency": policy.StatusPass,
				"cost-for-quality": policy.StatusPass, "approvals": policy.StatusPass,
			},
		},
		{
			name:      "blocked",
			candidate: "candidate-blocked.json",
			allowed:   false,
			want: map[string]policy.Status{
				"tests_passed": policy.StatusPass, "data_validated": policy.StatusFail,
				"accuracy": policy.StatusPass, "latency_p95_ms": policy.StatusFail,
				"f1-regression": policy.StatusFail, "latency-creep": policy.StatusWarn,
				"fairness-gap": policy.StatusFail, "accuracy-for-latency": policy.StatusFail,
				"cost-for-quality": policy.StatusFail, "approvals": policy.StatusPass,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := g.Evaluate(input(t, tt.candidate))
			if d.Allowed != tt.allowed {
				t.Errorf("Evaluate(%q).Allowed = %v, want %v", tt.candidate, d.Allowed, tt.allowed)
			}
			if diff := cmp.Diff(tt.want, statuses(d)); diff != "" {
				t.Errorf("Evaluate(%q) statuses (-want +got):\n%s", tt.candidate, diff)
			}
		})
	}
}

// TestConftestInputs checks that the documents run.sh gives conftest hold
// exactly the metrics files Promote reads, and the same approvals.
func TestConftestInputs(t *testing.T) {
	tests := []struct{ conftest, candidate string }{
		{"conftest-input.json", "candidate.json"},
		{"conftest-input-blocked.json", "candidate-blocked.json"},
	}
	for _, tt := range tests {
		t.Run(tt.conftest, func(t *testing.T) {
			var got map[string]any
			decode(t, tt.conftest, &got)
			want := map[string]any{
				"approvers":    []any{map[string]any{"name": "alice", "roles": []any{"ml-lead"}}},
				"requested_by": requestedBy,
			}
			var c, b any
			decode(t, tt.candidate, &c)
			decode(t, "baseline.json", &b)
			want["candidate"], want["baseline"] = c, b
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s does not combine %s and baseline.json (-want +got):\n%s", tt.conftest, tt.candidate, diff)
			}
		})
	}
}

func decode(t *testing.T, name string, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readFile(t, name)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

// BenchmarkEvaluate is the in-process cost of judging one candidate: a
// compiled ten-rule gate, evidence already parsed.
func BenchmarkEvaluate(b *testing.B) {
	for _, c := range []struct{ name, file string }{
		{"allowed", "candidate.json"},
		{"blocked", "candidate-blocked.json"},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := loadGate(b)
			in := input(b, c.file)
			b.ReportAllocs()
			for b.Loop() {
				if d := g.Evaluate(in); len(d.Results) != 10 {
					b.Fatalf("Evaluate: %d results, want 10", len(d.Results))
				}
			}
		})
	}
}

// BenchmarkLoad is the cost of parsing, validating and compiling the
// policy, CEL expression included. The CEL environment is built once per
// process, so its one-time cost shows in run.sh's whole-process figures,
// not here.
func BenchmarkLoad(b *testing.B) {
	data := readFile(b, "policy.yaml")
	b.ReportAllocs()
	for b.Loop() {
		p, err := policy.Load("policy.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Gate(""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEvidence is the cost of reading one metrics file, fairness
// metrics derived from its groups.
func BenchmarkParseEvidence(b *testing.B) {
	data := readFile(b, "candidate.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.ParseEvidence("candidate.json", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGate is everything `promote gate` does between reading its files
// and writing its report: load the policy, parse both metrics files,
// evaluate.
func BenchmarkGate(b *testing.B) {
	pol, cand, base := readFile(b, "policy.yaml"), readFile(b, "candidate.json"), readFile(b, "baseline.json")
	b.ReportAllocs()
	for b.Loop() {
		p, err := policy.Load("policy.yaml", pol)
		if err != nil {
			b.Fatal(err)
		}
		g, err := p.Gate("")
		if err != nil {
			b.Fatal(err)
		}
		in := policy.Input{Approvers: approvers, RequestedBy: requestedBy}
		if in.Candidate, err = policy.ParseEvidence("candidate.json", cand); err != nil {
			b.Fatal(err)
		}
		if in.Baseline, err = policy.ParseEvidence("baseline.json", base); err != nil {
			b.Fatal(err)
		}
		if d := g.Evaluate(in); !d.Allowed {
			b.Fatal("Evaluate: blocked, want allowed")
		}
	}
}
