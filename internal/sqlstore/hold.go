package sqlstore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

// AddHold stores h, an active hold, and returns it with the ID the store
// assigned; NotFound when the version is not stored.
func (t *tx) AddHold(h promote.Hold) (promote.Hold, error) {
	what := fmt.Sprintf("hold version %q of model %q in %q", h.Version, h.Model, h.Environment)
	if err := t.writable(what); err != nil {
		return h, err
	}
	if h.ClearedAt != nil {
		return h, promote.Errorf(promote.Invalid, "%s: a new hold cannot be cleared already", what)
	}
	if err := checkTime("set_at", h.SetAt); err != nil {
		return h, err
	}
	if err := t.versionExists(h.Model, h.Version); err != nil {
		return h, err
	}
	err := t.queryRowContext((`INSERT INTO holds (model, version, environment, reason, set_by, set_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
		h.Model, h.Version, h.Environment, h.Reason, h.SetBy, nanos(h.SetAt)).Scan(&h.ID)
	if err != nil {
		return h, fmt.Errorf("%s: %w", what, err)
	}
	h.ClearedBy, h.ClearReason = "", ""
	h.SetAt = fromNanos(nanos(h.SetAt))
	return h, nil
}

const holdColumns = "id, model, version, environment, reason, set_by, set_at, cleared_by, cleared_at, clear_reason"

func scanHold(s scanner) (promote.Hold, error) {
	var h promote.Hold
	var setAt int64
	var clearedAt sql.NullInt64
	err := s.Scan(&h.ID, &h.Model, &h.Version, &h.Environment, &h.Reason, &h.SetBy, &setAt,
		&h.ClearedBy, &clearedAt, &h.ClearReason)
	h.SetAt, h.ClearedAt = fromNanos(setAt), fromNullNanos(clearedAt)
	return h, err
}

// ClearHold clears an active hold and returns it as stored; NotFound for
// an unknown one, Conflict for one already cleared.
func (t *tx) ClearHold(id int64, by, reason string, at time.Time) (promote.Hold, error) {
	what := fmt.Sprintf("clear hold %d", id)
	if err := t.writable(what); err != nil {
		return promote.Hold{}, err
	}
	if err := checkTime("cleared_at", at); err != nil {
		return promote.Hold{}, err
	}
	h, err := one(t, what, fmt.Sprintf("hold %d not found", id), scanHold,
		"SELECT "+holdColumns+" FROM holds WHERE id = ?", id)
	if err != nil {
		return h, err
	}
	if !h.Active() {
		return h, promote.Errorf(promote.Conflict, "hold %d was already cleared by %s", id, h.ClearedBy)
	}
	ok, err := t.changed(what, "UPDATE holds SET cleared_by = ?, cleared_at = ?, clear_reason = ? WHERE id = ? AND cleared_at IS NULL",
		by, nanos(at), reason, id)
	if err != nil {
		return h, err
	}
	if !ok {
		return h, promote.Errorf(promote.Conflict, "hold %d was already cleared", id)
	}
	cleared := fromNanos(nanos(at))
	h.ClearedBy, h.ClearedAt, h.ClearReason = by, &cleared, reason
	return h, nil
}

// Holds lists the holds that f selects, newest (the last set) first.
func (t *tx) Holds(f promote.HoldFilter) ([]promote.Hold, error) {
	return listPage(t, "list holds", "holds", holdColumns, "id", holdWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit, scanHold)
}

// holdWhere selects the holds f selects.
func holdWhere(f promote.HoldFilter) where {
	var w where
	w.scope(f.Model, f.Version, f.Environment)
	w.in("model", f.Models)
	if !f.IncludeCleared {
		w.add("cleared_at IS NULL")
	}
	return w
}
