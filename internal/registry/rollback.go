package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/textfit"
	"github.com/promote-ml/promote/promote"
)

// RollbackRequest asks to put an environment back on an earlier version.
type RollbackRequest struct {
	Model       string `json:"model"`
	Environment string `json:"environment"`
	// To is the version to return to; empty means the newest version that
	// was live in the environment before the current one and may still be
	// (not rejected, not on hold there).
	To string `json:"to,omitempty"`
	// Reason says why; it is required, and it is the commit's Reason.
	Reason string `json:"reason"`
	// NoHold leaves the rolled-back version without a hold: the rollout
	// controller's automatic rollback under a policy whose rollback.hold
	// is false. People's rollbacks always hold.
	NoHold bool `json:"-"`
	// Rollout, when set, is the rollout of the version being rolled back,
	// as it is to be stored (rolled back, weight 0, with its verdict): it
	// is saved, and audited as RolloutWhat ("rolled_back" when empty), in
	// the rollback's transaction, so that a crash never leaves the
	// environment rolled back and its rollout still running, or the
	// reverse. As with RecordRollout, its Revision is the one it was read
	// at: when another writer saved it since, nothing is done and the
	// error is a *promote.RolloutChangedError.
	Rollout     *promote.Rollout `json:"-"`
	RolloutWhat string           `json:"-"`
}

// RollbackView is what a rollback did.
type RollbackView struct {
	// Live is the alias after the rollback; its Commit is set once the
	// GitOps commit is on the branch.
	Live promote.Live `json:"live"`
	// RolledBack is the version that was live and is now on hold.
	RolledBack string       `json:"rolled_back"`
	Hold       promote.Hold `json:"hold"`
	// Promotion is the promotion of the rolled-back version that the
	// rollback ended, if one was still active.
	Promotion *promote.Promotion `json:"promotion,omitempty"`
	// GitOps says a GitOps commit follows: Live.Commit is set once it is
	// on the branch.
	GitOps bool `json:"gitops"`
	// Rollout is RollbackRequest.Rollout as stored, with its new revision.
	Rollout *promote.Rollout `json:"-"`
}

// maxReasonLen bounds a free-text reason.
const maxReasonLen = 1024

