package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// webhooksDoc returns docs/webhooks.md.
func webhooksDoc(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

// docFields returns the fields of a json-format body that
// docs/webhooks.md names: the structured fields it calls stable, and the
// summary.
func docFields(t *testing.T, doc string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "which are stable:")
	if !ok {
		t.Fatal("docs/webhooks.md does not list the stable fields")
	}
	list, _, _ := strings.Cut(rest, "\n\n")
	fields := []string{"summary"}
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(list, -1) {
		fields = append(fields, m[1])
	}
	slices.Sort(fields)
	return slices.Compact(fields)
}

// docEvents returns the example bodies of docs/webhooks.md: its JSON
// blocks with a "type", each with its lines that only say "…" (numbers
// shortened) left out.
func docEvents(t *testing.T, doc string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile("(?s)\n```json\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		if !strings.Contains(m[1], `"type":`) {
			continue
		}
		body := regexp.MustCompile(`,\s*\n\s*…\s*\n`).ReplaceAllString(m[1], "\n")
		out = append(out, body)
	}
	return out
}

// keys returns the keys of a JSON object, sorted.
func keys(m map[string]json.RawMessage) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestDeliveredEventsMatchTheDocs has a Dispatcher deliver a notification
// of every type, made of audit events with every field the registry
// records, and holds what a receiver gets to docs/webhooks.md: the types
// are those its table lists, every key of a body is a field it names, and
// every key of its examples is in the delivery of the same type. Its
// examples decode into Event with no field left over.
func TestDeliveredEventsMatchTheDocs(t *testing.T) {
	doc := webhooksDoc(t)
	fields := docFields(t, doc)

	// The table of event types.
	_, table, _ := strings.Cut(doc, "\n## Event types\n")
	table, _, _ = strings.Cut(table, "\n\n###")
	var docTypes []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)`").FindAllStringSubmatch(table, -1) {
		docTypes = append(docTypes, m[1])
	}
	if diff := cmp.Diff(EventTypes(), docTypes); diff != "" {
		t.Errorf("event types in docs/webhooks.md's table (-code +docs):\n%s", diff)
	}

	// The examples: each decodes into Event exactly.
	examples := map[string]map[string]json.RawMessage{}
	for _, body := range docEvents(t, doc) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			t.Errorf("an example in docs/webhooks.md does not decode as an event: %v\n%s", err, body)
			continue
		}
		if !KnownEventType(ev.Type) {
			t.Errorf("an example in docs/webhooks.md has unknown type %q", ev.Type)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys(m) {
			if !slices.Contains(fields, k) {
				t.Errorf("the %s example in docs/webhooks.md has field %q, which the docs do not name among %v", ev.Type, k, fields)
			}
		}
		examples[ev.Type] = m
	}
	if len(examples) < 3 {
		t.Fatalf("found %d example types in docs/webhooks.md, want at least 3", len(examples))
	}

	// Real deliveries of every type.
	s := openStore(t)
	hooks := new(hookLog)
	bodies := new(bodyLog)
	rec := httptest.NewServer(bodies.wrap(hooks.handler(nil)))
	t.Cleanup(rec.Close)
	cfg := dispatcherConfig(s, rec.URL)
	cfg.ExternalURL = "https://promote.example.com"
	d := startedDispatcher(t, cfg)

	at := time.Date(2026, 11, 27, 0, 30, 0, 0, time.UTC)
	base := promote.AuditEvent{Actor: "ci", Model: "credit-risk", Version: "2", Environment: "prod", PromotionID: "pr_a7eb7009b0c9f5f2",
		Digest: "sha256:9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c", Reasons: json.RawMessage(`["why"]`)}
	gate := json.RawMessage(`[{"rule":"auc","kind":"metric","status":"pass","message":"auc 0.9 >= 0.85"},
		{"rule":"approvals","kind":"approvals","status":"fail","message":"0 of 2 distinct approvers (none)","approvals":{"min":2,"counted":[]}}]`)
	verdict := `{"decision":"fail","reason":"error_rate","tests":[]}`
	var events []promote.AuditEvent
	add := func(e promote.AuditEvent) {
		if e.Time.IsZero() {
			at = at.Add(time.Second)
			e.Time = at
		}
		events = append(events, e)
	}
	with := func(action, decision string, reasons json.RawMessage) promote.AuditEvent {
		e := base
		e.Action, e.Decision = action, decision
		if reasons != nil {
			e.Reasons = reasons
		}
		return e
	}
	add(with(promote.ActionPromotionRequested, "requested", nil))
	add(with(promote.ActionPromotionState, "blocked", gate))
	gated := with(promote.ActionPromotionState, string(promote.StateGated), gate)
	add(gated)
	waiting := with(promote.ActionPromotionState, string(promote.StateAwaitingApproval), json.RawMessage(`["awaiting approval: 0 of 2 distinct approvers (none)"]`))
	waiting.Time = events[len(events)-1].Time // written with the gate's results
	add(waiting)
	add(with(promote.ActionPromotionState, "approved", json.RawMessage(`["approved by lena, omar"]`)))
	add(with(promote.ActionPromotionApproval, "rejected", json.RawMessage(`{"roles":["approver"],"comment":"no"}`)))
	add(with(promote.ActionPromotionState, "cancelled", nil))
	add(with(promote.ActionCommitted, "committed", nil))
	add(with(promote.ActionUndeliverable, "failed", nil))
	add(with(promote.ActionRolloutStep, "step 1: weight 10%", json.RawMessage(`{"step":0,"weight":10,"reason":"started"}`)))
	rb := with(promote.ActionRolledBack, "rolled_back", json.RawMessage(`["1 replaces 2: the canary analysis failed"]`))
	rb.Version, rb.PromotionID, rb.Actor = "1", "rb_93a89b0527b25585", "rollout"
	add(rb)
	ended := with(promote.ActionRolloutStep, "rolled_back", json.RawMessage(`{"step":0,"weight":0,"reason":"the canary analysis failed","verdict":`+verdict+`}`))
	ended.Time, ended.Actor = events[len(events)-1].Time, "rollout" // written with the rollback
	add(ended)
	add(with(promote.ActionPromotionState, "succeeded", nil))
	err := s.Update(t.Context(), func(tx promote.Tx) error {
		for _, e := range events {
			if _, err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runDispatcher(t, t.Context(), d)
	waitFor(t, "every notification", func() bool {
		ids, _, _ := hooks.got()
		return len(ids) >= len(EventTypes())
	})
	ids, _, rejected := hooks.got()
	if rejected != 0 {
		t.Errorf("the receiver rejected %d requests", rejected)
	}
	got := map[string]map[string]json.RawMessage{}
	var types []string
	for _, b := range bodies.get() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("a delivered body is not a JSON object: %v\n%s", err, b)
		}
		var typ string
		if err := json.Unmarshal(m["type"], &typ); err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
		got[typ] = m
		for _, k := range keys(m) {
			if !slices.Contains(fields, k) {
				t.Errorf("a delivered %s has field %q, which docs/webhooks.md does not name among %v", typ, k, fields)
			}
		}
		for _, k := range []string{"id", "type", "time", "model", "version", "environment", "promotion_id", "actor", "digest", "url", "data"} {
			if _, ok := m[k]; !ok {
				t.Errorf("a delivered %s has no %q: %s", typ, k, b)
			}
		}
	}
	if diff := cmp.Diff(EventTypes(), types); diff != "" {
		t.Errorf("types delivered (%d requests, ids %v) (-docs +delivered):\n%s", len(ids), ids, diff)
	}
	for typ, ex := range examples {
		real, ok := got[typ]
		if !ok {
			continue
		}
		for _, k := range keys(ex) {
			if _, ok := real[k]; !ok && k != "note" {
				t.Errorf("docs/webhooks.md's %s example has %q; a delivery has %v", typ, k, keys(real))
			}
		}
		for _, nested := range []string{"approval", "rollout"} {
			var want, have map[string]json.RawMessage
			if ex[nested] == nil {
				continue
			}
			_ = json.Unmarshal(ex[nested], &want)
			_ = json.Unmarshal(real[nested], &have)
			if diff := cmp.Diff(keys(want), keys(have)); diff != "" {
				t.Errorf("%s.%s: keys in docs/webhooks.md's example (-docs +delivered):\n%s", typ, nested, diff)
			}
		}
	}
}

// bodyLog keeps the body of every request a handler gets.
type bodyLog struct {
	mu     sync.Mutex
	bodies [][]byte
}

// wrap returns next, keeping each request's body first.
func (l *bodyLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.bodies = append(l.bodies, b)
		l.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(w, r)
	})
}

func (l *bodyLog) get() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.bodies)
}
