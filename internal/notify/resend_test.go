package notify

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// stores opens a new store of each kind that can run here; the
// PostgreSQL one is skipped without a test server.
var stores = []struct {
	name string
	open func(t *testing.T) promote.Store
}{
	{"sqlite", openStore},
	{"postgres", func(t *testing.T) promote.Store { return openPostgres(t, storetest.PostgresDSN(t)) }},
}

// openPostgres opens the PostgreSQL database of dsn as a replica does,
// closed when the test ends.
func openPostgres(t *testing.T, dsn string) promote.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var admin = promote.Principal{Name: "root", Role: promote.RoleAdmin, TokenID: "tok_0123456789abcdef"}

// scrapeMetrics reads the webhook series of reg through its /metrics
// handler, by the series' text (name and labels) without the value's
// formatting.
func scrapeMetrics(t *testing.T, srv *httptest.Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, "promote_webhook_") {
			continue
		}
		i := strings.LastIndexByte(strings.TrimSpace(line), ' ')
		v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// failedFor fails a delivery for good: the receiver answers 503 to the
// first series (two attempts), and the dispatcher gives up.
func failedFor(t *testing.T, s promote.Store, d *Dispatcher, down *atomic.Bool) (promote.AuditEvent, promote.WebhookDelivery) {
	t.Helper()
	down.Store(true)
	stop := runDispatcher(t, t.Context(), d)
	ev := appendRequests(t, s, 1, 1)[0]
	d.Wake()
	var failed promote.WebhookDelivery
	waitFor(t, "the delivery failed for good", func() bool {
		ds := storedDeliveries(t, s)
		if len(ds) > 0 && ds[0].Status == StatusFailed {
			failed = ds[0]
			return true
		}
		return false
	})
	stop()
	down.Store(false)
	return ev, failed
}

// A receiver down through a whole retry series loses the event until an
// admin re-sends it: then it receives it once more, with the same event
// ID, in a new series; the metrics count the attempts, show the failure
// until it is re-sent and the time of the last delivery; a re-send is
// audited, refused for a delivery that did not fail, that is re-sent
// already or that the log does not hold.
func TestResend(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			rcv, down, hooks := switchedReceiver(t)
			reg := telemetry.NewRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			metrics := httptest.NewServer(reg.Handler(nil))
			t.Cleanup(metrics.Close)
			cfg := dispatcherConfig(s, rcv.URL)
			cfg.MaxAttempts, cfg.Metrics = 2, m
			d := startedDispatcher(t, cfg)

			ev, failed := failedFor(t, s, d, down)
			if ids, _, _ := hooks.got(); len(ids) != 0 {
				t.Fatalf("received %v while the receiver was down, want nothing", ids)
			}
			// The failure shows while the dispatcher runs, and not after.
			stop := runDispatcher(t, t.Context(), d)
			failedSeries := `promote_webhook_failed_deliveries{endpoint="ops"}`
			waitFor(t, "the failure in the metrics", func() bool { return scrapeMetrics(t, metrics)[failedSeries] == 1 })
			stop()
			if got, ok := scrapeMetrics(t, metrics)[failedSeries]; ok {
				t.Errorf("%s = %v after Run returned, want no series", failedSeries, got)
			}

			viewer := promote.Principal{Name: "vera", Role: promote.RoleViewer}
			if _, err := d.Resend(t.Context(), viewer, failed.ID); promote.ErrorCode(err) != promote.Forbidden {
				t.Errorf("Resend(%s) by a viewer = %v, want Forbidden", failed.ID, err)
			}
			got, err := d.Resend(t.Context(), admin, failed.ID)
			if err != nil {
				t.Fatalf("Resend(%s) = %v", failed.ID, err)
			}
			if got.ID != failed.ID || got.EventID != AuditEventID(ev) || got.Status != StatusFailed {
				t.Errorf("Resend(%s) = %+v, want its failed attempt", failed.ID, got)
			}
			_, err = d.Resend(t.Context(), admin, failed.ID)
			if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "requested already") {
				t.Errorf("Resend(%s) again = %v, want a Conflict: requested already", failed.ID, err)
			}
			_, err = d.Resend(t.Context(), admin, "dlv_00000000000000000000000000000000")
			if promote.ErrorCode(err) != promote.NotFound {
				t.Errorf("Resend(unknown) = %v, want NotFound", err)
			}

			runDispatcher(t, t.Context(), d)
			waitFor(t, "the re-sent event", func() bool { ids, _, _ := hooks.got(); return len(ids) == 1 })
			waitFor(t, "the re-send recorded", func() bool { return storedDeliveries(t, s)[0].Status == StatusDelivered })
			ids, _, rejected := hooks.got()
			if diff := cmp.Diff([]string{AuditEventID(ev)}, ids); diff != "" || rejected != 0 {
				t.Errorf("received IDs, want the event once with its ID (-want +got):\n%s\nrejected %d", diff, rejected)
			}
			newest := storedDeliveries(t, s)[0]
			if newest.ID != failed.ID || newest.Attempt != 1 || newest.AuditSeq != ev.Seq {
				t.Errorf("newest log entry = %+v, want attempt 1 of a new series of %s", newest, failed.ID)
			}
			waitFor(t, "the delivery in the metrics", func() bool {
				m := scrapeMetrics(t, metrics)
				f, ok := m[failedSeries]
				return ok && f == 0 && m[`promote_webhook_delivery_attempts_total{endpoint="ops",outcome="delivered"}`] == 1
			})
			got2 := scrapeMetrics(t, metrics)
			want := map[string]float64{
				`promote_webhook_delivery_attempts_total{endpoint="ops",outcome="retrying"}`:  1,
				`promote_webhook_delivery_attempts_total{endpoint="ops",outcome="failed"}`:    1,
				`promote_webhook_delivery_attempts_total{endpoint="ops",outcome="delivered"}`: 1,
				failedSeries: 0,
				`promote_webhook_last_delivered_timestamp_seconds{endpoint="ops"}`: float64(newest.At.UnixNano()) / 1e9,
			}
			if diff := cmp.Diff(want, got2); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
			_, err = d.Resend(t.Context(), admin, failed.ID)
			if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "is delivered") {
				t.Errorf("Resend(%s) once delivered = %v, want a Conflict: is delivered", failed.ID, err)
			}

			var es []promote.AuditEvent
			if err := s.View(t.Context(), func(tx promote.Tx) (err error) {
				es, err = tx.AuditEvents(promote.AuditFilter{Action: promote.ActionWebhookResent})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if len(es) != 1 || es[0].Actor != admin.Name || es[0].TokenID != admin.TokenID || !strings.Contains(string(es[0].Reasons), failed.ID) {
				t.Errorf("audit events %s = %+v, want one by %s naming %s", promote.ActionWebhookResent, es, admin.Name, failed.ID)
			}
		})
	}
}

