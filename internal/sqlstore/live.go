package sqlstore

import (
	"fmt"

	"github.com/promote-ml/promote/promote"
)

// SetLive makes l.Version live for l.Model in l.Environment and appends l
// to the alias's history; NotFound when the version is not stored.
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
	args := []any{l.Model, l.Environment, l.Version, l.PromotionID, l.SetBy, nanos(l.SetAt), l.Reason}
	if _, err := t.exec(what, `INSERT INTO live (model, environment, version, promotion_id, set_by, set_at, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (model, environment) DO UPDATE SET version = excluded.version,
			promotion_id = excluded.promotion_id, set_by = excluded.set_by, set_at = excluded.set_at,
			reason = excluded.reason`, args...); err != nil {
		return err
	}
	_, err := t.exec(what, `INSERT INTO live_history (model, environment, version, promotion_id, set_by, set_at, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

const liveColumns = "model, environment, version, promotion_id, set_by, set_at, reason"

func scanLive(s scanner) (promote.Live, error) {
	var l promote.Live
	var at int64
	err := s.Scan(&l.Model, &l.Environment, &l.Version, &l.PromotionID, &l.SetBy, &at, &l.Reason)
	l.SetAt = fromNanos(at)
	return l, err
}

// Live returns the model's live version per environment; NotFound when
// the model is not stored.
func (t *tx) Live(model string) (map[string]promote.Live, error) {
	if err := t.modelExists(model); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("read live versions of model %q", model)
	rows, err := t.query(what, "SELECT "+liveColumns+" FROM live WHERE model = ?", model)
	list, err := collect(what, rows, err, scanLive)
	if err != nil {
		return nil, err
	}
	live := make(map[string]promote.Live, len(list))
	for _, l := range list {
		live[l.Environment] = l
	}
	return live, nil
}

// LiveHistory lists the changes of the model's alias in env, newest first;
// NotFound when the model is not stored.
func (t *tx) LiveHistory(model, env string) ([]promote.Live, error) {
	if err := t.modelExists(model); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("read live history of model %q in %q", model, env)
	rows, err := t.query(what, "SELECT "+liveColumns+` FROM live_history WHERE model = ? AND environment = ?
		ORDER BY set_at DESC, n DESC`, model, env)
	return collect(what, rows, err, scanLive)
}
