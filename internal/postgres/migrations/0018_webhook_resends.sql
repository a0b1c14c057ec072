-- A delivery that failed for good can be sent again on an administrator's
-- request: one row per failure re-sent, keyed by the delivery and the
-- delivery log entry that recorded the failure, so that a second request
-- for the same failure, from any replica, is refused by the key rather
-- than sent twice. The leader's dispatcher sends the pending ones (done_at
-- 0) and marks them done with the last attempt of the new series.
CREATE TABLE webhook_resends (
	id           TEXT NOT NULL,
	failed_seq   BIGINT NOT NULL,
	endpoint     TEXT NOT NULL,
	requested_by TEXT NOT NULL,
	requested_at BIGINT NOT NULL,
	done_at      BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (id, failed_seq)
);
CREATE INDEX webhook_resends_pending ON webhook_resends (endpoint, done_at);
-- A delivery's state is its newest entry; the failed ones and the last
-- delivered one of each endpoint are found by these.
CREATE INDEX webhook_deliveries_id ON webhook_deliveries (id, seq);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint, status, seq);
