-- The ID of the API token an audit event was made with (never its secret)
-- as an indexed copy, like the actor and the others, so that after a token
-- leaks an admin lists exactly what it did. Events recorded before have no
-- token ID in their body (the bytes the hash covers), so the default, empty,
-- is their copy and nothing is backfilled. Nor does an insert need a trigger
-- (as 0013 and 0014 add on PostgreSQL): an older replica still running
-- during a rolling upgrade writes bodies without a token ID, whose copy is
-- rightly left empty.
ALTER TABLE audit_events ADD COLUMN token_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_token_id ON audit_events (token_id, seq);
