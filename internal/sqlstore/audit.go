package sqlstore

import (
	"fmt"
	"math"
	"time"

	"github.com/promote-ml/promote/promote"
)

// AppendAudit appends e to the audit chain. The chain's head (the last seq
// and hash) is a single row of audit_head, read with the dialect's lock
// clause and updated in the same transaction, so appends are serialised:
// on PostgreSQL by the row lock (SELECT … FOR UPDATE), on SQLite by the
// write lock every write transaction takes at BEGIN. The body bytes are
// stored exactly as hashed; the time, model, version, environment,
// promotion, action, actor and token ID are copied into indexed columns
// for AuditEvents' filters.
func (t *tx) AppendAudit(e promote.AuditEvent) (promote.AuditEvent, error) {
	what := fmt.Sprintf("append audit event %s", e.Action)
	if err := t.writable(what); err != nil {
		return e, err
	}
	if err := checkTime("time", e.Time); err != nil {
		return e, err
	}
	var last int64
	var prev string
	if err := t.queryRowContext(("SELECT seq, hash FROM audit_head WHERE id = 1 " +
		t.db.dialect.LockClause)).Scan(&last, &prev); err != nil {
		return e, fmt.Errorf("%s: read the chain's head: %w", what, headMissing(err))
	}
	e.Seq, e.PrevHash, e.Hash = last+1, prev, ""
	body, err := e.Body()
	if err != nil {
		return e, promote.Errorf(promote.Invalid, "%s: %v", what, err)
	}
	r := promote.AuditRecord{Seq: e.Seq, PrevHash: prev, Hash: promote.ChainHash(prev, body), Body: body}
	if _, err := t.exec(what, `INSERT INTO audit_events (seq, prev_hash, hash, body, at, model, version, environment, promotion_id, action, actor, token_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.PrevHash, r.Hash, r.Body, auditNanos(e.Time), e.Model, e.Version, e.Environment, e.PromotionID, e.Action, e.Actor, e.TokenID); err != nil {
		if promote.ErrorCode(err) == promote.Conflict {
			// The head's row is locked, so no append of Promote's
			// stored this event: it was added to the table alone. A
			// Conflict would invite a retry that can never pass.
			return e, promote.Errorf(promote.Internal, "%s: event %d is already stored, past the chain's head (event %d): the audit log was edited outside Promote, and promote audit verify reports where", what, r.Seq, last)
		}
		return e, err
	}
	if _, err := t.exec(what, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", r.Seq, r.Hash); err != nil {
		return e, err
	}
	// Returned as a reader will see it: decoded from the stored body.
	return r.Event()
}

// AuditEvents lists events matching f, newest first.
func (t *tx) AuditEvents(f promote.AuditFilter) ([]promote.AuditEvent, error) {
	return listPage(t, "list audit events", "audit_events", auditColumns, "seq", auditWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit,
		func(s scanner) (promote.AuditEvent, error) {
			var r promote.AuditRecord
			if err := s.Scan(&r.Seq, &r.PrevHash, &r.Hash, &r.Body); err != nil {
				return promote.AuditEvent{}, err
			}
			return r.Event()
		})
}

const auditColumns = "seq, prev_hash, hash, body"

// auditWhere selects the events f selects, on the indexed copies of their
// fields; a time out of range, or a range that ends before it starts, is
// refused.
func auditWhere(f promote.AuditFilter) where {
	var w where
	w.fail(checkTime("since", f.Since))
	w.fail(checkTime("until", f.Until))
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		w.fail(promote.Errorf(promote.Invalid, "since %s is after until %s: no event can match",
			f.Since.UTC().Format(time.RFC3339Nano), f.Until.UTC().Format(time.RFC3339Nano)))
	}
	if !f.Since.IsZero() {
		w.add("at >= ?", auditNanos(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("at < ?", auditNanos(f.Until))
	}
	w.scope(f.Model, f.Version, f.Environment)
	w.eq("promotion_id", f.PromotionID)
	w.eq("action", f.Action)
	w.eq("actor", f.Actor)
	w.eq("token_id", f.TokenID)
	return w
}

// auditNanos is an audit event's time as its indexed copy stores it:
// nanoseconds since the Unix epoch, and for the zero time (an event
// recorded without one) the smallest integer, which sorts before every
// bound and is no other time's (nanos would make it the epoch's).
// Migration 0013 computes the same from the stored bodies.
func auditNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// auditTime reads an audit event's indexed time, written by auditNanos.
func auditTime(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
