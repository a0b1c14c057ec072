-- The GitOps side of a live change: the version a rollback replaced, and the
-- commit that carries the change once the reconciler has pushed it.
ALTER TABLE live ADD COLUMN rollback_of TEXT NOT NULL DEFAULT '';
ALTER TABLE live ADD COLUMN commit_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE live_history ADD COLUMN rollback_of TEXT NOT NULL DEFAULT '';
ALTER TABLE live_history ADD COLUMN commit_hash TEXT NOT NULL DEFAULT '';
