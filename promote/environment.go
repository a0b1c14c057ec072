package promote

import (
	"fmt"
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

func (w *FreezeWindow) label() string {
	if w.Name != "" {
		return w.Name
	}
	if !w.Start.IsZero() {
		return fmt.Sprintf("%s to %s", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	return fmt.Sprintf("weekly %02d:%02d-%02d:%02d", w.StartClock/60, w.StartClock%60, w.EndClock/60, w.EndClock%60)
}

// Frozen reports whether promotions to e are frozen at t, and why. A deny
// window that contains t freezes; when allow windows exist, t must fall in
// one of them; deny wins over allow.
func (e *Environment) Frozen(t time.Time) (bool, string) {
	hasAllow, inAllow := false, false
	for i := range e.Freeze {
		w := &e.Freeze[i]
		if w.Allow {
			hasAllow = true
			inAllow = inAllow || w.Contains(t)
			continue
		}
		if w.Contains(t) {
			return true, fmt.Sprintf("environment %s is frozen: deny window %s", e.Name, w.label())
		}
	}
	if hasAllow && !inAllow {
		return true, fmt.Sprintf("environment %s is frozen: outside its allow windows", e.Name)
	}
	return false, ""
}
