package promote

import "time"

// WebhookCursor is how far the webhooks of one endpoint have got through
// the audit log: every event with a sequence number up to Seq has been
// dealt with (delivered, failed for good, or not wanted by the endpoint).
// The audit log is the webhooks' outbox; the cursor is the outbox's mark.
type WebhookCursor struct {
	Endpoint  string
	Seq       int64
	UpdatedAt time.Time
}

// WebhookDelivery is one entry of the webhooks' delivery log: an attempt
// to send an event to an endpoint.
type WebhookDelivery struct {
	// Seq orders the log; the store assigns it.
	Seq int64
	// ID identifies the delivery of one event to one endpoint; its
	// attempts share it.
	ID        string
	EventID   string
	EventType string
	Endpoint  string
	// AuditSeq is the audit event the notification came from.
	AuditSeq int64
	Attempt  int
	Status   string
	Code     int
	Error    string
	At       time.Time
	Duration time.Duration
}

// WebhookDeliveriesKept is how many entries the delivery log keeps: each
// attempt recorded forgets those older than the newest
// WebhookDeliveriesKept.
const WebhookDeliveriesKept = 10000
