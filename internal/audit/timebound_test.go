package audit

import (
	"testing"
	"time"
)

// ParseTimeBound reads what a person writes for a bound of a time range,
// on the command line and in the web UI alike.
func TestParseTimeBound(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	for _, tt := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: ""},
		{in: " 2026-11-01 ", want: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-11-01T09:30:00.5+01:00", want: time.Date(2026, 11, 1, 8, 30, 0, 5e8, time.UTC)},
		{in: "2026-11-01T09:30", want: time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)},
		{in: "2026-11-01 09:30:15", want: time.Date(2026, 11, 1, 9, 30, 15, 0, time.UTC)},
		{in: "24h", want: time.Date(2026, 11, 25, 14, 4, 5, 0, time.UTC)},
		{in: "7d", want: time.Date(2026, 11, 19, 14, 4, 5, 0, time.UTC)},
		{in: "yesterday", err: true},
		{in: "2026-02-30", err: true},
		{in: "-1h", err: true},
		{in: "0d", err: true},
		{in: "99999999d", err: true},
	} {
		got, err := ParseTimeBound(tt.in, now)
		if tt.err {
			if err == nil || err.Error() != TimeBoundHelp {
				t.Errorf("ParseTimeBound(%q) = %v, %v; want the error %q", tt.in, got, err, TimeBoundHelp)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTimeBound(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
