-- The audit chain's actor as an indexed copy, like model, environment,
-- promotion_id and action, so that listings filter by who acted. Existing
-- events take it from their body (the bytes the hash covers).
ALTER TABLE audit_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
UPDATE audit_events SET actor = COALESCE(json_extract(CAST(body AS TEXT), '$.actor'), '');
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