// Rollback moves the environment's live alias back to an earlier version
// and puts the version that was live on hold there, so that no automation
// promotes it again until a person clears the hold. An active promotion of
// that version ends: rolled back when it was committed or rolling out,
// cancelled when its commit had not landed. With GitOps the reconciler
// then commits the earlier version back, with Rollback-Of and Reason
// trailers. It takes the approver role; the rollout controller calls it
// for automatic rollbacks.
func (s *Service) Rollback(ctx context.Context, who promote.Principal, req RollbackRequest) (RollbackView, error) {
	if err := Authorize(who, promote.RoleApprover, "rolling back"); err != nil {
		return RollbackView{}, err
	}
	if err := validateNames("model name", req.Model); err != nil {
		return RollbackView{}, err
	}
	if _, err := s.cfg.Pipeline.Environment(req.Environment); err != nil {
		return RollbackView{}, s.goneEnvironment(ctx, req.Model, req.Environment, err)
	}
	if req.To != "" {
		if err := validateNames("version", req.To); err != nil {
			return RollbackView{}, err
		}
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if req.Reason == "" {
		return RollbackView{}, promote.Errorf(promote.Invalid, "a rollback needs a reason")
	}
	if req.Rollout == nil {
		if err := checkText("the reason", req.Reason, maxReasonLen); err != nil {
			return RollbackView{}, err
		}
	} else {
		// The end of a rollout: the reason is the controller's text (the
		// analysis's failed tests, the metric source's last error, which
		// quotes its PromQL), and the rollback must happen whatever its
		// length. Refused, it left the candidate neither reverted in Git
		// nor held, its rollout paused. It is cut instead.
		req.Reason = textfit.Cut(req.Reason, maxReasonLen)
	}
	if r := req.Rollout; r != nil && (r.Model != req.Model || r.Environment != req.Environment || r.State != promote.RolloutRolledBack) {
		return RollbackView{}, promote.Errorf(promote.Invalid, "the rollout given with a rollback of %s in %s is of %s in %s, %s: want this one's, rolled back",
			req.Model, req.Environment, r.Model, r.Environment, r.State)
	}
	view := RollbackView{GitOps: s.cfg.GitOps}
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		now := s.clock()
		live, err := tx.Live(req.Model)
		if err != nil {
			return err
		}
		cur, ok := live[req.Environment]
		if !ok {
			return promote.Errorf(promote.Conflict, "%s has no live version in %s: there is nothing to roll back", req.Model, req.Environment)
		}
		if req.Rollout != nil && req.Rollout.Version != cur.Version {
			return promote.Errorf(promote.Conflict, "the rollout of %s %s in %s cannot roll back: %s is live there", req.Model, req.Rollout.Version, req.Environment, cur.Version)
		}
		to, err := s.rollbackTarget(tx, cur, req.To)
		if err != nil {
			return err
		}
		view.RolledBack = cur.Version
		msg := fmt.Sprintf("rolled back by %s: %s", who.Name, req.Reason)
		active, err := tx.Promotions(promote.PromotionFilter{Model: req.Model, Environment: req.Environment, ActiveOnly: true, Limit: 1})
		if err != nil {
			return err
		}
		if len(active) == 1 && active[0].Version == cur.Version && !active[0].State.Queued() {
			p := active[0]
			ev := promote.EventRolledBack
			if p.State == promote.StateApproved {
				ev = promote.EventCancelled
			}
			if err := s.transition(tx, &p, ev, msg, who.Name, now, nil); err != nil {
				return err
			}
			view.Promotion = &p
		}
		view.Live = promote.Live{Model: req.Model, Environment: req.Environment, Version: to.Version, PromotionID: newID("rb_"),
			SetBy: who.Name, SetAt: now, Reason: req.Reason, RollbackOf: cur.Version}
		if err := tx.SetLive(view.Live); err != nil {
			return err
		}
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionRolledBack, Model: req.Model,
			Version: to.Version, Environment: req.Environment, PromotionID: view.Live.PromotionID, Digest: to.Digest,
			Decision: "rolled_back", Reasons: reasonsJSON(fmt.Sprintf("%s replaces %s: %s", to.Version, cur.Version, req.Reason))}); err != nil {
			return err
		}
		if req.Rollout == nil && view.Promotion != nil {
			// A person's rollback of a version that is rolling out ends
			// its rollout too, recorded after the rollback as the
			// controller's is: left running, the controller would go on
			// giving the candidate its weight, and raise it, until the
			// rollback's commit lands.
			if err := endRollout(tx, view.Promotion.ID, msg, who.Name, now); err != nil {
				return err
			}
		}
		if req.Rollout != nil {
			r := *req.Rollout
			if err := saveRollout(tx, &r, now); err != nil {
				return err
			}
			what := req.RolloutWhat
			if what == "" {
				what = "rolled_back"
			}
			if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionRolloutStep, Model: r.Model,
				Version: r.Version, Environment: r.Environment, PromotionID: r.PromotionID, Decision: what, Reasons: verdictReasons(r)}); err != nil {
				return err
			}
			view.Rollout = &r
		}
		if req.NoHold {
			return nil
		}
		view.Hold, err = s.addHold(tx, promote.Hold{Model: req.Model, Version: cur.Version, Environment: req.Environment,
			Reason: fmt.Sprintf("rolled back to %s by %s: %s", to.Version, who.Name, req.Reason), SetBy: who.Name, SetAt: now})
		return err
	})
	if err != nil {
		return RollbackView{}, err
	}
	s.changed(req.Model, req.Environment)
	return view, nil
}

