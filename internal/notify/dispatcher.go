package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/promote-ml/promote/promote"
)

// DefaultPoll is how often a Dispatcher looks for new audit events when
// nothing wakes it sooner.
const DefaultPoll = time.Second

// dispatchBatch is how many audit events a Dispatcher reads at a time.
const dispatchBatch = 100

// keySeq is the log attribute of an audit event's sequence number.
const keySeq = "seq"

// DispatcherConfig configures a Dispatcher. The embedded Config sets the
// endpoints, the client, the retries and the logger; the audit log is the
// queue and the store keeps the delivery log.
type DispatcherConfig struct {
	Config
	// Store holds the audit log the notifications come from, the
	// endpoints' cursors and the delivery log.
	Store promote.Store
	// Poll is how often to look for new audit events (DefaultPoll when
	// zero); Wake looks at once.
	Poll time.Duration
	// Keep bounds the delivery log (promote.WebhookDeliveriesKept when
	// zero).
	Keep int
	// Metrics counts the attempts and, while Run runs, shows the
	// failures not re-sent and the last delivery of each endpoint; nil
	// records nothing.
	Metrics *Metrics
	// ExternalURL is the address people reach the server at (promote
	// serve --external-url); when set, every notification links to the
	// web UI's page that tells of it (Event.URL, PageURL).
	ExternalURL string
}

// Dispatcher sends webhooks from the audit log, which is the outbox: for
// each endpoint it reads the audit events after the endpoint's cursor,
// maps them to notifications (FromAudit), delivers those the endpoint
// wants, in order, signed, with retries and backoff, and
// moves the cursor past each event once its delivery is finished:
// delivered, or failed for good. Every attempt goes to the store's
// delivery log.
//
// Delivery is at least once: an event whose delivery was under way when
// the Dispatcher stopped is sent again by the next one, with the same
// event ID. Only one Dispatcher should run against a store at a time;
// when Run's context carries a lease's fence (promote.WithFence), every
// write it makes checks the lease in the same transaction, so that a
// Dispatcher whose term has ended can neither move a cursor nor record a
// delivery.
type Dispatcher struct {
	n     *sender
	store promote.Store
	poll  time.Duration
	keep  int
	m     *Metrics
	base  string          // the external URL the notifications' links start with
	wakes []chan struct{} // one per endpoint
}

// NewDispatcher validates cfg, fills its defaults and returns a
// Dispatcher.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil {
		return nil, promote.Errorf(promote.Invalid, "notify dispatcher: no store")
	}
	if cfg.Poll < 0 || cfg.Keep < 0 {
		return nil, promote.Errorf(promote.Invalid, "notify dispatcher: poll %s and keep %d may not be negative", cfg.Poll, cfg.Keep)
	}
	if cfg.ExternalURL != "" {
		if err := CheckExternalURL(cfg.ExternalURL); err != nil {
			return nil, promote.Errorf(promote.Invalid, "notify dispatcher: %v", err)
		}
	}
	n, err := newSender(cfg.Config)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{n: n, store: cfg.Store, poll: cfg.Poll, keep: cfg.Keep, m: cfg.Metrics, base: cfg.ExternalURL}
	if d.poll == 0 {
		d.poll = DefaultPoll
	}
	if d.keep == 0 {
		d.keep = promote.WebhookDeliveriesKept
	}
	for range n.cfg.Endpoints {
		d.wakes = append(d.wakes, make(chan struct{}, 1))
	}
	return d, nil
}

