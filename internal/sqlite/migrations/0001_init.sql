-- Promote's schema on SQLite. Times are INTEGER Unix nanoseconds (UTC, 0 for
-- the zero time); JSON-valued fields are TEXT holding JSON; n columns keep
-- insertion order, the tie-break of every newest-first listing.

CREATE TABLE models (
	name        TEXT PRIMARY KEY,
	description TEXT NOT NULL,
	created_by  TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);

CREATE TABLE versions (
	n             INTEGER PRIMARY KEY AUTOINCREMENT,
	model         TEXT NOT NULL REFERENCES models (name),
	version       TEXT NOT NULL,
	artifact_uri  TEXT NOT NULL,
	digest        TEXT NOT NULL,
	size          BIGINT NOT NULL,
	signatures    TEXT NOT NULL,
	metrics       TEXT NOT NULL,
	checks        TEXT NOT NULL,
	group_stats   TEXT NOT NULL,
	lineage       TEXT NOT NULL,
	created_by    TEXT NOT NULL,
	created_at    BIGINT NOT NULL,
	rejected      BOOLEAN NOT NULL,
	rejected_by   TEXT NOT NULL,
	rejected_at   BIGINT,
	reject_reason TEXT NOT NULL,
	UNIQUE (model, version)
);
CREATE INDEX versions_newest ON versions (model, created_at, n);

CREATE TABLE promotions (
	n            INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	model        TEXT NOT NULL,
	version      TEXT NOT NULL,
	environment  TEXT NOT NULL,
	digest       TEXT NOT NULL,
	state        TEXT NOT NULL,
	-- active is State.Active(): the promotion holds its (model, environment) slot.
	active       BOOLEAN NOT NULL,
	requested_by TEXT NOT NULL,
	requested_at BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	baseline     TEXT NOT NULL,
	decision     TEXT,
	reason       TEXT NOT NULL,
	override     BOOLEAN NOT NULL,
	FOREIGN KEY (model, version) REFERENCES versions (model, version)
);
-- At most one active promotion per model and environment.
CREATE UNIQUE INDEX promotions_one_active ON promotions (model, environment) WHERE active;
CREATE INDEX promotions_newest ON promotions (requested_at, n);
CREATE INDEX promotions_model ON promotions (model, environment, requested_at);

CREATE TABLE approvals (
	n            INTEGER PRIMARY KEY AUTOINCREMENT,
	promotion_id TEXT NOT NULL REFERENCES promotions (id),
	approver     TEXT NOT NULL,
	roles        TEXT NOT NULL,
	approve      BOOLEAN NOT NULL,
	digest       TEXT NOT NULL,
	comment      TEXT NOT NULL,
	at           BIGINT NOT NULL,
	UNIQUE (promotion_id, approver)
);

CREATE TABLE live (
	model        TEXT NOT NULL,
	environment  TEXT NOT NULL,
	version      TEXT NOT NULL,
	promotion_id TEXT NOT NULL,
	set_by       TEXT NOT NULL,
	set_at       BIGINT NOT NULL,
	reason       TEXT NOT NULL,
	PRIMARY KEY (model, environment),
	FOREIGN KEY (model, version) REFERENCES versions (model, version)
);

CREATE TABLE live_history (
	n            INTEGER PRIMARY KEY AUTOINCREMENT,
	model        TEXT NOT NULL,
	environment  TEXT NOT NULL,
	version      TEXT NOT NULL,
	promotion_id TEXT NOT NULL,
	set_by       TEXT NOT NULL,
	set_at       BIGINT NOT NULL,
	reason       TEXT NOT NULL,
	FOREIGN KEY (model, version) REFERENCES versions (model, version)
);
CREATE INDEX live_history_newest ON live_history (model, environment, set_at, n);

CREATE TABLE holds (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	model        TEXT NOT NULL,
	version      TEXT NOT NULL,
	environment  TEXT NOT NULL,
	reason       TEXT NOT NULL,
	set_by       TEXT NOT NULL,
	set_at       BIGINT NOT NULL,
	cleared_by   TEXT NOT NULL DEFAULT '',
	cleared_at   BIGINT,
	clear_reason TEXT NOT NULL DEFAULT '',
	FOREIGN KEY (model, version) REFERENCES versions (model, version)
);
CREATE INDEX holds_version ON holds (model, version, environment);

-- The audit chain: body holds the exact bytes the hash covers; model,
-- environment, promotion_id and action are indexed copies for filtering.
CREATE TABLE audit_events (
	seq          INTEGER PRIMARY KEY,
	prev_hash    TEXT NOT NULL,
	hash         TEXT NOT NULL,
	body         BLOB NOT NULL,
	model        TEXT NOT NULL,
	environment  TEXT NOT NULL,
	promotion_id TEXT NOT NULL,
	action       TEXT NOT NULL
);
CREATE INDEX audit_events_model ON audit_events (model, seq);
CREATE INDEX audit_events_environment ON audit_events (environment, seq);
CREATE INDEX audit_events_promotion ON audit_events (promotion_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);

-- The chain's head: the last event's seq and hash (0 and the genesis hash
-- before the first), one row that every append reads and moves.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE tokens (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	role        TEXT NOT NULL,
	group_names TEXT NOT NULL,
	hash        TEXT NOT NULL UNIQUE,
	created_by  TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	revoked_at  BIGINT
);
