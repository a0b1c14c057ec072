package strictyaml

import "testing"

func TestSuggestKey(t *testing.T) {
	keys := []string{"apiVersion", "kind", "metadata", "gate", "rollout", "environments"}
	tests := []struct {
		name, s, want string
	}{
		{"typo", "rolout", "rollout"},
		{"short typo", "gat", "gate"},
		{"abbreviation", "env", "environments"},
		{"longer abbreviation", "environ", "environments"},
		{"abbreviation of a short key", "meta", "metadata"},
		{"too short to complete", "en", ""},
		{"nothing close", "steps", ""},
		{"not a beginning", "ments", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SuggestKey(tt.s, keys); got != tt.want {
				t.Errorf("SuggestKey(%q) = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
	t.Run("abbreviation of two", func(t *testing.T) {
		if got := SuggestKey("latency", []string{"requests", "latencyBuckets", "latencySum"}); got != "" {
			t.Errorf("SuggestKey(%q) = %q, want none: it begins two keys", "latency", got)
		}
	})
	t.Run("typo before abbreviation", func(t *testing.T) {
		// "trusted" is one edit from "trustee" and begins "trustedKeys":
		// the likely typo wins.
		if got := SuggestKey("trusted", []string{"trustee", "trustedKeys"}); got != "trustee" {
			t.Errorf("SuggestKey(%q) = %q, want %q", "trusted", got, "trustee")
		}
	})
}

func TestOneOf(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // the one problem
	}{
		{"typo", "blokced", `verdict: "blokced" is not one of allowed, blocked (did you mean "blocked"?)`},
		{"nothing close", "maybe", `verdict: "maybe" is not one of allowed, blocked`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{File: "x.yaml"}
			n := d.Parse([]byte(tt.value))
			if s, ok := d.OneOf(n, "verdict", "allowed", "blocked"); ok || s != "" {
				t.Errorf("OneOf(%q) = %q, %v; want a problem", tt.value, s, ok)
			}
			if len(d.Problems) != 1 || d.Problems[0].Msg != tt.want {
				t.Errorf("OneOf(%q) problems = %v, want one: %s", tt.value, d.Problems, tt.want)
			}
		})
	}
	d := &Decoder{File: "x.yaml"}
	if s, ok := d.OneOf(d.Parse([]byte("blocked")), "verdict", "allowed", "blocked"); !ok || s != "blocked" || len(d.Problems) > 0 {
		t.Errorf("OneOf(blocked) = %q, %v, problems %v; want blocked", s, ok, d.Problems)
	}
}
