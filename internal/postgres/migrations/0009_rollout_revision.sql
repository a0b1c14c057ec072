-- The revision of a rollout, for optimistic concurrency: every save names
-- the revision it read and is refused when another writer (the leader's
-- controller, a person's operation served by another replica) saved the
-- rollout since. Rollouts stored before this column start at 0.
ALTER TABLE rollouts ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
