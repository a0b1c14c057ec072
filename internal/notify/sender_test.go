package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-ml/promote/promote"
)

var testSecret = []byte("test-secret-0123456789")

// reply is what the receiver answers to one request.
type reply struct {
	code       int
	retryAfter string
}

// receiver is a webhook receiver that checks every request the way
// docs/webhooks.md tells receivers to: Verify, then the ReplayGuard.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	guard  *ReplayGuard
	script []reply // answers in order; the last repeats; 200 when empty

	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	rejected []error // failed Verify or replayed
}

func newReceiver(t *testing.T, script ...reply) *receiver {
	t.Helper()
	rc := &receiver{t: t, guard: NewReplayGuard(0, nil), script: script}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serveHTTP))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := Verify(testSecret, r.Header, body, time.Now(), 0); err != nil {
		rc.rejected = append(rc.rejected, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	n := len(rc.requests)
	rp := reply{code: http.StatusOK}
	if len(rc.script) > 0 {
		rp = rc.script[min(n, len(rc.script)-1)]
	}
	// A request that will be answered with an error is not remembered, so
	// that Promote's retry is accepted (docs/webhooks.md).
	if rp.code < 300 {
		if err := rc.guard.Check(r.Header.Get(HeaderID)); err != nil {
			rc.rejected = append(rc.rejected, err)
			w.WriteHeader(http.StatusOK) // acknowledged, not processed again
			return
		}
		rc.guard.Done(r.Header.Get(HeaderID))
	}
	rc.requests = append(rc.requests, r)
	rc.bodies = append(rc.bodies, body)
	if rp.retryAfter != "" {
		w.Header().Set("Retry-After", rp.retryAfter)
	}
	w.WriteHeader(rp.code)
}

func (rc *receiver) received() ([]*http.Request, [][]byte, []error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*http.Request(nil), rc.requests...), append([][]byte(nil), rc.bodies...), append([]error(nil), rc.rejected...)
}

// sleeps records the waits the sender asks for, without waiting.
type sleeps struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// testConfig returns a config with fast, observable waits and no jitter.
func testConfig(s *sleeps, eps ...Endpoint) Config {
	return Config{
		Endpoints:   eps,
		MaxAttempts: 6,
		BaseDelay:   time.Millisecond,
		MaxDelay:    time.Second,
		Timeout:     5 * time.Second,
		Sleep:       s.sleep,
		Jitter:      func(d time.Duration) time.Duration { return d },
	}
}

// deliveryLog keeps the attempts a testSender records, in memory.
type deliveryLog struct {
	mu   sync.Mutex
	list []Delivery // oldest first
}

func (l *deliveryLog) add(d Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, d)
}

// List returns up to limit records, newest first; all when limit is 0.
func (l *deliveryLog) List(limit int) []Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	if limit <= 0 || limit > len(l.list) {
		limit = len(l.list)
	}
	out := make([]Delivery, 0, limit)
	for i := len(l.list) - 1; len(out) < limit; i-- {
		out = append(out, l.list[i])
	}
	return out
}

// testSender sends events as the Dispatcher does for one audit event (to
// every endpoint that wants it, one after another, with the sender's
// retries) and records every attempt in log, as the Dispatcher records
// them in the store.
type testSender struct {
	*sender
	log  *deliveryLog
	sent int // events sent, for their IDs
}

func newTestSender(t *testing.T, cfg Config, log *deliveryLog) *testSender {
	t.Helper()
	n, err := newSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testSender{sender: n, log: log}
}

// Notify sends ev, filling in an empty ID (a new one for every event, as
// audit events have) and a zero Time. When ctx ends while an attempt waits
// to be retried, the delivery is recorded as failed.
func (n *testSender) Notify(ctx context.Context, ev Event) {
	n.sent++
	if ev.ID == "" {
		ev.ID = "evt_test_" + strconv.Itoa(n.sent)
	}
	if ev.Time.IsZero() {
		ev.Time = n.cfg.Now().UTC()
	}
	for _, ep := range n.cfg.Endpoints {
		if !ep.Wants(ev.Type) {
			continue
		}
		j := job{id: deliveryID(ev.ID, ep.Name), ev: ev, ep: ep}
		err := n.attempts(ctx, j, nil, func(attempt int, status string, o outcome, at time.Time) error {
			n.log.add(n.delivery(j, attempt, status, o, at))
			return nil
		})
		var stop *stoppedError
		if errors.As(err, &stop) {
			n.log.add(n.delivery(j, stop.next-1, StatusFailed, outcome{err: stop}, n.cfg.Now()))
		}
	}
}

