-- The audit chain's version as an indexed copy, like model, environment,
-- promotion_id, action and actor, so that listings answer "who approved
-- version X into prod" directly. Existing events take it from their body
-- (the bytes the hash covers).
ALTER TABLE audit_events ADD COLUMN version TEXT NOT NULL DEFAULT '';
UPDATE audit_events SET version = COALESCE(convert_from(body, 'UTF8')::jsonb ->> 'version', '');
CREATE INDEX audit_events_version ON audit_events (model, version, seq);
