-- Replicas are upgraded one at a time (docs/operations.md): an older one
-- still running appends events without the copies added since it was built,
-- the actor (0007) and the version (0012), which their columns' default
-- then left empty while the body names them, so that verification reported
-- those events as modified and the filters missed them. An insert that
-- leaves a copy empty now takes it from the body (the bytes the hash
-- covers), as 0013 does for the time. Events already appended that way are
-- not rewritten here: a copy edited by hand looks the same, and is
-- evidence; docs/operations.md says how to repair them.
CREATE FUNCTION promote_audit_events_copies() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	b jsonb := convert_from(NEW.body, 'UTF8')::jsonb;
BEGIN
	IF NEW.actor = '' THEN
		NEW.actor := COALESCE(b ->> 'actor', '');
	END IF;
	IF NEW.version = '' THEN
		NEW.version := COALESCE(b ->> 'version', '');
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_copies BEFORE INSERT ON audit_events
	FOR EACH ROW WHEN (NEW.actor = '' OR NEW.version = '') EXECUTE FUNCTION promote_audit_events_copies();