// switchedReceiver is a receiver that answers 503 while down is set and
// 200 otherwise, logging what it was sent.
func switchedReceiver(t *testing.T) (*httptest.Server, *atomic.Bool, *hookLog) {
	t.Helper()
	down, hooks := new(atomic.Bool), new(hookLog)
	rcv := httptest.NewServer(hooks.handler(func(Event) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}))
	t.Cleanup(rcv.Close)
	return rcv, down, hooks
}

// Replicas share the store: an admin's re-send asked on several at once
// is accepted once and refused on the others, and the event is sent
// once, by the leader, not again by the next one.
func TestResendReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s1, s2 := openPostgres(t, dsn), openPostgres(t, dsn)
	rcv, down, hooks := switchedReceiver(t)
	newDispatcher := func(s promote.Store) *Dispatcher {
		cfg := dispatcherConfig(s, rcv.URL)
		cfg.MaxAttempts = 2
		d := startedDispatcher(t, cfg)
		return d
	}
	d1, d2 := newDispatcher(s1), newDispatcher(s2)
	ev, failed := failedFor(t, s1, d1, down)

	var accepted, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		d := []*Dispatcher{d1, d2}[i%2]
		wg.Go(func() {
			_, err := d.Resend(t.Context(), admin, failed.ID)
			switch promote.ErrorCode(err) {
			case "":
				accepted.Add(1)
			case promote.Conflict:
				refused.Add(1)
			default:
				t.Errorf("Resend(%s) = %v, want nil or a Conflict", failed.ID, err)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != 1 || refused.Load() != 7 {
		t.Fatalf("8 concurrent re-sends: %d accepted, %d refused; want 1 and 7", accepted.Load(), refused.Load())
	}

	stop := runDispatcher(t, t.Context(), d1)
	waitFor(t, "the re-sent event", func() bool { ids, _, _ := hooks.got(); return len(ids) == 1 })
	waitFor(t, "the re-send recorded", func() bool { return storedDeliveries(t, s1)[0].Status == StatusDelivered })
	stop()
	// The next leader has nothing to re-send.
	runDispatcher(t, t.Context(), d2)
	time.Sleep(10 * dispatcherConfig(s2, "").Poll)
	if ids, _, _ := hooks.got(); !cmp.Equal(ids, []string{AuditEventID(ev)}) {
		t.Errorf("received %v, want %s once", ids, AuditEventID(ev))
	}
}

// The metric names are in docs/operations.md, with the alert.
func TestMetricsDocumented(t *testing.T) {
	raw, err := readDoc("operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{MetricDeliveries, MetricFailed, MetricLastDelivered} {
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(raw) {
			t.Errorf("docs/operations.md does not name %s", name)
		}
	}
}

// readDoc reads a file of the repository's docs directory.
func readDoc(name string) (string, error) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
	return string(raw), err
}

// A re-send accepted while the delivery log held the failure is made even
// when the log prunes the failure before the leader gets to it: the
// re-sends asked for before it, made first, add attempts that push the
// oldest failures out, and the event is still in the audit log.
func TestResendPrunedWhilePending(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			rcv, down, hooks := switchedReceiver(t)
			cfg := dispatcherConfig(s, rcv.URL)
			cfg.MaxAttempts, cfg.Keep = 2, 3
			d := startedDispatcher(t, cfg)
			down.Store(true)
			stop := runDispatcher(t, t.Context(), d)
			evs := appendRequests(t, s, 1, 2)
			d.Wake()
			waitFor(t, "both deliveries failed for good", func() bool {
				ds := storedDeliveries(t, s)
				return len(ds) > 0 && ds[0].Status == StatusFailed && ds[0].EventID == AuditEventID(evs[1])
			})
			stop()
			down.Store(false)
			// Newest first, as the delivery log lists them: the older
			// failure's re-send is made second.
			for _, ev := range []promote.AuditEvent{evs[1], evs[0]} {
				id := deliveryID(AuditEventID(ev), "ops")
				if _, err := d.Resend(t.Context(), admin, id); err != nil {
					t.Fatalf("Resend(%s) = %v", id, err)
				}
				time.Sleep(time.Millisecond)
			}
			runDispatcher(t, t.Context(), d)
			waitFor(t, "no re-send pending", func() bool {
				var rs []promote.WebhookResend
				if err := s.View(t.Context(), func(tx promote.Tx) (err error) {
					rs, err = tx.WebhookResends("ops")
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return len(rs) == 0
			})
			want := []string{AuditEventID(evs[1]), AuditEventID(evs[0])}
			if ids, _, _ := hooks.got(); !cmp.Equal(ids, want) {
				t.Errorf("received %v, want both re-sent events %v", ids, want)
			}
		})
	}
}

