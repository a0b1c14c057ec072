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

// WebhookDeliveryFilter selects entries of the delivery log; zero fields
// select all.
type WebhookDeliveryFilter struct {
	Endpoint string
	Status   string
	// Limit bounds the entries returned (0: DefaultLimit).
	Limit int
}

// WebhookResend is an administrator's request to send once more a
// delivery that failed for good: the same event, with the same event ID
// (so that a receiver that has it already drops it), in a new series of
// attempts.
type WebhookResend struct {
	// ID is the delivery's.
	ID string
	// FailedSeq is the delivery log entry that recorded the failure, the
	// delivery's newest when the re-send was asked for: a failure is sent
	// again once, however many ask.
	FailedSeq int64
	// EventID and AuditSeq are the event the delivery sends and the
	// audit event it comes from, kept so that the re-send is made even
	// when the delivery log has pruned the failure meanwhile; empty and 0
	// for a re-send recorded without them, which is rebuilt from the log.
	EventID     string
	AuditSeq    int64
	Endpoint    string
	RequestedBy string
	RequestedAt time.Time
	// DoneAt is when the new series ended (delivered, or failed again);
	// zero while the re-send is pending.
	DoneAt time.Time
}

// WebhookStats sums up the delivery log of one endpoint.
type WebhookStats struct {
	Endpoint string
	// Failed counts the deliveries whose newest entry is a failure for
	// good that no one has asked to send again.
	Failed int
	// LastDelivered is the time of the newest delivered attempt the log
	// holds; zero when it holds none.
	LastDelivered time.Time
}

// The statuses of a delivery log entry that the stores read.
const (
	// WebhookDelivered: the receiver answered 2xx.
	WebhookDelivered = "delivered"
	// WebhookFailed: the delivery failed for good; no further attempt.
	WebhookFailed = "failed"
)
