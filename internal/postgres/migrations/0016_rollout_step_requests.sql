-- The canary requests counted in a rollout's current step, stored with
-- every sample and step, so that a restarted controller counts on from them
-- rather than from zero; and what the step needs before the rollout moves
-- on (promote.StepNeeds, JSON) as the controller last judged it: NULL for a
-- shadow, and until the controller judges the step. Rollouts stored before
-- these columns count from 0.
ALTER TABLE rollouts ADD COLUMN step_requests DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN step_needs TEXT;
