package promote

import (
	"encoding/json"
	"fmt"
	"time"
)

// RolloutState is where a rollout stands.
type RolloutState string

// The states of a rollout. Running and paused rollouts are active: the
// controller holds their traffic; the others are over.
const (
	RolloutRunning    RolloutState = "running"
	RolloutPaused     RolloutState = "paused"
	RolloutSucceeded  RolloutState = "succeeded"
	RolloutRolledBack RolloutState = "rolled_back"
)

// Active reports whether the rollout still holds its environment's
// traffic.
func (s RolloutState) Active() bool { return s == RolloutRunning || s == RolloutPaused }

// Valid reports whether s is one of the states.
func (s RolloutState) Valid() bool {
	switch s {
	case RolloutRunning, RolloutPaused, RolloutSucceeded, RolloutRolledBack:
		return true
	}
	return false
}

// Rollout is the progressive delivery of a committed promotion: the
// candidate (Version) takes a growing share of an environment's traffic
// from the stable version while the analysis compares them. It is stored
// at every step, so that a restarted controller resumes where it stood.
type Rollout struct {
	// Seq is the rollout's place in the store's order of rollouts started:
	// the cursor that RolloutFilter's BeforeSeq and AfterSeq (the API's
	// before and after) page by. Set when the store returns a rollout;
	// never taken from a request.
	Seq         int64  `json:"seq,omitempty"`
	PromotionID string `json:"promotion_id"`
	Model       string `json:"model"`
	Version     string `json:"version"`
	Environment string `json:"environment"`
	// Stable is the version that serves the rest of the traffic.
	Stable   string       `json:"stable"`
	Strategy string       `json:"strategy"` // canary or shadow
	State    RolloutState `json:"state"`
	// Step is the index of the current step of the policy's plan, and
	// Weight the candidate's share of traffic now, from 0 to 1.
	Step          int       `json:"step"`
	Weight        float64   `json:"weight"`
	StartedAt     time.Time `json:"started_at"`
	StepStartedAt time.Time `json:"step_started_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Reason says why it ended or paused.
	Reason string `json:"reason,omitempty"`
	// Verdict is the analysis's last verdict, as JSON.
	Verdict json.RawMessage `json:"verdict,omitempty"`
	// AnalysisState is the state of the rollout's sequential analysis
	// (versioned JSON of package analysis), so that a restarted server or
	// a new leader resumes the analysis with the evidence gathered so far;
	// nil before the first judgement. It is internal bookkeeping, not part
	// of the API: the verdict carries the evidence (e-values, p-values,
	// counts).
	AnalysisState json.RawMessage `json:"-"`
	// StepRequests is the canary requests counted in the current step so
	// far, stored with every sample and step, so that a restarted
	// controller counts on from it rather than from zero: a step's
	// minimum time counts from StepStartedAt across restarts, and so do
	// its minimum requests. 0 at a new step and at a resumption.
	StepRequests float64 `json:"step_requests"`
	// StepNeeds is what the current step of a canary needs before the
	// rollout moves on, as the controller last judged it; nil for a
	// shadow, and until the controller first judges the step.
	StepNeeds *StepNeeds `json:"step_needs,omitempty"`
	// Revision counts the saves of the rollout: 1 once started, one more
	// at every later state stored. A save names the revision it read, and
	// is refused (RolloutChangedError) when another writer saved the
	// rollout since: an optimistic lock, so that a pause through one
	// replica is not overwritten by a step the leader recorded from an
	// older read. Storing the analysis state alone does not change it.
	Revision int64 `json:"revision"`
	// Next, while the rollout waits for a person (WaitsForPerson), is
	// what their go does, and on a paused canary what its resumption
	// does, as the server's rollout controller says by the plan it
	// carries the rollout on with now: the environment's current policy,
	// whose steps may differ from those StepNeeds counted when the
	// controller last judged the rollout. Its Refused alone is set when
	// the controller refuses the go or the resumption (no plan of its
	// strategy carries the rollout on). It is set by the server when it
	// answers, never stored: nil from a store, on a rollout that neither
	// waits for a person nor is paused, on a paused shadow whose
	// resumption is allowed (it mirrors again), and from a server without
	// a rollout controller.
	Next *RolloutNext `json:"next,omitempty"`
}

// RolloutNext is what a person's resume does to a canary rollout. To one
// that waits for them at its step it is their go: it moves the rollout
// to its next step, Step at Weight, or, at its last step (Last), gives
// the candidate all traffic and ends the rollout as a success. To a
// paused one it is its resumption: the rollout runs again at Step (its
// step, or the plan's last when the policy lost it) at Weight, the
// step's minimums counted again. Or the rollout controller refuses it
// (Refused), saying why.
type RolloutNext struct {
	// Steps is the number of steps of the plan the controller carries the
	// rollout on with; 0 when Refused.
	Steps int `json:"steps,omitempty"`
	// Last says that the go ends the rollout.
	Last bool `json:"last,omitempty"`
	// Step is the index, from 0, of the step the go moves the rollout to
	// (or the resumption runs it at), and Weight that step's share of
	// traffic in percent; 0 when Last or Refused.
	Step   int `json:"step,omitempty"`
	Weight int `json:"weight,omitempty"`
	// MinRequests and MinDuration (in seconds) are, for a paused
	// rollout's resumption, what the step it runs the rollout at needs,
	// counted from the resumption, by the same plan: an edited policy's
	// step may need other minimums than StepNeeds, stored before the
	// edit, says. 0 for a go, and when Refused.
	MinRequests int     `json:"min_requests,omitempty"`
	MinDuration float64 `json:"min_duration,omitempty"`
	// Refused, when not empty, says why the controller refuses the go,
	// or the resumption of a paused rollout (the policy no longer rolls
	// the rollout out as it began, or its environment has left the
	// pipeline), and what a person can do instead.
	Refused string `json:"refused,omitempty"`
}

// StepNeeds is what a canary step needs before the rollout moves on: it
// passes once it has lasted MinDuration and the canary has served
// MinRequests in it (Rollout.StepRequests), and the analysis has not
// failed it; with Confirm, once a person says go as well.
type StepNeeds struct {
	// Steps is the number of steps of the policy's plan.
	Steps       int `json:"steps"`
	MinRequests int `json:"min_requests"`
	// MinDuration is the step's minimum time, in seconds.
	MinDuration float64 `json:"min_duration"`
	// WaitingForRequests says that the step has lasted its minimum time
	// and waits only for the canary's requests: at low traffic a step
	// can wait for them for a long time. False while the rollout is
	// paused or over (StopWaiting), as is WaitingForPerson.
	WaitingForRequests bool `json:"waiting_for_requests,omitempty"`
	// Confirm says that the step waits for a person once it has lasted
	// its minimum time and served its minimum requests (the policy's
	// confirm), and WaitingForPerson that it does now: the rollout stays
	// at the step's weight, still judged, until a person resumes it (the
	// next step) or promotes it.
	Confirm          bool `json:"confirm,omitempty"`
	WaitingForPerson bool `json:"waiting_for_person,omitempty"`
}

// WaitsForPerson reports whether r runs at a step that has served its
// minimum time and requests and waits for a person to move it on.
func (r Rollout) WaitsForPerson() bool {
	return r.State == RolloutRunning && r.StepNeeds != nil && r.StepNeeds.WaitingForPerson
}

// StopWaiting clears what r's step waits for (StepNeeds'
// WaitingForRequests and WaitingForPerson) unless r runs: a paused rollout
// waits for a person to resume it, whatever its step waited for before,
// and one that ended waits for nothing. What the step needs is kept.
// Every save of a rollout's state calls it, so that no reader of a paused
// or ended rollout takes it for one still waiting.
func (r *Rollout) StopWaiting() {
	if r.State == RolloutRunning || r.StepNeeds == nil || (!r.StepNeeds.WaitingForRequests && !r.StepNeeds.WaitingForPerson) {
		return
	}
	needs := *r.StepNeeds // shared with the caller's copy
	needs.WaitingForRequests, needs.WaitingForPerson = false, false
	r.StepNeeds = &needs
}

// RolloutProgress is what the rollout controller stores of a rollout with
// each sample: the state of its analysis and its last verdict
// (Rollout.AnalysisState and Verdict), and how far its step has come
// (Rollout.StepRequests and StepNeeds).
type RolloutProgress struct {
	AnalysisState, Verdict json.RawMessage
	StepRequests           float64
	StepNeeds              *StepNeeds
}

// RolloutChangedError is the Conflict of a rollout saved from a revision
// that is no longer the stored one: another writer saved it since it was
// read, and nothing was changed. The writer reads it again and decides
// anew.
type RolloutChangedError struct {
	PromotionID string
	// Read is the revision the save named, Stored the one stored.
	Read, Stored int64
}

// Error implements the error interface.
func (e *RolloutChangedError) Error() string {
	return fmt.Sprintf("the rollout of promotion %s changed since it was read (revision %d, now %d)", e.PromotionID, e.Read, e.Stored)
}

// Unwrap returns the error as a Conflict, so that ErrorCode and the HTTP
// layer treat it as one.
func (e *RolloutChangedError) Unwrap() error { return &Error{Code: Conflict, Message: e.Error()} }

// RolloutFilter selects rollouts, listed newest (the last started) first,
// a page at a time as AuditFilter pages the audit log: BeforeSeq and
// AfterSeq are cursors on Rollout.Seq. Zero fields match everything; a
// Version needs its Model (CheckVersionScope).
type RolloutFilter struct {
	Model string
	// Models, when not empty, selects the rollouts of these models alone
	// (with Model too, of both).
	Models      []string
	Version     string
	Environment string
	ActiveOnly  bool
	BeforeSeq   int64
	AfterSeq    int64
	Limit       int // 0: DefaultLimit
}

// RolloutSample is one point of a rollout's history, for its chart: what
// each track served in the interval that ends at At (since the previous
// sample), the step and weight then, and what the analysis decided. The
// rollout controller appends one at most every few seconds while it judges,
// and one at every step change, pause, resumption and end.
type RolloutSample struct {
	PromotionID string      `json:"promotion_id"`
	At          time.Time   `json:"at"`
	Step        int         `json:"step"`
	Weight      float64     `json:"weight"`
	Stable      TrackSample `json:"stable"`
	Canary      TrackSample `json:"canary"`
	// Decision is the analysis's decision at At (continue, fail,
	// inconclusive), empty when it did not judge.
	Decision string `json:"decision,omitempty"`
	// Event marks a change of the rollout at At: "step" (a new step
	// began), "paused", "resumed", "rolled_back" or "succeeded"; empty for a
	// plain reading.
	Event string `json:"event,omitempty"`
}

// RolloutSamplesKept is how many samples a rollout keeps: at one every 5
// s, more than a day of history, far more than its chart draws.
const RolloutSamplesKept = 20000

// TrackSample is what one track (stable, or the canary or shadow) served
// in a sample's interval.
type TrackSample struct {
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors"`
	// LatencyP95 is the interval's 95th percentile latency in seconds,
	// estimated from the latency histogram; 0 when it served nothing.
	LatencyP95 float64 `json:"latency_p95"`
}