// rollbackTarget returns the version a rollback from cur goes to: want, or
// by default the newest version live in the environment before cur that is
// neither rejected nor on hold there and whose change was not undone
// before it reached the branch.
func (s *Service) rollbackTarget(tx promote.Tx, cur promote.Live, want string) (promote.Version, error) {
	usable := func(v promote.Version) (string, error) {
		if v.Rejected {
			return fmt.Sprintf("version %s was rejected by %s: %s", v.Version, v.RejectedBy, v.RejectReason), nil
		}
		holds, err := tx.Holds(promote.HoldFilter{Model: v.Model, Version: v.Version, Environment: cur.Environment, Limit: 1})
		if err != nil {
			return "", err
		}
		if len(holds) > 0 {
			return fmt.Sprintf("version %s is on hold in %s (hold %d): %s", v.Version, cur.Environment, holds[0].ID, holds[0].Reason), nil
		}
		return "", nil
	}
	if want != "" {
		if want == cur.Version {
			return promote.Version{}, promote.Errorf(promote.Conflict, "%s %s is live in %s already", cur.Model, want, cur.Environment)
		}
		v, err := tx.Version(cur.Model, want)
		if err != nil {
			return promote.Version{}, err
		}
		why, err := usable(v)
		if err != nil {
			return promote.Version{}, err
		}
		if why != "" {
			return promote.Version{}, promote.Errorf(promote.Blocked, "cannot roll back to it: %s", why)
		}
		return v, nil
	}
	// The versions once live there, newest first, each read by its
	// newest change: the one before those seen already.
	seen := []string{cur.Version}
	for {
		prev, err := tx.LiveChanges(promote.LiveFilter{Model: cur.Model, Environment: cur.Environment, ExceptVersions: seen, Limit: 1})
		if err != nil {
			return promote.Version{}, err
		}
		if len(prev) == 0 {
			break
		}
		l := prev[0]
		seen = append(seen, l.Version)
		if s.cfg.GitOps {
			delivered, err := tx.LiveChanges(promote.LiveFilter{Model: l.Model, Environment: l.Environment, Version: l.Version, Committed: true, Limit: 1})
			if err != nil {
				return promote.Version{}, err
			}
			if len(delivered) == 0 {
				continue // it never reached the branch
			}
		}
		v, err := tx.Version(l.Model, l.Version)
		if err != nil {
			return promote.Version{}, err
		}
		why, err := usable(v)
		if err != nil {
			return promote.Version{}, err
		}
		if why == "" {
			return v, nil
		}
	}
	return promote.Version{}, promote.Errorf(promote.Conflict, "no earlier version of %s that may go live was live in %s; name one with --to", cur.Model, cur.Environment)
}

// rollbackPending refuses, with GitOps, to move the live alias of model in
// env while it holds a rollback whose commit is not on the branch yet (the
// remote refused the push, or could not be reached): the reconciler
// commits only what is live, so a promotion made live then would be
// committed in the rollback's place, and the branch would never record
// the rollback, its reason or the version it replaced.
func (s *Service) rollbackPending(tx promote.Tx, model, env string) error {
	if !s.cfg.GitOps {
		return nil
	}
	live, err := tx.Live(model)
	if err != nil {
		return err
	}
	cur, ok := live[env]
	if !ok || cur.RollbackOf == "" || cur.Commit != "" {
		return nil
	}
	return promote.Errorf(promote.Conflict, "the rollback of %s in %s from %s to %s (%s) is not on the GitOps branch yet; try again once its commit lands",
		model, env, cur.RollbackOf, cur.Version, cur.PromotionID)
}

// endRollout records the active rollout of promotion id, if it has one,
// as rolled back by a rollback that did not come from it (a person's), at
// weight 0 and with why, audited as its record is when the controller
// rolls back; the controller then gives it the end's traffic.
func endRollout(tx promote.Tx, id, why, actor string, now time.Time) error {
	r, err := tx.Rollout(id)
	if promote.ErrorCode(err) == promote.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if !r.State.Active() {
		return nil
	}
	r.State, r.Reason, r.Weight = promote.RolloutRolledBack, why, 0
	if err := saveRollout(tx, &r, now); err != nil {
		return err
	}
	return audit(tx, promote.AuditEvent{Time: now, Actor: actor, Action: promote.ActionRolloutStep, Model: r.Model,
		Version: r.Version, Environment: r.Environment, PromotionID: r.PromotionID, Decision: "rolled_back", Reasons: verdictReasons(r)})
}
