package policy

import (
	"strings"
	"testing"
)

// YAML aliases and merge keys are refused with a message that says so, in a
// policy and in a metrics file, rather than as a value of the wrong kind or
// an invalid name; aliases in the parts of a metrics file the gate does not
// read are left alone.
func TestYAMLAliasesAndMergeKeys(t *testing.T) {
	policies := []struct {
		name, src, want string
	}{
		{
			name: "alias for a threshold",
			src:  "gate:\n  metrics:\n    accuracy: &t \">= 0.9\"\n    f1: *t\n",
			want: `p.yaml:4:9: gate.metrics.f1: want a threshold such as ">= 0.9", got an alias (*t): YAML aliases are not supported, write the value out`,
		},
		{
			name: "alias for an environment's gate",
			src:  "apiVersion: promote.dev/v1\nkind: Policy\ngate: &g\n  metrics:\n    accuracy: \">= 0.9\"\nenvironments:\n  prod:\n    gate: *g\n",
			want: `p.yaml:8:11: environments.prod.gate: want a mapping, got an alias (*g): YAML aliases are not supported, write the value out`,
		},
		{
			name: "merge key in metrics",
			src:  "gate:\n  metrics:\n    <<: {accuracy: \">= 0.9\"}\n    f1: \">= 0.8\"\n",
			want: `p.yaml:3:5: gate.metrics: YAML merge keys (<<) are not supported, write the keys out`,
		},
	}
	for _, tt := range policies {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("p.yaml", []byte(tt.src))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load(%q) error = %v, want %q", tt.src, err, tt.want)
			}
		})
	}

	evidence := []struct {
		name, src, want string
	}{
		{
			name: "alias for a metric",
			src:  "accuracy: &a 0.95\nf1: *a\n",
			want: `m.yaml:2:1: f1: want a number (a metric) or one of metrics, checks, groups, metadata, params, tags, drift; got an alias (*a): YAML aliases are not supported, write the value out`,
		},
		{
			name: "merge key under metrics",
			src:  "metrics:\n  <<: {accuracy: 0.95}\n",
			want: `m.yaml:2:3: metrics: YAML merge keys (<<) are not supported, write the keys out`,
		},
	}
	for _, tt := range evidence {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEvidence("m.yaml", []byte(tt.src))
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParseEvidence(%q) error = %v, want %q", tt.src, err, tt.want)
			}
		})
	}

	// What the gate does not read may use them, as tools that write YAML do.
	src := "accuracy: 0.95\nparams: {layers: &l [64, 64], decoder: *l, <<: {lr: 0.01}}\n"
	e, err := ParseEvidence("m.yaml", []byte(src))
	if err != nil || e.Metrics["accuracy"] != 0.95 {
		t.Errorf("ParseEvidence(%q) = %v, %v; want accuracy 0.95", src, e, err)
	}
	if err != nil && strings.Contains(err.Error(), "alias") {
		t.Errorf("an alias under params was refused: %v", err)
	}
}
