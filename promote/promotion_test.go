package promote

import (
	"errors"
	"testing"
	"time"
)

// TestTransitionEveryStateAndEvent checks the whole table: every state
// against every event, allowed or refused.
func TestTransitionEveryStateAndEvent(t *testing.T) {
	allowed := map[State]map[Event]State{
		StateRequested:        {EventGatePassed: StateGated, EventGateFailed: StateBlocked, EventCancelled: StateCancelled, EventSuperseded: StateCancelled, EventFailed: StateFailed},
		StateGated:            {EventAwaitApproval: StateAwaitingApproval, EventApproved: StateApproved, EventCancelled: StateCancelled, EventSuperseded: StateCancelled, EventFailed: StateFailed},
		StateAwaitingApproval: {EventApproved: StateApproved, EventRejected: StateCancelled, EventGateFailed: StateBlocked, EventCancelled: StateCancelled, EventSuperseded: StateCancelled, EventFailed: StateFailed},
		StateApproved:         {EventCommitted: StateCommitted, EventSucceeded: StateSucceeded, EventCancelled: StateCancelled, EventFailed: StateFailed},
		StateCommitted:        {EventRolloutStarted: StateRollingOut, EventSucceeded: StateSucceeded, EventRolledBack: StateRolledBack, EventFailed: StateFailed},
		StateRollingOut:       {EventSucceeded: StateSucceeded, EventRolledBack: StateRolledBack, EventFailed: StateFailed},
	}
	for _, s := range States {
		for _, ev := range Events {
			t.Run(string(s)+"/"+string(ev), func(t *testing.T) {
				got, err := Transition(s, ev)
				want, ok := allowed[s][ev]
				if !ok {
					if err == nil || ErrorCode(err) != Conflict {
						t.Fatalf("Transition(%s, %s) = %s, %v; want a Conflict", s, ev, got, err)
					}
					if got != s {
						t.Errorf("Transition(%s, %s) refused but moved to %s", s, ev, got)
					}
					return
				}
				if err != nil || got != want {
					t.Errorf("Transition(%s, %s) = %s, %v; want %s", s, ev, got, err, want)
				}
			})
		}
	}
}

func TestStateClasses(t *testing.T) {
	for _, s := range States {
		if s.Terminal() == s.Active() {
			t.Errorf("%s: Terminal %v and Active %v", s, s.Terminal(), s.Active())
		}
		if s.Terminal() && len(transitions[s]) > 0 {
			t.Errorf("%s is terminal but has transitions", s)
		}
		if !s.Terminal() && len(transitions[s]) == 0 {
			t.Errorf("%s is not terminal but has no transitions", s)
		}
		if s.Queued() && !s.Active() {
			t.Errorf("%s queued but not active", s)
		}
	}
	for _, s := range []State{StateApproved, StateCommitted, StateRollingOut} {
		if s.Queued() {
			t.Errorf("%s may be superseded; want never", s)
		}
	}
}

func TestPromotionApply(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := &Promotion{ID: "p1", State: StateRequested}
	for _, ev := range []Event{EventGatePassed, EventAwaitApproval, EventApproved, EventSucceeded} {
		if err := p.Apply(ev, now); err != nil {
			t.Fatalf("Apply(%s): %v", ev, err)
		}
	}
	if p.State != StateSucceeded || !p.UpdatedAt.Equal(now) {
		t.Errorf("after the happy path: %s at %v", p.State, p.UpdatedAt)
	}
	err := p.Apply(EventApproved, now)
	var e *Error
	if !errors.As(err, &e) || e.Code != Conflict || p.State != StateSucceeded {
		t.Errorf("Apply on a terminal promotion = %v, state %s", err, p.State)
	}
}
