package notify

import (
	"context"
	"log/slog"
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
	ctx     context.Context
	store   promote.Store
	log     *slog.Logger
	timeout time.Duration
}

// NewStoreLog returns the delivery log of store. ctx bounds every List
// (List takes no context of its own, to match MemoryLog); logger receives
// the errors List cannot return, and may be nil.
func NewStoreLog(ctx context.Context, store promote.Store, logger *slog.Logger) *StoreLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &StoreLog{ctx: ctx, store: store, log: logger, timeout: 10 * time.Second}
}

// List returns up to limit records, newest first (promote.DefaultLimit when
// limit is zero or less). When the store cannot be read it logs the error
// and returns none.
func (l *StoreLog) List(limit int) []Delivery {
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	var ds []promote.WebhookDelivery
	err := l.store.View(ctx, func(tx promote.Tx) (err error) {
		ds, err = tx.WebhookDeliveries(max(limit, 0))
		return err
	})
	if err != nil {
		l.log.ErrorContext(ctx, "read the webhook delivery log", slog.String(keyError, err.Error()))
		return nil
	}
	out := make([]Delivery, 0, len(ds))
	for _, d := range ds {
		out = append(out, Delivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Endpoint: d.Endpoint,
			AuditSeq: d.AuditSeq, Attempt: d.Attempt, Status: d.Status, Code: d.Code, Error: d.Error, At: d.At, Duration: d.Duration})
	}
	return out
}
