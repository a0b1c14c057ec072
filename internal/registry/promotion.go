package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// PromoteRequest asks for a version of a model to enter an environment.
type PromoteRequest struct {
	Model       string `json:"model"`
	Version     string `json:"version"`
	Environment string `json:"environment"`
	// Override lets an admin promote through a freeze window; Reason must
	// then say why. The override is audited.
	Override bool   `json:"override,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Note is the requester's note for the approvers (what changed, what
	// to look at), kept with the promotion and recorded in its request's
	// audit event; at most maxNoteLen characters.
	Note string `json:"note,omitempty"`
	// DryRun asks what the request would get now — the preconditions and
	// the gate against the live version — and records nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// PromotionView is a promotion with its approvals and the gate's decision.
type PromotionView struct {
	promote.Promotion
	Approvals []promote.Approval `json:"approvals"`
	Gate      *policy.Decision   `json:"gate,omitempty"`
	// DryRun marks the answer to a dry run: a promotion that was not
	// recorded (it has no ID), in the state the request would have put it.
	DryRun bool `json:"dry_run,omitempty"`
	// OnApproval is, while the promotion can be approved (gated or
	// awaiting approval), what approving it sets going: the overlay
	// committed and how the version takes traffic.
	OnApproval *Plan `json:"on_approval,omitempty"`
}

// precondition is a reason a promotion cannot be gated at all; it is
// recorded as a blocked promotion, like a gate failure. One that holds
// (met) is shown among the gate's results as passed, for whoever decides:
// a soak time served.
type precondition struct {
	rule, message string
	met           bool
	// until, for one not met, is the earliest moment it may hold by time
	// alone (a soak's end, a freeze window's start or end); zero when
	// only a person or another promotion can make it hold.
	until time.Time
}

// RequestPromotion records a request and decides it: the target
// environment's gate runs against the version live there now (the
// baseline). A request that fails a precondition (a hold, a rejected
// version, the upstream environment not passed or not soaked long enough, a
// freeze) or the gate is recorded as blocked; one that needs approvals
// waits for them; one that needs none completes, and the version goes live.
// A queued promotion of the same model and environment is superseded; one
// that is approved or rolling out is a Conflict.
//
// With DryRun set it records nothing and answers what the request would get
// now; a viewer may ask, since it changes nothing and shows nothing a
// viewer cannot read.
func (s *Service) RequestPromotion(ctx context.Context, who promote.Principal, req PromoteRequest) (PromotionView, error) {
	need, action := promote.RoleSubmitter, "requesting a promotion"
	if req.DryRun {
		need, action = promote.RoleViewer, "a dry run of a promotion"
	}
	if err := Authorize(who, need, action); err != nil {
		return PromotionView{}, err
	}
	if err := validateNames("model name", req.Model, "version", req.Version); err != nil {
		return PromotionView{}, err
	}
	if err := checkText("the note", req.Note, maxNoteLen); err != nil {
		return PromotionView{}, err
	}
	env, err := s.cfg.Pipeline.Environment(req.Environment)
	if err != nil {
		return PromotionView{}, err
	}
	if req.Override {
		if err := Authorize(who, promote.RoleAdmin, "overriding a freeze"); err != nil {
			return PromotionView{}, err
		}
		if strings.TrimSpace(req.Reason) == "" {
			return PromotionView{}, promote.Errorf(promote.Invalid, "a freeze override needs a reason")
		}
		if err := checkText("the override's reason", req.Reason, maxReasonLen); err != nil {
			return PromotionView{}, err
		}
	} else if req.Reason != "" {
		// Only an override records its reason: one given without it would
		// be dropped, unbounded and unseen, while its author takes it for
		// recorded.
		return PromotionView{}, promote.Errorf(promote.Invalid, "a reason is recorded only with override (a freeze override); leave it out, or set override")
	}
	if req.DryRun {
		return s.dryRun(ctx, who, req, env.Name)
	}
	var view PromotionView
	err = s.updateAs(ctx, who, func(tx promote.Tx) (err error) {
		view, err = s.request(tx, who, req, env.Name, s.clock())
		return err
	})
	return s.afterDecide(view, err)
}

// request records a checked request of who's in tx and decides it, as
// RequestPromotion describes; automatic promotion (AutoPromote) makes its
// requests through it too, so that they meet the same gate.
func (s *Service) request(tx promote.Tx, who promote.Principal, req PromoteRequest, env string, now time.Time) (PromotionView, error) {
	p, decision, rec, err := s.judgeRequest(tx, who, req, env, now)
	if err != nil {
		return PromotionView{}, err
	}
	override := p.Override
	blocked := !decision.Allowed && !onlyApprovalsMissing(decision)
	if blocked {
		// A blocked request is recorded as such and leaves the slot
		// alone: it supersedes nothing.
		p.State = promote.StateBlocked
	} else if err := s.supersede(tx, p, now, who); err != nil {
		return PromotionView{}, err
	}
	// Answered with its cursor, as a read or a listing shows it.
	seq, err := tx.CreatePromotion(p)
	if err != nil {
		return PromotionView{}, err
	}
	p.Seq = seq
	if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionPromotionRequested,
		Model: p.Model, Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: p.Digest,
		Decision: string(promote.StateRequested), Note: p.Note}); err != nil {
		return PromotionView{}, err
	}
	if override {
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionFreezeOverride,
			Model: p.Model, Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: p.Digest,
			Decision: "override", Reasons: reasonsJSON(req.Reason)}); err != nil {
			return PromotionView{}, err
		}
	}
	if blocked {
		return s.recordBlocked(tx, p, decision, rec, who, now)
	}
	return s.decide(tx, p, decision, rec, nil, who, now)
}

// gateRecord is what the audit events of a gate's decision record beside
// its results: the policy that decided, and the digests of the metrics it
// judged.
type gateRecord struct {
	policy  *promote.AuditPolicy
	metrics *promote.AuditMetrics
}

// gateRecord names, for the audit log, the policy of env's gate by file
// and digest (nil when there is none) and the evidence it judged, v's
// and baseline's (nil when there is no baseline), by their metrics
// digests: every promotion state the gate decides records them, so that
// the log shows which version of the policy made each decision, and on
// which metrics.
func (s *Service) gateRecord(env string, v, baseline *promote.Version) (gateRecord, error) {
	var rec gateRecord
	if g := s.cfg.Gates[env]; g != nil && g.Digest != "" {
		rec.policy = &promote.AuditPolicy{File: g.Source, Name: g.Policy, Digest: g.Digest}
	}
	digest := func(v *promote.Version) (string, error) {
		d, err := evidence(v).Digest()
		if err != nil {
			return "", fmt.Errorf("the metrics of %s %s: %w", v.Model, v.Version, err)
		}
		return d, nil
	}
	c, err := digest(v)
	if err != nil {
		return gateRecord{}, err
	}
	rec.metrics = &promote.AuditMetrics{Candidate: c}
	if baseline != nil {
		if rec.metrics.Baseline, err = digest(baseline); err != nil {
			return gateRecord{}, err
		}
	}
	return rec, nil
}

// recordBlocked stores the decision of a promotion created blocked and
// audits it as the transition it is.
func (s *Service) recordBlocked(tx promote.Tx, p promote.Promotion, d *policy.Decision, rec gateRecord, who promote.Principal, now time.Time) (PromotionView, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return PromotionView{}, fmt.Errorf("encode decision: %w", err)
	}
	p.Decision, p.Reason = raw, blockMessage(d)
	if err := tx.UpdatePromotion(p); err != nil {
		return PromotionView{}, err
	}
	reasons, _ := json.Marshal(d.Results)
	if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionPromotionState, Model: p.Model,
		Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: p.Digest, Decision: string(p.State), Reasons: reasons,
		Policy: rec.policy, Metrics: rec.metrics}); err != nil {
		return PromotionView{}, err
	}
	return PromotionView{Promotion: p, Approvals: []promote.Approval{}, Gate: d}, nil
}

// judgeRequest builds the promotion a request makes and decides it: its
// preconditions, then the environment's gate against the version live
// there now. It writes nothing.
func (s *Service) judgeRequest(tx promote.Tx, who promote.Principal, req PromoteRequest, env string, now time.Time) (promote.Promotion, *policy.Decision, gateRecord, error) {
	v, err := tx.Version(req.Model, req.Version)
	if err != nil {
		return promote.Promotion{}, nil, gateRecord{}, err
	}
	p := promote.Promotion{
		ID: newID("pr_"), Model: v.Model, Version: v.Version, Environment: env, Digest: v.Digest,
		State: promote.StateRequested, RequestedBy: who.Name, RequestedAt: now, UpdatedAt: now, Note: req.Note,
	}
	live, err := tx.Live(v.Model)
	if err != nil {
		return promote.Promotion{}, nil, gateRecord{}, err
	}
	var baseline *promote.Version
	if l, ok := live[env]; ok {
		p.Baseline = l.Version
		b, err := tx.Version(v.Model, l.Version)
		if err != nil {
			return promote.Promotion{}, nil, gateRecord{}, err
		}
		baseline = &b
	}
	pre, override, err := s.preconditions(tx, v, env, req, now)
	if err != nil {
		return promote.Promotion{}, nil, gateRecord{}, err
	}
	p.Override = override
	rec, err := s.gateRecord(env, &v, baseline)
	if err != nil {
		return promote.Promotion{}, nil, gateRecord{}, err
	}
	return p, s.evaluate(s.cfg.Gates[env], &v, baseline, nil, who.Name, pre), rec, nil
}

// dryRun answers a request with DryRun set: the promotion it would make, in
// the state it would be put in (blocked, awaiting approval, or approved to
// go live), with the gate's decision. Nothing is recorded: no promotion, no
// audit event, no webhook. A request that would be refused (an approved or
// rolling-out promotion holds the environment, or, for one that would go
// live at once, a rollback's commit has not landed) is refused the same way.
func (s *Service) dryRun(ctx context.Context, who promote.Principal, req PromoteRequest, env string) (PromotionView, error) {
	var view PromotionView
	err := s.store.View(ctx, func(tx promote.Tx) error {
		now := s.clock()
		p, decision, _, err := s.judgeRequest(tx, who, req, env, now)
		if err != nil {
			return err
		}
		p.ID = ""
		switch {
		case !decision.Allowed && !onlyApprovalsMissing(decision):
			p.State = promote.StateBlocked
			p.Reason = blockMessage(decision)
		default:
			active, err := tx.Promotions(promote.PromotionFilter{Model: p.Model, Environment: p.Environment, ActiveOnly: true, Limit: 1})
			if err != nil {
				return err
			}
			if len(active) > 0 && !active[0].State.Queued() {
				return holdsSlot(active[0])
			}
			p.State = promote.StateApproved
			if !decision.Allowed {
				p.State, p.Reason = promote.StateAwaitingApproval, approvalsMessage(decision)
			} else if err := s.rollbackPending(tx, p.Model, p.Environment); err != nil {
				// The request would go live at once, which complete
				// refuses while a rollback's commit has not landed.
				return err
			}
		}
		view = PromotionView{Promotion: p, Approvals: []promote.Approval{}, Gate: decision, DryRun: true}
		return nil
	})
	return view, err
}

// supersede cancels a queued promotion holding the same slot as p, or
// refuses when the slot's promotion is past approval.
func (s *Service) supersede(tx promote.Tx, p promote.Promotion, now time.Time, who promote.Principal) error {
	active, err := tx.Promotions(promote.PromotionFilter{Model: p.Model, Environment: p.Environment, ActiveOnly: true, Limit: 1})
	if err != nil || len(active) == 0 {
		return err
	}
	old := active[0]
	if !old.State.Queued() {
		return holdsSlot(old)
	}
	return s.transition(tx, &old, promote.EventSuperseded, fmt.Sprintf("superseded by %s (version %s)", p.ID, p.Version), who.Name, now, nil)
}

// holdsSlot is the Conflict of a request while old, approved or rolling
// out, holds its model and environment.
func holdsSlot(old promote.Promotion) error {
	return promote.Errorf(promote.Conflict, "promotion %s of %s %s to %s is %s; wait for it to finish or roll it back",
		old.ID, old.Model, old.Version, old.Environment, old.State)
}

// preconditions lists what keeps v from entering env before any gate: a
// rejection, a hold, the upstream environment, soak time and freezes. It
// reports whether a freeze was overridden.
func (s *Service) preconditions(tx promote.Tx, v promote.Version, env string, req PromoteRequest, now time.Time) ([]precondition, bool, error) {
	var pre []precondition
	if v.Rejected {
		pre = append(pre, precondition{rule: "not_rejected", message: fmt.Sprintf("version %s was rejected by %s: %s", v.Version, v.RejectedBy, v.RejectReason)})
	}
	holds, err := tx.Holds(promote.HoldFilter{Model: v.Model, Version: v.Version, Environment: env})
	if err != nil {
		return nil, false, err
	}
	for _, h := range holds {
		pre = append(pre, precondition{rule: "no_hold", message: fmt.Sprintf("version %s is on hold in %s since %s (hold %d, set by %s): %s; a person must clear it", v.Version, env, h.SetAt.Format(time.RFC3339), h.ID, h.SetBy, h.Reason)})
	}
	e, _ := s.cfg.Pipeline.Environment(env)
	if e.From != "" {
		done, err := tx.Promotions(promote.PromotionFilter{Model: v.Model, Version: v.Version, Environment: e.From, States: []promote.State{promote.StateSucceeded}, Limit: 1})
		if err != nil {
			return nil, false, err
		}
		var rolledBack *promote.Live
		if len(done) > 0 {
			if rolledBack, err = rolledBackSince(tx, v, e.From, done[0].UpdatedAt); err != nil {
				return nil, false, err
			}
		}
		var underWay []promote.Promotion
		if len(done) == 0 {
			underWay, err = tx.Promotions(promote.PromotionFilter{Model: v.Model, Version: v.Version, Environment: e.From, ActiveOnly: true, Limit: 1})
			if err != nil {
				return nil, false, err
			}
		}
		switch {
		case len(underWay) > 0:
			// Said apart, with the promotion, for the request made a
			// moment too early (the upstream one awaits its approval, or
			// its commit): it is to be made again, not investigated.
			up := underWay[0]
			pre = append(pre, precondition{rule: "upstream", message: fmt.Sprintf("version %s has not succeeded yet in %s, which comes before %s: its promotion %s there is %s; request %s again once it has succeeded",
				v.Version, e.From, env, up.ID, up.State, env)})
		case len(done) == 0:
			pre = append(pre, precondition{rule: "upstream", message: fmt.Sprintf("version %s has not succeeded in %s, which comes before %s", v.Version, e.From, env)})
		case rolledBack != nil:
			pre = append(pre, precondition{rule: "upstream", message: fmt.Sprintf("version %s was rolled back in %s, which comes before %s, at %s by %s: %s; it must succeed there again",
				v.Version, e.From, env, rolledBack.SetAt.Format(time.RFC3339), rolledBack.SetBy, rolledBack.Reason)})
		case e.Soak > 0 && now.Sub(done[0].UpdatedAt) < e.Soak:
			left := e.Soak - now.Sub(done[0].UpdatedAt)
			// The moment it may go, not only how long is left: the message
			// is read later, in the promotion's reason and the web UI. It
			// is rounded up so as never to name a moment still too early.
			from := done[0].UpdatedAt.Add(e.Soak)
			if from.Nanosecond() != 0 {
				from = from.Truncate(time.Second).Add(time.Second)
			}
			pre = append(pre, precondition{rule: "soak", until: done[0].UpdatedAt.Add(e.Soak), message: fmt.Sprintf("version %s has soaked in %s for %s of the %s required: it may enter %s from %s (%s to go)", v.Version, e.From,
				now.Sub(done[0].UpdatedAt).Round(time.Second), e.Soak, env, from.UTC().Format(time.RFC3339), left.Round(time.Second))})
		case e.Soak > 0:
			pre = append(pre, precondition{rule: "soak", met: true, message: fmt.Sprintf("version %s has soaked in %s for %s, at least the %s required (succeeded there at %s)", v.Version, e.From,
				now.Sub(done[0].UpdatedAt).Round(time.Second), e.Soak, done[0].UpdatedAt.UTC().Format(time.RFC3339))})
		}
	}
	override := false
	if frozen, why := e.Frozen(now); frozen {
		if req.Override {
			override = true
		} else {
			pre = append(pre, precondition{rule: "freeze", until: e.NextFreezeChange(now), message: why + "; an admin may override with a reason"})
		}
	}
	return pre, override, nil
}

// rolledBackSince returns the newest rollback that took v out of env at or
// after since (its last success there), or nil. A version rolled back out
// of an environment has not passed it, though its promotion there
// succeeded before the rollback. It reads the newest rollback of v there
// alone: any other is older.
func rolledBackSince(tx promote.Tx, v promote.Version, env string, since time.Time) (*promote.Live, error) {
	rollbacks, err := tx.LiveChanges(promote.LiveFilter{Model: v.Model, Environment: env, RollbackOf: v.Version, Limit: 1})
	if err != nil || len(rollbacks) == 0 || rollbacks[0].SetAt.Before(since) {
		return nil, err
	}
	return &rollbacks[0].Live, nil
}

// evaluate runs the gate for v against baseline with the given approvals,
// and puts any preconditions first as failed results. The version's
// signature is verified again, against the keys the pipeline trusts now.
func (s *Service) evaluate(gate *policy.Gate, v, baseline *promote.Version, approvals []promote.Approval, requestedBy string, pre []precondition) *policy.Decision {
	in := policy.Input{
		Candidate:   evidence(v),
		RequestedBy: requestedBy,
	}
	c := s.checkSignatures(v)
	in.Signed, in.SignatureNote = c.Trusted, c.Note
	if baseline != nil {
		in.Baseline = evidence(baseline)
	}
	for _, a := range approvals {
		if a.Approve {
			in.Approvers = append(in.Approvers, policy.Approver{Name: a.Approver, Roles: includedRoles(a.Roles)})
		}
	}
	d := gate.Evaluate(in)
	if len(pre) > 0 {
		results := make([]policy.Result, 0, len(pre)+len(d.Results))
		for _, p := range pre {
			r := policy.Result{Rule: p.rule, Kind: policy.KindRequire, Status: policy.StatusFail, Severity: policy.SeverityBlock, Message: p.message}
			if p.met {
				r.Status = policy.StatusPass
				d.Summary.Pass++
			} else {
				d.Summary.Fail++
				d.Allowed = false
			}
			results = append(results, r)
		}
		d.Results = append(results, d.Results...)
	}
	return d
}

func evidence(v *promote.Version) *policy.Evidence {
	return &policy.Evidence{File: v.Model + " " + v.Version, Metrics: v.Metrics, Checks: v.Checks, Groups: v.Groups}
}

// onlyApprovalsMissing reports whether every blocking result is the
// approvals rule: the promotion then waits for approvers.
func onlyApprovalsMissing(d *policy.Decision) bool {
	blocking := d.Blocking()
	for _, r := range blocking {
		if r.Kind != policy.KindApprovals {
			return false
		}
	}
	return len(blocking) > 0
}

// decide moves a gated promotion according to the decision and records it.
func (s *Service) decide(tx promote.Tx, p promote.Promotion, d *policy.Decision, rec gateRecord, approvals []promote.Approval, who promote.Principal, now time.Time) (PromotionView, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return PromotionView{}, fmt.Errorf("encode decision: %w", err)
	}
	p.Decision = raw
	reasons, _ := json.Marshal(d.Results)
	switch {
	case d.Allowed:
		if p.State == promote.StateRequested {
			if err := s.transitionBy(tx, &p, promote.EventGatePassed, "", who.Name, now, reasons, rec); err != nil {
				return PromotionView{}, err
			}
		}
		why := "allowed by the gate; no approval needed"
		if names := approverNames(approvals); len(names) > 0 {
			why = "approved by " + strings.Join(names, ", ")
		}
		if err := s.transitionBy(tx, &p, promote.EventApproved, why, who.Name, now, nil, rec); err != nil {
			return PromotionView{}, err
		}
		if err := s.complete(tx, &p, who.Name, now); err != nil {
			return PromotionView{}, err
		}
	case onlyApprovalsMissing(d):
		if p.State == promote.StateRequested {
			if err := s.transitionBy(tx, &p, promote.EventGatePassed, "", who.Name, now, reasons, rec); err != nil {
				return PromotionView{}, err
			}
			if err := s.transitionBy(tx, &p, promote.EventAwaitApproval, approvalsMessage(d), who.Name, now, nil, rec); err != nil {
				return PromotionView{}, err
			}
		} else {
			// Still waiting: the reason says how many approvals it has
			// now, as the stored decision does.
			p.Reason = approvalsMessage(d)
			if err := tx.UpdatePromotion(p); err != nil {
				return PromotionView{}, err
			}
		}
	default:
		if err := s.transitionBy(tx, &p, promote.EventGateFailed, blockMessage(d), who.Name, now, reasons, rec); err != nil {
			return PromotionView{}, err
		}
	}
	if approvals == nil {
		approvals = []promote.Approval{}
	}
	return PromotionView{Promotion: p, Approvals: approvals, Gate: d}, nil
}

// complete makes an approved promotion's version live: the alias moves.
// With GitOps the promotion then waits, approved, for the reconciler to
// commit the change (Delivered); without it, it succeeds at once.
func (s *Service) complete(tx promote.Tx, p *promote.Promotion, actor string, now time.Time) error {
	if err := s.rollbackPending(tx, p.Model, p.Environment); err != nil {
		return err
	}
	if err := tx.SetLive(promote.Live{Model: p.Model, Environment: p.Environment, Version: p.Version, PromotionID: p.ID,
		SetBy: actor, SetAt: now, Reason: "promoted"}); err != nil {
		return err
	}
	if err := audit(tx, promote.AuditEvent{Time: now, Actor: actor, Action: promote.ActionLiveChanged, Model: p.Model,
		Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: p.Digest, Decision: "promoted"}); err != nil {
		return err
	}
	if s.cfg.GitOps {
		return nil
	}
	return s.transition(tx, p, promote.EventSucceeded, "", actor, now, nil)
}

// afterDecide counts the gate's decision once it is recorded, tells the
// reconciler when it moved the live alias, and completes the answer as
// Promotion gives it (OnApproval). A request or an approval
// refused after the gate ran (a Conflict: the environment's slot is held)
// recorded no decision and counts none.
func (s *Service) afterDecide(view PromotionView, err error) (PromotionView, error) {
	if err == nil {
		s.cfg.Metrics.gated(view.Promotion.Environment, view.Gate)
		// As Promotion answers it: what approving it sets going.
		view.OnApproval = s.OnApproval(view.Promotion)
	}
	if err == nil && s.cfg.GitOps && view.Promotion.State == promote.StateApproved {
		s.changed(view.Promotion.Model, view.Promotion.Environment)
	}
	return view, err
}

// transition applies ev to p, stores it and audits the change.
func (s *Service) transition(tx promote.Tx, p *promote.Promotion, ev promote.Event, reason, actor string, now time.Time, reasons json.RawMessage) error {
	return s.transitionBy(tx, p, ev, reason, actor, now, reasons, gateRecord{})
}

// transitionBy is transition for a state the gate decided, with the
// policy that decided it and the metrics it judged (none in rec for
// another state).
func (s *Service) transitionBy(tx promote.Tx, p *promote.Promotion, ev promote.Event, reason, actor string, now time.Time, reasons json.RawMessage, rec gateRecord) error {
	if err := p.Apply(ev, now); err != nil {
		return err
	}
	if reason != "" {
		p.Reason = reason
	}
	if err := tx.UpdatePromotion(*p); err != nil {
		return err
	}
	if reasons == nil && reason != "" {
		reasons = reasonsJSON(reason)
	}
	return audit(tx, promote.AuditEvent{Time: now, Actor: actor, Action: promote.ActionPromotionState, Model: p.Model,
		Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: p.Digest, Decision: string(p.State), Reasons: reasons, Policy: rec.policy, Metrics: rec.metrics})
}

func reasonsJSON(reasons ...string) json.RawMessage {
	raw, _ := json.Marshal(reasons)
	return raw
}

func blockMessage(d *policy.Decision) string {
	var parts []string
	for _, r := range d.Blocking() {
		parts = append(parts, r.Rule+": "+r.Message)
	}
	return "blocked: " + strings.Join(parts, "; ")
}

func approvalsMessage(d *policy.Decision) string {
	for _, r := range d.Blocking() {
		if r.Kind == policy.KindApprovals {
			return "awaiting approval: " + r.Message
		}
	}
	return "awaiting approval"
}

// Promotion returns a promotion with its approvals and decision.
func (s *Service) Promotion(ctx context.Context, id string) (PromotionView, error) {
	var view PromotionView
	err := s.store.View(ctx, func(tx promote.Tx) error {
		var err error
		view, err = loadView(tx, id)
		return err
	})
	if err == nil {
		view.OnApproval = s.OnApproval(view.Promotion)
	}
	return view, err
}

func loadView(tx promote.Tx, id string) (PromotionView, error) {
	p, err := tx.Promotion(id)
	if err != nil {
		return PromotionView{}, err
	}
	approvals, err := tx.Approvals(id)
	if err != nil {
		return PromotionView{}, err
	}
	if approvals == nil {
		approvals = []promote.Approval{}
	}
	view := PromotionView{Promotion: p, Approvals: approvals}
	if len(p.Decision) > 0 {
		var d policy.Decision
		if err := json.Unmarshal(p.Decision, &d); err == nil {
			view.Gate = &d
		}
	}
	return view, nil
}

// Promotions lists promotions, newest first.
func (s *Service) Promotions(ctx context.Context, f promote.PromotionFilter) ([]promote.Promotion, error) {
	var out []promote.Promotion
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Promotions(f)
		return err
	})
	return out, err
}

// ApproveRequest is an approver's decision. Digest is the artifact digest
// the approver saw: an approval binds to it.
type ApproveRequest struct {
	Digest  string `json:"digest"`
	Comment string `json:"comment,omitempty"`
}

// Approve records who's approval of a promotion awaiting approval and, when
// the gate then allows it, completes it. The approver must hold the
// approver role and any role the environment's policy names, may not be the
// requester unless the policy allows self-approval, and must name the
// artifact digest the promotion is for. Each person counts once.
func (s *Service) Approve(ctx context.Context, who promote.Principal, id string, req ApproveRequest) (PromotionView, error) {
	if err := Authorize(who, promote.RoleApprover, "approving a promotion"); err != nil {
		return PromotionView{}, err
	}
	if err := checkText("the comment", req.Comment, maxCommentLen); err != nil {
		return PromotionView{}, err
	}
	var view PromotionView
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		now := s.clock()
		p, err := tx.Promotion(id)
		if err != nil {
			return err
		}
		if p.State != promote.StateAwaitingApproval {
			return promote.Errorf(promote.Conflict, "promotion %s is %s; only a promotion awaiting approval can be approved", p.ID, p.State)
		}
		gate, err := s.queuedGate(p, "approved")
		if err != nil {
			return err
		}
		if err := checkApprover(gate, who, p, req.Digest); err != nil {
			return err
		}
		v, err := tx.Version(p.Model, p.Version)
		if err != nil {
			return err
		}
		if v.Digest != p.Digest {
			return promote.Errorf(promote.Conflict, "the artifact digest of %s %s changed from %s to %s since the promotion was requested; request it again", p.Model, p.Version, p.Digest, v.Digest)
		}
		if err := decideOnce(tx, p, who); err != nil {
			return err
		}
		a := promote.Approval{PromotionID: p.ID, Approver: who.Name, Roles: principalRoles(who), Approve: true, Digest: req.Digest, Comment: req.Comment, At: now}
		if err := tx.AddApproval(a); err != nil {
			var pe *promote.Error
			if errors.As(err, &pe) && pe.Code == promote.Conflict {
				return promote.Errorf(promote.Conflict, "%s has already decided on promotion %s; each person counts once", who.Name, p.ID)
			}
			return err
		}
		approvals, err := tx.Approvals(p.ID)
		if err != nil {
			return err
		}
		// Judge again with the approvals, against the version live now.
		var baseline *promote.Version
		live, err := tx.Live(p.Model)
		if err != nil {
			return err
		}
		if l, ok := live[p.Environment]; ok {
			b, err := tx.Version(p.Model, l.Version)
			if err != nil {
				return err
			}
			baseline = &b
		}
		// A hold, a rejection or a freeze that came after the request
		// stops it here too.
		pre, _, err := s.preconditions(tx, v, p.Environment, PromoteRequest{Override: p.Override}, now)
		if err != nil {
			return err
		}
		rec, err := s.gateRecord(p.Environment, &v, baseline)
		if err != nil {
			return err
		}
		d := s.evaluate(gate, &v, baseline, approvals, p.RequestedBy, pre)
		// An approval that leaves the promotion waiting records the
		// gate as it judged then: the notification that tells the
		// next approvers is made of it.
		var waiting []policy.Result
		if !d.Allowed && onlyApprovalsMissing(d) {
			waiting = d.Results
		}
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionPromotionApproval, Model: p.Model,
			Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: req.Digest, Decision: "approved",
			Approvers: approverNames(approvals), Reasons: approvalJSON(a, waiting)}); err != nil {
			return err
		}
		view, err = s.decide(tx, p, d, rec, approvals, who, now)
		return err
	})
	return s.afterDecide(view, err)
}

// queuedGate returns the gate of a queued promotion's environment. The
// pipeline is read at start, so a promotion may wait in an environment
// that a restart has since renamed or removed: it has no gate and no
// freeze windows to judge it by, and cannot be approved or rejected, only
// cancelled; the Conflict says so, where the approver sees it.
func (s *Service) queuedGate(p promote.Promotion, verb string) (*policy.Gate, error) {
	_, err := s.cfg.Pipeline.Environment(p.Environment)
	gate := s.cfg.Gates[p.Environment]
	if err != nil || gate == nil {
		return nil, promote.Errorf(promote.Conflict, "promotion %s is to %s, which is no longer in the pipeline (it has %s), so it cannot be %s; cancel it, and request %s %s again in an environment of the pipeline",
			p.ID, p.Environment, strings.Join(s.cfg.Pipeline.Names(), ", "), verb, p.Model, p.Version)
	}
	return gate, nil
}

// checkApprover applies the policy's approval rules to one approver.
func checkApprover(gate *policy.Gate, who promote.Principal, p promote.Promotion, digest string) error {
	if digest == "" {
		return promote.Errorf(promote.Invalid, "an approval must name the artifact digest it approves (%s)", p.Digest)
	}
	if digest != p.Digest {
		return promote.Errorf(promote.Conflict, "you approved digest %s but promotion %s is for %s; look again before approving", digest, p.ID, p.Digest)
	}
	allowSelf := gate.Approvals != nil && gate.Approvals.AllowSelfApproval
	if !allowSelf && strings.EqualFold(strings.TrimSpace(who.Name), strings.TrimSpace(p.RequestedBy)) {
		return promote.Errorf(promote.Forbidden, "%s requested promotion %s and may not approve it; another person must", who.Name, p.ID)
	}
	if gate.Approvals != nil && len(gate.Approvals.Roles) > 0 && !hasRole(who, gate.Approvals.Roles) {
		return promote.Errorf(promote.Forbidden, "approving in %s needs one of the roles %s; %s has none", p.Environment, strings.Join(gate.Approvals.Roles, ", "), who.Name)
	}
	return nil
}

// decideOnce refuses a second decision by one person on p. Names are
// compared as the gate counts approvers, without regard to case: the
// store's uniqueness is exact, so "Lena" after "lena" would be recorded
// and listed as a second approver while the gate counted one.
func decideOnce(tx promote.Tx, p promote.Promotion, who promote.Principal) error {
	decisions, err := tx.Approvals(p.ID)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(who.Name)
	for _, a := range decisions {
		if strings.EqualFold(strings.TrimSpace(a.Approver), name) {
			return promote.Errorf(promote.Conflict, "%s has already decided on promotion %s (as %s); each person counts once", who.Name, p.ID, a.Approver)
		}
	}
	return nil
}

func principalRoles(who promote.Principal) []string {
	return append([]string{string(who.Role)}, who.Groups...)
}

// includedRoles adds to the roles an approval recorded every API role that
// a recorded one includes, so that the gate counts an admin where the
// policy asks for approvers, as checkApprover (hasRole) let the admin
// approve there.
func includedRoles(recorded []string) []string {
	out := slices.Clone(recorded)
	for _, r := range recorded {
		role := promote.Role(strings.ToLower(r))
		if !role.Valid() {
			continue
		}
		for _, lower := range promote.Roles {
			if lower != role && role.Allows(lower) && !slices.Contains(out, string(lower)) {
				out = append(out, string(lower))
			}
		}
	}
	return out
}

func approverNames(approvals []promote.Approval) []string {
	var out []string
	for _, a := range approvals {
		if a.Approve {
			out = append(out, a.Approver)
		}
	}
	return out
}

// approvalJSON records what an approver held and said when deciding and,
// for an approval that leaves the promotion waiting for more, the gate's
// results as it judged with it (none otherwise).
func approvalJSON(a promote.Approval, waiting []policy.Result) json.RawMessage {
	rec := promote.ApprovalRecord{Roles: a.Roles, Comment: a.Comment}
	if len(waiting) > 0 {
		rec.Gate, _ = json.Marshal(waiting)
	}
	raw, _ := json.Marshal(rec)
	return raw
}

// Reject ends a promotion awaiting approval and puts its version on hold in
// that environment, so that no automation requests it again.
func (s *Service) Reject(ctx context.Context, who promote.Principal, id, reason string) (PromotionView, error) {
	if err := Authorize(who, promote.RoleApprover, "rejecting a promotion"); err != nil {
		return PromotionView{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return PromotionView{}, promote.Errorf(promote.Invalid, "a rejection needs a reason")
	}
	if err := checkText("the reason", reason, maxReasonLen); err != nil {
		return PromotionView{}, err
	}
	var view PromotionView
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		now := s.clock()
		p, err := tx.Promotion(id)
		if err != nil {
			return err
		}
		if !p.State.Queued() {
			return promote.Errorf(promote.Conflict, "promotion %s is %s; only a promotion awaiting approval can be rejected", p.ID, p.State)
		}
		// Rejecting is an approver's decision, under the same rules as
		// approving; a requester withdraws with cancel instead.
		if strings.EqualFold(strings.TrimSpace(who.Name), strings.TrimSpace(p.RequestedBy)) {
			return promote.Errorf(promote.Forbidden, "%s requested promotion %s: cancel it instead of rejecting it", who.Name, p.ID)
		}
		gate, err := s.queuedGate(p, "rejected")
		if err != nil {
			return err
		}
		if err := checkApprover(gate, who, p, p.Digest); err != nil {
			return err
		}
		if err := decideOnce(tx, p, who); err != nil {
			return err
		}
		a := promote.Approval{PromotionID: p.ID, Approver: who.Name, Roles: principalRoles(who), Approve: false, Digest: p.Digest, Comment: reason, At: now}
		if err := tx.AddApproval(a); err != nil {
			return err
		}
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionPromotionApproval, Model: p.Model,
			Version: p.Version, Environment: p.Environment, PromotionID: p.ID, Digest: p.Digest, Decision: "rejected", Reasons: approvalJSON(a, nil)}); err != nil {
			return err
		}
		if err := s.transition(tx, &p, promote.EventRejected, fmt.Sprintf("rejected by %s: %s", who.Name, reason), who.Name, now, nil); err != nil {
			return err
		}
		if _, err := s.addHold(tx, promote.Hold{Model: p.Model, Version: p.Version, Environment: p.Environment,
			Reason: fmt.Sprintf("promotion %s rejected by %s: %s", p.ID, who.Name, reason), SetBy: who.Name, SetAt: now}); err != nil {
			return err
		}
		view, err = loadView(tx, p.ID)
		return err
	})
	return view, err
}

// mayCancel reports whether who, who has at least the submitter role, may
// cancel p: its requester, or an approver. A request of automatic
// promotion is nobody's own, and any submitter may cancel it: a submitter
// may make, or supersede with their own, the request it made; only the
// approvers' say stays theirs.
func mayCancel(who promote.Principal, p promote.Promotion) bool {
	return strings.EqualFold(who.Name, p.RequestedBy) || p.RequestedBy == AutoPromoteActor.Name || who.Role.Allows(promote.RoleApprover)
}

// Cancel withdraws a promotion that is queued or approved but not yet
// committed.
func (s *Service) Cancel(ctx context.Context, who promote.Principal, id, reason string) (PromotionView, error) {
	if err := Authorize(who, promote.RoleSubmitter, "cancelling a promotion"); err != nil {
		return PromotionView{}, err
	}
	if err := checkText("the reason", reason, maxReasonLen); err != nil {
		return PromotionView{}, err
	}
	var view PromotionView
	var restored bool
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		now := s.clock()
		p, err := tx.Promotion(id)
		if err != nil {
			return err
		}
		if !mayCancel(who, p) {
			return promote.Errorf(promote.Forbidden, "only the requester or an approver may cancel promotion %s (requested by %s); %s has %s", p.ID, p.RequestedBy, who.Name, who.Role)
		}
		switch {
		case p.State.Queued() || p.State == promote.StateApproved:
		case p.State.Terminal() && p.State != promote.StateSucceeded:
			return promote.Errorf(promote.Conflict, "promotion %s is %s already; only a queued or approved promotion can be cancelled", p.ID, p.State)
		default:
			// Its change is committed: undoing it is a rollback.
			if _, err := s.cfg.Pipeline.Environment(p.Environment); err != nil {
				return promote.Errorf(promote.Conflict, "promotion %s is %s, and only a queued or approved promotion can be cancelled; %s",
					p.ID, p.State, goneText(s, p.Model, p.Environment, p.State == promote.StateCommitted || p.State == promote.StateRollingOut))
			}
			return promote.Errorf(promote.Conflict, "promotion %s is %s; only a queued or approved promotion can be cancelled (to take its version out of %s, roll %s back there)",
				p.ID, p.State, p.Environment, p.Model)
		}
		msg := "cancelled by " + who.Name
		if reason != "" {
			msg += ": " + reason
		}
		approved := p.State == promote.StateApproved
		if err := s.transition(tx, &p, promote.EventCancelled, msg, who.Name, now, nil); err != nil {
			return err
		}
		if approved && s.cfg.GitOps {
			// The alias moved at approval; the commit has not landed yet.
			live, err := tx.Live(p.Model)
			if err != nil {
				return err
			}
			if l, ok := live[p.Environment]; ok && l.PromotionID == p.ID {
				if restored, err = s.restoreAlias(tx, l, msg, now); err != nil {
					return err
				}
			}
		}
		view, err = loadView(tx, p.ID)
		return err
	})
	if err == nil && restored {
		s.changed(view.Promotion.Model, view.Promotion.Environment)
	}
	return view, err
}
