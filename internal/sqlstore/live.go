package sqlstore

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/promote-ml/promote/promote"
)

// SetLive makes l.Version live for l.Model in l.Environment and appends l
// to the alias's history; NotFound when the version is not stored. The new
// change has no commit error yet, whatever l.CommitError says.
func (t *tx) SetLive(l promote.Live) error {
	what := fmt.Sprintf("set version %q of model %q live in %q", l.Version, l.Model, l.Environment)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("set_at", l.SetAt); err != nil {
		return err
	}
	if err := t.versionExists(l.Model, l.Version); err != nil {
		return err
	}
	args := []any{l.Model, l.Environment, l.Version, l.PromotionID, l.SetBy, nanos(l.SetAt), l.Reason, l.RollbackOf, l.Commit}
	if _, err := t.exec(what, `INSERT INTO live (`+liveColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (model, environment) DO UPDATE SET version = excluded.version,
			promotion_id = excluded.promotion_id, set_by = excluded.set_by, set_at = excluded.set_at,
			reason = excluded.reason, rollback_of = excluded.rollback_of, commit_hash = excluded.commit_hash,
			commit_error = '', commit_error_since = 0`, args...); err != nil {
		return err
	}
	_, err := t.exec(what, `INSERT INTO live_history (`+liveColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// SetLiveCommit records the commit that carries the alias change
// promotionID made, on the alias and on its newest history entry, and
// clears the alias's commit error.
func (t *tx) SetLiveCommit(model, env, promotionID, commit string) error {
	what := fmt.Sprintf("record commit %q for model %q in %q", commit, model, env)
	if err := t.writable(what); err != nil {
		return err
	}
	if promotionID == "" || commit == "" {
		return promote.Errorf(promote.Invalid, "%s: the change's id and the commit are needed", what)
	}
	ok, err := t.changed(what, `UPDATE live SET commit_hash = ?, commit_error = '', commit_error_since = 0
		WHERE model = ? AND environment = ? AND promotion_id = ?`,
		commit, model, env, promotionID)
	if err != nil {
		return err
	}
	if !ok {
		if err := t.need(fmt.Sprintf("live version of model %q in %q", model, env),
			"SELECT 1 FROM live WHERE model = ? AND environment = ?", model, env); err != nil {
			return err
		}
		return promote.Errorf(promote.Conflict, "%s: the alias has moved on from change %q", what, promotionID)
	}
	_, err = t.exec(what, `UPDATE live_history SET commit_hash = ? WHERE n = (SELECT MAX(n) FROM live_history
		WHERE model = ? AND environment = ? AND promotion_id = ?)`, commit, model, env, promotionID)
	return err
}

// maxCommitError bounds a stored commit error, in bytes: the error of a
// push or a render is a line or two, and a hook's output is not the
// store's to keep.
const maxCommitError = 2000

// SetLiveCommitError records or clears why the last attempt to commit the
// alias change promotionID made failed; the first error since a clear
// starts its Since at at.
func (t *tx) SetLiveCommitError(model, env, promotionID, message string, at time.Time) error {
	what := fmt.Sprintf("record the commit error of model %q in %q", model, env)
	if err := t.writable(what); err != nil {
		return err
	}
	if promotionID == "" {
		return promote.Errorf(promote.Invalid, "%s: the change's id is needed", what)
	}
	if err := checkTime("at", at); err != nil {
		return err
	}
	if message != "" && at.IsZero() {
		return promote.Errorf(promote.Invalid, "%s: the time of the error is needed", what)
	}
	set, args := "commit_error = '', commit_error_since = 0", []any{}
	if message != "" {
		// Since stays where the failures began.
		set = "commit_error = ?, commit_error_since = CASE WHEN commit_error = '' THEN CAST(? AS BIGINT) ELSE commit_error_since END"
		args = append(args, truncateUTF8(strings.ToValidUTF8(message, "\uFFFD"), maxCommitError), nanos(at))
	}
	ok, err := t.changed(what, `UPDATE live SET `+set+`
		WHERE model = ? AND environment = ? AND promotion_id = ? AND commit_hash = ''`,
		append(args, model, env, promotionID)...)
	if err != nil || ok {
		return err
	}
	if err := t.need(fmt.Sprintf("live version of model %q in %q", model, env),
		"SELECT 1 FROM live WHERE model = ? AND environment = ?", model, env); err != nil {
		return err
	}
	return promote.Errorf(promote.Conflict, "%s: the alias has moved on from change %q, or it is committed", what, promotionID)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character,
// and marks the cut with an ellipsis.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// ClearLive removes the model's alias in env.
func (t *tx) ClearLive(model, env string) error {
	what := fmt.Sprintf("clear the live version of model %q in %q", model, env)
	if err := t.writable(what); err != nil {
		return err
	}
	ok, err := t.changed(what, "DELETE FROM live WHERE model = ? AND environment = ?", model, env)
	if err == nil && !ok {
		return promote.Errorf(promote.NotFound, "live version of model %q in %q not found", model, env)
	}
	return err
}

const liveColumns = "model, environment, version, promotion_id, set_by, set_at, reason, rollback_of, commit_hash"

// aliasColumns are the live table's columns: liveColumns and the commit
// error, which live_history does not keep.
const aliasColumns = liveColumns + ", commit_error, commit_error_since"

func scanLive(s scanner) (promote.Live, error) {
	var l promote.Live
	var at int64
	err := s.Scan(&l.Model, &l.Environment, &l.Version, &l.PromotionID, &l.SetBy, &at, &l.Reason, &l.RollbackOf, &l.Commit)
	l.SetAt = fromNanos(at)
	return l, err
}

// scanAlias scans aliasColumns.
func scanAlias(s scanner) (promote.Live, error) {
	var l promote.Live
	var at, since int64
	var msg string
	err := s.Scan(&l.Model, &l.Environment, &l.Version, &l.PromotionID, &l.SetBy, &at, &l.Reason, &l.RollbackOf, &l.Commit,
		&msg, &since)
	l.SetAt = fromNanos(at)
	if msg != "" {
		l.CommitError = &promote.CommitError{Message: msg, Since: fromNanos(since)}
	}
	return l, err
}

// Live returns the model's live version per environment; NotFound when
// the model is not stored.
func (t *tx) Live(model string) (map[string]promote.Live, error) {
	if err := t.modelExists(model); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("read live versions of model %q", model)
	rows, err := t.query(what, "SELECT "+aliasColumns+" FROM live WHERE model = ?", model)
	list, err := collect(what, rows, err, scanAlias)
	if err != nil {
		return nil, err
	}
	live := make(map[string]promote.Live, len(list))
	for _, l := range list {
		live[l.Environment] = l
	}
	return live, nil
}

// AllLive returns every model's live versions, by model and environment.
func (t *tx) AllLive() (map[string]map[string]promote.Live, error) {
	return t.liveByModel("read the live versions of every model", where{})
}

// LiveOf returns the live versions of the models named, by model and
// environment.
func (t *tx) LiveOf(models []string) (map[string]map[string]promote.Live, error) {
	if len(models) == 0 {
		return map[string]map[string]promote.Live{}, nil
	}
	var w where
	w.in("model", models)
	return t.liveByModel(fmt.Sprintf("read the live versions of %d models", len(models)), w)
}

// liveByModel reads the aliases w selects, by model and environment.
func (t *tx) liveByModel(what string, w where) (map[string]map[string]promote.Live, error) {
	rows, err := t.query(what, "SELECT "+aliasColumns+" FROM live"+w.String(), w.args...)
	list, err := collect(what, rows, err, scanAlias)
	if err != nil {
		return nil, err
	}
	all := map[string]map[string]promote.Live{}
	for _, l := range list {
		if all[l.Model] == nil {
			all[l.Model] = map[string]promote.Live{}
		}
		all[l.Model][l.Environment] = l
	}
	return all, nil
}

// LiveChanges lists the changes of a model's alias in an environment that
// f selects, newest first, each with the change after it. Each is read
// through live_history_newest: the next change is the first entry after
// it in (set_at, n) order.
func (t *tx) LiveChanges(f promote.LiveFilter) ([]promote.LiveChange, error) {
	q, args, err := liveChangesQuery(f)
	if err != nil {
		return nil, err
	}
	if err := t.modelExists(f.Model); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("read live changes of model %q in %q", f.Model, f.Environment)
	for _, c := range []struct {
		name string
		seq  int64
	}{{"before_seq", f.BeforeSeq}, {"after_seq", f.AfterSeq}} {
		if c.seq == 0 {
			continue
		}
		ok, err := t.exists(what, "SELECT 1 FROM live_history WHERE n = ? AND model = ? AND environment = ?", c.seq, f.Model, f.Environment)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, promote.Errorf(promote.Invalid, "live changes: %s %d is not a change of model %q in %q", c.name, c.seq, f.Model, f.Environment)
		}
	}
	rows, err := t.query(what, q, args...)
	list, err := collect(what, rows, err, scanLiveChange)
	if f.AfterSeq > 0 {
		slices.Reverse(list)
	}
	return list, err
}

// liveChangesQuery is the query, with ? placeholders, and the arguments
// with which LiveChanges reads what f selects; Invalid when f lacks its
// model or environment or asks for a negative limit. Each narrowing is a
// condition on the rows of one alias that an index on it (migration 0027)
// serves in the history's order, so that a read stops at its limit.
func liveChangesQuery(f promote.LiveFilter) (string, []any, error) {
	if f.Model == "" || f.Environment == "" {
		return "", nil, promote.Errorf(promote.Invalid, "live changes: a model and an environment are needed (model %q, environment %q)", f.Model, f.Environment)
	}
	n, err := limit(f.Limit)
	if err != nil {
		return "", nil, err
	}
	if f.BeforeSeq < 0 || f.AfterSeq < 0 {
		return "", nil, promote.Errorf(promote.Invalid, "live changes: a cursor is negative (before_seq %d, after_seq %d)", f.BeforeSeq, f.AfterSeq)
	}
	var w where
	w.add("h.model = ?", f.Model)
	w.add("h.environment = ?", f.Environment)
	w.eq("h.version", f.Version)
	w.eq("h.promotion_id", f.PromotionID)
	w.eq("h.rollback_of", f.RollbackOf)
	if f.After != "" {
		w.add(`EXISTS (SELECT 1 FROM live_history a WHERE a.model = h.model AND a.environment = h.environment
			AND a.promotion_id = ? AND `+laterThan("h", "a")+`)`, f.After)
	}
	if f.Committed {
		w.add("h.commit_hash <> ''")
	}
	if f.ExceptPromotionID != "" {
		w.add("h.promotion_id <> ?", f.ExceptPromotionID)
	}
	if len(f.ExceptVersions) > 0 {
		w.add("h.version NOT IN ("+placeholders(len(f.ExceptVersions))+")", anys(f.ExceptVersions)...)
	}
	// A cursor's change is c, read once by its number: the bound on
	// h.set_at is then a constant, a range of live_history_newest.
	const cursor = "(SELECT c.set_at FROM live_history c WHERE c.n = ?)"
	if f.BeforeSeq > 0 {
		w.add("h.set_at <= "+cursor+" AND (h.set_at < "+cursor+" OR h.n < ?)", f.BeforeSeq, f.BeforeSeq, f.BeforeSeq)
	}
	order := "DESC"
	if f.AfterSeq > 0 {
		w.add("h.set_at >= "+cursor+" AND (h.set_at > "+cursor+" OR h.n > ?)", f.AfterSeq, f.AfterSeq, f.AfterSeq)
		order = "ASC"
	}
	return "SELECT " + prefixed("h", liveColumns) + ", h.n, nx.n, " + prefixed("nx", liveColumns) +
		` FROM live_history h LEFT JOIN live_history nx ON nx.n = (SELECT s.n FROM live_history s
			WHERE s.model = h.model AND s.environment = h.environment AND ` + laterThan("s", "h") + `
			ORDER BY s.set_at, s.n LIMIT 1)` + w.String() + ` ORDER BY h.set_at ` + order + `, h.n ` + order + ` LIMIT ?`, append(w.args, n), nil
}

// laterThan is the condition that the live_history entry a comes after b,
// in the order of (set_at, n). It compares row values, which both
// databases seek in live_history_newest (model, environment, set_at, n);
// the same condition spelled with OR is a filter on every entry of the
// model and environment, which made finding each change's next one cost
// the whole history on PostgreSQL.
func laterThan(a, b string) string {
	return fmt.Sprintf("(%[1]s.set_at, %[1]s.n) > (%[2]s.set_at, %[2]s.n)", a, b)
}

// prefixed is columns, a comma-separated list, each qualified by table.
func prefixed(table, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = table + "." + c
	}
	return strings.Join(cols, ", ")
}

// scanLiveChange scans a change's liveColumns and n, then the next
// change's n (NULL when there is none) and liveColumns.
func scanLiveChange(s scanner) (promote.LiveChange, error) {
	var c promote.LiveChange
	var next promote.Live
	var at int64
	var nextN, nextAt sql.NullInt64
	var nextCols [8]sql.NullString
	err := s.Scan(&c.Model, &c.Environment, &c.Version, &c.PromotionID, &c.SetBy, &at, &c.Reason, &c.RollbackOf, &c.Commit, &c.Seq,
		&nextN, &nextCols[0], &nextCols[1], &nextCols[2], &nextCols[3], &nextCols[4], &nextAt, &nextCols[5], &nextCols[6], &nextCols[7])
	c.SetAt = fromNanos(at)
	if err != nil || !nextN.Valid {
		return c, err
	}
	next.Model, next.Environment, next.Version, next.PromotionID, next.SetBy = nextCols[0].String, nextCols[1].String, nextCols[2].String, nextCols[3].String, nextCols[4].String
	next.SetAt = fromNanos(nextAt.Int64)
	next.Reason, next.RollbackOf, next.Commit = nextCols[5].String, nextCols[6].String, nextCols[7].String
	c.Next = &next
	return c, nil
}

// PipelineCounts counts every model, and the active promotions and active
// holds in envs, in one query.
func (t *tx) PipelineCounts(envs []string) (promote.PipelineCounts, error) {
	inEnvs := "FALSE"
	if len(envs) > 0 {
		inEnvs = "environment IN (" + placeholders(len(envs)) + ")"
	}
	const what = "count the models, active promotions and holds"
	return one(t, what, what+": no answer", func(s scanner) (promote.PipelineCounts, error) {
		var c promote.PipelineCounts
		err := s.Scan(&c.Models, &c.ActivePromotions, &c.ActiveHolds)
		return c, err
	}, `SELECT (SELECT COUNT(*) FROM models),
		(SELECT COUNT(*) FROM promotions WHERE active AND `+inEnvs+`),
		(SELECT COUNT(*) FROM holds WHERE cleared_at IS NULL AND `+inEnvs+`)`, append(anys(envs), anys(envs)...)...)
}
