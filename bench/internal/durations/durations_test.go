package durations

import (
	"testing"
	"time"
)

func TestSummaries(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6} // shuffled 1..10
	for _, tt := range []struct {
		name      string
		got, want time.Duration
	}{
		{"median of 10", Median(d), 5}, // (5+6)/2 in integer nanoseconds
		{"median of 3", Median([]time.Duration{3, 1, 2}), 2},
		{"p90", Percentile(d, 90), 9},
		{"p99", Percentile(d, 99), 10},
		{"p0", Percentile(d, 0), 1},
		{"p50", Percentile(d, 50), 5},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if d[0] != 5 {
		t.Error("Median or Percentile sorted its argument")
	}
	if got := Ms(12345678 * time.Nanosecond); got != "12.35ms" {
		t.Errorf("Ms = %q, want 12.35ms", got)
	}
}
