package httpapi

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// TestDevToProd takes one model from registration to prod through the API:
// dev and staging need no approval, prod needs two distinct approvers who
// are not the requester; the live alias moves and the history, the audit
// chain and its export say so.
func TestDevToProd(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice := f.client(f.alice)

	m, err := alice.CreateModel(ctx, "churn", "predicts churn")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "churn" || m.CreatedBy != "alice" {
		t.Errorf("CreateModel = %+v, want churn created by alice (the token's holder)", m)
	}
	v, err := alice.RegisterVersion(ctx, registry.RegisterRequest{Model: "churn", Version: "1", ArtifactURI: "s3://models/churn/1/model.bin",
		Digest: digest1, Size: 1024, Metrics: []byte(metricsGood), Lineage: promote.Lineage{CodeCommit: "abc123"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]float64{"accuracy": 0.91, "latency_p95_ms": 140}, v.Metrics); diff != "" {
		t.Errorf("RegisterVersion metrics (-want +got):\n%s", diff)
	}
	if !v.Checks["tests_passed"] || v.Digest != digest1 || v.Lineage.CodeCommit != "abc123" {
		t.Errorf("RegisterVersion = %+v", v)
	}

	for _, env := range []string{"dev", "staging"} {
		p, err := alice.RequestPromotion(ctx, registry.PromoteRequest{Model: "churn", Version: "1", Environment: env})
		if err != nil {
			t.Fatal(err)
		}
		if p.State != promote.StateSucceeded || p.Gate == nil || !p.Gate.Allowed {
			t.Fatalf("RequestPromotion(%s) = state %s, gate %+v; want succeeded and allowed", env, p.State, p.Gate)
		}
	}
	p, err := alice.RequestPromotion(ctx, registry.PromoteRequest{Model: "churn", Version: "1", Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != promote.StateAwaitingApproval || p.Digest != digest1 || p.RequestedBy != "alice" {
		t.Fatalf("RequestPromotion(prod) = %s by %s for %s, want awaiting_approval by alice for %s", p.State, p.RequestedBy, p.Digest, digest1)
	}
	if len(p.Decision) != 0 {
		t.Errorf("promotion view carries the raw decision %q; want it only as gate", p.Decision)
	}

	bob, dave := f.client(f.bob), f.client(f.dave)
	after1, err := bob.Approve(ctx, p.ID, registry.ApproveRequest{Digest: p.Digest, Comment: "metrics look good"})
	if err != nil {
		t.Fatal(err)
	}
	if after1.State != promote.StateAwaitingApproval || len(after1.Approvals) != 1 {
		t.Fatalf("after one approval: %s with %d approvals, want awaiting_approval with 1", after1.State, len(after1.Approvals))
	}
	st, err := alice.Status(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	if _, live := st.Live["prod"]; live {
		t.Errorf("prod is live after one approval of two: %+v", st.Live["prod"])
	}
	after2, err := dave.Approve(ctx, p.ID, registry.ApproveRequest{Digest: p.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if after2.State != promote.StateSucceeded {
		t.Fatalf("after two approvals: %s, want succeeded (%s)", after2.State, after2.Reason)
	}
	var approvers []string
	for _, a := range after2.Approvals {
		approvers = append(approvers, a.Approver)
	}
	if diff := cmp.Diff([]string{"bob", "dave"}, approvers); diff != "" {
		t.Errorf("approvers (-want +got):\n%s", diff)
	}

	detail, err := f.client(f.vera).Model(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]string{}
	for env, l := range detail.Status.Live {
		live[env] = l.Version
	}
	if diff := cmp.Diff(map[string]string{"dev": "1", "staging": "1", "prod": "1"}, live); diff != "" {
		t.Errorf("live versions (-want +got):\n%s", diff)
	}
	if len(detail.Status.Promotions) != 0 {
		t.Errorf("active promotions after success: %+v", detail.Status.Promotions)
	}
	hist, err := alice.History(ctx, promote.LiveFilter{Model: "churn", Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Version != "1" || hist[0].PromotionID != p.ID || hist[0].SetBy != "dave" {
		t.Errorf("History(prod) = %+v, want one change to 1 by promotion %s set by dave", hist, p.ID)
	}

	got, err := alice.Promotion(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != promote.StateSucceeded || got.Gate == nil || !got.Gate.Allowed || len(got.Approvals) != 2 {
		t.Errorf("Promotion(%s) = %s, gate %+v, %d approvals", p.ID, got.State, got.Gate, len(got.Approvals))
	}
	list, err := alice.Promotions(ctx, promote.PromotionFilter{Model: "churn", States: []promote.State{promote.StateSucceeded}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Errorf("Promotions(succeeded) = %d promotions, want 3", len(list))
	}
	envs, err := alice.Environments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var chain []string
	for _, e := range envs {
		chain = append(chain, e.From+">"+e.Name+":"+e.Strategy)
	}
	if diff := cmp.Diff([]string{">dev:direct", "dev>staging:direct", "staging>prod:canary"}, chain); diff != "" {
		t.Errorf("Environments (-want +got):\n%s", diff)
	}

	events, err := alice.AuditEvents(ctx, promote.AuditFilter{PromotionID: p.ID, Action: promote.ActionPromotionApproval})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Actor != "dave" || events[1].Actor != "bob" {
		t.Errorf("approval events = %+v, want dave's then bob's (newest first)", events)
	}
	byDave, err := alice.AuditEvents(ctx, promote.AuditFilter{PromotionID: p.ID, Actor: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byDave) == 0 {
		t.Error("AuditEvents(actor dave) found none of dave's events")
	}
	for _, e := range byDave {
		if e.Actor != "dave" {
			t.Errorf("AuditEvents(actor dave) returned an event by %q: %+v", e.Actor, e)
		}
	}

	// Each approval records the token it was made with; ?token= lists
	// what one token did.
	tokens, err := f.client(f.admin).Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tokenOf := map[string]string{}
	for _, tok := range tokens {
		tokenOf[tok.Name] = tok.ID
	}
	for _, e := range events {
		if e.TokenID != tokenOf[e.Actor] {
			t.Errorf("%s's approval event records token %q, want %q", e.Actor, e.TokenID, tokenOf[e.Actor])
		}
	}
	byBobsToken, err := alice.AuditEvents(ctx, promote.AuditFilter{TokenID: tokenOf["bob"]})
	if err != nil {
		t.Fatal(err)
	}
	var bobs []string
	for _, e := range byBobsToken {
		bobs = append(bobs, e.Actor+" "+e.Action+" "+e.PromotionID)
	}
	if want := []string{"bob " + promote.ActionPromotionApproval + " " + p.ID}; !cmp.Equal(want, bobs) {
		t.Errorf("AuditEvents(bob's token) = %q, want %q", bobs, want)
	}
	for _, c := range []struct{ value, says string }{
		{"bob", "want tok_ and 16 hex digits"},
		{"tok_123", "want tok_ and 16 hex digits"},
		{f.bob, "that is a token's secret, not its ID"},
	} {
		r := f.do(http.MethodGet, "/api/v1/audit?token="+url.QueryEscape(c.value), f.vera, "", nil)
		if r.status != http.StatusBadRequest || !strings.Contains(r.err.Error.Message, c.says) {
			t.Errorf("GET /api/v1/audit?token=%s = %d %q, want 400 saying %q", c.value, r.status, r.err.Error.Message, c.says)
		}
		if strings.Contains(string(r.body), f.bob) {
			t.Errorf("GET /api/v1/audit?token=<a secret> repeats the secret: %s", r.body)
		}
	}
	res, err := alice.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Events != f.auditCount() {
		t.Errorf("VerifyAudit = %+v, want ok over %d events", res, f.auditCount())
	}
	var buf bytes.Buffer
	n, err := alice.ExportAudit(ctx, &buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != f.auditCount() || int64(strings.Count(buf.String(), "\n")) != n {
		t.Errorf("ExportAudit = %d events, %d lines; want %d", n, strings.Count(buf.String(), "\n"), f.auditCount())
	}
	offline, err := audit.VerifyExport(&buf)
	if err != nil || !offline.OK || offline.HeadHash != res.HeadHash {
		t.Errorf("VerifyExport = %+v, %v; want ok ending at %s", offline, err, res.HeadHash)
	}
}

// TestBlockedIsNotAnError: a gate that blocks creates a promotion in state
// blocked (201) with every reason, and the client returns it without error.
func TestBlockedIsNotAnError(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	alice := f.model("churn")
	if _, err := alice.RegisterVersion(ctx, registry.RegisterRequest{Model: "churn", Version: "2", ArtifactURI: "s3://m/2", Digest: digest2,
		Metrics: []byte(`{"accuracy": 0.5, "checks": {"tests_passed": true}}`)}); err != nil {
		t.Fatal(err)
	}
	p, err := alice.RequestPromotion(ctx, registry.PromoteRequest{Model: "churn", Version: "2", Environment: "dev"})
	if err != nil {
		t.Fatalf("RequestPromotion of a failing version: %v, want a blocked promotion", err)
	}
	if p.State != promote.StateBlocked || p.Gate == nil || p.Gate.Allowed {
		t.Fatalf("RequestPromotion = %s, gate %+v; want blocked", p.State, p.Gate)
	}
	if !strings.Contains(p.Reason, "accuracy") {
		t.Errorf("reason %q does not name accuracy", p.Reason)
	}
	r := f.do("POST", "/api/v1/promotions", f.alice, "application/json", jsonBody(`{"model":"churn","version":"2","environment":"dev"}`))
	if r.status != 201 || !strings.Contains(string(r.body), `"state":"blocked"`) {
		t.Errorf("POST /promotions blocked = %d %s, want 201 with state blocked", r.status, r.body)
	}
}

// TestApprovalRules: who may approve, and each person once. Every refusal
// changes nothing: no approval, no audit event.
func TestApprovalRules(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.model("churn")
	f.promoteTo("churn", "staging")
	// carol, an approver, requests prod herself.
	p, err := f.client(f.carol).RequestPromotion(ctx, registry.PromoteRequest{Model: "churn", Version: "1", Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != promote.StateAwaitingApproval {
		t.Fatalf("prod promotion is %s, want awaiting_approval", p.State)
	}
	approvals := func() int {
		v, err := f.client(f.vera).Promotion(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(v.Approvals)
	}
	tests := []struct {
		name, token, digest string
		code                promote.Code
		message             string
	}{
		{"viewer", f.vera, digest1, promote.Forbidden, "needs the approver role; vera has viewer"},
		{"submitter", f.alice, digest1, promote.Forbidden, "needs the approver role; alice has submitter"},
		{"requester", f.carol, digest1, promote.Forbidden, "carol requested promotion " + p.ID + " and may not approve it"},
		{"other digest", f.bob, digest2, promote.Conflict, "you approved digest " + digest2},
		{"no digest", f.bob, "", promote.Invalid, "must name the artifact digest"},
		{"wrong token", "prm_notatoken", digest1, promote.Unauthorized, "invalid or revoked token"},
		{"no token", "", digest1, promote.Unauthorized, "missing token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.auditCount()
			_, err := f.client(tt.token).Approve(ctx, p.ID, registry.ApproveRequest{Digest: tt.digest})
			if promote.ErrorCode(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("Approve = %v (code %q), want %s containing %q", err, promote.ErrorCode(err), tt.code, tt.message)
			}
			if n := approvals(); n != 0 {
				t.Errorf("approvals = %d after a refused approval, want 0", n)
			}
			if after := f.auditCount(); after != before {
				t.Errorf("audit events %d → %d after a refused approval", before, after)
			}
		})
	}

	t.Run("twice", func(t *testing.T) {
		bob := f.client(f.bob)
		v, err := bob.Approve(ctx, p.ID, registry.ApproveRequest{Digest: digest1})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Approvals) != 1 || v.State != promote.StateAwaitingApproval {
			t.Fatalf("first approval: %d approvals, %s", len(v.Approvals), v.State)
		}
		before := f.auditCount()
		_, err = bob.Approve(ctx, p.ID, registry.ApproveRequest{Digest: digest1})
		if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "each person counts once") {
			t.Errorf("second approval by bob = %v, want conflict: each person counts once", err)
		}
		if n := approvals(); n != 1 {
			t.Errorf("approvals after bob approved twice = %d, want 1", n)
		}
		if after := f.auditCount(); after != before {
			t.Errorf("audit events %d → %d after a repeated approval", before, after)
		}
		r := f.do("POST", "/api/v1/promotions/"+p.ID+"/approve", f.bob, "application/json", jsonBody(`{"digest":"`+digest1+`"}`))
		if r.status != 409 || r.err.Error.Code != promote.Conflict {
			t.Errorf("raw second approval = %d %s, want 409 conflict", r.status, r.body)
		}
	})
}

// TestActorIsTheToken: a body cannot name who acts.
func TestActorIsTheToken(t *testing.T) {
	f := newFixture(t)
	before := f.auditCount()
	r := f.do("POST", "/api/v1/models", f.alice, "application/json", jsonBody(`{"name":"churn","created_by":"mallory"}`))
	if r.status != 400 || !strings.Contains(r.err.Error.Message, `unknown field "created_by"`) {
		t.Errorf("POST /models with created_by = %d %s, want 400 naming the field", r.status, r.body)
	}
	if after := f.auditCount(); after != before {
		t.Errorf("audit events %d → %d", before, after)
	}
	m, err := f.client(f.alice).CreateModel(t.Context(), "churn", "")
	if err != nil {
		t.Fatal(err)
	}
	events, err := f.client(f.vera).AuditEvents(t.Context(), promote.AuditFilter{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if m.CreatedBy != "alice" || len(events) != 1 || events[0].Actor != "alice" {
		t.Errorf("model created by %q, audit %+v; want alice", m.CreatedBy, events)
	}
}

// TestAuditPagingOverTheAPI: the client sends before and after, and a page
// after a sequence number is the events just after it, newest first.
func TestAuditPagingOverTheAPI(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, name := range []string{"m1", "m2", "m3", "m4"} {
		f.model(name)
	}
	vera := f.client(f.vera)
	all, err := vera.AuditEvents(ctx, promote.AuditFilter{Action: promote.ActionModelCreated})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("%d model.created events, want 4", len(all))
	}
	seqs := func(events []promote.AuditEvent) []int64 {
		var out []int64
		for _, e := range events {
			out = append(out, e.Seq)
		}
		return out
	}
	after, err := vera.AuditEvents(ctx, promote.AuditFilter{Action: promote.ActionModelCreated, AfterSeq: all[3].Seq, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(seqs(all[1:3]), seqs(after)); d != "" {
		t.Errorf("the two events after the first (-want +got):\n%s", d)
	}
	before, err := vera.AuditEvents(ctx, promote.AuditFilter{Action: promote.ActionModelCreated, BeforeSeq: all[0].Seq, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(seqs(all[1:2]), seqs(before)); d != "" {
		t.Errorf("the event before the last (-want +got):\n%s", d)
	}
}

// TestAuditUnknownActionRefused: a filter on an action no event can have
// (a typo, or a name from another tool) is refused, naming the actions,
// instead of answering with no events, which reads as "nothing happened".
func TestAuditUnknownActionRefused(t *testing.T) {
	f := newFixture(t)
	f.model("m1")
	vera := f.client(f.vera)
	for _, action := range []string{"promotion.approved", "approval", "promotion.gated"} {
		_, err := vera.AuditEvents(t.Context(), promote.AuditFilter{Action: action})
		if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "promotion.approval") {
			t.Errorf("AuditEvents(action %q) = %v, want invalid naming the known actions", action, err)
		}
	}
	for _, action := range promote.AuditActions {
		if _, err := vera.AuditEvents(t.Context(), promote.AuditFilter{Action: action}); err != nil {
			t.Errorf("AuditEvents(action %q) = %v", action, err)
		}
	}
}

// TestAuditByVersion: the list filters by version over the API (the
// client sends it), and a version that is not a name is refused.
func TestAuditByVersion(t *testing.T) {
	f := newFixture(t)
	f.model("churn")
	bob := f.client(f.bob)
	if _, err := bob.SetHold(t.Context(), "churn", "1", "dev", "suspicious data"); err != nil {
		t.Fatal(err)
	}
	evs, err := bob.AuditEvents(t.Context(), promote.AuditFilter{Model: "churn", Version: "1", Action: promote.ActionHoldSet})
	if err != nil || len(evs) != 1 || evs[0].Version != "1" {
		t.Fatalf("AuditEvents(churn 1, hold.set) = %+v, %v; want the hold on 1", evs, err)
	}
	if evs, err := bob.AuditEvents(t.Context(), promote.AuditFilter{Model: "churn", Version: "2"}); err != nil || len(evs) != 0 {
		t.Errorf("AuditEvents(churn 2) = %+v, %v; want none", evs, err)
	}
	if r := f.do("GET", "/api/v1/audit?version=../x", f.vera, "", nil); r.status != 400 || !strings.Contains(string(r.body), "version") {
		t.Errorf("GET /api/v1/audit?version=../x = %d %s, want 400 naming the version", r.status, r.body)
	}
	// A version is named within its model: without one, version 1 would
	// select every model's version 1.
	for _, path := range []string{"/api/v1/audit?version=1", "/api/v1/audit?version=1&action=hold.set",
		"/api/v1/promotions?version=1", "/api/v1/promotions?version=1&environment=dev", "/api/v1/holds?version=1&all=true",
		"/api/v1/rollouts?version=1", "/api/v1/rollouts?version=1&active=true"} {
		r := f.do("GET", path, f.vera, "", nil)
		if r.status != 400 || !strings.Contains(string(r.body), `version \"1\" without a model`) {
			t.Errorf("GET %s = %d %s, want 400 saying the version needs its model", path, r.status, r.body)
		}
	}
}

// TestAuditByTime: the list filters by a time range over the API (the
// client sends it), since inclusive and until exclusive, and a malformed
// time or a range that ends before it starts is refused, naming what was
// given.
func TestAuditByTime(t *testing.T) {
	f := newFixture(t)
	f.model("churn")
	bob := f.client(f.bob)
	for _, reason := range []string{"one", "two", "three"} {
		h, err := bob.SetHold(t.Context(), "churn", "1", "dev", reason)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.ClearHold(t.Context(), h.ID, reason); err != nil {
			t.Fatal(err)
		}
	}
	all, err := bob.AuditEvents(t.Context(), promote.AuditFilter{})
	if err != nil || len(all) < 4 {
		t.Fatalf("AuditEvents() = %d events, %v; want at least 4", len(all), err)
	}
	// A range from the third newest event's time to the newest's: the
	// events at or after the first, before the second.
	since, until := all[2].Time, all[0].Time
	var want []int64
	for _, e := range all {
		if !e.Time.Before(since) && e.Time.Before(until) {
			want = append(want, e.Seq)
		}
	}
	evs, err := bob.AuditEvents(t.Context(), promote.AuditFilter{Since: since, Until: until})
	var got []int64
	for _, e := range evs {
		got = append(got, e.Seq)
	}
	if err != nil || len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("AuditEvents(since %v, until %v) = %v, %v; want %v", since, until, got, err, want)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"since=yesterday", []string{"query parameter since", `\"yesterday\"`, "RFC 3339"}},
		{"until=2026-11-01", []string{"query parameter until", `\"2026-11-01\"`, "RFC 3339"}},
		{"since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", []string{"since 2026-11-02T00:00:00Z is after until 2026-11-01T00:00:00Z"}},
		{"since=2026-11-01T00:00:00%2B01:00&until=2026-10-31T22:00:00Z", []string{"since 2026-11-01T00:00:00+01:00 is after until 2026-10-31T22:00:00Z"}},
	} {
		r := f.do("GET", "/api/v1/audit?"+c.query, f.vera, "", nil)
		for _, w := range c.want {
			if r.status != 400 || !strings.Contains(string(r.body), w) {
				t.Errorf("GET /api/v1/audit?%s = %d %s, want 400 naming %s", c.query, r.status, r.body, w)
			}
		}
	}
	if r := f.do("GET", "/api/v1/audit?since=2026-11-01T00:00:00Z&until=2026-11-01T00:00:00Z", f.vera, "", nil); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("GET /api/v1/audit with since equal to until = %d %s, want 200 and no events", r.status, r.body)
	}
}

// TestHoldsAndRejection: a hold set and cleared over the API, a promotion
// rejected, a version rejected.
func TestHoldsAndRejection(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.model("churn")
	bob := f.client(f.bob)
	h, err := bob.SetHold(ctx, "churn", "1", "dev", "suspicious data")
	if err != nil {
		t.Fatal(err)
	}
	if h.ID == 0 || h.SetBy != "bob" {
		t.Errorf("SetHold = %+v", h)
	}
	p, err := f.client(f.alice).RequestPromotion(ctx, registry.PromoteRequest{Model: "churn", Version: "1", Environment: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != promote.StateBlocked {
		t.Errorf("promotion of a held version = %s, want blocked", p.State)
	}
	if _, err := f.client(f.alice).ClearHold(ctx, h.ID, "fine"); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("ClearHold by a submitter = %v, want forbidden", err)
	}
	cleared, err := bob.ClearHold(ctx, h.ID, "data checked")
	if err != nil {
		t.Fatal(err)
	}
	if cleared.Active() || cleared.ClearedBy != "bob" {
		t.Errorf("ClearHold = %+v", cleared)
	}
	if _, err := bob.ClearHold(ctx, h.ID, "again"); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("ClearHold twice = %v, want conflict", err)
	}
	active, err := bob.Holds(ctx, promote.HoldFilter{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := bob.Holds(ctx, promote.HoldFilter{Model: "churn", IncludeCleared: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 0 || len(all) != 1 {
		t.Errorf("Holds = %d active, %d in all; want 0 and 1", len(active), len(all))
	}

	f.promoteTo("churn", "staging")
	p, err = f.client(f.alice).RequestPromotion(ctx, registry.PromoteRequest{Model: "churn", Version: "1", Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	rej, err := bob.Reject(ctx, p.ID, "not this quarter")
	if err != nil {
		t.Fatal(err)
	}
	if rej.State != promote.StateCancelled {
		t.Errorf("Reject = %s, want cancelled", rej.State)
	}
	v, err := bob.RejectVersion(ctx, "churn", "1", "leaks labels")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Rejected || v.RejectedBy != "bob" {
		t.Errorf("RejectVersion = %+v", v)
	}
	if _, err := bob.RejectVersion(ctx, "churn", "1", "again"); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("RejectVersion twice = %v, want conflict", err)
	}
}

// TestCancel: the requester withdraws a promotion awaiting approval.
func TestCancel(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.model("churn")
	p := f.promoteTo("churn", "prod")
	if _, err := f.client(f.vera).Cancel(ctx, p.ID, "no"); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("Cancel by a viewer = %v, want forbidden", err)
	}
	v, err := f.client(f.alice).Cancel(ctx, p.ID, "wrong version")
	if err != nil {
		t.Fatal(err)
	}
	if v.State != promote.StateCancelled || !strings.Contains(v.Reason, "wrong version") {
		t.Errorf("Cancel = %s %q", v.State, v.Reason)
	}
}