// waitFor polls until cond holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// finished reports whether log holds n records with a final status.
func finished(log *deliveryLog, n int) func() bool {
	return func() bool {
		c := 0
		for _, d := range log.List(0) {
			if d.Status != StatusRetrying {
				c++
			}
		}
		return c >= n
	}
}

// brief is the part of a Delivery a test can predict.
type brief struct {
	Endpoint, EventType, Status string
	Attempt, Code               int
}

// briefs returns log's records oldest first, reduced to their predictable part.
func briefs(log *deliveryLog) []brief {
	all := log.List(0)
	out := make([]brief, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		d := all[i]
		out = append(out, brief{Endpoint: d.Endpoint, EventType: d.EventType, Status: d.Status, Attempt: d.Attempt, Code: d.Code})
	}
	return out
}

func testEvent(typ string) Event {
	return Event{
		Type:        typ,
		Model:       "fraud-detector",
		Version:     "12",
		Environment: "production",
		PromotionID: "p-42",
		Actor:       "alice",
		Summary:     "auc 0.81 < 0.85",
		Data:        json.RawMessage(`{"gate":"auc"}`),
	}
}

func TestDeliveredWithValidSignature(t *testing.T) {
	rc := newReceiver(t)
	log := &deliveryLog{}
	var s sleeps
	n := newTestSender(t, testConfig(&s, Endpoint{Name: "ops", URL: rc.srv.URL, Secret: testSecret}), log)
	ev := testEvent(TypeGateFailed)
	ev.ID = "evt_1"
	ev.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n.Notify(context.Background(), ev)
	waitFor(t, "delivery", finished(log, 1))

	want := []brief{{Endpoint: "ops", EventType: TypeGateFailed, Status: StatusDelivered, Attempt: 1, Code: 200}}
	if diff := cmp.Diff(want, briefs(log)); diff != "" {
		t.Errorf("delivery log (-want +got):\n%s", diff)
	}
	reqs, bodies, rejected := rc.received()
	if len(reqs) != 1 || len(rejected) != 0 {
		t.Fatalf("receiver got %d requests, rejected %v; want 1 accepted", len(reqs), rejected)
	}
	var got Event
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatalf("decode body %s: %v", bodies[0], err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Errorf("received event (-want +got):\n%s", diff)
	}
	if got, want := reqs[0].Header.Get(HeaderID), "evt_1"; got != want {
		t.Errorf("%s = %q, want %q", HeaderID, got, want)
	}
	if got := reqs[0].Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}

	// Replaying the captured request inside the window passes Verify but
	// not the guard.
	replay, err := http.NewRequest(http.MethodPost, rc.srv.URL, strings.NewReader(string(bodies[0])))
	if err != nil {
		t.Fatal(err)
	}
	replay.Header = reqs[0].Header.Clone()
	resp, err := http.DefaultClient.Do(replay)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs, _, rejected = rc.received()
	if len(reqs) != 1 || len(rejected) != 1 || !errors.Is(rejected[0], ErrReplay) {
		t.Errorf("after replay: %d processed, rejected %v; want 1 processed and one ErrReplay", len(reqs), rejected)
	}
}

func TestWrongSecretRejectedByReceiver(t *testing.T) {
	rc := newReceiver(t)
	log := &deliveryLog{}
	var s sleeps
	n := newTestSender(t, testConfig(&s, Endpoint{Name: "ops", URL: rc.srv.URL, Secret: []byte("not-the-receivers-secret")}), log)
	n.Notify(context.Background(), testEvent(TypePromotionApproved))
	waitFor(t, "delivery", finished(log, 1))
	want := []brief{{Endpoint: "ops", EventType: TypePromotionApproved, Status: StatusFailed, Attempt: 1, Code: 401}}
	if diff := cmp.Diff(want, briefs(log)); diff != "" {
		t.Errorf("delivery log (-want +got):\n%s", diff)
	}
	if _, _, rejected := rc.received(); len(rejected) != 1 || !errors.Is(rejected[0], ErrSignature) {
		t.Errorf("receiver rejected %v, want one ErrSignature", rejected)
	}
}

