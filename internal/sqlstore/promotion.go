package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/promote-ml/promote/promote"
)

// checkPromotion returns an Invalid error for a promotion the store cannot
// keep.
func checkPromotion(p promote.Promotion) error {
	if !slices.Contains(promote.States, p.State) {
		return promote.Errorf(promote.Invalid, "promotion %q: unknown state %q", p.ID, p.State)
	}
	if err := checkTime("requested_at", p.RequestedAt); err != nil {
		return err
	}
	return checkTime("updated_at", p.UpdatedAt)
}

// nullBytes stores a nil slice as NULL.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// CreatePromotion stores p. The active column mirrors p.State.Active(), and
// a partial unique index on (model, environment) where active
// (promotions_one_active, migration 0001) lets one active promotion hold
// the slot: a second one is a Conflict, on every database and under any
// concurrency. The insert stands aside for that index alone, so that any
// other unique violation is an error that names what conflicted rather
// than a slot taken; a taken ID is looked for first. It returns the
// sequence number p was given.
func (t *tx) CreatePromotion(p promote.Promotion) (int64, error) {
	what := fmt.Sprintf("create promotion %q", p.ID)
	if err := t.writable(what); err != nil {
		return 0, err
	}
	if err := checkPromotion(p); err != nil {
		return 0, err
	}
	if err := t.versionExists(p.Model, p.Version); err != nil {
		return 0, err
	}
	if err := t.absent(what, promote.Errorf(promote.Conflict, "promotion %q already exists", p.ID),
		"SELECT 1 FROM promotions WHERE id = ?", p.ID); err != nil {
		return 0, err
	}
	seq, ok, err := t.inserted(what, `INSERT INTO promotions (id, model, version, environment, digest, state, active,
		requested_by, requested_at, updated_at, baseline, decision, reason, override, note)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (model, environment) WHERE active DO NOTHING RETURNING n`,
		p.ID, p.Model, p.Version, p.Environment, p.Digest, string(p.State), p.State.Active(),
		p.RequestedBy, nanos(p.RequestedAt), nanos(p.UpdatedAt), p.Baseline, nullBytes(p.Decision), p.Reason, p.Override, p.Note)
	if err != nil {
		return 0, err
	}
	if ok {
		return seq, nil
	}
	return 0, t.slotTaken(what, p.Model, p.Environment, "")
}

// slotTaken returns the Conflict of a second active promotion for model in
// env, naming the active one (other than except) when it can.
func (t *tx) slotTaken(what, model, env, except string) error {
	var id string
	err := t.queryRowContext(("SELECT id FROM promotions WHERE model = ? AND environment = ? AND active AND id <> ?"),
		model, env, except).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return promote.Errorf(promote.Conflict, "model %q already has an active promotion to %q", model, env)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	}
	return promote.Errorf(promote.Conflict, "model %q already has an active promotion to %q: %s", model, env, id)
}

