package textfit

import (
	"strings"
	"testing"
)

func TestCut(t *testing.T) {
	tests := []struct {
		text string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"one too many", 11, "one too ma…"},
		{strings.Repeat("é", 5), 3, "éé…"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := Cut(tt.text, tt.max); got != tt.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
		}
	}
}
