-- Leases: a named, time-limited right to act alone, which replicas sharing
-- the database take and renew (the "controllers" lease elects the replica
-- that runs the controllers). epoch counts the terms; times are Unix
-- nanoseconds, like every time in the schema.
CREATE TABLE leases (
	name        TEXT PRIMARY KEY,
	holder      TEXT NOT NULL,
	epoch       BIGINT NOT NULL,
	acquired_at BIGINT NOT NULL,
	renewed_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL
);
