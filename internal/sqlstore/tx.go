package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promote-ml/promote/promote"
)

// tx is a promote.Tx over one database/sql transaction. Every query runs
// with the context Update or View was given.
type tx struct {
	ctx        context.Context
	tx         *sql.Tx
	db         *DB
	readOnly   bool
	cache      *stmtCache
	unprepared []string // queries run without a cached statement
}

var _ promote.Tx = (*tx)(nil)

// maxLimit caps the page size of every listing.
const maxLimit = 1000

// writable returns an error when t is View's read-only transaction, the
// same on every database.
func (t *tx) writable(what string) error {
	if t.readOnly {
		return promote.Errorf(promote.Internal, "%s: the transaction is read-only", what)
	}
	return nil
}

// exec runs a statement; what names the operation in errors. A unique
// violation is a Conflict.
func (t *tx) exec(what, query string, args ...any) (sql.Result, error) {
	res, err := t.execContext((query), args...)
	if err != nil {
		return nil, t.failed(what, err)
	}
	return res, nil
}

// failed is the error of a write that err failed: a Conflict for a unique
// violation, naming what conflicted when the database says, else err
// wrapped with what.
func (t *tx) failed(what string, err error) error {
	if t.db.dialect.UniqueViolation == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	conflicted, ok := t.db.dialect.UniqueViolation(err)
	switch {
	case !ok:
		return fmt.Errorf("%s: %w", what, err)
	case conflicted == "":
		return promote.Errorf(promote.Conflict, "%s: it collides with a stored one", what)
	}
	return promote.Errorf(promote.Conflict, "%s: it collides with a stored one on %s", what, conflicted)
}

// changed runs an INSERT, UPDATE or DELETE and reports whether it changed a
// row. An insert that may collide with a stored row names the unique index
// it means, INSERT … ON CONFLICT (its columns) [WHERE its predicate] DO
// NOTHING: doing nothing on that conflict, rather than failing, leaves the
// transaction usable on PostgreSQL (where a failed statement aborts it), so
// the caller can say what it collided with. Never an untargeted ON
// CONFLICT DO NOTHING: it stands aside for any unique violation (a
// sequence number the PostgreSQL identity gives that a row holds already,
// an index a later schema adds), and the caller would then misreport that as
// the collision it meant. With a target, any other violation
// fails the statement, a Conflict naming what conflicted (failed).
// PostgreSQL takes one conflict target: a second collision the caller
// means is looked for before the insert (absent).
func (t *tx) changed(what, query string, args ...any) (bool, error) {
	res, err := t.exec(what, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n > 0, nil
}

// inserted runs an INSERT … ON CONFLICT … DO NOTHING RETURNING n and
// returns the new row's n, its sequence number, which the caller answers
// with rather than reading the row back; ok is false when the insert did
// nothing, as changed reports it.
func (t *tx) inserted(what, query string, args ...any) (n int64, ok bool, err error) {
	err = t.queryRowContext((query), args...).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, t.failed(what, err)
	}
	return n, true, nil
}

// insertOnce runs an INSERT … ON CONFLICT (target) DO NOTHING, whose
// target is the unique index the caller means, and returns taken when the
// insert did nothing: a stored row holds that index's key already.
func (t *tx) insertOnce(what string, taken error, query string, args ...any) error {
	ok, err := t.changed(what, query, args...)
	if err != nil {
		return err
	}
	if !ok {
		return taken
	}
	return nil
}

