package promote

import (
	"fmt"
	"time"
)

// State is where a promotion stands. The life of a promotion:
//
//	requested → gated → blocked
//	                  → awaiting_approval → approved → committed → rolling_out → succeeded
//	                                                                           → rolled_back
//	                                                                           → failed
//	any state before rolling_out → cancelled (withdrawn, superseded or rejected)
type State string

// The states of a promotion.
const (
	StateRequested        State = "requested"
	StateGated            State = "gated"
	StateBlocked          State = "blocked"
	StateAwaitingApproval State = "awaiting_approval"
	StateApproved         State = "approved"
	StateCommitted        State = "committed"
	StateRollingOut       State = "rolling_out"
	StateSucceeded        State = "succeeded"
	StateRolledBack       State = "rolled_back"
	StateFailed           State = "failed"
	StateCancelled        State = "cancelled"
)

// States lists every state in life order.
var States = []State{
	StateRequested, StateGated, StateBlocked, StateAwaitingApproval, StateApproved, StateCommitted,
	StateRollingOut, StateSucceeded, StateRolledBack, StateFailed, StateCancelled,
}

// StateNames lists States' names, in life order: what help text, errors
// and the OpenAPI document offer.
func StateNames() []string {
	names := make([]string, len(States))
	for i, s := range States {
		names[i] = string(s)
	}
	return names
}

// Terminal reports whether no event can move a promotion out of s.
func (s State) Terminal() bool {
	switch s {
	case StateBlocked, StateSucceeded, StateRolledBack, StateFailed, StateCancelled:
		return true
	}
	return false
}

// Active reports whether a promotion in s holds its (model, environment)
// slot: at most one promotion per model and environment is active.
func (s State) Active() bool { return !s.Terminal() }

// Queued reports whether a newer request may supersede a promotion in s:
// one that has not yet been approved. An approved or rolling promotion is
// never superseded.
func (s State) Queued() bool {
	switch s {
	case StateRequested, StateGated, StateAwaitingApproval:
		return true
	}
	return false
}

// Event is something that happens to a promotion.
type Event string

// The events of a promotion.
const (
	EventGatePassed     Event = "gate_passed"     // the policy allowed it (approvals aside)
	EventGateFailed     Event = "gate_failed"     // the policy blocked it
	EventAwaitApproval  Event = "await_approval"  // it needs approvals it does not have yet
	EventApproved       Event = "approved"        // enough approvals (or none needed)
	EventRejected       Event = "rejected"        // an approver rejected it
	EventCommitted      Event = "committed"       // the environment's overlay was committed
	EventRolloutStarted Event = "rollout_started" // progressive delivery began
	EventSucceeded      Event = "succeeded"       // the version is live and stable
	EventRolledBack     Event = "rolled_back"     // the rollout failed and was reverted
	EventFailed         Event = "failed"          // it could not be carried out
	EventCancelled      Event = "cancelled"       // withdrawn by a person
	EventSuperseded     Event = "superseded"      // a newer request for the same slot replaced it
)

// Events lists every event.
var Events = []Event{
	EventGatePassed, EventGateFailed, EventAwaitApproval, EventApproved, EventRejected, EventCommitted,
	EventRolloutStarted, EventSucceeded, EventRolledBack, EventFailed, EventCancelled, EventSuperseded,
}

