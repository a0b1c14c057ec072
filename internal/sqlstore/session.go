package sqlstore

import (
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

const sessionColumns = "id_hash, token_hash, csrf, created_at, expires_at"

func scanSession(s scanner) (promote.Session, error) {
	var ses promote.Session
	var created, expires int64
	err := s.Scan(&ses.IDHash, &ses.TokenHash, &ses.CSRF, &created, &expires)
	ses.CreatedAt, ses.ExpiresAt = fromNanos(created), fromNanos(expires)
	return ses, err
}

// CreateSession stores a web UI session; Conflict when its ID hash, the
// primary key and the conflict target, is taken: any other unique
// violation fails the statement, naming it. Errors never repeat the
// hashes.
func (t *tx) CreateSession(s promote.Session) error {
	const what = "create session"
	if err := t.writable(what); err != nil {
		return err
	}
	switch {
	case s.IDHash == "" || s.TokenHash == "" || s.CSRF == "":
		return promote.Errorf(promote.Invalid, "%s: the ID hash, token hash and form token are required", what)
	case s.CreatedAt.IsZero() || !s.ExpiresAt.After(s.CreatedAt):
		return promote.Errorf(promote.Invalid, "%s: it must have a creation time and expire after it", what)
	}
	if err := checkTime("created_at", s.CreatedAt); err != nil {
		return err
	}
	if err := checkTime("expires_at", s.ExpiresAt); err != nil {
		return err
	}
	return t.insertOnce(what, promote.Errorf(promote.Conflict, "%s: a session with the same ID exists", what),
		"INSERT INTO ui_sessions ("+sessionColumns+") VALUES (?, ?, ?, ?, ?) ON CONFLICT (id_hash) DO NOTHING",
		s.IDHash, s.TokenHash, s.CSRF, nanos(s.CreatedAt), nanos(s.ExpiresAt))
}

// Session returns a session that has not expired at now.
func (t *tx) Session(idHash string, now time.Time) (promote.Session, error) {
	if err := checkNow("read session", now); err != nil {
		return promote.Session{}, err
	}
	return one(t, "read session", "session not found or expired", scanSession,
		"SELECT "+sessionColumns+" FROM ui_sessions WHERE id_hash = ? AND expires_at > ?", idHash, nanos(now))
}

// DeleteSession deletes a session, if it is stored.
func (t *tx) DeleteSession(idHash string) error {
	const what = "delete session"
	if err := t.writable(what); err != nil {
		return err
	}
	_, err := t.exec(what, "DELETE FROM ui_sessions WHERE id_hash = ?", idHash)
	return err
}

// DeleteExpiredSessions deletes at most limit expired sessions, oldest
// expiry first, found through the index on expires_at. The subquery bounds
// the DELETE on every database (SQLite's DELETE … LIMIT is a compile-time
// option).
func (t *tx) DeleteExpiredSessions(now time.Time, limit int) (int, error) {
	const what = "delete expired sessions"
	if err := t.writable(what); err != nil {
		return 0, err
	}
	if limit < 1 {
		return 0, promote.Errorf(promote.Invalid, "%s: limit %d, want at least 1", what, limit)
	}
	if err := checkNow(what, now); err != nil {
		return 0, err
	}
	res, err := t.exec(what, `DELETE FROM ui_sessions WHERE id_hash IN
		(SELECT id_hash FROM ui_sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, nanos(now), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(n), nil
}

// checkNow refuses a zero or unstorable now: with the zero time, which is
// stored as 0, every session would count as live and none as expired.
func checkNow(what string, now time.Time) error {
	if now.IsZero() {
		return promote.Errorf(promote.Invalid, "%s: the time is not set", what)
	}
	return checkTime("now", now)
}
