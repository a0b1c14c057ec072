package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// openStore returns a new SQLite store, closed when the test ends.
func openStore(t *testing.T) promote.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendRequests appends n audit events that notify (promotion requests of
// version 1, 2, …) and one that does not, and returns the notifying ones
// as stored.
func appendRequests(t *testing.T, s promote.Store, from, n int) []promote.AuditEvent {
	t.Helper()
	var out []promote.AuditEvent
	err := s.Update(t.Context(), func(tx promote.Tx) error {
		for i := from; i < from+n; i++ {
			e, err := tx.AppendAudit(promote.AuditEvent{Time: time.Now(), Actor: "ci", Action: promote.ActionPromotionRequested,
				Model: "fraud", Version: fmt.Sprint(i), Environment: "prod", PromotionID: fmt.Sprintf("p-%d", i), Decision: "requested"})
			if err != nil {
				return err
			}
			out = append(out, e)
			// Not a notification: the dispatcher moves past it.
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: time.Now(), Actor: "admin", Action: promote.ActionTokenCreated}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("append audit events: %v", err)
	}
	return out
}

// hookLog records what a signature-checking receiver accepted.
type hookLog struct {
	mu       sync.Mutex
	ids      []string // Promote-Webhook-Id of each accepted request, in order
	versions []string // the event's version, in order
	events   []Event  // the events, in order
	rejected int
}

// handler checks each request's signature and records it; answer decides
// the status code (200 when nil).
func (h *hookLog) handler(answer func(ev Event) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify(testSecret, r.Header, body, time.Now(), 0); err != nil {
			h.mu.Lock()
			h.rejected++
			h.mu.Unlock()
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get(HeaderID) {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		code := http.StatusOK
		if answer != nil {
			code = answer(ev)
		}
		if code == http.StatusOK {
			h.mu.Lock()
			h.ids = append(h.ids, ev.ID)
			h.versions = append(h.versions, ev.Version)
			h.events = append(h.events, ev)
			h.mu.Unlock()
		}
		w.WriteHeader(code)
	})
}

func (h *hookLog) got() (ids, versions []string, rejected int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ids), slices.Clone(h.versions), h.rejected
}

// startedDispatcher is a dispatcher of cfg after Start: each endpoint's
// cursor at the audit log's head, ready to run.
func startedDispatcher(t *testing.T, cfg DispatcherConfig) *Dispatcher {
	t.Helper()
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return d
}

// dispatcherConfig is a configuration with short, real waits.
// runningDispatcher runs a Dispatcher over s, with externalURL, that
// sends every event to a receiver logging what it accepts.
func runningDispatcher(t *testing.T, s promote.Store, externalURL string) (*Dispatcher, *hookLog) {
	t.Helper()
	hooks := new(hookLog)
	srv := httptest.NewServer(hooks.handler(nil))
	t.Cleanup(srv.Close)
	cfg := dispatcherConfig(s, srv.URL)
	cfg.ExternalURL = externalURL
	d := startedDispatcher(t, cfg)
	runDispatcher(t, t.Context(), d)
	return d, hooks
}

func dispatcherConfig(s promote.Store, url string) DispatcherConfig {
	return DispatcherConfig{
		Config: Config{
			Endpoints:   []Endpoint{{Name: "ops", URL: url, Secret: testSecret}},
			MaxAttempts: 1000,
			BaseDelay:   2 * time.Millisecond,
			MaxDelay:    20 * time.Millisecond,
			Timeout:     5 * time.Second,
		},
		Store: s,
		Poll:  20 * time.Millisecond,
	}
}

// runDispatcher runs d with ctx until the returned stop is called (or the
// test ends) and waits for Run to return.
func runDispatcher(t *testing.T, ctx context.Context, d *Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func storedCursor(t *testing.T, s promote.Store, endpoint string) int64 {
	t.Helper()
	var c promote.WebhookCursor
	if err := s.View(t.Context(), func(tx promote.Tx) (err error) {
		c, err = tx.WebhookCursor(endpoint)
		return err
	}); err != nil {
		t.Fatalf("WebhookCursor(%q): %v", endpoint, err)
	}
	return c.Seq
}

func storedDeliveries(t *testing.T, s promote.Store) []promote.WebhookDelivery {
	t.Helper()
	var ds []promote.WebhookDelivery
	if err := s.View(t.Context(), func(tx promote.Tx) (err error) {
		ds, err = tx.WebhookDeliveries(promote.WebhookDeliveryFilter{Limit: 1000})
		return err
	}); err != nil {
		t.Fatalf("WebhookDeliveries: %v", err)
	}
	return ds
}

func idsOf(es []promote.AuditEvent) []string {
	var ids []string
	for _, e := range es {
		ids = append(ids, AuditEventID(e))
	}
	return ids
}

// Events appended while the receiver is down (nothing listens on its
// address) reach it, in order and signed, once it is back; the history
// from before the first start is not sent.
func TestDispatcherReceiverDown(t *testing.T) {
	s := openStore(t)
	appendRequests(t, s, 1, 2) // history: not sent
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the receiver is down: connections are refused

	d, err := NewDispatcher(dispatcherConfig(s, "http://"+addr+"/hooks"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	head := storedCursor(t, s, "ops")
	runDispatcher(t, t.Context(), d)
	want := appendRequests(t, s, 3, 3)
	d.Wake()
	waitFor(t, "failed attempts while the receiver is down", func() bool {
		return len(storedDeliveries(t, s)) >= 3
	})
	if got := storedCursor(t, s, "ops"); got != head {
		t.Errorf("cursor while the receiver is down = %d, want %d (the first event is not delivered)", got, head)
	}
	for _, dl := range storedDeliveries(t, s) {
		if dl.Status != StatusRetrying || dl.EventID != AuditEventID(want[0]) || dl.Error == "" {
			t.Errorf("attempt while down = %+v, want a retry of %s with an error", dl, AuditEventID(want[0]))
		}
	}

	var hooks hookLog
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the receiver's address was taken meanwhile: %v", err)
	}
	srv := httptest.NewUnstartedServer(hooks.handler(nil))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	waitFor(t, "the deliveries once the receiver is back", func() bool {
		ids, _, _ := hooks.got()
		return len(ids) >= len(want)
	})
	ids, versions, rejected := hooks.got()
	if diff := cmp.Diff(idsOf(want), ids); diff != "" {
		t.Errorf("received IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"3", "4", "5"}, versions); diff != "" {
		t.Errorf("received versions, want the events after the start in order (-want +got):\n%s", diff)
	}
	if rejected != 0 {
		t.Errorf("the receiver rejected %d requests", rejected)
	}
	waitFor(t, "the cursor past the last event", func() bool { return storedCursor(t, s, "ops") >= want[2].Seq+1 })
	ds := storedDeliveries(t, s)
	if ds[0].Status != StatusDelivered || ds[0].EventID != AuditEventID(want[2]) || ds[0].AuditSeq != want[2].Seq || ds[0].Code != 200 {
		t.Errorf("newest log entry = %+v, want the delivery of %s", ds[0], AuditEventID(want[2]))
	}
}

// crashStore is a store that fails once crashed is set, as if the process
// had died: what the dispatcher did after that is not recorded, and it
// does nothing more.
type crashStore struct {
	promote.Store
	crashed atomic.Bool
}

var errCrashed = errors.New("crashed")

func (c *crashStore) Update(ctx context.Context, fn func(promote.Tx) error) error {
	if c.crashed.Load() {
		return errCrashed
	}
	return c.Store.Update(ctx, fn)
}

func (c *crashStore) View(ctx context.Context, fn func(promote.Tx) error) error {
	if c.crashed.Load() {
		return errCrashed
	}
	return c.Store.View(ctx, fn)
}

func (c *crashStore) ScanAudit(ctx context.Context, after int64, fn func(promote.AuditRecord) error) error {
	if c.crashed.Load() {
		return errCrashed
	}
	return c.Store.ScanAudit(ctx, after, fn)
}

// A dispatcher that dies after sending an event but before recording it
// loses nothing: the next one, on the same store, sends that event again
// with the same ID, and everything after it; events finished
// before the crash are not sent again.
func TestDispatcherCrash(t *testing.T) {
	s := openStore(t)
	cs := &crashStore{Store: s}
	var hooks hookLog
	srv := httptest.NewServer(hooks.handler(func(ev Event) int {
		if ev.Version == "2" {
			cs.crashed.Store(true) // the answer arrives; the record does not
		}
		return http.StatusOK
	}))
	t.Cleanup(srv.Close)

	d1, err := NewDispatcher(dispatcherConfig(cs, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := appendRequests(t, s, 1, 4)
	stop1 := runDispatcher(t, t.Context(), d1)
	waitFor(t, "the second event sent", func() bool {
		_, versions, _ := hooks.got()
		return slices.Contains(versions, "2")
	})
	stop1()
	if got := storedCursor(t, s, "ops"); got != want[0].Seq {
		t.Fatalf("cursor after the crash = %d, want %d (past the first event only)", got, want[0].Seq)
	}

	d2, err := NewDispatcher(dispatcherConfig(s, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	runDispatcher(t, t.Context(), d2)
	waitFor(t, "every event delivered", func() bool {
		_, versions, _ := hooks.got()
		return slices.Contains(versions, "4")
	})
	ids, versions, rejected := hooks.got()
	wantIDs := idsOf(want)
	if diff := cmp.Diff([]string{wantIDs[0], wantIDs[1], wantIDs[1], wantIDs[2], wantIDs[3]}, ids); diff != "" {
		t.Errorf("received IDs, want the second event twice with the same ID (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1", "2", "2", "3", "4"}, versions); diff != "" {
		t.Errorf("received versions (-want +got):\n%s", diff)
	}
	if rejected != 0 {
		t.Errorf("the receiver rejected %d requests", rejected)
	}
	waitFor(t, "the cursor past the last event", func() bool { return storedCursor(t, s, "ops") >= want[3].Seq })
}

// acquireLease takes the controllers' lease in s for holder, for an hour,
// and returns its fence.
func acquireLease(t *testing.T, s promote.Store, holder string) promote.Fence {
	t.Helper()
	var l promote.Lease
	if err := s.Update(t.Context(), func(tx promote.Tx) (err error) {
		l, err = tx.AcquireLease("controllers", holder, time.Hour, time.Now())
		return err
	}); err != nil {
		t.Fatalf("AcquireLease(%s): %v", holder, err)
	}
	return promote.Fence{Name: l.Name, Holder: l.Holder, Epoch: l.Epoch}
}

// A dispatcher whose lease term has ended can neither move the cursor nor
// record a delivery; the leader of the new term does both.
func TestDispatcherFenced(t *testing.T) {
	s := openStore(t)
	acquire := func(holder string) promote.Fence { return acquireLease(t, s, holder) }
	old := acquire("a")
	var hooks hookLog
	srv := httptest.NewServer(hooks.handler(nil))
	t.Cleanup(srv.Close)
	mk := func() *Dispatcher {
		d, err := NewDispatcher(dispatcherConfig(s, srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	deposed := mk()
	if err := deposed.Start(promote.WithFence(t.Context(), old)); err != nil {
		t.Fatalf("Start() in the term = %v", err)
	}
	head := storedCursor(t, s, "ops")
	// The term ends: a takes the lease over from a released term; b wins it.
	if err := s.Update(t.Context(), func(tx promote.Tx) error {
		return tx.ReleaseLease(old.Name, old.Holder, old.Epoch, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	current := acquire("b")
	want := appendRequests(t, s, 1, 2)

	ctx := promote.WithFence(t.Context(), old)
	err := deposed.drain(ctx, deposed.n.cfg.Endpoints[0])
	if promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("drain() with the old fence = %v, want a Conflict", err)
	}
	if got := storedCursor(t, s, "ops"); got != head {
		t.Errorf("cursor after the deposed dispatcher = %d, want %d", got, head)
	}
	if ds := storedDeliveries(t, s); len(ds) != 0 {
		t.Errorf("deliveries recorded by the deposed dispatcher: %+v", ds)
	}
	// Running, it keeps failing and changes nothing.
	stop := runDispatcher(t, ctx, deposed)
	time.Sleep(100 * time.Millisecond) // a few polls; what follows holds at any time
	stop()
	if got := storedCursor(t, s, "ops"); got != head {
		t.Errorf("cursor after running the deposed dispatcher = %d, want %d", got, head)
	}
	if ds := storedDeliveries(t, s); len(ds) != 0 {
		t.Errorf("deliveries recorded by the deposed dispatcher: %+v", ds)
	}

	leader := mk()
	runDispatcher(t, promote.WithFence(t.Context(), current), leader)
	waitFor(t, "the leader's deliveries", func() bool {
		return storedCursor(t, s, "ops") >= want[1].Seq
	})
	ds := storedDeliveries(t, s)
	if len(ds) != 2 || ds[0].EventID != AuditEventID(want[1]) || ds[1].EventID != AuditEventID(want[0]) {
		t.Errorf("deliveries recorded by the leader = %+v, want one per event", ds)
	}
	// The receiver heard the events from the leader, each with its stable
	// ID.
	ids, _, _ := hooks.got()
	for _, id := range idsOf(want) {
		if !slices.Contains(ids, id) {
			t.Errorf("the receiver never got %s: %v", id, ids)
		}
	}
}

// A dispatcher whose lease term has ended sends nothing while the
// leader sends each event once: a request is a side effect no
// transaction can fence, so the term is checked right before each
// attempt, as before a Git push. Without that check the deposed one sent
// the event at its cursor again at every poll until its context ended,
// each time failing to record it. On PostgreSQL the two are replicas,
// each with its own connections to the shared store.
func TestDeposedDispatcherSendsNothing(t *testing.T) {
	for _, tt := range []struct {
		name string
		open func(t *testing.T) (deposed, leader promote.Store)
	}{
		{"sqlite", func(t *testing.T) (promote.Store, promote.Store) { s := openStore(t); return s, s }},
		{"postgres", func(t *testing.T) (promote.Store, promote.Store) {
			dsn := storetest.PostgresDSN(t)
			return openPostgres(t, dsn), openPostgres(t, dsn)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s1, s2 := tt.open(t)
			old := acquireLease(t, s1, "a")
			var fromDeposed atomic.Int32
			var hooks hookLog
			h := hooks.handler(nil)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Replica") == "a" {
					fromDeposed.Add(1)
				}
				h.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			replica := func(s promote.Store, name string) *Dispatcher {
				cfg := dispatcherConfig(s, srv.URL)
				cfg.Client = &http.Client{Transport: tagged{name}}
				return startedDispatcher(t, cfg)
			}
			deposed, leader := replica(s1, "a"), replica(s2, "b")
			if err := s1.Update(t.Context(), func(tx promote.Tx) error {
				return tx.ReleaseLease(old.Name, old.Holder, old.Epoch, time.Now())
			}); err != nil {
				t.Fatal(err)
			}
			current := acquireLease(t, s1, "b")
			events := appendRequests(t, s1, 1, 3)

			ctx := promote.WithFence(t.Context(), old)
			err := deposed.drain(ctx, deposed.n.cfg.Endpoints[0])
			if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "deposed") {
				t.Errorf("drain() with the old fence = %v, want a Conflict saying it is deposed", err)
			}
			runDispatcher(t, ctx, deposed)
			runDispatcher(t, promote.WithFence(t.Context(), current), leader)
			waitFor(t, "the leader's deliveries", func() bool { return storedCursor(t, s2, "ops") >= events[2].Seq })
			time.Sleep(10 * dispatcherConfig(s1, "").Poll) // ten more polls of the deposed one
			if n := fromDeposed.Load(); n != 0 {
				t.Errorf("the deposed dispatcher sent %d requests, want none", n)
			}
			ids, _, rejected := hooks.got()
			if diff := cmp.Diff(idsOf(events), ids); diff != "" || rejected != 0 {
				t.Errorf("received (-want +got), each event once:\n%s(%d rejected)", diff, rejected)
			}
			if ds := storedDeliveries(t, s2); len(ds) != len(events) {
				t.Errorf("delivery log = %+v, want one delivered attempt per event", ds)
			}
		})
	}
}

// tagged is a transport that names the replica sending the request, for
// a receiver to tell them apart.
type tagged struct{ replica string }

func (tr tagged) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Replica", tr.replica)
	return http.DefaultTransport.RoundTrip(r)
}

// verdict is a canary analysis's verdict as the rollout controller
// records it.
const verdict = `{"at":"2026-11-26T11:41:49.123519038Z","decision":"fail","reason":"error_rate: canary error rate 9.09% (4/44) is above stable's 0% (0/306) (p = 0.00375 ≤ 0.00375, this test's level: 0.75 of the comparisons' α = 0.005)","tests":[{"name":"error_rate","status":"fail","sequential":true,"statistic":266.66693333346683,"threshold":266.6666666666667,"p_value":0.003749996250001873,"canary_events":4,"canary_requests":44,"stable_events":0,"stable_requests":306,"detail":"canary error rate 9.09% (4/44) is above stable's 0% (0/306) (p = 0.00375 ≤ 0.00375, this test's level: 0.75 of the comparisons' α = 0.005)"}]}`

// A rollback that ends a rollout is notified with the rollout's record,
// written with it: the promotion, the candidate, the step and the
// analysis's verdict, which the rollback's own audit event (the version
// returned to) does not hold. A rollback that ends no rollout has none,
// even when a later operation records a rollout of the same environment.
func TestDispatcherRollbackCarriesTheRollout(t *testing.T) {
	s := openStore(t)
	var hooks hookLog
	srv := httptest.NewServer(hooks.handler(nil))
	t.Cleanup(srv.Close)
	d, err := NewDispatcher(dispatcherConfig(s, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	runDispatcher(t, t.Context(), d)

	reason := "the canary analysis failed: error_rate: canary error rate 9.09% (4/44) is above stable's 0% (0/306)"
	record := `{"step":0,"weight":0,"reason":"` + reason + `","verdict":` + verdict + `}`
	at := time.Date(2026, 11, 26, 11, 41, 49, 123744353, time.UTC)
	appendTx := func(events ...promote.AuditEvent) {
		t.Helper()
		if err := s.Update(t.Context(), func(tx promote.Tx) error {
			for _, e := range events {
				if _, err := tx.AppendAudit(e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The controller's rollback, as the registry records it.
	appendTx(
		promote.AuditEvent{Time: at, Actor: "rollout", Action: promote.ActionPromotionState, Model: "fraud", Version: "2", Environment: "prod",
			PromotionID: "pr_2", Decision: "rolled_back", Reasons: []byte(`["rolled back by rollout: ` + reason + `"]`)},
		promote.AuditEvent{Time: at, Actor: "rollout", Action: promote.ActionRolledBack, Model: "fraud", Version: "1", Environment: "prod",
			PromotionID: "rb_1", Decision: "rolled_back", Reasons: []byte(`["1 replaces 2: ` + reason + `"]`)},
		promote.AuditEvent{Time: at, Actor: "rollout", Action: promote.ActionRolloutStep, Model: "fraud", Version: "2", Environment: "prod",
			PromotionID: "pr_2", Decision: "rolled_back", Reasons: []byte(record)},
		promote.AuditEvent{Time: at, Actor: "rollout", Action: promote.ActionHoldSet, Model: "fraud", Version: "2", Environment: "prod",
			Decision: "hold", Reasons: []byte(`["rolled back to 1 by rollout: ` + reason + `"]`)},
	)
	// A person's rollback of another environment, then, later, a rollout
	// of that environment rolled back: the first rollback ended none.
	later := at.Add(time.Second)
	appendTx(promote.AuditEvent{Time: later, Actor: "lena", Action: promote.ActionRolledBack, Model: "fraud", Version: "1", Environment: "staging",
		PromotionID: "rb_2", Decision: "rolled_back", Reasons: []byte(`["1 replaces 2: bad"]`)})
	appendTx(promote.AuditEvent{Time: later.Add(time.Second), Actor: "rollout", Action: promote.ActionRolloutStep, Model: "fraud", Version: "3",
		Environment: "staging", PromotionID: "pr_3", Decision: "paused", Reasons: []byte(`{"step":0,"weight":0,"reason":"cannot judge"}`)})
	d.Wake()
	waitFor(t, "the notifications", func() bool {
		ids, _, _ := hooks.got()
		return len(ids) >= 3
	})
	hooks.mu.Lock()
	got := slices.Clone(hooks.events)
	hooks.mu.Unlock()
	var types []string
	for _, ev := range got {
		types = append(types, ev.Type)
	}
	if diff := cmp.Diff([]string{TypeRolloutRolledBack, TypeRolloutRolledBack, TypeRolloutStep}, types); diff != "" {
		t.Fatalf("notified types (-want +got):\n%s", diff)
	}
	want := &RolloutRecord{PromotionID: "pr_2", Version: "2", Seq: 3, Decision: "rolled_back", Reason: reason, Verdict: json.RawMessage(verdict)}
	if diff := cmp.Diff(want, got[0].Rollout); diff != "" {
		t.Errorf("the rollback's rollout (-want +got):\n%s", diff)
	}
	if got[1].Rollout != nil || got[2].Rollout != nil {
		t.Errorf("the person's rollback carries rollout %+v, the pause %+v; want none", got[1].Rollout, got[2].Rollout)
	}
}

// With the server's external URL, every notification links to the web
// UI's page that tells of it: a promotion's, where it is approved; for a
// rollback that ended a rollout, that rollout's promotion; for one that
// ended none, the model's.
func TestDispatcherLinksToThePage(t *testing.T) {
	s := openStore(t)
	d, hooks := runningDispatcher(t, s, "https://promote.example.com/team/")

	at := time.Now()
	if err := s.Update(t.Context(), func(tx promote.Tx) error {
		for _, e := range []promote.AuditEvent{
			{Time: at, Actor: "ci", Action: promote.ActionPromotionState, Model: "fraud", Version: "2", Environment: "prod",
				PromotionID: "pr_2", Decision: string(promote.StateAwaitingApproval), Reasons: []byte(`["awaiting approval: 0 of 2 distinct approvers (none)"]`)},
			{Time: at, Actor: "rollout", Action: promote.ActionRolledBack, Model: "fraud", Version: "1", Environment: "prod",
				PromotionID: "rb_1", Decision: "rolled_back", Reasons: []byte(`["1 replaces 2: bad"]`)},
			{Time: at, Actor: "rollout", Action: promote.ActionRolloutStep, Model: "fraud", Version: "2", Environment: "prod",
				PromotionID: "pr_2", Decision: "rolled_back", Reasons: []byte(`{"step":0,"weight":0,"reason":"bad"}`)},
			{Time: at.Add(time.Second), Actor: "lena", Action: promote.ActionRolledBack, Model: "fraud", Version: "1", Environment: "staging",
				PromotionID: "rb_2", Decision: "rolled_back", Reasons: []byte(`["1 replaces 2: bad"]`)},
		} {
			if _, err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.Wake()
	waitFor(t, "the notifications", func() bool {
		ids, _, _ := hooks.got()
		return len(ids) >= 3
	})
	hooks.mu.Lock()
	var got []string
	for _, ev := range hooks.events {
		got = append(got, ev.Type+" "+ev.URL)
	}
	hooks.mu.Unlock()
	want := []string{
		TypePromotionAwaitingApproval + " https://promote.example.com/team/ui/promotions/pr_2",
		TypeRolloutRolledBack + " https://promote.example.com/team/ui/promotions/pr_2",
		TypeRolloutRolledBack + " https://promote.example.com/team/ui/models/fraud",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notified links (-want +got):\n%s", diff)
	}
}

// An external URL that cannot be the base of a link is refused, naming
// what is wrong; without one, a notification carries no link.
func TestExternalURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://promote.example.com", ""},
		{"http://10.0.0.7:8080/promote/", ""},
		{"promote.example.com", "must be an absolute http or https URL"},
		{"ftp://promote.example.com", "must be an absolute http or https URL"},
		{"https://", "has no host"},
		{"https://ada:secret@promote.example.com", `"https://ada:xxxxx@promote.example.com" may not carry user information`},
		{"https://promote.example.com/?x=1", "may not have a query or a fragment"},
		{"https://promote.example.com/#top", "may not have a query or a fragment"},
		{"https://promote.example.com/%zz", "does not parse"},
		// Secrets in a URL are not repeated: the "@" left out makes the
		// password a port; a query may hold a token.
		{"https://ada:S3CR3T/promote", `external URL does not parse: invalid port "…" after host`},
		{"https://promote.example.com/?token=S3CR3T", `"https://promote.example.com/" may not have a query or a fragment`},
	} {
		err := CheckExternalURL(tt.url)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckExternalURL(%q) = %v, want %q", tt.url, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "S3CR3T") {
			t.Errorf("CheckExternalURL(%q) = %v: the error repeats the secret", tt.url, err)
		}
		if tt.want == "" {
			continue
		}
		cfg := dispatcherConfig(openStore(t), "http://127.0.0.1:1/")
		cfg.ExternalURL = tt.url
		if _, err := NewDispatcher(cfg); promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewDispatcher(ExternalURL: %q) = %v, want an Invalid error saying %q", tt.url, err, tt.want)
		}
	}
	if got := PageURL("", Event{Type: TypePromotionAwaitingApproval, PromotionID: "pr_1"}); got != "" {
		t.Errorf("PageURL without an external URL = %q, want none", got)
	}
}

func TestFromAudit(t *testing.T) {
	for _, tt := range []struct {
		action, decision, want string
	}{
		{promote.ActionPromotionRequested, "requested", "promotion.requested"},
		{promote.ActionPromotionState, "blocked", "gate.failed"},
		{promote.ActionPromotionState, "awaiting_approval", "promotion.awaiting_approval"},
		{promote.ActionPromotionState, "approved", "promotion.approved"},
		{promote.ActionPromotionApproval, "rejected", "promotion.rejected"},
		{promote.ActionPromotionState, "cancelled", "promotion.cancelled"},
		{promote.ActionCommitted, "committed", "gitops.committed"},
		{promote.ActionUndeliverable, "failed", "gitops.failed"},
		{promote.ActionRolloutStep, "step 2: weight 50%", "rollout.step"},
		{promote.ActionRolledBack, "rolled_back", "rollout.rolled_back"},
		// A rollout's end written with a rollback is carried by the
		// rollback's notification, not sent on its own.
		{promote.ActionRolloutStep, "rolled_back", ""},
		{promote.ActionRolloutStep, "aborted", ""},
		{promote.ActionPromotionState, "succeeded", "promotion.succeeded"},
		{promote.ActionTokenCreated, "admin", ""},
		{promote.ActionPromotionState, "gated", ""},
	} {
		ev, ok := FromAudit(promote.AuditEvent{Seq: 7, Hash: "abcdef0123456789", Action: tt.action, Decision: tt.decision,
			Reasons: []byte(`["why"]`)})
		if got := ev.Type; ok != (tt.want != "") || got != tt.want {
			t.Errorf("FromAudit(%s %s) = %q, %v; want %q", tt.action, tt.decision, got, ok, tt.want)
		}
		if ok && ev.ID != "ev_7_abcdef012345" {
			t.Errorf("FromAudit(%s) = id %q, want ev_7_abcdef012345", tt.action, ev.ID)
		}
	}
}

// Every type of notification says each thing once: the type what
// happened, the actor who did it, the summary the rest, so that neither
// the summary of the json format nor the Slack line repeats itself. The
// reasons are those the registry and the controllers record.
func TestSummaries(t *testing.T) {
	var covered []string
	for _, tt := range []struct {
		name, action, decision, actor, reasons string
		summary, slack                         string
	}{
		{"requested", promote.ActionPromotionRequested, "requested", "ci", ``,
			"", "credit-risk v2 → prod: promotion requested (by ci) · pr_1"},
		{"gate failed", promote.ActionPromotionState, "blocked", "ci",
			`[{"rule":"auc","kind":"metric","status":"fail","message":"auc 0.81 is not >= 0.85"},{"rule":"tests_passed","kind":"check","status":"pass","message":"ok"}]`,
			"auc: auc 0.81 is not >= 0.85",
			"credit-risk v2 → prod: gate failed (by ci): auc: auc 0.81 is not &gt;= 0.85 · pr_1"},
		{"awaiting approval", promote.ActionPromotionState, "awaiting_approval", "ci", `["awaiting approval: 0 of 2 distinct approvers (none)"]`,
			"0 of 2 distinct approvers (none)",
			"credit-risk v2 → prod: awaiting approval (by ci): 0 of 2 distinct approvers (none) · pr_1"},
		{"approved by approvers", promote.ActionPromotionState, "approved", "omar", `["approved by lena, omar"]`,
			"approvers: lena, omar", "credit-risk v2 → prod: approved (by omar): approvers: lena, omar · pr_1"},
		{"approved without approvals", promote.ActionPromotionState, "approved", "ci", `["allowed by the gate; no approval needed"]`,
			"allowed by the gate; no approval needed", "credit-risk v2 → prod: approved (by ci): allowed by the gate; no approval needed · pr_1"},
		{"rejected", promote.ActionPromotionApproval, "rejected", "lena", `{"roles":["approver"],"comment":"drift too high"}`,
			"as approver: drift too high", "credit-risk v2 → prod: rejected (by lena): as approver: drift too high · pr_1"},
		{"cancelled by a person", promote.ActionPromotionState, "cancelled", "lena", `["cancelled by lena: wrong data"]`,
			"cancelled: wrong data", "credit-risk v2 → prod: withdrawn (by lena): cancelled: wrong data · pr_1"},
		{"cancelled without a reason", promote.ActionPromotionState, "cancelled", "lena", `["cancelled by lena"]`,
			"cancelled", "credit-risk v2 → prod: withdrawn (by lena): cancelled · pr_1"},
		{"superseded", promote.ActionPromotionState, "cancelled", "ci", `["superseded by pr_9 (version 3)"]`,
			"superseded by pr_9 (version 3)", "credit-risk v2 → prod: withdrawn (by ci): superseded by pr_9 (version 3) · pr_1"},
		{"version rejected", promote.ActionPromotionState, "cancelled", "lena", `["version rejected by lena: leaked labels"]`,
			"version rejected: leaked labels", "credit-risk v2 → prod: withdrawn (by lena): version rejected: leaked labels · pr_1"},
		{"committed", promote.ActionCommitted, "committed", "gitops", `["commit 0123456789abcdef"]`,
			"commit 0123456789abcdef", "credit-risk v2 → prod: committed to GitOps (by gitops): commit 0123456789abcdef · pr_1"},
		{"gitops failed", promote.ActionUndeliverable, "failed", "gitops", `["overlay prod: kustomization.yaml does not declare credit-risk"]`,
			"overlay prod: kustomization.yaml does not declare credit-risk",
			"credit-risk v2 → prod: GitOps delivery failed (by gitops): overlay prod: kustomization.yaml does not declare credit-risk · pr_1"},
		{"rollout step", promote.ActionRolloutStep, "step 2: weight 50%", "rollout", `{"step":1,"weight":0.5}`,
			"step 2: weight 50%", "credit-risk v2 → prod: rollout step (by rollout): step 2: weight 50% · pr_1"},
		{"rollout paused", promote.ActionRolloutStep, "paused", "rollout", `{"step":0,"weight":0,"reason":"cannot judge: no metric data"}`,
			"paused: cannot judge: no metric data", "credit-risk v2 → prod: rollout step (by rollout): paused: cannot judge: no metric data · pr_1"},
		{"rolled back", promote.ActionRolledBack, "rolled_back", "rollout", `["1 replaces 2: the canary analysis failed"]`,
			"1 replaces 2: the canary analysis failed", "credit-risk v2 → prod: rolled back (by rollout): 1 replaces 2: the canary analysis failed"},
		{"succeeded", promote.ActionPromotionState, "succeeded", "gitops", ``,
			"", "credit-risk v2 → prod: promotion succeeded (by gitops) · pr_1"},
		{"succeeded after a rollout", promote.ActionPromotionState, "succeeded", "rollout", `["every step passed"]`,
			"every step passed", "credit-risk v2 → prod: promotion succeeded (by rollout): every step passed · pr_1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, ok := FromAudit(promote.AuditEvent{Seq: 7, Hash: "abcdef0123456789", Action: tt.action, Decision: tt.decision, Actor: tt.actor,
				Model: "credit-risk", Version: "2", Environment: "prod", PromotionID: "pr_1", Reasons: []byte(tt.reasons)})
			if !ok {
				t.Fatalf("FromAudit(%s %s) made no notification", tt.action, tt.decision)
			}
			covered = append(covered, ev.Type)
			if ev.Summary != tt.summary {
				t.Errorf("FromAudit(%s %s).Summary = %q, want %q", tt.action, tt.decision, ev.Summary, tt.summary)
			}
			if got := SlackText(ev); got != tt.slack {
				t.Errorf("SlackText(%s) = %q, want %q", ev.Type, got, tt.slack)
			}
		})
	}
	// Every type the dispatcher sends is among the cases.
	for _, typ := range EventTypes() {
		if !slices.Contains(covered, typ) {
			t.Errorf("no case of %s", typ)
		}
	}
}

// A rollout's events record an object (step, weight, reason, verdict):
// the summary says the reason, so that a chat message of a pause tells
// why a person is needed.
func TestFromAuditRolloutReason(t *testing.T) {
	for _, tt := range []struct {
		name, decision, reasons, want string
	}{
		{"cannot judge", "paused", `{"step":0,"weight":0,"reason":"cannot judge: no metric data past the limit: no samples; all traffic is back on stable"}`,
			"paused: cannot judge: no metric data past the limit: no samples; all traffic is back on stable"},
		{"failure without automatic rollback", "paused",
			`{"step":1,"weight":0,"reason":"the canary analysis failed: error_rate: …; automatic rollback is off: a person decides","verdict":{"decision":"fail"}}`,
			"paused: the canary analysis failed: error_rate: …; automatic rollback is off: a person decides"},
		{"step", "step 2: weight 50%", `{"step":1,"weight":0.5,"verdict":{"decision":"continue"}}`, "step 2: weight 50%"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, ok := FromAudit(promote.AuditEvent{Seq: 7, Hash: "abcdef0123456789", Action: promote.ActionRolloutStep, Model: "fraud",
				Version: "2", Environment: "prod", Decision: tt.decision, Reasons: []byte(tt.reasons)})
			if !ok || ev.Summary != tt.want {
				t.Errorf("FromAudit(rollout.step %s).Summary = %q, %v; want %q", tt.decision, ev.Summary, ok, tt.want)
			}
		})
	}
}

// A gate.failed notification's summary names the rules that blocked, as
// the promotion's reason does; passing and warning rules are left out.
func TestFromAuditGateSummary(t *testing.T) {
	results := `[{"rule":"auc","kind":"metric","status":"fail","message":"auc 0.81 < 0.85"},` +
		`{"rule":"f1_delta","kind":"metric","status":"pass","message":"f1_delta 0.01 >= -0.01"},` +
		`{"rule":"latency","kind":"metric","status":"warn","message":"latency_p95_ms 190 > 180"},` +
		`{"rule":"fairness","kind":"metric","status":"error","message":"metric dp_diff is missing"}]`
	ev, ok := FromAudit(promote.AuditEvent{Seq: 3, Hash: "abcdef0123456789", Action: promote.ActionPromotionState, Model: "fraud",
		Version: "12", Environment: "prod", Decision: string(promote.StateBlocked), Reasons: []byte(results)})
	want := "auc: auc 0.81 < 0.85; fairness: metric dp_diff is missing"
	if !ok || ev.Type != TypeGateFailed || ev.Summary != want {
		t.Errorf("FromAudit(blocked) = %s %q, %v; want gate.failed %q", ev.Type, ev.Summary, ok, want)
	}
}

// A rejection's audit event records the approval (the roles the person
// held and the reason as its comment): the promotion.rejected summary says
// why, as the pages do.
func TestFromAuditRejectionSummary(t *testing.T) {
	ev, ok := FromAudit(promote.AuditEvent{Seq: 4, Hash: "abcdef0123456789", Action: promote.ActionPromotionApproval, Model: "fraud",
		Version: "12", Environment: "prod", Actor: "bob", Decision: "rejected", Reasons: []byte(`{"roles":["approver","ml-lead"],"comment":"drift too high"}`)})
	want := "as approver, ml-lead: drift too high"
	if !ok || ev.Type != TypePromotionRejected || ev.Summary != want {
		t.Errorf("FromAudit(rejected) = %s %q, %v; want promotion.rejected %q", ev.Type, ev.Summary, ok, want)
	}
}

func TestStoreLogRead(t *testing.T) {
	store := openStore(t)
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	if err := store.Update(t.Context(), func(tx promote.Tx) error {
		for i, status := range []string{StatusRetrying, StatusDelivered} {
			if _, err := tx.RecordWebhookDelivery(promote.WebhookDelivery{ID: "dlv_1", EventID: "ev_1_abc", EventType: TypePromotionApproved,
				Endpoint: "chat", AuditSeq: 1, Attempt: i + 1, Status: status, At: at.Add(time.Duration(i) * time.Second)}, promote.WebhookDeliveriesKept); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	log := NewStoreLog(store)
	got, err := log.Read(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Status != StatusDelivered || got[0].Attempt != 2 || got[1].Status != StatusRetrying {
		t.Errorf("Read = %+v, want the delivered attempt 2, then the retrying attempt 1", got)
	}
	// A store that cannot be read is an error, never an empty log.
	store.Close()
	if got, err := log.Read(t.Context(), 0); err == nil {
		t.Errorf("Read of a closed store = %+v, nil; want an error", got)
	}
}

// A receiver written as docs/webhooks.md shows, whose processing of an
// event outlives Promote's attempt timeout and then fails, still gets the
// event: Promote's retry, arriving while the first request is processed,
// is not acknowledged, so Promote keeps trying until one is processed.
func TestDocsReceiverSlowHandlerThatFailsStillGetsTheEvent(t *testing.T) {
	s := openStore(t)
	guard := NewReplayGuard(DefaultTolerance, time.Now)
	var mu sync.Mutex
	calls, processed := 0, 0
	handle := func(ev Event) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			time.Sleep(300 * time.Millisecond) // a ticketing system that hangs
			return errors.New("ticket system unavailable")
		}
		mu.Lock()
		processed++
		mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		if err := Verify(testSecret, r.Header, body, time.Now(), DefaultTolerance); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(HeaderID)
		switch err := guard.Check(id); {
		case errors.Is(err, ErrReplay): // processed before: acknowledge, do nothing
			w.WriteHeader(http.StatusOK)
			return
		case err != nil: // the first request is still being processed, and may yet fail
			http.Error(w, "being processed", http.StatusServiceUnavailable)
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil || handle(ev) != nil {
			guard.Forget(id) // let Promote's retry through
			http.Error(w, "not processed", http.StatusInternalServerError)
			return
		}
		guard.Done(id)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := dispatcherConfig(s, srv.URL)
	cfg.Timeout = 100 * time.Millisecond
	d := startedDispatcher(t, cfg)
	appendRequests(t, s, 1, 1)
	runDispatcher(t, t.Context(), d)
	waitFor(t, "a final delivery", func() bool {
		for _, dl := range storedDeliveries(t, s) {
			if dl.Status != StatusRetrying {
				return true
			}
		}
		return false
	})
	for _, dl := range storedDeliveries(t, s) {
		t.Logf("attempt %d: %s %d %s", dl.Attempt, dl.Status, dl.Code, dl.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if processed != 1 {
		t.Errorf("the receiver processed the event %d times (handler called %d times), want 1", processed, calls)
	}
}