func TestRetries(t *testing.T) {
	const ep = "ops"
	ev := TypeRolloutStep
	tests := []struct {
		name        string
		script      []reply
		maxAttempts int
		maxDelay    time.Duration
		want        []brief
		wantDelays  []time.Duration
	}{
		{
			name:   "500 then success",
			script: []reply{{code: 500}, {code: 502}, {code: 200}},
			want: []brief{
				{ep, ev, StatusRetrying, 1, 500},
				{ep, ev, StatusRetrying, 2, 502},
				{ep, ev, StatusDelivered, 3, 200},
			},
			wantDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
		},
		{
			name:   "400 not retried",
			script: []reply{{code: 400}},
			want:   []brief{{ep, ev, StatusFailed, 1, 400}},
		},
		{
			name:   "404 not retried",
			script: []reply{{code: 404}},
			want:   []brief{{ep, ev, StatusFailed, 1, 404}},
		},
		{
			name:   "redirect not followed",
			script: []reply{{code: 307}},
			want:   []brief{{ep, ev, StatusFailed, 1, 307}},
		},
		{
			name:       "408 retried",
			script:     []reply{{code: 408}, {code: 204}},
			want:       []brief{{ep, ev, StatusRetrying, 1, 408}, {ep, ev, StatusDelivered, 2, 204}},
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name:       "429 Retry-After honoured",
			script:     []reply{{code: 429, retryAfter: "3"}, {code: 200}},
			maxDelay:   time.Minute,
			want:       []brief{{ep, ev, StatusRetrying, 1, 429}, {ep, ev, StatusDelivered, 2, 200}},
			wantDelays: []time.Duration{3 * time.Second},
		},
		{
			name:       "429 Retry-After capped at MaxDelay",
			script:     []reply{{code: 429, retryAfter: "3600"}, {code: 200}},
			maxDelay:   10 * time.Second,
			want:       []brief{{ep, ev, StatusRetrying, 1, 429}, {ep, ev, StatusDelivered, 2, 200}},
			wantDelays: []time.Duration{10 * time.Second},
		},
		{
			name:       "503 with unreadable Retry-After uses backoff",
			script:     []reply{{code: 503, retryAfter: "soon"}, {code: 200}},
			want:       []brief{{ep, ev, StatusRetrying, 1, 503}, {ep, ev, StatusDelivered, 2, 200}},
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name:        "gives up after MaxAttempts",
			script:      []reply{{code: 503}},
			maxAttempts: 3,
			want: []brief{
				{ep, ev, StatusRetrying, 1, 503},
				{ep, ev, StatusRetrying, 2, 503},
				{ep, ev, StatusFailed, 3, 503},
			},
			wantDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
		},
		{
			name:        "backoff doubles and is capped",
			script:      []reply{{code: 500}},
			maxAttempts: 7,
			maxDelay:    10 * time.Millisecond,
			want: []brief{
				{ep, ev, StatusRetrying, 1, 500},
				{ep, ev, StatusRetrying, 2, 500},
				{ep, ev, StatusRetrying, 3, 500},
				{ep, ev, StatusRetrying, 4, 500},
				{ep, ev, StatusRetrying, 5, 500},
				{ep, ev, StatusRetrying, 6, 500},
				{ep, ev, StatusFailed, 7, 500},
			},
			wantDelays: []time.Duration{
				1 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond,
				8 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.script...)
			log := &deliveryLog{}
			var s sleeps
			cfg := testConfig(&s, Endpoint{Name: ep, URL: rc.srv.URL, Secret: testSecret})
			if tt.maxAttempts != 0 {
				cfg.MaxAttempts = tt.maxAttempts
			}
			if tt.maxDelay != 0 {
				cfg.MaxDelay = tt.maxDelay
			}
			n := newTestSender(t, cfg, log)
			n.Notify(context.Background(), testEvent(ev))
			waitFor(t, "final status", finished(log, 1))
			if diff := cmp.Diff(tt.want, briefs(log)); diff != "" {
				t.Errorf("delivery log (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDelays, s.get()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			// Every attempt reached the receiver with a valid signature,
			// and all carried the same event ID.
			reqs, _, rejected := rc.received()
			if len(reqs) != len(tt.want) || len(rejected) != 0 {
				t.Errorf("receiver processed %d requests, rejected %v; want %d, none", len(reqs), rejected, len(tt.want))
			}
			for _, r := range reqs {
				if r.Header.Get(HeaderID) != reqs[0].Header.Get(HeaderID) {
					t.Errorf("%s changed across retries: %q, %q", HeaderID, reqs[0].Header.Get(HeaderID), r.Header.Get(HeaderID))
				}
			}
		})
	}
}

func TestTransportFailuresRetried(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name, url, wantErr string
	}{
		{name: "timeout", url: slow.URL, wantErr: "no answer within 50ms"},
		{name: "connection refused", url: closedURL, wantErr: "post: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &deliveryLog{}
			var s sleeps
			cfg := testConfig(&s, Endpoint{Name: "ops", URL: tt.url, Secret: testSecret})
			cfg.MaxAttempts = 2
			cfg.Timeout = 50 * time.Millisecond
			n := newTestSender(t, cfg, log)
			n.Notify(context.Background(), testEvent(TypeGitOpsCommitted))
			waitFor(t, "final status", finished(log, 1))
			want := []brief{
				{"ops", TypeGitOpsCommitted, StatusRetrying, 1, 0},
				{"ops", TypeGitOpsCommitted, StatusFailed, 2, 0},
			}
			if diff := cmp.Diff(want, briefs(log)); diff != "" {
				t.Errorf("delivery log (-want +got):\n%s", diff)
			}
			for _, d := range log.List(0) {
				if !strings.Contains(d.Error, tt.wantErr) {
					t.Errorf("attempt %d error = %q, want it to contain %q", d.Attempt, d.Error, tt.wantErr)
				}
				if strings.Contains(d.Error, tt.url) {
					t.Errorf("attempt %d error %q contains the endpoint URL", d.Attempt, d.Error)
				}
			}
		})
	}
}

