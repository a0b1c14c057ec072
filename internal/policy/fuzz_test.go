package policy

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{">= 0.00", "<= 180", "<-10%", "== 1e3", "!= .5", "=> 1", ">= NaN", "", ">=1e999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		if math.IsNaN(th.Value) || math.IsInf(th.Value, 0) {
			t.Fatalf("ParseThreshold(%q) = %v, a non-finite value", s, th.Value)
		}
		again, err := ParseThreshold(th.String())
		if err != nil || again.Op != th.Op || again.Value != th.Value || again.Percent != th.Percent {
			t.Fatalf("ParseThreshold(%q).String() = %q does not parse back the same: %v %v", s, th.String(), again, err)
		}
	})
}

func addPolicySeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "policies", "*.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("gate:\n  rules:\n    - any:\n        - a: '> 1'\n        - expr: 'candidate.a > 1.0'\n"))
	f.Add([]byte("gate: {metrics: {a_change: '<= -10%'}}\nrollout: {steps: [{weight: 10, minDuration: 1m}, 100]}\n"))
	f.Add([]byte("gate:\n  rules:\n    - expr: |2-\n\n          candidate.a > 1.0 &&\n        candidat.b > 1.0\n    - expr: >\n        candidate.a >\n        1\n"))
}

func FuzzLoad(f *testing.F) {
	addPolicySeeds(f)
	cand := &Evidence{Metrics: map[string]float64{"accuracy": 0.9, "f1": 0.8, "latency_p95_ms": 100}}
	base := &Evidence{Metrics: map[string]float64{"accuracy": 0.91, "f1": 0.81, "latency_p95_ms": 0}}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(*LoadError); !ok {
				t.Fatalf("Load error is %T, want *LoadError", err)
			}
			return
		}
		envs := p.Environments()
		if len(envs) == 0 {
			envs = []string{""}
		}
		for _, env := range envs {
			g, err := p.Gate(env)
			if err != nil {
				t.Fatalf("Gate(%q): %v", env, err)
			}
			for _, b := range []*Evidence{nil, base} {
				d := g.Evaluate(Input{Candidate: cand, Baseline: b})
				if d.Allowed != (d.Summary.Fail == 0 && d.Summary.Error == 0) {
					t.Fatalf("Allowed = %v with summary %+v", d.Allowed, d.Summary)
				}
			}
		}
	})
}

func FuzzParseEvidence(f *testing.F) {
	for _, s := range []string{
		`{"accuracy": 0.91, "metrics": {"f1": 0.88}, "checks": {"tests_passed": true}}`,
		`{"groups": {"a": {"selection_rate": 0.3, "tpr": 0.8, "fpr": 0.1}, "b": {"selection_rate": 0.2, "tpr": 0.7, "fpr": 0.2}}}`,
		`{"accuracy": NaN}`, `{"a": 1e400}`, `[1]`, `{"a": "1"}`, "accuracy: 0.9\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEvidence("fuzz.json", data)
		if err != nil {
			return
		}
		for k, v := range e.Metrics {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("metric %s = %v, want finite", k, v)
			}
		}
	})
}
