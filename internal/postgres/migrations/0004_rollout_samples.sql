-- Rollout samples: a rollout's history for its chart, what each track
-- served between two samples and the analysis's decision.
CREATE TABLE rollout_samples (
	n               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	promotion_id    TEXT NOT NULL REFERENCES rollouts (promotion_id),
	at              BIGINT NOT NULL,
	step            INTEGER NOT NULL,
	weight          DOUBLE PRECISION NOT NULL,
	stable_requests DOUBLE PRECISION NOT NULL,
	stable_errors   DOUBLE PRECISION NOT NULL,
	stable_p95      DOUBLE PRECISION NOT NULL,
	canary_requests DOUBLE PRECISION NOT NULL,
	canary_errors   DOUBLE PRECISION NOT NULL,
	canary_p95      DOUBLE PRECISION NOT NULL,
	decision        TEXT NOT NULL,
	event           TEXT NOT NULL
);
CREATE INDEX rollout_samples_promotion ON rollout_samples (promotion_id, n);
