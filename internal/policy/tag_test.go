package policy

import "testing"

// An explicit YAML tag on a metric is refused, naming the tag: !!str 0.95
// was read as the number 0.95, and !!float "0.95" was refused as "want a
// number, got a number".
func TestYAMLTagsOnMetrics(t *testing.T) {
	for _, tt := range []struct {
		src, want string
	}{
		{"accuracy: !!str 0.95\n", `m.yaml:1:11: accuracy: want a number, got "0.95" with the tag !!str: YAML tags are not supported, write the number plainly`},
		{"accuracy: !!float \"0.95\"\n", `m.yaml:1:11: accuracy: want a number, got "0.95" with the tag !!float: YAML tags are not supported, write the number plainly`},
		{"metrics:\n  accuracy: !!float 0.95\n", `m.yaml:2:13: metrics.accuracy: want a number, got "0.95" with the tag !!float: YAML tags are not supported, write the number plainly`},
	} {
		e, err := ParseEvidence("m.yaml", []byte(tt.src))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseEvidence(%q) = %+v, %v; want the error %q", tt.src, e, err, tt.want)
		}
	}
}
