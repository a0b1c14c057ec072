-- Rollouts: the progressive delivery of a committed promotion, stored at
-- every step so that a restarted controller resumes where it stood.
CREATE TABLE rollouts (
	n               INTEGER PRIMARY KEY AUTOINCREMENT,
	promotion_id    TEXT NOT NULL UNIQUE REFERENCES promotions (id),
	model           TEXT NOT NULL,
	version         TEXT NOT NULL,
	environment     TEXT NOT NULL,
	stable          TEXT NOT NULL,
	strategy        TEXT NOT NULL,
	state           TEXT NOT NULL,
	active          BOOLEAN NOT NULL,
	step            INTEGER NOT NULL,
	weight          DOUBLE PRECISION NOT NULL,
	started_at      BIGINT NOT NULL,
	step_started_at BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	reason          TEXT NOT NULL,
	verdict         TEXT
);
CREATE INDEX rollouts_active ON rollouts (active, started_at);
CREATE INDEX rollouts_model ON rollouts (model, environment, started_at);
