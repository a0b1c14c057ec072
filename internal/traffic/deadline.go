package traffic

import "time"

// lazyDeadline keeps one deadline of a connection (its read deadline, or
// its read and write deadlines) and moves it only when the one wanted
// lies past it or more than a slack before it: a deadline wanted at t is
// then in force from t to t plus the slack. Each set costs a change of a
// runtime timer, under its lock; a connection serving thousands of
// requests a second would set its deadlines four times per request and
// now sets them a few times a second. nginx keeps its timers the same
// way: it leaves one in place that would move by less than 300 ms
// (NGX_TIMER_LAZY_DELAY, src/event/ngx_event_timer.h).
type lazyDeadline struct {
	set func(time.Time) error // the connection's SetReadDeadline or SetDeadline
	at  time.Time             // the deadline in force; zero: none
}

// by makes the deadline t, or leaves in force one at most slack past it.
// Zero t clears it.
func (l *lazyDeadline) by(t time.Time, slack time.Duration) {
	switch {
	case t.IsZero():
		if !l.at.IsZero() {
			l.force(t)
		}
	case l.at.IsZero() || l.at.Before(t) || l.at.Sub(t) > slack:
		l.force(t.Add(slack))
	}
}

// force sets the deadline to t.
func (l *lazyDeadline) force(t time.Time) {
	l.set(t)
	l.at = t
}

// slackOf is how late a timeout of d may end: a sixteenth of it, at most
// 250 ms.
func slackOf(d time.Duration) time.Duration {
	return min(d/16, 250*time.Millisecond)
}

// after returns the time d after t, or zero (no deadline) when d is not
// positive.
func after(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}
