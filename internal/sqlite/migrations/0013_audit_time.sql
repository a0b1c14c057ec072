-- The audit chain's time as an indexed copy, like the model and the others,
-- so that listings answer "what happened between these two times" directly:
-- nanoseconds since the Unix epoch, as every stored time, and the smallest
-- integer for the zero time (an event recorded without one), before every
-- bound. Existing events take it from their body (the bytes the hash
-- covers), whose time is RFC 3339 in UTC with up to nine fractional digits.
ALTER TABLE audit_events ADD COLUMN at BIGINT NOT NULL DEFAULT 0;
UPDATE audit_events SET at = CASE
		WHEN b.t = '0001-01-01T00:00:00Z' THEN -9223372036854775807 - 1
		ELSE CAST(strftime('%s', substr(b.t, 1, 19)) AS INTEGER) * 1000000000
			+ CASE WHEN substr(b.t, 20, 1) = '.' THEN CAST(substr(substr(b.t, 21, length(b.t) - 21) || '000000000', 1, 9) AS INTEGER) ELSE 0 END
	END
	FROM (SELECT seq, json_extract(CAST(body AS TEXT), '$.time') AS t FROM audit_events) AS b
	WHERE audit_events.seq = b.seq;
CREATE INDEX audit_events_at ON audit_events (at, seq);
