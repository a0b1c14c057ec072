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
// INSERT that does nothing on a conflict, so that the first of racing
// replicas wins and the others read its cursor.
func (t *tx) StartWebhookCursor(c promote.WebhookCursor) (promote.WebhookCursor, error) {
	what := fmt.Sprintf("start webhook cursor %q", c.Endpoint)
	if err := t.writable(what); err != nil {
		return c, err
	}
	if err := checkWebhookCursor(what, c); err != nil {
		return c, err
	}
	if _, err := t.exec(what, "INSERT INTO webhook_cursors ("+webhookCursorColumns+") VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
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
	d.At = fromNanos(nanos(d.At))
	return d, nil
}

// WebhookDeliveries lists the delivery log, newest first.
func (t *tx) WebhookDeliveries(n int) ([]promote.WebhookDelivery, error) {
	n, err := limit(n)
	if err != nil {
		return nil, err
	}
	rows, err := t.query("list webhook deliveries", "SELECT "+webhookDeliveryColumns+" FROM webhook_deliveries ORDER BY seq DESC LIMIT ?", n)
	return collect("list webhook deliveries", rows, err, scanWebhookDelivery)
}
