-- Web UI sessions, shared by the replicas and kept across restarts. A
-- session is found by the SHA-256 of its ID: the ID, which only the
-- browser's cookie holds, is never stored. token_hash is the hash of the
-- API token it was opened with, checked again at every request; csrf is
-- the token its forms carry. Times are Unix nanoseconds, like every time
-- in the schema.
CREATE TABLE ui_sessions (
	id_hash    TEXT PRIMARY KEY,
	token_hash TEXT NOT NULL,
	csrf       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
-- The sweep of expired sessions reads them in expiry order.
CREATE INDEX ui_sessions_expires_at ON ui_sessions (expires_at);
