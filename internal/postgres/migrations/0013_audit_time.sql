-- The audit chain's time as an indexed copy, like the model and the others,
-- so that listings answer "what happened between these two times" directly:
-- nanoseconds since the Unix epoch, as every stored time, and the smallest
-- integer for the zero time (an event recorded without one), before every
-- bound. Existing events take it from their body (the bytes the hash
-- covers), whose time is RFC 3339 in UTC with up to nine fractional digits.
CREATE FUNCTION promote_audit_nanos(t TEXT) RETURNS BIGINT LANGUAGE SQL STABLE STRICT AS $$
	SELECT CASE
		WHEN t = '0001-01-01T00:00:00Z' THEN -9223372036854775807 - 1
		ELSE extract(epoch FROM (substr(t, 1, 19) || 'Z')::timestamptz)::bigint * 1000000000
			+ CASE WHEN substr(t, 20, 1) = '.' THEN rpad(substr(t, 21, length(t) - 21), 9, '0')::bigint ELSE 0 END
	END
$$;
ALTER TABLE audit_events ADD COLUMN at BIGINT;
UPDATE audit_events SET at = promote_audit_nanos(convert_from(body, 'UTF8')::jsonb ->> 'time');
ALTER TABLE audit_events ALTER COLUMN at SET NOT NULL;
CREATE INDEX audit_events_at ON audit_events (at, seq);
-- Replicas are upgraded one at a time: an older one still running appends
-- events without the copy, which is then taken from the body as above,
-- rather than left to break verification and the time filters.
CREATE FUNCTION promote_audit_events_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.at := promote_audit_nanos(convert_from(NEW.body, 'UTF8')::jsonb ->> 'time');
	RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_at BEFORE INSERT ON audit_events
	FOR EACH ROW WHEN (NEW.at IS NULL) EXECUTE FUNCTION promote_audit_events_at();