func TestEventFiltering(t *testing.T) {
	all, gates := newReceiver(t), newReceiver(t)
	log := &deliveryLog{}
	var s sleeps
	n := newTestSender(t, testConfig(&s,
		Endpoint{Name: "all", URL: all.srv.URL, Secret: testSecret},
		Endpoint{Name: "gates", URL: gates.srv.URL, Secret: testSecret, Events: []string{TypeGateFailed, TypeRolloutRolledBack}},
	), log)
	for _, typ := range []string{TypePromotionRequested, TypeGateFailed, TypePromotionSucceeded} {
		n.Notify(context.Background(), testEvent(typ))
	}
	waitFor(t, "deliveries", finished(log, 4))
	types := func(rc *receiver) map[string]int {
		_, bodies, _ := rc.received()
		got := map[string]int{}
		for _, b := range bodies {
			var ev Event
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			got[ev.Type]++
		}
		return got
	}
	tests := []struct {
		name string
		rc   *receiver
		want map[string]int
	}{
		{"all", all, map[string]int{TypePromotionRequested: 1, TypeGateFailed: 1, TypePromotionSucceeded: 1}},
		{"gates", gates, map[string]int{TypeGateFailed: 1}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, types(tt.rc)); diff != "" {
			t.Errorf("endpoint %s received (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestSlackPayload(t *testing.T) {
	rc := newReceiver(t)
	log := &deliveryLog{}
	var s sleeps
	n := newTestSender(t, testConfig(&s, Endpoint{Name: "chat", URL: rc.srv.URL, Secret: testSecret, Format: FormatSlack}), log)
	n.Notify(context.Background(), testEvent(TypeGateFailed))
	waitFor(t, "delivery", finished(log, 1))
	_, bodies, rejected := rc.received()
	if len(bodies) != 1 || len(rejected) != 0 {
		t.Fatalf("receiver processed %d bodies, rejected %v; want 1, none", len(bodies), rejected)
	}
	var got map[string]any
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatalf("decode %s: %v", bodies[0], err)
	}
	want := map[string]any{"text": "fraud-detector v12 → production: gate failed (by alice): auc 0.81 &lt; 0.85 · p-42"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slack body (-want +got):\n%s", diff)
	}
}

func TestSlackText(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"full", testEvent(TypeRolloutRolledBack), "fraud-detector v12 → production: rolled back (by alice): auc 0.81 &lt; 0.85"},
		{"version already prefixed", Event{Type: TypePromotionSucceeded, Model: "m", Version: "v3", Environment: "staging"}, "m v3 → staging: promotion succeeded"},
		{"no model", Event{Type: TypePromotionRequested}, "model: promotion requested"},
		{"unknown type shown as is", Event{Type: "x.y", Model: "m"}, "m: x.y"},
		{"newlines flattened", Event{Type: TypePromotionRejected, Model: "m", Summary: "a\nb"}, "m: rejected: a b"},
		{"the promotion's ID, to look it up", Event{Type: TypePromotionAwaitingApproval, Model: "m", Version: "2", Environment: "prod", PromotionID: "pr_1"},
			"m v2 → prod: awaiting approval · pr_1"},
		{"linked to its page", Event{Type: TypePromotionAwaitingApproval, Model: "m", Version: "2", Environment: "prod", PromotionID: "pr_1",
			URL: "https://promote.example.com/ui/promotions/pr_1"}, "m v2 → prod: awaiting approval · <https://promote.example.com/ui/promotions/pr_1|pr_1>"},
		{"a link's & escaped", Event{Type: TypePromotionAwaitingApproval, Model: "m", PromotionID: "pr_1", URL: "https://h.example/a&b/ui/promotions/pr_1"},
			"m: awaiting approval · <https://h.example/a&amp;b/ui/promotions/pr_1|pr_1>"},
		{"the requester's note, quoted on one line", Event{Type: TypePromotionAwaitingApproval, Model: "m", Version: "2", Environment: "prod", PromotionID: "pr_1",
			Note: "retrained on March data;\n<b>see</b> the fairness report"},
			`m v2 → prod: awaiting approval — note: "retrained on March data; &lt;b&gt;see&lt;/b&gt; the fairness report" · pr_1`},
		{"a bidirectional override shown as its code point", Event{Type: TypePromotionRequested, Model: "m", Note: "fine \u202eevil"},
			`m: promotion requested — note: "fine ⟨U+202E⟩evil"`},
		{"a long note cut", Event{Type: TypePromotionRequested, Model: "m", Note: strings.Repeat("é", 300)},
			`m: promotion requested — note: "` + strings.Repeat("é", 199) + `…"`},
		{"a rollback links to the model's page", Event{Type: TypeRolloutRolledBack, Model: "m", PromotionID: "rb_1", URL: "https://h.example/ui/models/m"},
			"m: rolled back · <https://h.example/ui/models/m|m>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SlackText(tt.ev); got != tt.want {
				t.Errorf("SlackText() = %q, want %q", got, tt.want)
			}
		})
	}
}

