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

// HoldCells returns the newest n active holds of each of the models in
// each environment, and how many there are: the cells are counted in
// holds_active_cell (migration 0027), and each cell's newest n read
// through it by a correlated subquery, in one query.
func (t *tx) HoldCells(models []string, n int) ([]promote.HoldCell, error) {
	if n < 1 || n > maxLimit {
		return nil, promote.Errorf(promote.Invalid, "hold cells: %d holds a cell is not between 1 and %d", n, maxLimit)
	}
	if len(models) == 0 {
		return []promote.HoldCell{}, nil
	}
	what := fmt.Sprintf("read the active holds of %d models by environment", len(models))
	type row struct {
		hold   promote.Hold
		active int
	}
	rows, err := t.query(what, "SELECT "+prefixed("h", holdColumns)+`, c.active
		FROM (SELECT model, environment, COUNT(*) AS active FROM holds
			WHERE cleared_at IS NULL AND model IN (`+placeholders(len(models))+`) GROUP BY model, environment) c
		JOIN holds h ON h.id IN (SELECT s.id FROM holds s
			WHERE s.model = c.model AND s.environment = c.environment AND s.cleared_at IS NULL ORDER BY s.id DESC LIMIT ?)
		ORDER BY c.model, c.environment, h.id DESC`, append(anys(models), n)...)
	list, err := collect(what, rows, err, func(s scanner) (row, error) {
		var r row
		var err error
		r.hold, err = scanHold(also{s, []any{&r.active}})
		return r, err
	})
	if err != nil {
		return nil, err
	}
	cells := []promote.HoldCell{}
	for _, r := range list {
		if k := len(cells) - 1; k < 0 || cells[k].Model != r.hold.Model || cells[k].Environment != r.hold.Environment {
			cells = append(cells, promote.HoldCell{Model: r.hold.Model, Environment: r.hold.Environment, Active: r.active})
		}
		cells[len(cells)-1].Holds = append(cells[len(cells)-1].Holds, r.hold)
	}
	return cells, nil
}

// also scans a row's columns into a scan function's destinations, then
// those that follow into more.
type also struct {
	s    scanner
	more []any
}

func (a also) Scan(dest ...any) error { return a.s.Scan(append(dest, a.more...)...) }

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
