-- A change of an alias read by what it did rather than by its place in
-- the history: the changes that made a version live (the web UI's version
-- page; a rollback's target, which must have reached the GitOps branch
-- once), the rollbacks that took a version out (the upstream rule, the
-- promotion page) and the change a promotion made (the promotion page,
-- recording its commit). Through live_history_newest alone each walked
-- the alias's whole history in the environment, newest first, until it
-- found its rows, a cost that grew with every promotion and rollback ever
-- made there. Each of these holds one such selection in the history's
-- order (set_at, n), so that a read costs the rows it returns.
CREATE INDEX live_history_version ON live_history (model, environment, version, set_at, n);
CREATE INDEX live_history_rollback_of ON live_history (model, environment, rollback_of, set_at, n);
CREATE INDEX live_history_promotion ON live_history (model, environment, promotion_id, set_at, n);

-- A pipeline cell's active holds (a model's in one environment): the
-- pipeline page shows the newest few of each cell of its page and counts
-- the others, where it read every active hold of its models.
CREATE INDEX holds_active_cell ON holds (model, environment, id) WHERE cleared_at IS NULL;