// Re-sends wait for the endpoint's new events, and a new event waits for
// one re-send's series at most, not for every pending one: with the
// receiver still down, an event appended while the first of several
// re-sends is attempted is attempted before the second.
func TestResendsLetNewEventsThrough(t *testing.T) {
	s := openStore(t)
	var mu sync.Mutex
	var order []string // the event ID of each request, in order
	var down atomic.Bool
	var newer atomic.Pointer[promote.AuditEvent]
	var trigger atomic.Pointer[string] // the event whose first request appends a new one
	rcv := httptest.NewServer(new(hookLog).handler(func(ev Event) int {
		mu.Lock()
		order = append(order, ev.ID)
		mu.Unlock()
		if id := trigger.Load(); id != nil && ev.ID == *id && newer.Load() == nil {
			e := appendRequests(t, s, 10, 1)[0]
			newer.Store(&e)
		}
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}))
	t.Cleanup(rcv.Close)
	cfg := dispatcherConfig(s, rcv.URL)
	cfg.MaxAttempts = 2
	d := startedDispatcher(t, cfg)
	down.Store(true)
	stop := runDispatcher(t, t.Context(), d)
	failed := appendRequests(t, s, 1, 3)
	d.Wake()
	waitFor(t, "three deliveries failed for good", func() bool {
		ds := storedDeliveries(t, s)
		return len(ds) == 6 && ds[0].Status == StatusFailed
	})
	stop()
	for _, ev := range failed {
		if _, err := d.Resend(t.Context(), admin, deliveryID(AuditEventID(ev), "ops")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	order = nil
	mu.Unlock()
	first := AuditEventID(failed[0])
	trigger.Store(&first)
	runDispatcher(t, t.Context(), d)
	waitFor(t, "every re-send and the new event attempted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 8
	})
	n := newer.Load()
	if n == nil {
		t.Fatal("no event appended during the first re-send")
	}
	a, b, c, e := AuditEventID(failed[0]), AuditEventID(failed[1]), AuditEventID(failed[2]), AuditEventID(*n)
	want := []string{a, a, e, e, b, b, c, c}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("requests' event IDs in order (-want +got):\n%s", diff)
	}
}
