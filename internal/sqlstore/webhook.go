package sqlstore

import (
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

const webhookCursorColumns = "endpoint, seq, updated_at"

func scanWebhookCursor(s scanner) (promote.WebhookCursor, error) {
	var c promote.WebhookCursor
	var updated int64
	err := s.Scan(&c.Endpoint, &c.Seq, &updated)
	c.UpdatedAt = fromNanos(updated)
	return c, err
}

// checkWebhookCursor returns an Invalid error when c cannot be stored.
func checkWebhookCursor(what string, c promote.WebhookCursor) error {
	switch {
	case c.Endpoint == "":
		return promote.Errorf(promote.Invalid, "%s: the endpoint is empty", what)
	case c.Seq < 0:
		return promote.Errorf(promote.Invalid, "%s: seq %d is negative", what, c.Seq)
	}
	return checkTime("updated_at", c.UpdatedAt)
}

// WebhookCursor returns the endpoint's cursor; NotFound when it has none.
func (t *tx) WebhookCursor(endpoint string) (promote.WebhookCursor, error) {
	return one(t, fmt.Sprintf("read webhook cursor %q", endpoint), fmt.Sprintf("webhook cursor %q not found", endpoint),
		scanWebhookCursor, "SELECT "+webhookCursorColumns+" FROM webhook_cursors WHERE endpoint = ?", endpoint)
}

// StartWebhookCursor creates c unless its endpoint has a cursor: an
// INSERT that does nothing on a conflict on the endpoint, the primary key,
// so that the first of racing replicas wins and the others read its
// cursor. Any other unique violation fails the statement, naming it,
// rather than passing for a cursor started.
func (t *tx) StartWebhookCursor(c promote.WebhookCursor) (promote.WebhookCursor, error) {
	what := fmt.Sprintf("start webhook cursor %q", c.Endpoint)
	if err := t.writable(what); err != nil {
		return c, err
	}
	if err := checkWebhookCursor(what, c); err != nil {
		return c, err
	}
	if _, err := t.exec(what, "INSERT INTO webhook_cursors ("+webhookCursorColumns+") VALUES (?, ?, ?) ON CONFLICT (endpoint) DO NOTHING",
		c.Endpoint, c.Seq, nanos(c.UpdatedAt)); err != nil {
		return c, err
	}
	return t.WebhookCursor(c.Endpoint)
}

// AdvanceWebhookCursor moves the endpoint's cursor forward, never back:
// one statement, whose update applies only to a lower seq.
func (t *tx) AdvanceWebhookCursor(c promote.WebhookCursor) (promote.WebhookCursor, error) {
	what := fmt.Sprintf("advance webhook cursor %q", c.Endpoint)
	if err := t.writable(what); err != nil {
		return c, err
	}
	if err := checkWebhookCursor(what, c); err != nil {
		return c, err
	}
	if _, err := t.exec(what, "INSERT INTO webhook_cursors ("+webhookCursorColumns+`) VALUES (?, ?, ?)
		ON CONFLICT (endpoint) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
		WHERE webhook_cursors.seq < excluded.seq`,
		c.Endpoint, c.Seq, nanos(c.UpdatedAt)); err != nil {
		return c, err
	}
	return t.WebhookCursor(c.Endpoint)
}

const webhookDeliveryColumns = "seq, id, event_id, event_type, endpoint, audit_seq, attempt, status, code, error, at, duration"

func scanWebhookDelivery(s scanner) (promote.WebhookDelivery, error) {
	var d promote.WebhookDelivery
	var at, duration int64
	err := s.Scan(&d.Seq, &d.ID, &d.EventID, &d.EventType, &d.Endpoint, &d.AuditSeq, &d.Attempt, &d.Status, &d.Code,
		&d.Error, &at, &duration)
	d.At, d.Duration = fromNanos(at), time.Duration(duration)
	return d, err
}

// RecordWebhookDelivery appends d to the delivery log and deletes the
// entries keep or more older than it, by seq, which the index of the
// primary key finds at once. Seqs skipped by rolled-back transactions
// make it keep a few fewer.
func (t *tx) RecordWebhookDelivery(d promote.WebhookDelivery, keep int) (promote.WebhookDelivery, error) {
	what := fmt.Sprintf("record webhook delivery %q", d.ID)
	if err := t.writable(what); err != nil {
		return d, err
	}
	switch {
	case d.ID == "" || d.EventID == "" || d.Endpoint == "" || d.Status == "":
		return d, promote.Errorf(promote.Invalid, "%s: id, event id, endpoint and status are required", what)
	case keep < 1:
		return d, promote.Errorf(promote.Invalid, "%s: keep %d, want at least 1", what, keep)
	case d.Attempt < 0 || d.Duration < 0 || d.AuditSeq < 0:
		return d, promote.Errorf(promote.Invalid, "%s: attempt, duration and audit seq may not be negative", what)
	}
	if err := checkTime("at", d.At); err != nil {
		return d, err
	}
	err := t.queryRowContext(`INSERT INTO webhook_deliveries (id, event_id, event_type, endpoint, audit_seq, attempt, status, code, error, at, duration)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		d.ID, d.EventID, d.EventType, d.Endpoint, d.AuditSeq, d.Attempt, d.Status, d.Code, d.Error, nanos(d.At), int64(d.Duration)).Scan(&d.Seq)
	if err != nil {
		return d, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := t.exec(what, "DELETE FROM webhook_deliveries WHERE seq <= ?", d.Seq-int64(keep)); err != nil {
		return d, err
	}
	// Re-sends done of failures the log has forgotten are forgotten too;
	// pending ones stay until the dispatcher sends them.
	if _, err := t.exec(what, "DELETE FROM webhook_resends WHERE done_at <> 0 AND failed_seq <= ?", d.Seq-int64(keep)); err != nil {
		return d, err
	}
	d.At = fromNanos(nanos(d.At))
	return d, nil
}

// WebhookDeliveries lists the entries of the delivery log that f
// selects, newest first.
func (t *tx) WebhookDeliveries(f promote.WebhookDeliveryFilter) ([]promote.WebhookDelivery, error) {
	n, err := limit(f.Limit)
	if err != nil {
		return nil, err
	}
	q := "SELECT " + webhookDeliveryColumns + " FROM webhook_deliveries WHERE 1 = 1"
	var args []any
	if f.Endpoint != "" {
		q += " AND endpoint = ?"
		args = append(args, f.Endpoint)
	}
	if f.Status != "" {
		q += " AND status = ?"
		args = append(args, f.Status)
	}
	rows, err := t.query("list webhook deliveries", q+" ORDER BY seq DESC LIMIT ?", append(args, n)...)
	return collect("list webhook deliveries", rows, err, scanWebhookDelivery)
}

// LastWebhookDelivery returns the newest entry of the delivery id.
func (t *tx) LastWebhookDelivery(id string) (promote.WebhookDelivery, error) {
	return one(t, fmt.Sprintf("read webhook delivery %q", id), fmt.Sprintf("webhook delivery %q not found", id),
		scanWebhookDelivery, "SELECT "+webhookDeliveryColumns+" FROM webhook_deliveries WHERE id = ? ORDER BY seq DESC LIMIT 1", id)
}

const webhookResendColumns = "id, failed_seq, event_id, audit_seq, endpoint, requested_by, requested_at, done_at"

func scanWebhookResend(s scanner) (promote.WebhookResend, error) {
	var r promote.WebhookResend
	var requested, done int64
	err := s.Scan(&r.ID, &r.FailedSeq, &r.EventID, &r.AuditSeq, &r.Endpoint, &r.RequestedBy, &requested, &done)
	r.RequestedAt = fromNanos(requested)
	if done != 0 {
		r.DoneAt = fromNanos(done)
	}
	return r, err
}

// RequestWebhookResend inserts r, pending. The primary key (delivery,
// failure) makes a second request for the same failure a Conflict, on
// every replica, whether the first is still pending or done.
func (t *tx) RequestWebhookResend(r promote.WebhookResend) error {
	what := fmt.Sprintf("request the re-send of webhook delivery %q", r.ID)
	if err := t.writable(what); err != nil {
		return err
	}
	if r.ID == "" || r.Endpoint == "" || r.FailedSeq < 1 {
		return promote.Errorf(promote.Invalid, "%s: id, endpoint and failed seq are required", what)
	}
	if err := checkTime("requested_at", r.RequestedAt); err != nil {
		return err
	}
	_, err := t.exec(what, "INSERT INTO webhook_resends ("+webhookResendColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
		r.ID, r.FailedSeq, r.EventID, r.AuditSeq, r.Endpoint, r.RequestedBy, nanos(r.RequestedAt))
	return err
}

// WebhookResends lists the pending re-sends to endpoint, oldest first.
func (t *tx) WebhookResends(endpoint string) ([]promote.WebhookResend, error) {
	rows, err := t.query("list webhook re-sends", "SELECT "+webhookResendColumns+
		" FROM webhook_resends WHERE endpoint = ? AND done_at = 0 ORDER BY requested_at, failed_seq", endpoint)
	return collect("list webhook re-sends", rows, err, scanWebhookResend)
}

// FinishWebhookResend marks a pending re-send done.
func (t *tx) FinishWebhookResend(id string, failedSeq int64, at time.Time) error {
	what := fmt.Sprintf("finish the re-send of webhook delivery %q", id)
	if err := t.writable(what); err != nil {
		return err
	}
	if err := checkTime("done_at", at); err != nil {
		return err
	}
	res, err := t.exec(what, "UPDATE webhook_resends SET done_at = ? WHERE id = ? AND failed_seq = ?", nanos(at), id, failedSeq)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return promote.Errorf(promote.NotFound, "%s: no re-send of failure %d", what, failedSeq)
	}
	return nil
}

// WebhookStats counts, per endpoint, the deliveries whose newest entry is
// a failure no one asked to re-send, and finds the newest delivered
// attempt. The indexes on (id, seq) and (endpoint, status, seq) keep it to
// the failed and delivered entries.
func (t *tx) WebhookStats() ([]promote.WebhookStats, error) {
	rows, err := t.query("sum up webhook deliveries", `SELECT e.endpoint,
		(SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint = e.endpoint AND d.status = ?
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries n WHERE n.id = d.id AND n.seq > d.seq)
			AND NOT EXISTS (SELECT 1 FROM webhook_resends r WHERE r.id = d.id AND r.failed_seq = d.seq)),
		COALESCE((SELECT max(d.at) FROM webhook_deliveries d WHERE d.endpoint = e.endpoint AND d.status = ?), 0)
		FROM (SELECT DISTINCT endpoint FROM webhook_deliveries) e ORDER BY e.endpoint`,
		promote.WebhookFailed, promote.WebhookDelivered)
	return collect("sum up webhook deliveries", rows, err, func(s scanner) (promote.WebhookStats, error) {
		var st promote.WebhookStats
		var last int64
		err := s.Scan(&st.Endpoint, &st.Failed, &last)
		if last != 0 {
			st.LastDelivered = fromNanos(last)
		}
		return st, err
	})
}