// Wake makes a running Dispatcher look for new audit events at once rather
// than at its next poll; it never blocks. The registry's Audited hook
// calls it when the replica appends an event. A nil Dispatcher does
// nothing.
func (d *Dispatcher) Wake() {
	if d == nil {
		return
	}
	for _, w := range d.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Start gives every endpoint that has no cursor one at the audit log's
// current head, so that a new endpoint (or a new installation) receives
// what happens from now on rather than the whole history. It leaves
// existing cursors alone, so it is safe to call from every replica at
// start, before serving requests: nothing appended after that is missed.
func (d *Dispatcher) Start(ctx context.Context) error {
	for _, ep := range d.n.cfg.Endpoints {
		if _, err := d.cursor(ctx, ep.Name); err != nil {
			return err
		}
	}
	return nil
}

// cursor returns the endpoint's cursor, starting it at the head of the
// audit log when it has none.
func (d *Dispatcher) cursor(ctx context.Context, endpoint string) (promote.WebhookCursor, error) {
	var c promote.WebhookCursor
	err := d.store.View(ctx, func(tx promote.Tx) (err error) {
		c, err = tx.WebhookCursor(endpoint)
		return err
	})
	if promote.ErrorCode(err) != promote.NotFound {
		return c, err
	}
	err = d.update(ctx, func(tx promote.Tx) error {
		head, err := tx.AuditEvents(promote.AuditFilter{Limit: 1})
		if err != nil {
			return err
		}
		c = promote.WebhookCursor{Endpoint: endpoint, UpdatedAt: d.n.cfg.Now()}
		if len(head) > 0 {
			c.Seq = head[0].Seq
		}
		c, err = tx.StartWebhookCursor(c)
		return err
	})
	if err != nil {
		return c, fmt.Errorf("start the webhook cursor of %q: %w", endpoint, err)
	}
	return c, nil
}

// Run dispatches until ctx ends, then returns nil. Errors (the store
// unreachable, the term over) are logged and the work is retried at the
// next poll. An attempt in flight when ctx ends completes (within
// Config.Timeout) and is recorded; a pending retry is abandoned, to be
// made again by the next Dispatcher. While it runs, it reads the delivery
// log's sums into the metrics at every poll; when it returns, it drops
// them, so that only the replica that sends shows them.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, ep := range d.n.cfg.Endpoints {
		wg.Go(func() { d.runEndpoint(ctx, ep, d.wakes[i]) })
	}
	if d.m != nil {
		wg.Go(func() { d.runStats(ctx) })
	}
	wg.Wait()
	d.m.forget()
	return nil
}

// runStats reads the delivery log's sums into the metrics at once and at
// every poll until ctx ends.
func (d *Dispatcher) runStats(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var stats []promote.WebhookStats
		err := d.store.View(ctx, func(tx promote.Tx) (err error) {
			stats, err = tx.WebhookStats()
			return err
		})
		if err != nil && ctx.Err() == nil {
			d.n.log.WarnContext(ctx, "webhook metrics: read the delivery log", slog.String(keyError, err.Error()))
		} else if err == nil {
			d.m.stats(d.n.cfg.Endpoints, stats)
		}
		t.Reset(d.poll)
	}
}

// runEndpoint dispatches to ep until ctx ends.
func (d *Dispatcher) runEndpoint(ctx context.Context, ep Endpoint, wake <-chan struct{}) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		if err := d.drain(ctx, ep); err != nil && ctx.Err() == nil {
			d.n.log.WarnContext(ctx, "webhook dispatch", slog.String(keyEndpoint, ep.Name), slog.String(keyError, err.Error()))
		}
		t.Reset(d.poll)
	}
}

// errBatchFull stops a scan of the audit log once a batch is read.
var errBatchFull = errors.New("batch full")

