-- Replicas are upgraded one at a time (docs/operations.md): one built before
-- 0011 records a change's commit, or a new change, without the commit error,
-- which then stayed on an alias that was delivered, and promote status kept
-- showing it. A change of the alias's change or commit now clears an error
-- the statement left as it was, as the statements since 0011 do themselves.
CREATE FUNCTION promote_live_commit_error_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.commit_error := '';
	NEW.commit_error_since := 0;
	RETURN NEW;
END
$$;
CREATE TRIGGER live_commit_error_cleared BEFORE UPDATE ON live
	FOR EACH ROW WHEN (NEW.commit_error <> '' AND NEW.commit_error = OLD.commit_error
		AND (NEW.promotion_id IS DISTINCT FROM OLD.promotion_id OR NEW.commit_hash IS DISTINCT FROM OLD.commit_hash))
	EXECUTE FUNCTION promote_live_commit_error_cleared();
