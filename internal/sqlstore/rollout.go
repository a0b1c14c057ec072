package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/promote-ml/promote/promote"
)

// SaveRollout stores r, new or updated, keyed by its promotion, at
// revision r.Revision+1. A new rollout (Revision 0) is inserted at 1; a
// later state updates the stored one only while its revision is still
// r.Revision, in the statement that writes it, so of two writers that read
// the same revision exactly one wins. The other gets a
// *promote.RolloutChangedError and changes nothing. NotFound when the
// promotion, or the rollout a later state updates, is not stored.
func (t *tx) SaveRollout(r promote.Rollout) error {
	what := fmt.Sprintf("save the rollout of promotion %q", r.PromotionID)
	if err := t.writable(what); err != nil {
		return err
	}
	switch {
	case !r.State.Valid():
		return promote.Errorf(promote.Invalid, "%s: unknown state %q", what, r.State)
	case math.IsNaN(r.Weight) || r.Weight < 0 || r.Weight > 1:
		return promote.Errorf(promote.Invalid, "%s: weight %v is not between 0 and 1", what, r.Weight)
	case r.Step < 0:
		return promote.Errorf(promote.Invalid, "%s: step %d is negative", what, r.Step)
	case r.Revision < 0:
		return promote.Errorf(promote.Invalid, "%s: revision %d is negative", what, r.Revision)
	}
	needs, err := stepColumns(what, r.StepRequests, r.StepNeeds)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		field string
		at    time.Time
	}{{"started_at", r.StartedAt}, {"step_started_at", r.StepStartedAt}, {"updated_at", r.UpdatedAt}} {
		if err := checkTime(c.field, c.at); err != nil {
			return err
		}
	}
	if err := t.promotionExists(r.PromotionID); err != nil {
		return err
	}
	var saved bool
	if r.Revision == 0 {
		// A new rollout; a stored one at revision 0 (saved before
		// revisions existed) is updated as one read at 0 would be.
		saved, err = t.changed(what, `INSERT INTO rollouts (promotion_id, model, version, environment, stable, strategy, state, active,
				step, weight, started_at, step_started_at, updated_at, reason, verdict, analysis_state, step_requests, step_needs, step_requests_at, revision)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
			ON CONFLICT (promotion_id) DO UPDATE SET stable = excluded.stable, strategy = excluded.strategy,
				state = excluded.state, active = excluded.active, step = excluded.step, weight = excluded.weight,
				step_started_at = excluded.step_started_at, updated_at = excluded.updated_at,
				reason = excluded.reason, verdict = excluded.verdict, analysis_state = excluded.analysis_state,
				step_requests = excluded.step_requests, step_needs = excluded.step_needs, step_requests_at = excluded.step_requests_at,
				revision = rollouts.revision + 1
			WHERE rollouts.revision = 0`,
			r.PromotionID, r.Model, r.Version, r.Environment, r.Stable, r.Strategy, string(r.State), r.State.Active(),
			r.Step, r.Weight, nanos(r.StartedAt), nanos(r.StepStartedAt), nanos(r.UpdatedAt), r.Reason, nullBytes(r.Verdict),
			nullBytes(r.AnalysisState), r.StepRequests, needs, nanos(r.StepStartedAt))
	} else {
		saved, err = t.changed(what, `UPDATE rollouts SET stable = ?, strategy = ?, state = ?, active = ?, step = ?, weight = ?,
				step_started_at = ?, updated_at = ?, reason = ?, verdict = ?, analysis_state = ?, step_requests = ?, step_needs = ?,
				step_requests_at = ?, revision = revision + 1
			WHERE promotion_id = ? AND revision = ?`,
			r.Stable, r.Strategy, string(r.State), r.State.Active(), r.Step, r.Weight, nanos(r.StepStartedAt), nanos(r.UpdatedAt),
			r.Reason, nullBytes(r.Verdict), nullBytes(r.AnalysisState), r.StepRequests, needs, nanos(r.StepStartedAt), r.PromotionID, r.Revision)
	}
	if err != nil || saved {
		return err
	}
	var stored int64
	err = t.queryRowContext("SELECT revision FROM rollouts WHERE promotion_id = ?", r.PromotionID).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return promote.Errorf(promote.NotFound, "rollout of promotion %q not found", r.PromotionID)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	}
	return &promote.RolloutChangedError{PromotionID: r.PromotionID, Read: r.Revision, Stored: stored}
}

