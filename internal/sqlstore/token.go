package sqlstore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

// CreateToken stores t; Conflict when its ID or secret hash is taken. A
// taken ID is looked for first; the conflict target is the hash's UNIQUE
// (PostgreSQL takes one), so that any other unique violation fails the
// statement, naming it, rather than passing for a taken secret.
func (t *tx) CreateToken(tok promote.Token) error {
	what := fmt.Sprintf("create token %q", tok.ID)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("created_at", tok.CreatedAt); err != nil {
		return err
	}
	if tok.RevokedAt != nil {
		if err := checkTime("revoked_at", *tok.RevokedAt); err != nil {
			return err
		}
	}
	groups, err := toJSON("groups", tok.Groups)
	if err != nil {
		return err
	}
	if err := t.absent(what, promote.Errorf(promote.Conflict, "token %q already exists", tok.ID),
		"SELECT 1 FROM tokens WHERE id = ?", tok.ID); err != nil {
		return err
	}
	return t.insertOnce(what, promote.Errorf(promote.Conflict, "token %q: another token has the same secret", tok.ID),
		`INSERT INTO tokens (id, name, role, group_names, hash, created_by, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		tok.ID, tok.Name, string(tok.Role), groups, tok.Hash, tok.CreatedBy, nanos(tok.CreatedAt), nullNanos(tok.RevokedAt))
}

const tokenColumns = "id, name, role, group_names, hash, created_by, created_at, revoked_at"

func scanToken(s scanner) (promote.Token, error) {
	var tok promote.Token
	var role, groups string
	var created int64
	var revoked sql.NullInt64
	if err := s.Scan(&tok.ID, &tok.Name, &role, &groups, &tok.Hash, &tok.CreatedBy, &created, &revoked); err != nil {
		return tok, err
	}
	tok.Role = promote.Role(role)
	tok.CreatedAt, tok.RevokedAt = fromNanos(created), fromNullNanos(revoked)
	return tok, fromJSON("groups", groups, &tok.Groups)
}

// TokenByHash finds a token by the hash of its secret, revoked or not. The
// message of its NotFound does not repeat the hash.
func (t *tx) TokenByHash(hash string) (promote.Token, error) {
	return one(t, "read token by hash", "token not found", scanToken,
		"SELECT "+tokenColumns+" FROM tokens WHERE hash = ?", hash)
}

// Tokens lists every token, newest first.
func (t *tx) Tokens() ([]promote.Token, error) {
	rows, err := t.query("list tokens", "SELECT "+tokenColumns+" FROM tokens ORDER BY created_at DESC, id")
	return collect("list tokens", rows, err, scanToken)
}

// RevokeToken revokes a token; NotFound for an unknown one, Conflict for
// one already revoked.
func (t *tx) RevokeToken(id string, at time.Time) error {
	what := fmt.Sprintf("revoke token %q", id)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("revoked_at", at); err != nil {
		return err
	}
	ok, err := t.changed(what, "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", nanos(at), id)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	found, err := t.exists(what, "SELECT 1 FROM tokens WHERE id = ?", id)
	if err != nil {
		return err
	}
	if !found {
		return promote.Errorf(promote.NotFound, "token %q not found", id)
	}
	return promote.Errorf(promote.Conflict, "token %q is already revoked", id)
}