// drain sends ep everything after its cursor.
func (d *Dispatcher) drain(ctx context.Context, ep Endpoint) error {
	c, err := d.cursor(ctx, ep.Name)
	if err != nil {
		return err
	}
	for {
		var batch []promote.AuditRecord
		err := d.store.ScanAudit(ctx, c.Seq, func(r promote.AuditRecord) error {
			batch = append(batch, r)
			if len(batch) == dispatchBatch {
				return errBatchFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return fmt.Errorf("read the audit log after %d: %w", c.Seq, err)
		}
		if len(batch) == 0 {
			// Caught up: the re-sends an administrator asked for go
			// after the new events, one at a time, so that an event
			// appended meanwhile waits for one re-send's series at
			// most, as it would for an event before it.
			sent, err := d.resendNext(ctx, ep)
			if err != nil || !sent || ctx.Err() != nil {
				return err
			}
			continue
		}
		for _, r := range batch {
			e, err := r.Event()
			if err != nil {
				// A body that does not decode cannot be sent; audit
				// verify reports it. Move on rather than stop every
				// later notification.
				d.n.log.ErrorContext(ctx, "webhook dispatch: skip an audit event", slog.Int64(keySeq, r.Seq), slog.String(keyError, err.Error()))
				continue
			}
			ev, ok := FromAudit(e)
			if !ok || !ep.Wants(ev.Type) {
				continue
			}
			if err := d.complete(ctx, e, &ev); err != nil {
				return err
			}
			// Events before r that the endpoint does not want are done
			// with: the cursor moves past them with r.
			if err := d.deliver(ctx, job{id: deliveryID(ev.ID, ep.Name), ev: ev, ep: ep, seq: r.Seq}); err != nil {
				return err
			}
			if c, err = d.advance(ctx, ep.Name, r.Seq); err != nil {
				return err
			}
		}
		if last := batch[len(batch)-1].Seq; last > c.Seq {
			if c, err = d.advance(ctx, ep.Name, last); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// complete adds to ev, the notification FromAudit made of e, what the
// audit event alone does not hold: a rollback's rollout record, and the
// link to the web UI's page.
func (d *Dispatcher) complete(ctx context.Context, e promote.AuditEvent, ev *Event) error {
	if e.Action == promote.ActionRolledBack {
		var err error
		if ev.Rollout, err = d.rolloutOf(ctx, e); err != nil {
			return err
		}
	}
	if ev.Type == TypePromotionAwaitingApproval && ev.PromotionID != "" {
		if err := d.awaitingOf(ctx, e, ev); err != nil {
			return err
		}
	}
	ev.URL = PageURL(d.base, *ev)
	return nil
}

// awaitingOf adds to ev, the promotion.awaiting_approval notification of
// event waiting, what it tells approvers beside the event, read in one
// read transaction: the requester's note, and, when ev has no approval
// request yet (the registry's own awaiting event rather than an approval
// short of the quorum), the gate's results and the approvals by then
// (approvalIn).
func (d *Dispatcher) awaitingOf(ctx context.Context, waiting promote.AuditEvent, ev *Event) error {
	req, note := ev.Approval, ""
	err := d.store.View(ctx, func(tx promote.Tx) (err error) {
		if req == nil {
			if req, err = approvalIn(tx, waiting); err != nil {
				return err
			}
		}
		note, err = noteIn(tx, ev.PromotionID)
		return err
	})
	if err != nil {
		return fmt.Errorf("read the gate and note of promotion %s awaiting approval (event %d): %w", ev.PromotionID, waiting.Seq, err)
	}
	ev.Approval, ev.Note = req, note
	return nil
}

// noteIn reads the requester's note of promotion id: fixed when it was
// requested, so the notification, sent again, is the same; "" when it has
// none, or the store holds no such promotion.
func noteIn(tx promote.Tx, id string) (string, error) {
	p, err := tx.Promotion(id)
	if promote.ErrorCode(err) == promote.NotFound {
		return "", nil
	}
	return p.Note, err
}

// gatedSpan bounds how many of a promotion's events before it approvalIn
// reads for the gate's results: the registry writes them just before
// the promotion begins to wait, in the same transaction.
const gatedSpan = 8

// approvalIn reads what promotion.awaiting_approval event waiting asks
// of approvers: the gate's results, recorded by the promotion.state gated
// event written with it (the same time and promotion), and the approvals
// recorded by then. They are in the store whenever waiting is, and do
// not change, so the notification, sent again, is the same; nil when
// there are no such results (an event not written by the registry).
func approvalIn(tx promote.Tx, waiting promote.AuditEvent) (*ApprovalRequest, error) {
	if waiting.PromotionID == "" {
		return nil, nil
	}
	before, err := tx.AuditEvents(promote.AuditFilter{PromotionID: waiting.PromotionID, BeforeSeq: waiting.Seq, Limit: gatedSpan})
	if err != nil {
		return nil, err
	}
	for _, e := range before {
		if !e.Time.Equal(waiting.Time) {
			return nil, nil
		}
		if e.Action != promote.ActionPromotionState || e.Decision != string(promote.StateGated) {
			continue
		}
		approvals, err := tx.Approvals(waiting.PromotionID)
		if err != nil && promote.ErrorCode(err) != promote.NotFound {
			return nil, err
		}
		approvals = slices.DeleteFunc(approvals, func(a promote.Approval) bool { return a.At.After(waiting.Time) })
		req, _ := approvalRequest(e.Reasons, approvals)
		return req, nil
	}
	return nil, nil
}

// rollbackSpan bounds how many events after a rollback rolloutOf reads
// for the rollout's record: the registry writes it second after the
// rollback, in the same transaction.
const rollbackSpan = 8

// errSpanRead stops the scan of the events written with a rollback.
var errSpanRead = errors.New("rollback's events read")

// rolloutOf reads the events written with rollback, a live.rolled_back
// event, for the record of the rollout it ended (nil when it ended none).
// They are in the store whenever rollback is, having been committed with
// it, so the notification, sent again, is the same.
func (d *Dispatcher) rolloutOf(ctx context.Context, rollback promote.AuditEvent) (*RolloutRecord, error) {
	var following []promote.AuditEvent
	err := d.store.ScanAudit(ctx, rollback.Seq, func(r promote.AuditRecord) error {
		e, err := r.Event()
		if err != nil || !e.Time.Equal(rollback.Time) {
			return errSpanRead // a later operation's: the transaction's events are read
		}
		following = append(following, e)
		if len(following) == rollbackSpan {
			return errSpanRead
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSpanRead) {
		return nil, fmt.Errorf("read the events after rollback %d: %w", rollback.Seq, err)
	}
	rec, _ := rolloutOf(rollback, following)
	return rec, nil
}

// advance moves the endpoint's cursor to seq, fenced. Like record, it
// outlives ctx: a delivery finished as the Dispatcher stopped is not sent
// again.
func (d *Dispatcher) advance(ctx context.Context, endpoint string, seq int64) (promote.WebhookCursor, error) {
	var c promote.WebhookCursor
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.n.cfg.Timeout)
	defer cancel()
	err := d.update(actx, func(tx promote.Tx) (err error) {
		c, err = tx.AdvanceWebhookCursor(promote.WebhookCursor{Endpoint: endpoint, Seq: seq, UpdatedAt: d.n.cfg.Now()})
		return err
	})
	if err != nil {
		return c, fmt.Errorf("advance the webhook cursor of %q to %d: %w", endpoint, seq, err)
	}
	return c, nil
}

// deliver makes the attempts for j and records each; nil once the
// delivery is finished (delivered or failed for good), an error when it
// was interrupted (ctx ended before a retry) or an attempt could not be
// recorded (the store failed, or the term ended): the event is then sent
// again later.
func (d *Dispatcher) deliver(ctx context.Context, j job) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deliver %s to %q: stopped before attempt 1: %w", j.ev.ID, j.ep.Name, err)
	}
	err := d.n.attempts(ctx, j, func() error { return d.checkFence(ctx, j) }, func(attempt int, status string, o outcome, at time.Time) error {
		return d.record(ctx, j, attempt, status, o, at)
	})
	var stop *stoppedError
	if errors.As(err, &stop) {
		return fmt.Errorf("deliver %s to %q: %w", j.ev.ID, j.ep.Name, stop)
	}
	return err
}

// checkFence checks, when ctx carries a lease's fence, that the term
// lasts, in a transaction of its own. A request is a side effect that no
// transaction can fence, so the check comes right before each attempt,
// as before a Git push: a Dispatcher whose term has ended sends nothing
// more, where it would otherwise send the event at its cursor again at
// every poll, failing each time to record it, until its context ended.
func (d *Dispatcher) checkFence(ctx context.Context, j job) error {
	if _, fenced := promote.FenceFrom(ctx); !fenced {
		return nil
	}
	if err := d.update(ctx, func(promote.Tx) error { return nil }); err != nil {
		return fmt.Errorf("deliver %s to %q: %w", j.ev.ID, j.ep.Name, err)
	}
	return nil
}

// record writes one attempt to the store's delivery log, fenced, and logs
// it. It outlives ctx (within Config.Timeout), so that an attempt that
// completed as the Dispatcher stopped is recorded, and its cursor moved,
// rather than sent again.
func (d *Dispatcher) record(ctx context.Context, j job, attempt int, status string, o outcome, at time.Time) error {
	dl := d.n.delivery(j, attempt, status, o, at)
	d.n.logDelivery(ctx, j, dl)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.n.cfg.Timeout)
	defer cancel()
	err := d.update(rctx, func(tx promote.Tx) error {
		_, err := tx.RecordWebhookDelivery(promote.WebhookDelivery{ID: dl.ID, EventID: dl.EventID, EventType: dl.EventType,
			Endpoint: dl.Endpoint, AuditSeq: dl.AuditSeq, Attempt: dl.Attempt, Status: dl.Status, Code: dl.Code, Error: dl.Error,
			At: dl.At, Duration: dl.Duration}, d.keep)
		if err != nil || j.resend == nil || status == StatusRetrying {
			return err
		}
		// The re-send is done with the series' last attempt, or not at
		// all: one interrupted before stays pending.
		return tx.FinishWebhookResend(j.resend.ID, j.resend.FailedSeq, d.n.cfg.Now())
	})
	if err != nil {
		return fmt.Errorf("record the delivery of %s to %q: %w", j.ev.ID, j.ep.Name, err)
	}
	d.m.attempt(j.ep.Name, status, at)
	return nil
}

// update runs fn in a read-write transaction which, when ctx carries a
// lease's fence, first checks the lease: a Dispatcher whose term has
// ended changes nothing.
func (d *Dispatcher) update(ctx context.Context, fn func(promote.Tx) error) error {
	return d.store.Update(ctx, func(tx promote.Tx) error {
		if err := promote.CheckFence(ctx, tx, d.n.cfg.Now()); err != nil {
			return err
		}
		return fn(tx)
	})
}

// deliveryID identifies the delivery of an event to an endpoint: the same
// for every attempt, whichever Dispatcher makes it.
func deliveryID(eventID, endpoint string) string {
	h := sha256.Sum256([]byte(eventID + "\x00" + endpoint))
	return "dlv_" + hex.EncodeToString(h[:16])
}
