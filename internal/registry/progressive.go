package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

// RolloutActor is the actor of the rollout controller's records and
// automatic rollbacks.
var RolloutActor = promote.Principal{Name: "rollout", Role: promote.RoleApprover}

// PendingRollouts lists the committed promotions that wait for the rollout
// controller, oldest first: every one of them, however many (ReadAll), so
// that none is left unstarted.
func (s *Service) PendingRollouts(ctx context.Context) ([]promote.Promotion, error) {
	var out []promote.Promotion
	err := s.store.View(ctx, func(tx promote.Tx) error {
		list, err := promote.AllPromotions(tx, promote.PromotionFilter{States: []promote.State{promote.StateCommitted}})
		if err != nil {
			return err
		}
		for i := len(list) - 1; i >= 0; i-- {
			if s.progressive(list[i]) {
				out = append(out, list[i])
			}
		}
		return nil
	})
	return out, err
}

// ActiveRollouts lists the rollouts that hold their environment's traffic,
// newest first: every one of them, however many (ReadAll), so that none is
// left unjudged.
func (s *Service) ActiveRollouts(ctx context.Context) ([]promote.Rollout, error) {
	var out []promote.Rollout
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = promote.AllRollouts(tx, promote.RolloutFilter{ActiveOnly: true})
		return err
	})
	return out, err
}

// Rollout returns a promotion's rollout.
func (s *Service) Rollout(ctx context.Context, promotionID string) (promote.Rollout, error) {
	var out promote.Rollout
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Rollout(promotionID)
		return err
	})
	return out, err
}

// StartRollout begins the rollout of a committed promotion: the promotion
// is rolling out, and the rollout is stored at its first step with the
// candidate at weight 0 against the promotion's baseline as stable. It
// returns the rollout as stored, at revision 1.
func (s *Service) StartRollout(ctx context.Context, promotionID string) (promote.Rollout, error) {
	var r promote.Rollout
	err := s.update(ctx, func(tx promote.Tx) error {
		now := s.clock()
		p, err := tx.Promotion(promotionID)
		if err != nil {
			return err
		}
		if p.State != promote.StateCommitted || !s.progressive(p) {
			return promote.Errorf(promote.Conflict, "promotion %s is %s; only a committed promotion to a canary or shadow environment rolls out", p.ID, p.State)
		}
		e, _ := s.cfg.Pipeline.Environment(p.Environment)
		r = promote.Rollout{PromotionID: p.ID, Model: p.Model, Version: p.Version, Environment: p.Environment, Stable: p.Baseline,
			Strategy: e.Strategy, State: promote.RolloutRunning, StartedAt: now, StepStartedAt: now, UpdatedAt: now}
		if err := s.transition(tx, &p, promote.EventRolloutStarted, "", RolloutActor.Name, now, nil); err != nil {
			return err
		}
		if err := tx.SaveRollout(r); err != nil {
			return err
		}
		// As stored: at revision 1, with its cursor.
		if r, err = tx.Rollout(p.ID); err != nil {
			return err
		}
		return audit(tx, promote.AuditEvent{Time: now, Actor: RolloutActor.Name, Action: promote.ActionRolloutStarted, Model: p.Model,
			Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: p.Digest, Decision: string(r.State),
			Reasons: reasonsJSON(startWords(e.Strategy, p.Version, p.Baseline))})
	})
	return r, err
}

// startWords is the reason of a rollout.started event.
func startWords(strategy, version, stable string) string {
	if stable == "" {
		return fmt.Sprintf("%s of %s, the first version in the environment: no stable version to compare with", strategy, version)
	}
	return fmt.Sprintf("%s of %s against stable %s", strategy, version, stable)
}

// RecordRollout stores a later state of a running or paused rollout (a
// step, a pause, a resumption) with what happened, audited as who's with
// the analysis's verdict, and returns it as stored (its new revision and
// time). who needs the approver role: the controller acts as RolloutActor,
// a person pausing or resuming as themselves. r.Revision is the revision
// the change was made from: when another writer saved the rollout since,
// nothing is stored and the error is a *promote.RolloutChangedError.
func (s *Service) RecordRollout(ctx context.Context, who promote.Principal, r promote.Rollout, what string) (promote.Rollout, error) {
	if err := Authorize(who, promote.RoleApprover, "changing a rollout"); err != nil {
		return r, err
	}
	if !r.State.Active() && r.State != promote.RolloutRolledBack {
		return r, promote.Errorf(promote.Invalid, "record a rollout in state %s: finish it instead", r.State)
	}
	out := r
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		out = r
		if err := saveRollout(tx, &out, s.clock()); err != nil {
			return err
		}
		return audit(tx, promote.AuditEvent{Time: out.UpdatedAt, Actor: who.Name, Action: promote.ActionRolloutStep, Model: r.Model,
			Version: r.Version, Environment: r.Environment, PromotionID: r.PromotionID, Decision: what, Reasons: verdictReasons(r)})
	})
	if err != nil {
		return r, err
	}
	return out, nil
}