// SaveRolloutAnalysis stores the state of a rollout's analysis and its
// last verdict alone; NotFound when the promotion has no rollout. It
// leaves the revision as it is: both are the analysis's own bookkeeping,
// stored with every sample, and bumping the revision would make people's
// operations, which read the rollout and save it, conflict with every
// sample. A caller that must not store them over a newer rollout (the
// controller) checks the revision in the same transaction.
func (t *tx) SaveRolloutAnalysis(promotionID string, state, verdict json.RawMessage) error {
	what := fmt.Sprintf("save the analysis of the rollout of promotion %q", promotionID)
	if err := t.writable(what); err != nil {
		return err
	}
	if state != nil && !json.Valid(state) {
		return promote.Errorf(promote.Invalid, "%s: the state is not JSON", what)
	}
	if verdict != nil && !json.Valid(verdict) {
		return promote.Errorf(promote.Invalid, "%s: the verdict is not JSON", what)
	}
	ok, err := t.changed(what, "UPDATE rollouts SET analysis_state = ?, verdict = ? WHERE promotion_id = ?",
		nullBytes(state), nullBytes(verdict), promotionID)
	if err == nil && !ok {
		return promote.Errorf(promote.NotFound, "rollout of promotion %q not found", promotionID)
	}
	return err
}

// SaveRolloutStep stores the canary requests counted in a rollout's
// current step and what the step needs alone; NotFound when the promotion
// has no rollout. Like SaveRolloutAnalysis, with which the controller
// stores it at every sample, it leaves the revision as it is.
func (t *tx) SaveRolloutStep(promotionID string, requests float64, needs *promote.StepNeeds) error {
	what := fmt.Sprintf("save the step of the rollout of promotion %q", promotionID)
	if err := t.writable(what); err != nil {
		return err
	}
	raw, err := stepColumns(what, requests, needs)
	if err != nil {
		return err
	}
	ok, err := t.changed(what, "UPDATE rollouts SET step_requests = ?, step_needs = ?, step_requests_at = step_started_at WHERE promotion_id = ?",
		requests, raw, promotionID)
	if err == nil && !ok {
		return promote.Errorf(promote.NotFound, "rollout of promotion %q not found", promotionID)
	}
	return err
}