// A delivery waiting to be retried when its sender stops ends with a
// stoppedError (the Dispatcher sends the event again later).
func TestShutdownAbandonsPendingRetry(t *testing.T) {
	rc := newReceiver(t, reply{code: 500})
	log := &deliveryLog{}
	cfg := testConfig(&sleeps{}, Endpoint{Name: "ops", URL: rc.srv.URL, Secret: testSecret})
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel() // the sender stops while it waits
		<-ctx.Done()
		return ctx.Err()
	}
	n := newTestSender(t, cfg, log)
	n.Notify(ctx, testEvent(TypeRolloutStep))
	want := []brief{
		{"ops", TypeRolloutStep, StatusRetrying, 1, 500},
		{"ops", TypeRolloutStep, StatusFailed, 1, 0},
	}
	if diff := cmp.Diff(want, briefs(log)); diff != "" {
		t.Errorf("delivery log (-want +got):\n%s", diff)
	}
	if got := log.List(1)[0].Error; !strings.Contains(got, "stopped before attempt 2") || !strings.Contains(got, context.Canceled.Error()) {
		t.Errorf("final error = %q, want it to say the sender stopped before attempt 2", got)
	}
	if reqs, _, _ := rc.received(); len(reqs) != 1 {
		t.Errorf("receiver got %d requests, want the first attempt only", len(reqs))
	}
}

