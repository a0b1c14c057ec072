package promote

import "time"

// Session is a web UI session as stored, shared by every replica that uses
// the store. It is found by the hash of its ID: the ID itself, which the
// browser's cookie holds, is never stored, so that reading the table does
// not let anyone take a session over.
type Session struct {
	// IDHash is the hex SHA-256 of the session's ID.
	IDHash string
	// TokenHash is the hash of the API token the session was opened with
	// (Token.Hash, never the secret): every request checks it again, so
	// that revoking the token ends the session.
	TokenHash string
	// CSRF is the token that the session's forms must carry.
	CSRF      string
	CreatedAt time.Time
	// ExpiresAt is when the session ends unless it is deleted before.
	ExpiresAt time.Time
}