// saveRollout stores a later state of r, changed at now, and gives r the
// revision stored. A rollout that no longer runs is stored waiting for
// nothing (promote.Rollout.StopWaiting).
func saveRollout(tx promote.Tx, r *promote.Rollout, now time.Time) error {
	r.StopWaiting()
	r.UpdatedAt = now
	if err := tx.SaveRollout(*r); err != nil {
		return err
	}
	r.Revision++
	return nil
}

// Rollouts lists rollouts matching f, newest first.
func (s *Service) Rollouts(ctx context.Context, f promote.RolloutFilter) ([]promote.Rollout, error) {
	var out []promote.Rollout
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Rollouts(f)
		return err
	})
	return out, err
}

// FinishRollout ends a rollout whose candidate took all the traffic: the
// rollout and its promotion succeed. It returns the rollout as stored. who
// needs the approver role. As with RecordRollout, r.Revision is the
// revision the decision was made from: when another writer saved the
// rollout since, nothing is stored and the error is a
// *promote.RolloutChangedError.
func (s *Service) FinishRollout(ctx context.Context, who promote.Principal, r promote.Rollout, reason string) (promote.Rollout, error) {
	if err := Authorize(who, promote.RoleApprover, "finishing a rollout"); err != nil {
		return r, err
	}
	out := r
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		now := s.clock()
		p, err := tx.Promotion(r.PromotionID)
		if err != nil {
			return err
		}
		if p.State != promote.StateRollingOut {
			return promote.Errorf(promote.Conflict, "promotion %s is %s, not rolling out", p.ID, p.State)
		}
		out = r
		out.State, out.Reason = promote.RolloutSucceeded, reason
		if err := saveRollout(tx, &out, now); err != nil {
			return err
		}
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionRolloutFinished, Model: out.Model,
			Version: out.Version, Environment: out.Environment, PromotionID: out.PromotionID, Digest: p.Digest, Decision: string(out.State),
			Reasons: verdictReasons(out)}); err != nil {
			return err
		}
		return s.transition(tx, &p, promote.EventSucceeded, reason, who.Name, now, nil)
	})
	if err != nil {
		return r, err
	}
	return out, nil
}

// RecordRolloutProgress stores one point of a rollout's history, for its
// chart, and the state of its analysis, its verdict and the progress of its
// step (promote.Rollout.AnalysisState, Verdict, StepRequests and
// StepNeeds) in the same transaction, so that the state a restarted
// controller resumes from is that of the last sample it stored (the
// step's requests included), and the verdict and progress that the API
// shows (promote rollout show and watch) are as recent as the sample
// rather than as the last step. Samples are telemetry, not decisions: they are not audited (the
// rollout's steps and end are). A sample without a time is taken now. A
// nil analysis state stores the sample alone. Like every write of the
// controller it goes through the leader's fence: a replica that lost the
// lease stores neither.
//
// revision is that of the rollout the analysis judged. The state is stored
// only while the rollout is still at it: when another writer saved the
// rollout since (a person paused, resumed or ended it through any
// replica), an older analysis must not be written over what they decided
// (the evidence a resumption cleared, say), so nothing is stored and the
// error is a *promote.RolloutChangedError. Storing the state does not
// change the revision, so samples never make people's operations
// conflict.
func (s *Service) RecordRolloutProgress(ctx context.Context, sample promote.RolloutSample, revision int64, p promote.RolloutProgress) error {
	if sample.At.IsZero() {
		sample.At = s.clock()
	}
	sample.At = sample.At.UTC()
	return s.update(ctx, func(tx promote.Tx) error {
		if err := tx.AppendRolloutSample(sample, promote.RolloutSamplesKept); err != nil {
			return err
		}
		if p.AnalysisState == nil {
			return nil
		}
		r, err := tx.Rollout(sample.PromotionID)
		if err != nil {
			return err
		}
		if r.Revision != revision {
			return &promote.RolloutChangedError{PromotionID: r.PromotionID, Read: revision, Stored: r.Revision}
		}
		if err := tx.SaveRolloutAnalysis(sample.PromotionID, p.AnalysisState, p.Verdict); err != nil {
			return err
		}
		return tx.SaveRolloutStep(sample.PromotionID, p.StepRequests, p.StepNeeds)
	})
}

// RolloutSamples lists the samples of a promotion's rollout, oldest first:
// the newest limit of them (0: all). NotFound when the promotion has no
// rollout.
func (s *Service) RolloutSamples(ctx context.Context, promotionID string, limit int) ([]promote.RolloutSample, error) {
	var out []promote.RolloutSample
	err := s.store.View(ctx, func(tx promote.Tx) error {
		if _, err := tx.Rollout(promotionID); err != nil {
			return err
		}
		var err error
		out, err = tx.RolloutSamples(promotionID, limit)
		return err
	})
	return out, err
}

// verdictReasons is the audit record of a rollout's state: its step,
// weight and reason, and the analysis's verdict, the evidence.
func verdictReasons(r promote.Rollout) json.RawMessage {
	raw, _ := json.Marshal(struct {
		Step    int             `json:"step"`
		Weight  float64         `json:"weight"`
		Reason  string          `json:"reason,omitempty"`
		Verdict json.RawMessage `json:"verdict,omitempty"`
	}{r.Step, r.Weight, r.Reason, r.Verdict})
	return raw
}