func (t *tx) query(what, query string, args ...any) (*sql.Rows, error) {
	rows, err := t.queryContext((query), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return rows, nil
}

// exists reports whether query returns a row.
func (t *tx) exists(what, query string, args ...any) (bool, error) {
	var one int
	err := t.queryRowContext((query), args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return true, nil
}

// absent returns taken when query returns a row: a collision the caller
// means that its insert's conflict target does not cover.
func (t *tx) absent(what string, taken error, query string, args ...any) error {
	found, err := t.exists(what, query, args...)
	if err != nil {
		return err
	}
	if found {
		return taken
	}
	return nil
}

// need returns NotFound ("<thing> not found") when query returns no row.
func (t *tx) need(thing, query string, args ...any) error {
	ok, err := t.exists("read "+thing, query, args...)
	if err == nil && !ok {
		return promote.Errorf(promote.NotFound, "%s not found", thing)
	}
	return err
}

// collect scans every row of rows with scan.
func collect[T any](what string, rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return list, nil
}

// one scans the single row of a query, NotFound (with notFound as the
// message) when there is none.
func one[T any](t *tx, what, notFound string, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(t.queryRowContext((query), args...))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return v, promote.Errorf(promote.NotFound, "%s", notFound)
	case err != nil:
		return v, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// where builds a WHERE clause from conditions with ? placeholders, and
// keeps the first error of a filter that selects nothing it can answer:
// pageQuery returns it, before anything is read.
type where struct {
	conds []string
	args  []any
	err   error
}

// fail keeps err, unless an earlier error is kept.
func (w *where) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// eq adds column = value when value is not empty.
func (w *where) eq(column, value string) {
	if value != "" {
		w.add(column+" = ?", value)
	}
}

// in adds column IN (values) when there are values.
func (w *where) in(column string, values []string) {
	if len(values) == 0 {
		return
	}
	w.add(column+" IN ("+placeholders(len(values))+")", anys(values)...)
}

// placeholders is n comma-separated ? placeholders, n > 0.
func placeholders(n int) string {
	return strings.Repeat("?, ", n-1) + "?"
}

// anys is values as query arguments.
func anys(values []string) []any {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return args
}

// scope narrows to a model, version and environment, where given. A
// version without its model is refused (promote.CheckVersionScope).
func (w *where) scope(model, version, env string) {
	w.fail(promote.CheckVersionScope(model, version))
	w.eq("model", model)
	w.eq("version", version)
	w.eq("environment", env)
}

// listPage lists the rows of table that w selects, newest first by the
// sequence cursor column, a page at a time (the BeforeSeq, AfterSeq and
// Limit of AuditFilter, VersionFilter, PromotionFilter, RolloutFilter and
// HoldFilter): at most lim rows (0: DefaultLimit, capped at maxLimit),
// those with column < before when before is set, and with column > after
// when after is set, read in ascending order so that the limit takes the
// rows just after it, and listed newest first as every page is. scan reads
// columns; what names the listing in errors. Invalid for a negative limit
// or cursor, checked before anything is read.
func listPage[T any](t *tx, what, table, columns, column string, w where, before, after int64, lim int,
	scan func(scanner) (T, error)) ([]T, error) {
	query, args, ascending, err := pageQuery(table, columns, column, w, before, after, lim)
	if err != nil {
		return nil, err
	}
	rows, err := t.query(what, query, args...)
	list, err := collect(what, rows, err, scan)
	if ascending {
		slices.Reverse(list)
	}
	return list, err
}

// pageQuery is the query, with ? placeholders, and the arguments with
// which listPage reads a page, and whether it reads the rows in ascending
// order (a page after a cursor).
func pageQuery(table, columns, column string, w where, before, after int64, lim int) (query string, args []any, ascending bool, err error) {
	if w.err != nil {
		return "", nil, false, w.err
	}
	n, err := limit(lim)
	if err != nil {
		return "", nil, false, err
	}
	if before < 0 {
		return "", nil, false, promote.Errorf(promote.Invalid, "before_seq %d is negative", before)
	}
	if after < 0 {
		return "", nil, false, promote.Errorf(promote.Invalid, "after_seq %d is negative", after)
	}
	if before > 0 {
		w.add(column+" < ?", before)
	}
	order := "DESC"
	if after > 0 {
		w.add(column+" > ?", after)
		order = "ASC"
	}
	return "SELECT " + columns + " FROM " + table + w.String() + " ORDER BY " + column + " " + order + " LIMIT ?", append(w.args, n), after > 0, nil
}

// ListQuery returns the query, in the database's placeholders, and the
// arguments with which the store lists what filter selects (a
// promote.PromotionFilter, RolloutFilter, HoldFilter, AuditFilter or
// LiveFilter), so that a database's tests can check the plan it makes of
// the very query the store runs; the error is the one the listing returns
// for a filter it refuses.
func (db *DB) ListQuery(filter any) (string, []any, error) {
	q, args, err := listQuery(filter)
	return db.rebind(q), args, err
}

// listQuery is ListQuery's query with ? placeholders.
func listQuery(filter any) (string, []any, error) {
	var q string
	var args []any
	var err error
	switch f := filter.(type) {
	case promote.PromotionFilter:
		q, args, _, err = pageQuery("promotions", promotionColumns, "n", promotionWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit)
	case promote.RolloutFilter:
		q, args, _, err = pageQuery("rollouts", rolloutColumns, "n", rolloutWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit)
	case promote.HoldFilter:
		q, args, _, err = pageQuery("holds", holdColumns, "id", holdWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit)
	case promote.AuditFilter:
		q, args, _, err = pageQuery("audit_events", auditColumns, "seq", auditWhere(f), f.BeforeSeq, f.AfterSeq, f.Limit)
	case promote.LiveFilter:
		q, args, err = liveChangesQuery(f)
	default:
		return "", nil, fmt.Errorf("list query: %T is not a promotion, rollout, hold, audit or live filter", filter)
	}
	return q, args, err
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limit returns the page size a filter asks for: DefaultLimit for 0, at
// most maxLimit.
func limit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, promote.Errorf(promote.Invalid, "limit %d is negative", n)
	case n == 0:
		return promote.DefaultLimit, nil
	case n > maxLimit:
		return maxLimit, nil
	}
	return n, nil
}

// Times are stored as BIGINT Unix nanoseconds, UTC, on every database; the
// zero time is stored as 0 and read back as the zero time. That covers the
// years 1678 to 2261, which checkTime enforces.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// checkTime returns an Invalid error naming field when t cannot be stored.
func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1678 || y > 2261 {
		return promote.Errorf(promote.Invalid, "%s %s is out of range: years 1678 to 2261", field, t.UTC().Format(time.RFC3339))
	}
	return nil
}

// nullNanos stores an optional time: NULL for nil.
func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// JSON-valued fields are stored as TEXT holding JSON; nil stays nil
// (stored as null) and empty stays empty.
func toJSON(field string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", promote.Errorf(promote.Invalid, "%s: %v", field, err)
	}
	return string(b), nil
}

func fromJSON(field, s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return promote.Errorf(promote.Internal, "stored %s is not valid JSON: %v", field, err)
	}
	return nil
}
