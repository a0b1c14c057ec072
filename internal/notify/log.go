package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/promote-ml/promote/promote"
)

// The statuses of a Delivery.
const (
	// StatusDelivered: the receiver answered 2xx.
	StatusDelivered = "delivered"
	// StatusRetrying: the attempt failed in a way worth retrying; another follows.
	StatusRetrying = "retrying"
	// StatusFailed: no further attempt will be made.
	StatusFailed = "failed"
	// StatusDropped: the event was never attempted (queue full or shutdown).
	StatusDropped = "dropped"
)

// Delivery is one entry of the delivery log: an attempt to send an event to
// an endpoint, or the decision not to send it.
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

// DeliveryLog stores delivery records; the Notifier calls Record once per
// attempt and once per dropped delivery.
type DeliveryLog interface {
	Record(ctx context.Context, d Delivery) error
}

var _ DeliveryLog = (*MemoryLog)(nil)

// DefaultMemoryLogSize is the capacity of a MemoryLog made with size zero.
const DefaultMemoryLogSize = 1000

// MemoryLog is a DeliveryLog that keeps the most recent records in memory,
// forgetting the oldest once full. It is safe for concurrent use.
type MemoryLog struct {
	mu   sync.Mutex
	buf  []Delivery
	next int // index the next record goes to
	full bool
}

// NewMemoryLog returns a log holding up to size records
// (DefaultMemoryLogSize when zero or less).
func NewMemoryLog(size int) *MemoryLog {
	if size <= 0 {
		size = DefaultMemoryLogSize
	}
	return &MemoryLog{buf: make([]Delivery, size)}
}

// Record implements DeliveryLog.
func (l *MemoryLog) Record(_ context.Context, d Delivery) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf[l.next] = d
	l.next = (l.next + 1) % len(l.buf)
	if l.next == 0 {
		l.full = true
	}
	return nil
}

// Read is List, for the readers of a delivery log (it cannot fail).
func (l *MemoryLog) Read(_ context.Context, limit int) ([]Delivery, error) { return l.List(limit), nil }

// List returns up to limit records, newest first; all of them when limit is
// zero or less.
func (l *MemoryLog) List(limit int) []Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.buf)
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]Delivery, 0, limit)
	for i := range limit {
		out = append(out, l.buf[(l.next-1-i+len(l.buf))%len(l.buf)])
	}
	return out
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
	var ds []promote.WebhookDelivery
	err := l.store.View(ctx, func(tx promote.Tx) (err error) {
		ds, err = tx.WebhookDeliveries(max(limit, 0))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the webhook delivery log: %w", err)
	}
	out := make([]Delivery, 0, len(ds))
	for _, d := range ds {
		out = append(out, Delivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Endpoint: d.Endpoint,
			AuditSeq: d.AuditSeq, Attempt: d.Attempt, Status: d.Status, Code: d.Code, Error: d.Error, At: d.At, Duration: d.Duration})
	}
	return out, nil
}
