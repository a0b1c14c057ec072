package audit

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// TimeBoundHelp says what ParseTimeBound takes, for an error message.
const TimeBoundHelp = "want an RFC 3339 time (2026-11-01T09:00:00Z), a date (2026-11-01, midnight UTC), " +
	"a time in UTC (2026-11-01T09:30 or 2026-11-01 09:30) or a positive duration back from now (24h, 7d)"

// ParseTimeBound reads a bound of a time range as a person writes it, on
// the command line or in the web UI's fields (a browser's date and time
// fields write the UTC forms): an RFC 3339 time; a date, its midnight in
// UTC; a date and time to the minute or second, in UTC; or a positive
// duration back from now, in Go's notation or whole days ("7d"). Empty is
// no bound, the zero time. The API takes RFC 3339 alone.
func ParseTimeBound(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", time.DateTime} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok && err != nil {
		if n, aerr := strconv.Atoi(days); aerr == nil && n <= 1<<16 {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, errors.New(TimeBoundHelp)
}
