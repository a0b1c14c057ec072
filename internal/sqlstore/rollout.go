package sqlstore

import (
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/promote-ml/promote/promote"
)

// SaveRollout stores r, new or updated, keyed by its promotion; NotFound
// when the promotion is not stored.
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
	_, err := t.exec(what, `INSERT INTO rollouts (promotion_id, model, version, environment, stable, strategy, state, active,
			step, weight, started_at, step_started_at, updated_at, reason, verdict)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (promotion_id) DO UPDATE SET stable = excluded.stable, strategy = excluded.strategy,
			state = excluded.state, active = excluded.active, step = excluded.step, weight = excluded.weight,
			step_started_at = excluded.step_started_at, updated_at = excluded.updated_at,
			reason = excluded.reason, verdict = excluded.verdict`,
		r.PromotionID, r.Model, r.Version, r.Environment, r.Stable, r.Strategy, string(r.State), r.State.Active(),
		r.Step, r.Weight, nanos(r.StartedAt), nanos(r.StepStartedAt), nanos(r.UpdatedAt), r.Reason, nullBytes(r.Verdict))
	return err
}

const rolloutColumns = `promotion_id, model, version, environment, stable, strategy, state, step, weight,
	started_at, step_started_at, updated_at, reason, verdict`

func scanRollout(s scanner) (promote.Rollout, error) {
	var r promote.Rollout
	var state string
	var started, stepStarted, updated int64
	var verdict sql.NullString
	err := s.Scan(&r.PromotionID, &r.Model, &r.Version, &r.Environment, &r.Stable, &r.Strategy, &state, &r.Step, &r.Weight,
		&started, &stepStarted, &updated, &r.Reason, &verdict)
	r.State = promote.RolloutState(state)
	r.StartedAt, r.StepStartedAt, r.UpdatedAt = fromNanos(started), fromNanos(stepStarted), fromNanos(updated)
	if verdict.Valid {
		r.Verdict = []byte(verdict.String)
	}
	return r, err
}

// Rollout returns the rollout of a promotion; NotFound when it has none.
func (t *tx) Rollout(promotionID string) (promote.Rollout, error) {
	return one(t, fmt.Sprintf("read the rollout of promotion %q", promotionID),
		fmt.Sprintf("rollout of promotion %q not found", promotionID), scanRollout,
		"SELECT "+rolloutColumns+" FROM rollouts WHERE promotion_id = ?", promotionID)
}

// Rollouts lists rollouts matching f, newest first.
func (t *tx) Rollouts(f promote.RolloutFilter) ([]promote.Rollout, error) {
	n, err := limit(f.Limit)
	if err != nil {
		return nil, err
	}
	var w where
	w.scope(f.Model, "", f.Environment)
	if f.ActiveOnly {
		w.add("active")
	}
	rows, err := t.query("list rollouts", "SELECT "+rolloutColumns+" FROM rollouts"+w.String()+
		" ORDER BY started_at DESC, n DESC LIMIT ?", append(w.args, n)...)
	return collect("list rollouts", rows, err, scanRollout)
}