func TestDeliveryIDsShared(t *testing.T) {
	rc := newReceiver(t, reply{code: 500}, reply{code: 200})
	log := &deliveryLog{}
	var s sleeps
	n := newTestSender(t, testConfig(&s, Endpoint{Name: "ops", URL: rc.srv.URL, Secret: testSecret}), log)
	n.Notify(context.Background(), testEvent(TypeRolloutStep))
	waitFor(t, "delivery", finished(log, 1))
	ds := log.List(0)
	if len(ds) != 2 || ds[0].ID == "" || ds[0].ID != ds[1].ID || ds[0].EventID == "" || ds[0].EventID != ds[1].EventID {
		t.Errorf("attempts = %+v, want two sharing a non-empty delivery ID and event ID", ds)
	}
}

func TestConfigValidation(t *testing.T) {
	good := Endpoint{Name: "ops", URL: "https://hooks.example.com/promote", Secret: testSecret}
	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the error
	}{
		{name: "valid", cfg: Config{Endpoints: []Endpoint{good, {Name: "chat", URL: "http://chat:8080/x", Secret: testSecret, Format: FormatSlack, Events: []string{TypeGateFailed}}}}},
		{name: "no endpoints is valid", cfg: Config{}},
		{
			name: "every problem at once",
			cfg: Config{
				Endpoints: []Endpoint{
					{URL: "ftp://example.com", Secret: []byte("short"), Events: []string{"gate.passed"}, Format: "xml"},
					good,
					{Name: "ops", URL: "https://", Secret: testSecret},
					{Name: "empty", Secret: testSecret},
				},
				MaxAttempts: -1,
				BaseDelay:   time.Minute,
				MaxDelay:    time.Second,
				Timeout:     -time.Second,
			},
			want: []string{
				"endpoints[0]: name is empty",
				`endpoints[0]: url "ftp://example.com" must use http or https`,
				"endpoints[0]: secret is 5 bytes, want at least 16",
				`endpoints[0]: unknown event type "gate.passed"`,
				`endpoints[0]: unknown format "xml"`,
				`endpoints[2]: url "https://" has no host`,
				`endpoints[2]: name "ops" already used by endpoints[1]`,
				"endpoints[3]: url is empty",
				"max attempts is negative",
				"timeout is negative",
				"base delay 1m0s exceeds max delay 1s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSender(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("newSender() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("newSender() = nil, want an error naming %q", tt.want)
			}
			if code := promote.ErrorCode(err); code != promote.Invalid {
				t.Errorf("ErrorCode(newSender()) = %q, want %q", code, promote.Invalid)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("newSender() = %q, missing %q", err, w)
				}
			}
		})
	}
}

func TestEndpointValidateAndLogValue(t *testing.T) {
	ep := Endpoint{Name: "chat", URL: "https://hooks.slack.com/services/T000/B000/XXXXSECRET", Secret: []byte("short")}
	err := ep.Validate()
	if err == nil || !strings.Contains(err.Error(), `endpoint "chat": secret is 5 bytes`) {
		t.Errorf("Validate() = %v, want the short secret named", err)
	}
	// The log, and anything fmt prints (a config dumped with %+v, an
	// error naming the endpoint), keep the secret and the URL's path out.
	for how, v := range map[string]string{
		"LogValue()": ep.LogValue().String(),
		"%v":         fmt.Sprintf("%v", ep),
		"%+v":        fmt.Sprintf("%+v", ep),
		"%#v":        fmt.Sprintf("%#v", ep),
		"%s":         fmt.Sprintf("%s", ep),
		"%v of *":    fmt.Sprintf("%v", &ep),
		"%+v of []":  fmt.Sprintf("%+v", []Endpoint{ep}),
	} {
		for _, secret := range []string{"XXXXSECRET", "short", "115 104 111 114 116", "[]byte"} {
			if strings.Contains(v, secret) {
				t.Errorf("%s = %s, leaks %q", how, v, secret)
			}
		}
		if !strings.Contains(v, "hooks.slack.com") || !strings.Contains(v, "chat") {
			t.Errorf("%s = %s, want the name and the host", how, v)
		}
	}
}