// transitions is the promotion state machine: from a state, on an event,
// to a state. What is not listed is not allowed.
var transitions = map[State]map[Event]State{
	StateRequested: {
		EventGatePassed: StateGated,
		EventGateFailed: StateBlocked,
		EventCancelled:  StateCancelled, EventSuperseded: StateCancelled, EventFailed: StateFailed,
	},
	StateGated: {
		EventAwaitApproval: StateAwaitingApproval,
		EventApproved:      StateApproved,
		EventCancelled:     StateCancelled, EventSuperseded: StateCancelled, EventFailed: StateFailed,
	},
	StateAwaitingApproval: {
		EventApproved:   StateApproved,
		EventRejected:   StateCancelled,
		EventGateFailed: StateBlocked,
		EventCancelled:  StateCancelled, EventSuperseded: StateCancelled, EventFailed: StateFailed,
	},
	StateApproved: {
		EventCommitted: StateCommitted,
		// Without GitOps the live alias moves directly.
		EventSucceeded: StateSucceeded,
		EventCancelled: StateCancelled, EventFailed: StateFailed,
	},
	StateCommitted: {
		EventRolloutStarted: StateRollingOut,
		EventSucceeded:      StateSucceeded,
		EventRolledBack:     StateRolledBack,
		EventFailed:         StateFailed,
	},
	StateRollingOut: {
		EventSucceeded:  StateSucceeded,
		EventRolledBack: StateRolledBack,
		EventFailed:     StateFailed,
	},
}

// Transition returns the state a promotion in from moves to on ev, or a
// Conflict error naming both when the event is not allowed there.
func Transition(from State, ev Event) (State, error) {
	if to, ok := transitions[from][ev]; ok {
		return to, nil
	}
	return from, Errorf(Conflict, "a promotion that is %s cannot take %s", from, ev)
}

// Promotion is a request to put a version of a model into an environment.
type Promotion struct {
	// Seq is the promotion's place in the store's order of requests: the
	// cursor that PromotionFilter's BeforeSeq and AfterSeq (the API's
	// before and after) page by. Set when the store returns a promotion;
	// never taken from a request.
	Seq         int64     `json:"seq,omitempty"`
	ID          string    `json:"id"`
	Model       string    `json:"model"`
	Version     string    `json:"version"`
	Environment string    `json:"environment"`
	Digest      string    `json:"digest"` // the artifact digest approvals bind to
	State       State     `json:"state"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Baseline is the version live in the environment when the gate ran.
	Baseline string `json:"baseline,omitempty"`
	// Decision is the gate's verdict with every rule's result, as JSON.
	Decision []byte `json:"decision,omitempty"`
	Reason   string `json:"reason,omitempty"` // why it ended, for terminal states
	// Override is set when an admin promoted through a freeze window.
	Override bool `json:"override,omitempty"`
	// Note is the requester's note for the approvers, fixed when the
	// promotion is requested; "" when none was given.
	Note string `json:"note,omitempty"`
}

// Apply moves p by ev at time now, or returns the Conflict from Transition.
func (p *Promotion) Apply(ev Event, now time.Time) error {
	to, err := Transition(p.State, ev)
	if err != nil {
		return fmt.Errorf("promotion %s: %w", p.ID, err)
	}
	p.State, p.UpdatedAt = to, now
	return nil
}

// Approval is one person's decision on a promotion, bound to the artifact
// digest they saw.
type Approval struct {
	PromotionID string    `json:"promotion_id"`
	Approver    string    `json:"approver"`
	Roles       []string  `json:"roles,omitempty"`
	Approve     bool      `json:"approve"` // false: a rejection
	Digest      string    `json:"digest"`
	Comment     string    `json:"comment,omitempty"`
	At          time.Time `json:"at"`
}

// Hold marks a version as not to be promoted to an environment until a
// person clears it, with a reason.
type Hold struct {
	ID          int64      `json:"id"`
	Model       string     `json:"model"`
	Version     string     `json:"version"`
	Environment string     `json:"environment"`
	Reason      string     `json:"reason"`
	SetBy       string     `json:"set_by"`
	SetAt       time.Time  `json:"set_at"`
	ClearedBy   string     `json:"cleared_by,omitempty"`
	ClearedAt   *time.Time `json:"cleared_at,omitempty"`
	ClearReason string     `json:"clear_reason,omitempty"`
}

// Active reports whether the hold still stands.
func (h *Hold) Active() bool { return h.ClearedAt == nil }