// UpdatePromotion stores p's state (and so whether it is active), baseline,
// decision, reason, override and UpdatedAt. Its model, version,
// environment, digest, requester, request time and note are fixed when it
// is created. A terminal state frees the (model, environment) slot; moving
// back to an active state while another promotion holds it is a Conflict.
func (t *tx) UpdatePromotion(p promote.Promotion) error {
	what := fmt.Sprintf("update promotion %q", p.ID)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkPromotion(p); err != nil {
		return err
	}
	if p.State.Active() {
		// Checked first so that the unique index never fails the
		// statement, which on PostgreSQL would abort the transaction.
		var model, env string
		err := t.queryRowContext((`SELECT o.model, o.environment FROM promotions o
			JOIN promotions p ON o.model = p.model AND o.environment = p.environment
			WHERE p.id = ? AND o.id <> p.id AND o.active`), p.ID).Scan(&model, &env)
		switch {
		case err == nil:
			return t.slotTaken(what, model, env, p.ID)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	ok, err := t.changed(what, `UPDATE promotions SET state = ?, active = ?, baseline = ?, decision = ?, reason = ?,
		override = ?, updated_at = ? WHERE id = ?`,
		string(p.State), p.State.Active(), p.Baseline, nullBytes(p.Decision), p.Reason, p.Override, nanos(p.UpdatedAt), p.ID)
	if err != nil {
		return err
	}
	if !ok {
		return promote.Errorf(promote.NotFound, "promotion %q not found", p.ID)
	}
	return nil
}

const promotionColumns = `n, id, model, version, environment, digest, state, requested_by, requested_at, updated_at,
	baseline, decision, reason, override, note`

func scanPromotion(s scanner) (promote.Promotion, error) {
	var p promote.Promotion
	var state string
	var requested, updated int64
	var decision sql.NullString
	err := s.Scan(&p.Seq, &p.ID, &p.Model, &p.Version, &p.Environment, &p.Digest, &state, &p.RequestedBy, &requested, &updated,
		&p.Baseline, &decision, &p.Reason, &p.Override, &p.Note)
	p.State = promote.State(state)
	p.RequestedAt, p.UpdatedAt = fromNanos(requested), fromNanos(updated)
	if decision.Valid {
		p.Decision = []byte(decision.String)
	}
	return p, err
}

// Promotion returns the promotion with the ID.
func (t *tx) Promotion(id string) (promote.Promotion, error) {
	return one(t, fmt.Sprintf("read promotion %q", id), fmt.Sprintf("promotion %q not found", id), scanPromotion,
		"SELECT "+promotionColumns+" FROM promotions WHERE id = ?", id)
}

// Promotions lists the promotions that f selects, newest (the last
// requested) first.
func (t *tx) Promotions(f promote.PromotionFilter) ([]promote.Promotion, error) {
	return listPage(t, "list promotions", "promotions", promotionColumns, "n", promotionWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit, scanPromotion)
}

// promotionWhere selects the promotions f selects.
func promotionWhere(f promote.PromotionFilter) where {
	var w where
	w.scope(f.Model, f.Version, f.Environment)
	w.in("model", f.Models)
	states := make([]string, len(f.States))
	for i, s := range f.States {
		states[i] = string(s)
	}
	w.in("state", states)
	if f.ActiveOnly {
		w.add("active")
	}
	return w
}

// promotionExists returns NotFound when the promotion is not stored.
func (t *tx) promotionExists(id string) error {
	return t.need(fmt.Sprintf("promotion %q", id), "SELECT 1 FROM promotions WHERE id = ?", id)
}

// AddApproval stores a decision on a promotion: NotFound when the promotion
// is not stored, Conflict when the approver has decided on it already. The
// conflict target is UNIQUE (promotion_id, approver) of migration 0001:
// any other unique violation fails the statement, naming it.
func (t *tx) AddApproval(a promote.Approval) error {
	what := fmt.Sprintf("add approval by %q to promotion %q", a.Approver, a.PromotionID)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("at", a.At); err != nil {
		return err
	}
	if err := t.promotionExists(a.PromotionID); err != nil {
		return err
	}
	roles, err := toJSON("roles", a.Roles)
	if err != nil {
		return err
	}
	return t.insertOnce(what, promote.Errorf(promote.Conflict, "%s has already decided on promotion %q", a.Approver, a.PromotionID),
		`INSERT INTO approvals (promotion_id, approver, roles, approve, digest, comment, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (promotion_id, approver) DO NOTHING`,
		a.PromotionID, a.Approver, roles, a.Approve, a.Digest, a.Comment, nanos(a.At))
}

func scanApproval(s scanner) (promote.Approval, error) {
	var a promote.Approval
	var roles string
	var at int64
	if err := s.Scan(&a.PromotionID, &a.Approver, &roles, &a.Approve, &a.Digest, &a.Comment, &at); err != nil {
		return a, err
	}
	a.At = fromNanos(at)
	return a, fromJSON("roles", roles, &a.Roles)
}

// Approvals lists a promotion's decisions in the order they were made;
// NotFound when the promotion is not stored.
func (t *tx) Approvals(promotionID string) ([]promote.Approval, error) {
	if err := t.promotionExists(promotionID); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("list approvals of promotion %q", promotionID)
	rows, err := t.query(what, `SELECT promotion_id, approver, roles, approve, digest, comment, at
		FROM approvals WHERE promotion_id = ? ORDER BY at, n`, promotionID)
	return collect(what, rows, err, scanApproval)
}
