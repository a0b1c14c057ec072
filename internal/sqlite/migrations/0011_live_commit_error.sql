-- Why the last attempt to commit a live change failed, and since when (Unix
-- nanoseconds), while it waits for its commit; '' and 0 otherwise. The alias
-- alone carries it: the history records changes, not delivery attempts.
ALTER TABLE live ADD COLUMN commit_error TEXT NOT NULL DEFAULT '';
ALTER TABLE live ADD COLUMN commit_error_since BIGINT NOT NULL DEFAULT 0;
