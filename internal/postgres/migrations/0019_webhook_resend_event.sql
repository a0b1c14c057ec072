-- A re-send keeps the event it sends (its ID and its audit event), so
-- that the leader rebuilds it from the audit log, which is never pruned,
-- rather than from the delivery log, which keeps only the newest attempts:
-- the attempts of the re-sends made before it may push the failure out of
-- the log while it waits. Rows written before, or by an older replica
-- during a rolling upgrade, have the defaults and are rebuilt from the
-- delivery log, as then.
ALTER TABLE webhook_resends ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_resends ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0;
