package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// GitOpsActor is the actor of the audit events the GitOps reconciler's
// reports write.
const GitOpsActor = "gitops"

// changed tells the reconciler (Config.Changed) that a live alias moved.
func (s *Service) changed(model, env string) {
	if s.cfg.Changed != nil {
		s.cfg.Changed(model, env)
	}
}

// Deployments lists what the registry wants deployed: the live versions of
// model (every model when "") in env (every environment of the pipeline
// when ""), with their artifacts and what the GitOps commit records. It is
// what the GitOps reconciler compares with the overlays.
func (s *Service) Deployments(ctx context.Context, model, env string) ([]promote.Deployment, error) {
	if env != "" {
		if _, err := s.cfg.Pipeline.Environment(env); err != nil {
			return nil, err
		}
	}
	var out []promote.Deployment
	err := s.store.View(ctx, func(tx promote.Tx) error {
		models := []string{model}
		if model == "" {
			list, err := promote.AllModels(tx)
			if err != nil {
				return err
			}
			models = models[:0]
			for _, m := range list {
				models = append(models, m.Name)
			}
		}
		for _, m := range models {
			live, err := tx.Live(m)
			if err != nil {
				return err
			}
			for _, e := range s.cfg.Pipeline.Names() {
				l, ok := live[e]
				if !ok || (env != "" && e != env) {
					continue
				}
				d, err := deployment(tx, l)
				if err != nil {
					return err
				}
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}

// deployment completes a live alias with its artifact and, when a
// promotion set it, the promotion's approvers and gate verdict.
func deployment(tx promote.Tx, l promote.Live) (promote.Deployment, error) {
	v, err := tx.Version(l.Model, l.Version)
	if err != nil {
		return promote.Deployment{}, err
	}
	d := promote.Deployment{Live: l, Digest: v.Digest, URI: v.ArtifactURI}
	if l.RollbackOf != "" || l.PromotionID == "" {
		return d, nil
	}
	p, err := tx.Promotion(l.PromotionID)
	if promote.ErrorCode(err) == promote.NotFound {
		return d, nil
	}
	if err != nil {
		return promote.Deployment{}, err
	}
	approvals, err := tx.Approvals(p.ID)
	if err != nil {
		return promote.Deployment{}, err
	}
	d.ApprovedBy = approverNames(approvals)
	d.Gate = gateSummary(p.Decision)
	return d, nil
}

// gateSummary says a gate's verdict in a few words: "allowed: 6 passed,
// 1 warned".
func gateSummary(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var d policy.Decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return ""
	}
	verdict := "blocked"
	if d.Allowed {
		verdict = "allowed"
	}
	parts := []string{fmt.Sprintf("%d passed", d.Summary.Pass)}
	for _, c := range []struct {
		n    int
		what string
	}{{d.Summary.Warn, "warned"}, {d.Summary.Fail, "failed"}, {d.Summary.Error, "in error"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return verdict + ": " + strings.Join(parts, ", ")
}

// Delivered records that d is on the deployed branch at commit: the alias
// carries the commit, and the promotion that set it, when it is waiting
// for its commit, is committed and (until progressive delivery takes
// over) succeeds. A change the alias has moved on from since is recorded
// in the audit trail only. A change recorded already at another commit
// (d.Commit), which the reconciler committed again because the branch had
// stopped pinning it, gets the new commit, and its audit event names the
// one before.
func (s *Service) Delivered(ctx context.Context, d promote.Deployment, commit string) error {
	if commit == "" {
		return promote.Errorf(promote.Invalid, "no commit for %s %s in %s", d.Model, d.Version, d.Environment)
	}
	var rollout string
	err := s.update(ctx, func(tx promote.Tx) error {
		now := s.clock()
		err := tx.SetLiveCommit(d.Model, d.Environment, d.PromotionID, commit)
		moved := promote.ErrorCode(err) == promote.Conflict
		if err != nil && !moved {
			return err
		}
		reason := "commit " + commit
		if d.Commit != "" && d.Commit != commit {
			reason += fmt.Sprintf(", again: the branch no longer pinned the change of commit %s (edited by hand, or its history rewritten)", d.Commit)
		}
		if moved {
			reason += "; the alias has moved on since"
		}
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: GitOpsActor, Action: promote.ActionCommitted, Model: d.Model,
			Version: d.Version, Environment: d.Environment, PromotionID: d.PromotionID, Digest: d.Digest,
			Decision: "committed", Reasons: reasonsJSON(reason)}); err != nil {
			return err
		}
		if moved || d.RollbackOf != "" {
			return nil
		}
		p, err := tx.Promotion(d.PromotionID)
		if promote.ErrorCode(err) == promote.NotFound {
			return nil
		}
		if err != nil || p.State != promote.StateApproved {
			return err
		}
		if err := s.transition(tx, &p, promote.EventCommitted, "committed "+shortHash(commit), GitOpsActor, now, nil); err != nil {
			return err
		}
		if s.progressive(p) {
			rollout = p.ID
			return nil
		}
		return s.transition(tx, &p, promote.EventSucceeded, "", GitOpsActor, now, nil)
	})
	if err == nil && rollout != "" && s.cfg.RolloutCue != nil {
		s.cfg.RolloutCue(rollout)
	}
	return err
}

// SetCommitError records why the last attempt to commit d failed, so that
// a person sees it beside the change that waits for its commit (the
// model's status, the web UI); an empty message clears it, as the commit
// does when it lands. It is not audited: the attempts are retried every few
// seconds, and a change that cannot be carried out at all is audited by
// Undeliverable. A change the alias has moved on from, or that is
// committed already, is left alone.
func (s *Service) SetCommitError(ctx context.Context, d promote.Deployment, message string) error {
	message = strings.TrimSpace(message)
	err := s.update(ctx, func(tx promote.Tx) error {
		return tx.SetLiveCommitError(d.Model, d.Environment, d.PromotionID, message, s.clock())
	})
	if c := promote.ErrorCode(err); c == promote.Conflict || c == promote.NotFound {
		return nil
	}
	return err
}

// progressive reports whether a rollout controller carries p out: its
// environment rolls out by canary or shadow. (Without a baseline the
// controller gives the candidate all traffic at once: there is nothing to
// compare it with.)
func (s *Service) progressive(p promote.Promotion) bool {
	if !s.cfg.Rollouts {
		return false
	}
	e, err := s.cfg.Pipeline.Environment(p.Environment)
	return err == nil && (e.Strategy == "canary" || e.Strategy == "shadow")
}

// Undeliverable records that d cannot be carried out (its overlay does not
// render, does not declare the model, or its pull request was closed): the
// promotion that set it fails with reason, and the alias returns to the
// last version that reached the branch, or is cleared when none did. A
// change the alias has moved on from since is left alone.
func (s *Service) Undeliverable(ctx context.Context, d promote.Deployment, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "the change could not be committed"
	}
	var restored bool
	err := s.update(ctx, func(tx promote.Tx) error {
		now := s.clock()
		live, err := tx.Live(d.Model)
		if err != nil {
			return err
		}
		cur, ok := live[d.Environment]
		if !ok || cur.PromotionID != d.PromotionID || cur.Commit != "" {
			return nil
		}
		if cur.RollbackOf != "" {
			return s.rollbackUndeliverable(tx, d, reason, now)
		}
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: GitOpsActor, Action: promote.ActionUndeliverable, Model: d.Model,
			Version: d.Version, Environment: d.Environment, PromotionID: d.PromotionID, Digest: d.Digest,
			Decision: "failed", Reasons: reasonsJSON(reason)}); err != nil {
			return err
		}
		if restored, err = s.restoreAlias(tx, cur, reason, now); err != nil {
			return err
		}
		p, err := tx.Promotion(d.PromotionID)
		if promote.ErrorCode(err) == promote.NotFound {
			return nil
		}
		if err != nil || p.State != promote.StateApproved {
			return err
		}
		return s.transition(tx, &p, promote.EventFailed, reason, GitOpsActor, now, nil)
	})
	if err == nil && restored {
		s.changed(d.Model, d.Environment)
	}
	return err
}

