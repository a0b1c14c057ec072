package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/promote-ml/promote/promote"
)

// Resend asks for the delivery id, which failed for good, to be sent
// again: the same event, with the same event ID (a receiver that has it
// already drops it as a duplicate), in a new series of attempts that the
// leader's Dispatcher makes at its next look. It may be called on any
// replica. The request is recorded with an audit event (webhook.resent)
// in the same transaction, and a failure is re-sent once, however many
// ask: a second request for it is a Conflict, from any replica.
//
// It needs the admin role (Unauthorized without a name, Forbidden
// without the role), whichever way it is asked (the API, the web UI). It
// returns the failed attempt being re-sent; NotFound when the log holds
// no delivery id, Conflict when its last attempt is not a failure for
// good, or its endpoint is no longer configured.
func (d *Dispatcher) Resend(ctx context.Context, who promote.Principal, id string) (Delivery, error) {
	switch {
	case who.Name == "":
		return Delivery{}, promote.Errorf(promote.Unauthorized, "re-sending a webhook needs a token")
	case !who.Role.Allows(promote.RoleAdmin):
		return Delivery{}, promote.Errorf(promote.Forbidden, "re-sending a webhook needs the %s role; %s has %s", promote.RoleAdmin, who.Name, who.Role)
	}
	var failed promote.WebhookDelivery
	err := d.store.Update(ctx, func(tx promote.Tx) (err error) {
		if failed, err = tx.LastWebhookDelivery(id); err != nil {
			if promote.ErrorCode(err) == promote.NotFound {
				return promote.Errorf(promote.NotFound, "webhook delivery %q not found (the log keeps the newest %d attempts)", id, d.keep)
			}
			return err
		}
		switch failed.Status {
		case StatusFailed:
		case StatusRetrying:
			return promote.Errorf(promote.Conflict, "webhook delivery %q is being attempted (attempt %d is retrying); only a delivery that failed for good can be re-sent", id, failed.Attempt)
		default:
			return promote.Errorf(promote.Conflict, "webhook delivery %q is %s; only a delivery that failed for good can be re-sent", id, failed.Status)
		}
		if !d.configured(failed.Endpoint) {
			return promote.Errorf(promote.Conflict, "webhook delivery %q went to endpoint %q, which is no longer configured", id, failed.Endpoint)
		}
		now := d.n.cfg.Now()
		err = tx.RequestWebhookResend(promote.WebhookResend{ID: id, FailedSeq: failed.Seq, EventID: failed.EventID,
			AuditSeq: failed.AuditSeq, Endpoint: failed.Endpoint, RequestedBy: who.Name, RequestedAt: now})
		if promote.ErrorCode(err) == promote.Conflict {
			return promote.Errorf(promote.Conflict, "webhook delivery %q: its re-send is requested already", id)
		} else if err != nil {
			return err
		}
		reasons, err := json.Marshal([]string{fmt.Sprintf("delivery %s of event %s (%s) to endpoint %s", id, failed.EventID, failed.EventType, failed.Endpoint)})
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(promote.AuditEvent{Time: now, Actor: who.Name, TokenID: who.TokenID,
			Action: promote.ActionWebhookResent, Decision: "requested", Reasons: reasons})
		return err
	})
	if err != nil {
		return Delivery{}, err
	}
	d.Wake()
	return fromStore(failed), nil
}

// configured reports whether an endpoint of that name is configured.
func (d *Dispatcher) configured(name string) bool {
	for _, ep := range d.n.cfg.Endpoints {
		if ep.Name == name {
			return true
		}
	}
	return false
}

// resendNext sends ep the delivery whose re-send is pending and was
// asked for first, and reports whether there was one. A re-send is done,
// in the transaction that records the new series' last attempt, once it
// is delivered or failed for good; one interrupted (ctx ended, the term
// over) stays pending, and the next Dispatcher sends it again.
func (d *Dispatcher) resendNext(ctx context.Context, ep Endpoint) (bool, error) {
	var rs []promote.WebhookResend
	err := d.store.View(ctx, func(tx promote.Tx) (err error) {
		rs, err = tx.WebhookResends(ep.Name)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("read the pending webhook re-sends of %q: %w", ep.Name, err)
	}
	for _, r := range rs {
		j, err := d.resendJob(ctx, ep, r)
		if errors.Is(err, errCannotResend) {
			d.n.log.WarnContext(ctx, "webhook re-send: dropped", slog.String(keyEndpoint, ep.Name), slog.String("delivery", r.ID),
				slog.String(keyError, err.Error()))
			if err := d.update(ctx, func(tx promote.Tx) error { return tx.FinishWebhookResend(r.ID, r.FailedSeq, d.n.cfg.Now()) }); err != nil {
				return false, fmt.Errorf("drop the re-send of %s: %w", r.ID, err)
			}
			continue
		}
		if err != nil {
			return false, err
		}
		return true, d.deliver(ctx, j)
	}
	return false, nil
}

// errCannotResend marks a re-send whose event can no longer be rebuilt.
var errCannotResend = errors.New("cannot be re-sent")

// resendJob rebuilds the notification of the re-send r from the audit
// event it came from, as the first series built it. The event is the one
// r recorded when it was asked for: the delivery log may have pruned the
// failure since, while the re-sends asked for before it were made. Only a
// re-send recorded without it is looked up in the delivery log.
func (d *Dispatcher) resendJob(ctx context.Context, ep Endpoint, r promote.WebhookResend) (job, error) {
	eventID, seq := r.EventID, r.AuditSeq
	if eventID == "" || seq < 1 {
		var last promote.WebhookDelivery
		err := d.store.View(ctx, func(tx promote.Tx) (err error) {
			last, err = tx.LastWebhookDelivery(r.ID)
			return err
		})
		if promote.ErrorCode(err) == promote.NotFound {
			return job{}, fmt.Errorf("the delivery log no longer holds it: %w", errCannotResend)
		} else if err != nil {
			return job{}, fmt.Errorf("read webhook delivery %s: %w", r.ID, err)
		}
		eventID, seq = last.EventID, last.AuditSeq
	}
	var rec *promote.AuditRecord
	err := d.store.ScanAudit(ctx, seq-1, func(ar promote.AuditRecord) error {
		rec = &ar
		return errSpanRead
	})
	if err != nil && !errors.Is(err, errSpanRead) {
		return job{}, fmt.Errorf("read audit event %d: %w", seq, err)
	}
	if rec == nil || rec.Seq != seq {
		return job{}, fmt.Errorf("audit event %d is not in the log: %w", seq, errCannotResend)
	}
	e, err := rec.Event()
	if err != nil {
		return job{}, fmt.Errorf("audit event %d does not decode: %v: %w", seq, err, errCannotResend)
	}
	ev, ok := FromAudit(e)
	if !ok || ev.ID != eventID {
		return job{}, fmt.Errorf("audit event %d is not event %s: %w", seq, eventID, errCannotResend)
	}
	if err := d.complete(ctx, e, &ev); err != nil {
		return job{}, err
	}
	return job{id: r.ID, ev: ev, ep: ep, seq: seq, resend: &r}, nil
}