// A URL that Validate refuses is named without what may be its
// credential (a Slack-style path, a user's password), since the problems
// are printed where the server starts; LogValue does not log one that
// does not parse.
func TestEndpointProblemsKeepCredentialsOut(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"htps://hooks.slack.com/services/T000/B000/S3CR3T", `url "htps://hooks.slack.com/…" must use http or https`},
		{"https://bob:hunter2@hooks .example.com/S3CR3T", "url does not parse: invalid character"},
		{"https:///services/T000/B000/S3CR3T?k=hunter2", `url "https:///…" has no host`},
		// The "@" left out: what follows the colon reads as a port.
		{"https://bob:S3CR3T/hooks/promote", `url does not parse: invalid port "…" after host`},
		{"https://bob:hunter2%zz@hooks.example.com/S3CR3T", `url does not parse: invalid URL escape "…"`},
	}
	for _, tt := range tests {
		ep := Endpoint{Name: "chat", URL: tt.url, Secret: testSecret}
		err := ep.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%q) = %v, want %q", tt.url, err, tt.want)
		}
		v := ep.LogValue().String()
		for _, secret := range []string{"S3CR3T", "hunter2"} {
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Validate(%q) = %v, leaks %q", tt.url, err, secret)
			}
			if strings.Contains(v, secret) {
				t.Errorf("LogValue() of %q = %s, leaks %q", tt.url, v, secret)
			}
		}
	}
}

func TestEqualJitter(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, time.Millisecond, time.Minute} {
		for range 200 {
			if got := equalJitter(d); got < d/2 || got > d {
				t.Fatalf("equalJitter(%s) = %s, want within [%s, %s]", d, got, d/2, d)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", -1},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"-5", -1},
		{"soon", -1},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{strconv.Itoa(1 << 40), 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A receiver's answer is kept in the delivery log, the log and the API,
// and receivers echo what they refuse: the credential an endpoint's URL
// carries (its user information, a query's token, a Slack-style path)
// is cut out of it.
func TestAnswerKeepsTheURLsCredentialsOut(t *testing.T) {
	const token, password, path = "tok3nS3CR3Tq", "hunter2hunter2", "T000AAAA/B000BBBB/XXXXSECRETXXXX"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		// An answer that quotes the credential where the log's excerpt
		// of it ends.
		pad := strings.Repeat("x", 190*len(r.URL.Query().Get("pad")))
		http.Error(w, pad+"token "+r.URL.Query().Get("token")+" of "+user+":"+pass+" is not valid for "+r.URL.Path, http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://ci-bot:"+password+"@", 1) + "/services/" + path + "?token=" + token
	var logs bytes.Buffer
	log := &deliveryLog{}
	var s sleeps
	cfg := testConfig(&s, Endpoint{Name: "ci", URL: u, Secret: testSecret}, Endpoint{Name: "ci-padded", URL: u + "&pad=1", Secret: testSecret})
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n := newTestSender(t, cfg, log)
	n.Notify(t.Context(), testEvent(TypeGitOpsCommitted))
	waitFor(t, "final status", finished(log, 2))
	for _, d := range log.List(0) {
		if d.Code != http.StatusForbidden || !strings.Contains(d.Error, "token …") {
			t.Errorf("delivery to %s = %d %q, want 403 with the receiver's answer", d.Endpoint, d.Code, d.Error)
		}
		for _, secret := range []string{token[:4], password, "XXXXSECRETXXXX", "B000BBBB"} {
			if strings.Contains(d.Error, secret) {
				t.Errorf("delivery error %q holds %q", d.Error, secret)
			}
		}
	}
	for _, secret := range []string{token[:4], password, "XXXXSECRETXXXX", "B000BBBB"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log %q holds %q", logs.String(), secret)
		}
	}
}
