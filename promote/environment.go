package promote

import (
	"fmt"
	"strings"
	"time"
)

// Environment is a named stage of the pipeline (dev, staging, prod).
type Environment struct {
	Name string `json:"name"`
	// From is the upstream environment a version must have succeeded in
	// (and soaked in for Soak) before it may enter this one; "" for the
	// first environment.
	From   string         `json:"from,omitempty"`
	Policy string         `json:"policy"` // the policy file's path
	Soak   time.Duration  `json:"soak,omitempty"`
	Freeze []FreezeWindow `json:"freeze,omitempty"`
	// AutoPromote says Promote itself requests the promotion of the
	// version that last succeeded in From once its soak is served, as a
	// person would, through the same gate; never on the first environment.
	AutoPromote bool `json:"auto_promote,omitempty"`
	// Strategy is the rollout strategy: direct, canary or shadow.
	Strategy string `json:"strategy,omitempty"`
	// Overlay is the GitOps overlay path of the environment.
	Overlay string `json:"overlay,omitempty"`
}

// FreezeWindow is a window of time in which promotions to an environment
// are denied, or (Allow) the only windows in which they are allowed. Deny
// wins over allow. A window is either absolute (Start to End) or weekly (on
// Days, from StartClock to EndClock in Location; a window that ends before it
// starts runs across midnight, and its early hours belong to the day it
// started on).
type FreezeWindow struct {
	Name  string `json:"name,omitempty"`
	Allow bool   `json:"allow,omitempty"`
	// Absolute window.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Weekly window: minutes since midnight, [StartClock, EndClock).
	Days       []time.Weekday `json:"days,omitempty"`
	StartClock int            `json:"start_clock,omitempty"`
	EndClock   int            `json:"end_clock,omitempty"`
	Location   *time.Location `json:"-"`
}

// Contains reports whether t falls in the window.
func (w *FreezeWindow) Contains(t time.Time) bool {
	if !w.Start.IsZero() || !w.End.IsZero() {
		return !t.Before(w.Start) && t.Before(w.End)
	}
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	clock := lt.Hour()*60 + lt.Minute()
	on := func(d time.Weekday) bool {
		if len(w.Days) == 0 {
			return true
		}
		for _, x := range w.Days {
			if x == d {
				return true
			}
		}
		return false
	}
	switch {
	case w.EndClock == w.StartClock: // the whole day
		return on(lt.Weekday())
	case w.EndClock < w.StartClock: // across midnight: the early hours belong to the day before
		return clock >= w.StartClock && on(lt.Weekday()) || clock < w.EndClock && on((lt.Weekday()+6)%7)
	}
	return on(lt.Weekday()) && clock >= w.StartClock && clock < w.EndClock
}

// NextFreezeChange returns the first moment after t at which one of e's
// freeze windows starts or ends: the earliest at which Frozen may answer
// otherwise than at t (automatic promotion looks again then). It is zero
// when no window starts or ends after t. A weekly window changes at its
// two times of day, and at midnight, where its day changes.
func (e *Environment) NextFreezeChange(t time.Time) time.Time {
	var next time.Time
	consider := func(c time.Time) {
		if c.After(t) && (next.IsZero() || c.Before(next)) {
			next = c
		}
	}
	for i := range e.Freeze {
		w := &e.Freeze[i]
		if !w.Start.IsZero() || !w.End.IsZero() {
			consider(w.Start)
			consider(w.End)
			continue
		}
		loc := w.Location
		if loc == nil {
			loc = time.UTC
		}
		lt := t.In(loc)
		for _, m := range []int{w.StartClock, w.EndClock, 0} {
			// Today's, or else the next day's (a time of day that a
			// clock change skips is moved by time.Date, hence a third).
			for d := range 3 {
				if c := time.Date(lt.Year(), lt.Month(), lt.Day()+d, m/60, m%60, 0, 0, loc); c.After(t) {
					consider(c)
					break
				}
			}
		}
	}
	return next
}

// label names the window for a person: its name, or else when it is. A
// weekly window says its days, times of day and time zone, since "18:00 to
// 06:00" alone does not say when promotions reopen.
func (w *FreezeWindow) label() string {
	if w.Name != "" {
		return w.Name
	}
	if !w.Start.IsZero() {
		return fmt.Sprintf("%s to %s", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	zone := "UTC"
	if w.Location != nil {
		zone = w.Location.String()
	}
	clock := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	var hours string
	switch {
	case w.StartClock == w.EndClock:
		hours = "all day"
	case w.EndClock < w.StartClock:
		hours = clock(w.StartClock) + " to " + clock(w.EndClock) + " the next day"
	default:
		hours = clock(w.StartClock) + " to " + clock(w.EndClock)
	}
	return fmt.Sprintf("weekly, %s, %s, %s", weekdays(w.Days), hours, zone)
}

// weekdays writes days Monday first, three consecutive days or more as a
// range: "Mon-Fri", "Sat, Sun", "Fri"; none, or all seven, is "every day".
func weekdays(days []time.Weekday) string {
	var on [7]bool // Monday first
	for _, d := range days {
		on[(d+6)%7] = true
	}
	var parts []string
	for i := 0; i < 7; {
		if !on[i] {
			i++
			continue
		}
		j := i
		for j+1 < 7 && on[j+1] {
			j++
		}
		name := func(k int) string { return time.Weekday((k + 1) % 7).String()[:3] }
		switch {
		case j-i >= 2:
			parts = append(parts, name(i)+"-"+name(j))
		case j > i:
			parts = append(parts, name(i), name(j))
		default:
			parts = append(parts, name(i))
		}
		i = j + 1
	}
	if len(parts) == 0 || len(parts) == 1 && parts[0] == "Mon-Sun" {
		return "every day"
	}
	return strings.Join(parts, ", ")
}

// Frozen reports whether promotions to e are frozen at t, and why. A deny
// window that contains t freezes; when allow windows exist, t must fall in
// one of them; deny wins over allow. The reason names the deny window, or
// lists the allow windows, each by its name or else by when it is.
func (e *Environment) Frozen(t time.Time) (bool, string) {
	var allow []string
	inAllow := false
	for i := range e.Freeze {
		w := &e.Freeze[i]
		if w.Allow {
			allow = append(allow, w.label())
			inAllow = inAllow || w.Contains(t)
			continue
		}
		if w.Contains(t) {
			return true, fmt.Sprintf("environment %s is frozen: deny window %s", e.Name, w.label())
		}
	}
	if len(allow) > 0 && !inAllow {
		return true, fmt.Sprintf("environment %s is frozen: outside its allow windows (%s)", e.Name, strings.Join(allow, "; "))
	}
	return false, ""
}
