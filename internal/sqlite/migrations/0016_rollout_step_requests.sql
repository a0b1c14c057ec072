-- The canary requests counted in a rollout's current step, stored with
-- every sample and step, so that a restarted controller counts on from them
-- rather than from zero; and what the step needs before the rollout moves
-- on (promote.StepNeeds, JSON) as the controller last judged it: NULL for a
-- shadow, and until the controller judges the step. Rollouts stored before
-- these columns count from 0.
ALTER TABLE rollouts ADD COLUMN step_requests DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN step_needs TEXT;
-- step_requests_at is the start of the step (step_started_at) that the
-- count and the needs belong to: a replica built before these columns,
-- still running during a rolling upgrade, moves a step on (or resumes a
-- rollout, which starts its step again) without them, and the count it
-- leaves then belongs to another step, which is read as none.
ALTER TABLE rollouts ADD COLUMN step_requests_at BIGINT NOT NULL DEFAULT 0;
