package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/promote"
)

// resenderFunc adapts a function to Resender.
type resenderFunc func(ctx context.Context, who promote.Principal, id string) (notify.Delivery, error)

func (f resenderFunc) Resend(ctx context.Context, who promote.Principal, id string) (notify.Delivery, error) {
	return f(ctx, who, id)
}

// opsEndpoint is the fixture's endpoint: the endpoints file allows any
// name, '/', ':' and spaces included, and the delivery log's filter
// takes every name it allows.
const opsEndpoint = "team/ops: pager"

// webhookFixture is a server whose delivery log holds a delivered and a
// failed delivery to the endpoint opsEndpoint, of real audit events, and
// whose re-sends go to a dispatcher on its store.
func webhookFixture(t *testing.T) (f *fixture, delivered, failed promote.WebhookDelivery) {
	var disp *notify.Dispatcher
	f = newFixture(t, func(o *Options) {
		o.Resender = resenderFunc(func(ctx context.Context, who promote.Principal, id string) (notify.Delivery, error) {
			return disp.Resend(ctx, who, id)
		})
	})
	f.server.opts.Deliveries = notify.NewStoreLog(f.store)
	var err error
	disp, err = notify.NewDispatcher(notify.DispatcherConfig{Config: notify.Config{
		Endpoints: []notify.Endpoint{{Name: opsEndpoint, URL: "http://127.0.0.1:1/hooks", Secret: []byte("0123456789abcdef")}}}, Store: f.store})
	if err != nil {
		t.Fatal(err)
	}
	f.model("fraud")
	err = f.store.Update(t.Context(), func(tx promote.Tx) error {
		es, err := tx.AuditEvents(promote.AuditFilter{Limit: 2})
		if err != nil {
			return err
		}
		for i, e := range es {
			ev, _ := notify.FromAudit(e)
			d := promote.WebhookDelivery{ID: "dlv_" + strings.Repeat(string(rune('a'+i)), 32), EventID: notify.AuditEventID(e), EventType: ev.Type,
				Endpoint: opsEndpoint, AuditSeq: e.Seq, Attempt: 1, Status: []string{notify.StatusDelivered, notify.StatusFailed}[i], At: time.Now()}
			if d, err = tx.RecordWebhookDelivery(d, promote.WebhookDeliveriesKept); err != nil {
				return err
			}
			if i == 0 {
				delivered = d
			} else {
				failed = d
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, delivered, failed
}

// The delivery log is filtered by status and endpoint; a bad status is
// refused with the list of good ones.
func TestListDeliveriesFiltered(t *testing.T) {
	f, _, failed := webhookFixture(t)
	c := f.client(f.vera)
	for _, tc := range []struct {
		name   string
		filter notify.DeliveryFilter
		want   []string
	}{
		{"failed", notify.DeliveryFilter{Status: notify.StatusFailed}, []string{failed.ID}},
		{"failed to ops", notify.DeliveryFilter{Status: notify.StatusFailed, Endpoint: opsEndpoint}, []string{failed.ID}},
		{"to another endpoint", notify.DeliveryFilter{Endpoint: "chat"}, nil},
		{"all", notify.DeliveryFilter{}, []string{failed.ID, strings.Replace(failed.ID, "b", "a", -1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := c.ListDeliveries(t.Context(), tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("ListDeliveries(%+v) (-want +got):\n%s", tc.filter, diff)
			}
		})
	}
	for _, bad := range []string{"ops\x00", "ops\nalerts", strings.Repeat("o", notify.MaxNameLen+1)} {
		_, err := c.ListDeliveries(t.Context(), notify.DeliveryFilter{Endpoint: bad})
		if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "endpoint") {
			t.Errorf("ListDeliveries(endpoint %q) = %v, want Invalid naming the endpoint", bad, err)
		}
	}
	_, err := c.ListDeliveries(t.Context(), notify.DeliveryFilter{Status: "lost"})
	if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "delivered, retrying, failed") {
		t.Errorf("ListDeliveries(status lost) = %v, want Invalid naming the statuses", err)
	}
}

// Only an admin re-sends, only a failed delivery, once; the re-send is
// audited; the answers name the problem.
func TestResendDelivery(t *testing.T) {
	f, delivered, failed := webhookFixture(t)
	before := f.auditCount()
	_, err := f.client(f.vera).ResendDelivery(t.Context(), failed.ID)
	if promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("ResendDelivery as a viewer = %v, want Forbidden", err)
	}
	for _, tc := range []struct {
		name, id string
		code     promote.Code
		status   int
		msg      string
	}{
		{"unknown", "dlv_" + strings.Repeat("f", 32), promote.NotFound, http.StatusNotFound, "not found"},
		{"delivered", delivered.ID, promote.Conflict, http.StatusConflict, "is delivered; only a delivery that failed for good can be re-sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client(f.admin).ResendDelivery(t.Context(), tc.id)
			if promote.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ResendDelivery(%s) = %v, want %s: %s", tc.id, err, tc.code, tc.msg)
			}
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+Prefix+"/webhooks/deliveries/"+tc.id+"/resend", nil)
			req.Header.Set("Authorization", "Bearer "+f.admin)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("POST …/%s/resend = %d, want %d", tc.id, resp.StatusCode, tc.status)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+Prefix+"/webhooks/deliveries/"+failed.ID+"/resend", nil)
	req.Header.Set("Authorization", "Bearer "+f.admin)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST …/%s/resend = %d, want 202", failed.ID, resp.StatusCode)
	}
	_, err = f.client(f.admin).ResendDelivery(t.Context(), failed.ID)
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "requested already") {
		t.Errorf("ResendDelivery(%s) again = %v, want a Conflict: requested already", failed.ID, err)
	}
	if got := f.auditCount(); got != before+1 {
		t.Errorf("audit events after one re-send = %d, want %d", got, before+1)
	}
	es, err := f.client(f.vera).AuditEvents(t.Context(), promote.AuditFilter{Action: promote.ActionWebhookResent})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Actor != "root" || !strings.Contains(string(es[0].Reasons), failed.ID) {
		t.Errorf("audit %s = %+v, want one by root naming %s", promote.ActionWebhookResent, es, failed.ID)
	}
}

// A server that sends no webhooks has nothing to re-send.
func TestResendWithoutWebhooks(t *testing.T) {
	f := newFixture(t)
	_, err := f.client(f.admin).ResendDelivery(t.Context(), "dlv_"+strings.Repeat("a", 32))
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "sends no webhooks") {
		t.Errorf("ResendDelivery without webhooks = %v, want a Conflict: sends no webhooks", err)
	}
}
