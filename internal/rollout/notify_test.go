package rollout

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/promote"
)

// hookSecret signs the test's webhooks.
var hookSecret = []byte("a secret of at least 16 bytes")

// receiver is a webhook receiver that checks each request as
// docs/webhooks.md tells receivers to, and keeps the events it accepted.
type receiver struct {
	mu     sync.Mutex
	events []notify.Event
	bad    []string
}

func (h *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	var ev notify.Event
	if err := notify.Verify(hookSecret, r.Header, body, time.Now(), notify.DefaultTolerance); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.events = append(h.events, ev)
}

// notifications runs a dispatcher of w's audit log to a receiver while
// run runs, and returns the events the receiver accepted.
func (w *world) notifications(t *testing.T, run func()) []notify.Event {
	t.Helper()
	hooks := &receiver{}
	srv := httptest.NewServer(hooks)
	t.Cleanup(srv.Close)
	d, err := notify.NewDispatcher(notify.DispatcherConfig{Config: notify.Config{
		Endpoints: []notify.Endpoint{{Name: "ops", URL: srv.URL, Secret: hookSecret}}}, Store: w.store, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	run()
	head, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Until the dispatcher has gone past the last event.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var c promote.WebhookCursor
		if err := w.store.View(t.Context(), func(tx promote.Tx) (err error) {
			c, err = tx.WebhookCursor("ops")
			return err
		}); err == nil && c.Seq >= head[0].Seq {
			break
		}
	}
	cancel()
	<-done
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.bad) > 0 {
		t.Errorf("the receiver refused requests: %v", hooks.bad)
	}
	return hooks.events
}

// The notification of a faulty canary's automatic rollback, signed,
// carries the analysis's evidence: which test failed, the canary's and
// stable's counts, the e-value and the threshold it reached, and the
// promotion to look at.
func TestFaultyCanaryRollbackIsNotifiedWithTheEvidence(t *testing.T) {
	w := newWorld(t)
	w.failV2.Store(10) // one v2 answer in ten is a 5xx
	var r promote.Rollout
	events := w.notifications(t, func() { r = w.drive(t) })
	if r.State != promote.RolloutRolledBack {
		t.Fatalf("rollout = %s (%s), want rolled back", r.State, r.Reason)
	}
	var rb *notify.Event
	for i := range events {
		if events[i].Type == notify.TypeRolloutRolledBack {
			rb = &events[i]
		}
	}
	if rb == nil {
		t.Fatalf("no %s notification among %+v", notify.TypeRolloutRolledBack, events)
	}
	if !strings.Contains(rb.Summary, "the canary analysis failed") {
		t.Errorf("the rollback's summary = %q, want the reason", rb.Summary)
	}
	ro := rb.Rollout
	if ro == nil {
		t.Fatalf("the rollback's notification %s (%s) carries no rollout", rb.ID, rb.Summary)
	}
	if ro.PromotionID != r.PromotionID || ro.Version != "2" || ro.Decision != "rolled_back" || ro.Reason != r.Reason {
		t.Errorf("the rollback's rollout = %+v, want promotion %s, version 2, rolled_back, reason %q", *ro, r.PromotionID, r.Reason)
	}
	var v analysis.Verdict
	if err := json.Unmarshal(ro.Verdict, &v); err != nil || v.Decision != analysis.Fail {
		t.Fatalf("the rollback's verdict %s (%v): want the analysis's failure", ro.Verdict, err)
	}
	failed := false
	for _, tr := range v.Tests {
		if tr.Status == analysis.StatusFail {
			failed = true
			if tr.Name != analysis.TestErrorRate && tr.Name != analysis.TestSLOErrorRate || tr.CanaryEvents == 0 || tr.CanaryRequests == 0 ||
				tr.StableRequests == 0 || tr.Statistic < tr.Threshold || tr.PValue > 1/tr.Threshold {
				t.Errorf("failed test %+v: want an error-rate test with both tracks' counts, its e-value at its threshold", tr)
			}
		}
	}
	if !failed {
		t.Errorf("the verdict %s has no failed test", ro.Verdict)
	}
}

// A rollout the controller cannot judge is paused for a person, and the
// notification says so, and why, in a chat message too.
func TestCannotJudgePauseIsNotifiedWithItsReason(t *testing.T) {
	w := newWorld(t)
	var r promote.Rollout
	events := w.notifications(t, func() {
		w.pump(t, w.ctl, 1)
		r = w.pump(t, w.blind(t), 1)
	})
	if r.State != promote.RolloutPaused {
		t.Fatalf("rollout = %s (%s), want paused", r.State, r.Reason)
	}
	var paused *notify.Event
	for i := range events {
		if events[i].Type == notify.TypeRolloutStep && strings.HasPrefix(events[i].Summary, "paused") {
			paused = &events[i]
		}
	}
	if paused == nil {
		t.Fatalf("no notification of the pause among %+v", events)
	}
	if want := "paused: " + r.Reason; paused.Summary != want {
		t.Errorf("the pause's summary = %q, want %q", paused.Summary, want)
	}
	if text := notify.SlackText(*paused); !strings.Contains(text, "cannot judge: the metric source kept failing") {
		t.Errorf("the pause's chat message = %q, want the reason", text)
	}
}
