-- Webhooks are sent from the audit log, the outbox: a cursor per endpoint
-- (by name) marks the last audit event whose notification to it has been
-- dealt with, so that a restart or a new leader resumes after it. Times
-- are Unix nanoseconds, like every time in the schema.
CREATE TABLE webhook_cursors (
	endpoint   TEXT PRIMARY KEY,
	seq        BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
-- The delivery log: every attempt, shared by the replicas and kept across
-- restarts, pruned to the newest entries as it grows.
CREATE TABLE webhook_deliveries (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT NOT NULL,
	event_id    TEXT NOT NULL,
	event_type  TEXT NOT NULL,
	endpoint    TEXT NOT NULL,
	audit_seq   BIGINT NOT NULL,
	attempt     INTEGER NOT NULL,
	status      TEXT NOT NULL,
	code        INTEGER NOT NULL,
	error       TEXT NOT NULL,
	at          BIGINT NOT NULL,
	duration    BIGINT NOT NULL
);
