package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

// The statuses of a Delivery.
const (
	// StatusDelivered: the receiver answered 2xx.
	StatusDelivered = promote.WebhookDelivered
	// StatusRetrying: the attempt failed in a way worth retrying; another follows.
	StatusRetrying = "retrying"
	// StatusFailed: no further attempt will be made.
	StatusFailed = promote.WebhookFailed
)

// Statuses returns the statuses of a Delivery.
func Statuses() []string { return []string{StatusDelivered, StatusRetrying, StatusFailed} }

// Delivery is one entry of the delivery log: an attempt to send an event to
// an endpoint.
type Delivery struct {
	// ID identifies the delivery of one event to one endpoint; all its
	// attempts share it.
	ID        string `json:"id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Endpoint  string `json:"endpoint"`
	// AuditSeq is the audit event the notification came from, when the
	// Dispatcher sent it. The API leaves it out: the event ID names it.
	AuditSeq int64         `json:"-"`
	Attempt  int           `json:"attempt"`
	Status   string        `json:"status"`
	Code     int           `json:"code,omitempty"`
	Error    string        `json:"error,omitempty"`
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
}

// StoreLog reads the delivery log that a Dispatcher keeps in the store, so
// that every replica shows the same log and it survives restarts.
type StoreLog struct {
	store promote.Store
}

// NewStoreLog returns the delivery log of store.
func NewStoreLog(store promote.Store) *StoreLog { return &StoreLog{store: store} }

// Read returns up to limit records, newest first (promote.DefaultLimit
// when limit is zero or less), or the error that kept the store from being
// read: a log that cannot be read is never shown as an empty one.
func (l *StoreLog) Read(ctx context.Context, limit int) ([]Delivery, error) {
	return l.List(ctx, DeliveryFilter{Limit: limit})
}

// DeliveryFilter selects entries of the delivery log; zero fields select
// all.
type DeliveryFilter struct {
	// Endpoint keeps the entries of the endpoint of this name.
	Endpoint string
	// Status keeps the entries of this status (StatusDelivered,
	// StatusRetrying, StatusFailed).
	Status string
	// Limit bounds the entries returned (promote.DefaultLimit when zero
	// or less).
	Limit int
}

// List returns the records f selects, newest first, or the error that
// kept the store from being read.
func (l *StoreLog) List(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	var ds []promote.WebhookDelivery
	err := l.store.View(ctx, func(tx promote.Tx) (err error) {
		ds, err = tx.WebhookDeliveries(promote.WebhookDeliveryFilter{Endpoint: f.Endpoint, Status: f.Status, Limit: max(f.Limit, 0)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the webhook delivery log: %w", err)
	}
	out := make([]Delivery, 0, len(ds))
	for _, d := range ds {
		out = append(out, fromStore(d))
	}
	return out, nil
}

// fromStore is the delivery log's entry d as the API shows it.
func fromStore(d promote.WebhookDelivery) Delivery {
	return Delivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Endpoint: d.Endpoint,
		AuditSeq: d.AuditSeq, Attempt: d.Attempt, Status: d.Status, Code: d.Code, Error: d.Error, At: d.At, Duration: d.Duration}
}