// rollbackUndeliverable records that the commit of d, a rollback, cannot
// be carried out for now, and leaves the alias on the version rolled back
// to: restoring the last version on the branch would make the version the
// rollback took away (held, failed) live again, and nothing would commit
// the rollback once a person repaired the overlay. The reconciler tries
// again; the failure is audited once per reason, not at every try.
func (s *Service) rollbackUndeliverable(tx promote.Tx, d promote.Deployment, reason string, now time.Time) error {
	reasons := reasonsJSON(reason)
	last, err := tx.AuditEvents(promote.AuditFilter{PromotionID: d.PromotionID, Limit: 1})
	if err != nil {
		return err
	}
	if len(last) == 1 && last[0].Action == promote.ActionUndeliverable {
		// Compared decoded: a store may keep JSON in its own form.
		var was []string
		if json.Unmarshal(last[0].Reasons, &was) == nil && slices.Equal(was, []string{reason}) {
			return nil
		}
	}
	return audit(tx, promote.AuditEvent{Time: now, Actor: GitOpsActor, Action: promote.ActionUndeliverable, Model: d.Model,
		Version: d.Version, Environment: d.Environment, PromotionID: d.PromotionID, Digest: d.Digest,
		Decision: "failed", Reasons: reasons})
}

// restoreAlias undoes cur, a change of a live alias that never reached the
// deployed branch: the alias returns to the last version that did, or is
// cleared when none did. It reports whether it changed the alias; a change
// already committed is left alone.
func (s *Service) restoreAlias(tx promote.Tx, cur promote.Live, reason string, now time.Time) (bool, error) {
	if cur.Commit != "" {
		return false, nil
	}
	// The newest change on the branch: those above it never reached it.
	last, err := tx.LiveChanges(promote.LiveFilter{Model: cur.Model, Environment: cur.Environment, Committed: true, ExceptPromotionID: cur.PromotionID, Limit: 1})
	if err != nil {
		return false, err
	}
	decision := "cleared"
	if len(last) == 1 {
		prev := last[0].Live
		prev.SetBy, prev.SetAt, prev.Reason = GitOpsActor, now, "restored: "+reason
		if err := tx.SetLive(prev); err != nil {
			return false, err
		}
		decision = "restored"
	} else if err := tx.ClearLive(cur.Model, cur.Environment); err != nil {
		return false, err
	}
	return true, audit(tx, promote.AuditEvent{Time: now, Actor: GitOpsActor, Action: promote.ActionLiveChanged, Model: cur.Model,
		Version: cur.Version, Environment: cur.Environment, PromotionID: cur.PromotionID,
		Decision: decision, Reasons: reasonsJSON(reason)})
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