// stepColumns checks a step's progress and returns what it needs as the
// JSON stored (nil for none).
func stepColumns(what string, requests float64, needs *promote.StepNeeds) (any, error) {
	if math.IsNaN(requests) || math.IsInf(requests, 0) || requests < 0 {
		return nil, promote.Errorf(promote.Invalid, "%s: step requests %v is not a finite number ≥ 0", what, requests)
	}
	if needs == nil {
		return nil, nil
	}
	if needs.Steps < 1 || needs.MinRequests < 0 || math.IsNaN(needs.MinDuration) || math.IsInf(needs.MinDuration, 0) || needs.MinDuration < 0 {
		return nil, promote.Errorf(promote.Invalid, "%s: the step needs %+v: want at least one step and no negative minimum", what, *needs)
	}
	raw, err := json.Marshal(needs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return string(raw), nil
}

const rolloutColumns = `n, promotion_id, model, version, environment, stable, strategy, state, step, weight,
	started_at, step_started_at, updated_at, reason, verdict, analysis_state, step_requests, step_needs, step_requests_at, revision`

func scanRollout(s scanner) (promote.Rollout, error) {
	var r promote.Rollout
	var state string
	var started, stepStarted, updated, countedAt int64
	var verdict, analysis, needs sql.NullString
	err := s.Scan(&r.Seq, &r.PromotionID, &r.Model, &r.Version, &r.Environment, &r.Stable, &r.Strategy, &state, &r.Step, &r.Weight,
		&started, &stepStarted, &updated, &r.Reason, &verdict, &analysis, &r.StepRequests, &needs, &countedAt, &r.Revision)
	r.State = promote.RolloutState(state)
	r.StartedAt, r.StepStartedAt, r.UpdatedAt = fromNanos(started), fromNanos(stepStarted), fromNanos(updated)
	if verdict.Valid {
		r.Verdict = []byte(verdict.String)
	}
	if analysis.Valid {
		r.AnalysisState = []byte(analysis.String)
	}
	if countedAt != stepStarted {
		// Counted for another step: an older replica moved the step on
		// without the count.
		r.StepRequests, needs.Valid = 0, false
	}
	if needs.Valid && err == nil {
		r.StepNeeds = new(promote.StepNeeds)
		if jerr := json.Unmarshal([]byte(needs.String), r.StepNeeds); jerr != nil {
			return r, fmt.Errorf("rollout of promotion %q: the stored step needs: %w", r.PromotionID, jerr)
		}
	}
	return r, err
}

// Rollout returns the rollout of a promotion; NotFound when it has none.
func (t *tx) Rollout(promotionID string) (promote.Rollout, error) {
	return one(t, fmt.Sprintf("read the rollout of promotion %q", promotionID),
		fmt.Sprintf("rollout of promotion %q not found", promotionID), scanRollout,
		"SELECT "+rolloutColumns+" FROM rollouts WHERE promotion_id = ?", promotionID)
}

// Rollouts lists the rollouts that f selects, newest (the last started)
// first.
func (t *tx) Rollouts(f promote.RolloutFilter) ([]promote.Rollout, error) {
	return listPage(t, "list rollouts", "rollouts", rolloutColumns, "n", rolloutWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit, scanRollout)
}

// rolloutWhere selects the rollouts f selects.
func rolloutWhere(f promote.RolloutFilter) where {
	var w where
	w.scope(f.Model, f.Version, f.Environment)
	w.in("model", f.Models)
	if f.ActiveOnly {
		w.add("active")
	}
	return w
}

// sampleEvents are the values of RolloutSample.Event.
var sampleEvents = map[string]bool{"": true, "step": true, "paused": true, "resumed": true, "waiting": true, "rolled_back": true, "succeeded": true}

// AppendRolloutSample stores one point of a rollout's history; NotFound
// when the rollout is not stored.
func (t *tx) AppendRolloutSample(s promote.RolloutSample, keep int) error {
	what := fmt.Sprintf("append a sample to the rollout of promotion %q", s.PromotionID)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("at", s.At); err != nil {
		return err
	}
	if !sampleEvents[s.Event] {
		return promote.Errorf(promote.Invalid, "%s: unknown event %q", what, s.Event)
	}
	if s.Step < 0 {
		return promote.Errorf(promote.Invalid, "%s: step %d is negative", what, s.Step)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"weight", s.Weight}, {"stable.requests", s.Stable.Requests}, {"stable.errors", s.Stable.Errors},
		{"stable.latency_p95", s.Stable.LatencyP95}, {"canary.requests", s.Canary.Requests},
		{"canary.errors", s.Canary.Errors}, {"canary.latency_p95", s.Canary.LatencyP95}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return promote.Errorf(promote.Invalid, "%s: %s is %v, not a finite number ≥ 0", what, f.name, f.v)
		}
	}
	if s.Weight > 1 {
		return promote.Errorf(promote.Invalid, "%s: weight %v is more than 1", what, s.Weight)
	}
	if keep < 1 {
		return promote.Errorf(promote.Invalid, "%s: keep %d: a rollout keeps at least one sample", what, keep)
	}
	if err := t.need(fmt.Sprintf("rollout of promotion %q", s.PromotionID), "SELECT 1 FROM rollouts WHERE promotion_id = ?", s.PromotionID); err != nil {
		return err
	}
	_, err := t.exec(what, `INSERT INTO rollout_samples (promotion_id, at, step, weight, stable_requests, stable_errors,
			stable_p95, canary_requests, canary_errors, canary_p95, decision, event)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.PromotionID, nanos(s.At), s.Step, s.Weight, s.Stable.Requests, s.Stable.Errors, s.Stable.LatencyP95,
		s.Canary.Requests, s.Canary.Errors, s.Canary.LatencyP95, s.Decision, s.Event)
	if err != nil {
		return err
	}
	// The newest keep stay: delete from the keep+1-th newest down (no row
	// there, a NULL, deletes nothing).
	_, err = t.exec(what, `DELETE FROM rollout_samples WHERE promotion_id = ? AND n <= (
			SELECT n FROM rollout_samples WHERE promotion_id = ? ORDER BY n DESC LIMIT 1 OFFSET ?)`,
		s.PromotionID, s.PromotionID, keep)
	return err
}

// RolloutSamples lists a rollout's samples, oldest first: the newest limit
// of them, or all when limit is 0.
func (t *tx) RolloutSamples(promotionID string, limit int) ([]promote.RolloutSample, error) {
	what := fmt.Sprintf("list the samples of the rollout of promotion %q", promotionID)
	if limit < 0 {
		return nil, promote.Errorf(promote.Invalid, "%s: limit %d is negative", what, limit)
	}
	q := `SELECT promotion_id, at, step, weight, stable_requests, stable_errors, stable_p95,
			canary_requests, canary_errors, canary_p95, decision, event
		FROM rollout_samples WHERE promotion_id = ? ORDER BY n DESC`
	args := []any{promotionID}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := t.query(what, q, args...)
	out, err := collect(what, rows, err, func(s scanner) (promote.RolloutSample, error) {
		var r promote.RolloutSample
		var at int64
		err := s.Scan(&r.PromotionID, &at, &r.Step, &r.Weight, &r.Stable.Requests, &r.Stable.Errors, &r.Stable.LatencyP95,
			&r.Canary.Requests, &r.Canary.Errors, &r.Canary.LatencyP95, &r.Decision, &r.Event)
		r.At = fromNanos(at)
		return r, err
	})
	slices.Reverse(out)
	return out, err
}
