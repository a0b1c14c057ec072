package promote

import (
	"testing"
	"time"
	_ "time/tzdata" // the test names a time zone; do not depend on the host having it
)

// utc parses the RFC 3339 time s.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFrozen(t *testing.T) {
	holidays := FreezeWindow{Name: "year end", Start: utc(t, "2026-12-20T00:00:00Z"), End: utc(t, "2027-01-05T00:00:00Z")}
	officeHours := FreezeWindow{Allow: true, Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, StartClock: 9 * 60, EndClock: 17 * 60}
	nights := FreezeWindow{Name: "nights", StartClock: 22 * 60, EndClock: 6 * 60}
	fridayNight := FreezeWindow{Name: "friday night", Days: []time.Weekday{time.Friday}, StartClock: 22 * 60, EndClock: 6 * 60}
	tests := []struct {
		name   string
		freeze []FreezeWindow
		at     string
		frozen bool
	}{
		{"no windows", nil, "2026-11-25T12:00:00Z", false},
		{"inside deny", []FreezeWindow{holidays}, "2026-12-24T12:00:00Z", true},
		{"deny end is open", []FreezeWindow{holidays}, "2027-01-05T00:00:00Z", false},
		{"inside allow", []FreezeWindow{officeHours}, "2026-11-25T10:00:00Z", false}, // a Wednesday
		{"outside allow hours", []FreezeWindow{officeHours}, "2026-11-25T18:00:00Z", true},
		{"outside allow days", []FreezeWindow{officeHours}, "2026-11-28T10:00:00Z", true}, // a Saturday
		{"deny wins over allow", []FreezeWindow{officeHours, holidays}, "2026-12-22T10:00:00Z", true},
		{"across midnight, late", []FreezeWindow{nights}, "2026-11-25T23:30:00Z", true},
		{"across midnight, early", []FreezeWindow{nights}, "2026-11-25T05:59:00Z", true},
		{"across midnight, day", []FreezeWindow{nights}, "2026-11-25T06:00:00Z", false},
		{"friday night runs into saturday", []FreezeWindow{fridayNight}, "2026-11-28T05:00:00Z", true}, // Saturday 05:00
		{"friday night: not friday morning", []FreezeWindow{fridayNight}, "2026-11-27T05:00:00Z", false},
		{"friday night: friday late", []FreezeWindow{fridayNight}, "2026-11-27T23:00:00Z", true},
		{"friday night: not saturday night", []FreezeWindow{fridayNight}, "2026-11-28T23:00:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Environment{Name: "prod", Freeze: tt.freeze}
			got, why := e.Frozen(utc(t, tt.at))
			if got != tt.frozen {
				t.Errorf("Frozen(%s) = %v (%s), want %v", tt.at, got, why, tt.frozen)
			}
			if got && why == "" {
				t.Error("frozen without a reason")
			}
		})
	}
}

// NextFreezeChange names the next start or end of a window: where a
// freeze ends, where one begins, and at a weekly window's times of day
// (and midnights) in its time zone.
func TestNextFreezeChange(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	holidays := FreezeWindow{Start: utc(t, "2026-12-20T00:00:00Z"), End: utc(t, "2027-01-05T00:00:00Z")}
	nights := FreezeWindow{StartClock: 22 * 60, EndClock: 6 * 60}
	officeHours := FreezeWindow{Allow: true, Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		StartClock: 9 * 60, EndClock: 17 * 60, Location: berlin}
	tests := []struct {
		name   string
		freeze []FreezeWindow
		at     string
		want   string // "" for none
	}{
		{"no windows", nil, "2026-11-25T12:00:00Z", ""},
		{"before a window: its start", []FreezeWindow{holidays}, "2026-11-25T12:00:00Z", "2026-12-20T00:00:00Z"},
		{"inside: its end", []FreezeWindow{holidays}, "2026-12-24T12:00:00Z", "2027-01-05T00:00:00Z"},
		{"at its end: none after", []FreezeWindow{holidays}, "2027-01-05T00:00:00Z", ""},
		{"weekly, in the day: its start", []FreezeWindow{nights}, "2026-11-25T12:00:00Z", "2026-11-25T22:00:00Z"},
		{"weekly, late: midnight", []FreezeWindow{nights}, "2026-11-25T23:00:00Z", "2026-11-26T00:00:00Z"},
		{"weekly, early: its end", []FreezeWindow{nights}, "2026-11-26T03:00:00Z", "2026-11-26T06:00:00Z"},
		{"the earliest of several", []FreezeWindow{holidays, nights}, "2026-12-19T23:00:00Z", "2026-12-20T00:00:00Z"},
		// 18:00 in Berlin on a Wednesday: the next change is midnight
		// there, 23:00 UTC, then 09:00 (08:00 UTC).
		{"in its time zone", []FreezeWindow{officeHours}, "2026-11-25T17:00:00Z", "2026-11-25T23:00:00Z"},
		{"in its time zone, after midnight", []FreezeWindow{officeHours}, "2026-11-25T23:00:00Z", "2026-11-26T08:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Environment{Name: "prod", Freeze: tt.freeze}
			got := e.NextFreezeChange(utc(t, tt.at))
			want := time.Time{}
			if tt.want != "" {
				want = utc(t, tt.want)
			}
			if !got.Equal(want) {
				t.Errorf("NextFreezeChange(%s) = %s, want %s", tt.at, got.UTC().Format(time.RFC3339), tt.want)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"credit-risk", "v1", "1.2.3", "a_b"} {
		if err := ValidateName("model", ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	long := make([]byte, MaxNameLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "-x", "a..b", "a b", string(long), "é"} {
		if err := ValidateName("model", bad); ErrorCode(err) != Invalid {
			t.Errorf("ValidateName(%q) = %v, want Invalid", bad, err)
		}
	}
}

func TestWeekdays(t *testing.T) {
	all := []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	for _, tt := range []struct {
		days []time.Weekday
		want string
	}{
		{nil, "every day"},
		{all, "every day"},
		{[]time.Weekday{time.Friday}, "Fri"},
		{[]time.Weekday{time.Sunday, time.Saturday}, "Sat, Sun"},
		{[]time.Weekday{time.Wednesday, time.Monday, time.Tuesday, time.Friday}, "Mon-Wed, Fri"},
		{all[1:], "Mon-Sat"},
		{all[:6], "Mon-Fri, Sun"},
		{[]time.Weekday{time.Sunday, time.Monday}, "Mon, Sun"},
	} {
		if got := weekdays(tt.days); got != tt.want {
			t.Errorf("weekdays(%v) = %q, want %q", tt.days, got, tt.want)
		}
	}
}
