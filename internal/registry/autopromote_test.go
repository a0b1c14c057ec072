package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// autoPipelineYAML is the tests' pipeline with autoPromote on staging (an
// hour's soak in dev) and on prod (a day's soak in staging, the year-end
// freeze, and the policy's approval by an ml-lead).
var autoPipelineYAML = strings.Replace(strings.Replace(pipelineYAML,
	"    soak: 1h\n", "    soak: 1h\n    autoPromote: true\n", 1),
	"    soak: 24h\n", "    soak: 24h\n    autoPromote: true\n", 1)

// newAutoFixture is a fixture on the store open opens whose service runs
// autoPipelineYAML with every environment gated by policyDoc.
func newAutoFixture(t *testing.T, open opener, policyDoc string) *fixture {
	t.Helper()
	f := newFixtureWith(t, open, policyDoc)
	f.serve(t, autoPipelineYAML, policyDoc)
	return f
}

// autoPromote runs one pass of automatic promotion and returns what it
// requested, as "VERSION→ENV:STATE" in order.
func (f *fixture) autoPromote(t *testing.T, ctx context.Context) []string {
	t.Helper()
	out, _ := f.autoPass(t, ctx)
	return out
}

// autoPass is autoPromote, which also returns the pass's Due.
func (f *fixture) autoPass(t *testing.T, ctx context.Context) ([]string, time.Time) {
	t.Helper()
	pass, err := f.svc.AutoPromote(ctx)
	if err != nil {
		t.Fatalf("AutoPromote: %v", err)
	}
	var out []string
	for _, v := range pass.Requested {
		if v.RequestedBy != registry.AutoPromoteActor.Name {
			t.Errorf("AutoPromote requested %s by %q, want %q", v.ID, v.RequestedBy, registry.AutoPromoteActor.Name)
		}
		out = append(out, v.Version+"→"+v.Environment+":"+string(v.State))
	}
	return out, pass.Due
}

// promotionsTo lists the model's promotions to env, oldest first, as
// "VERSION:STATE:REQUESTER".
func (f *fixture) promotionsTo(t *testing.T, env string) []string {
	t.Helper()
	ps, err := f.svc.Promotions(context.Background(), promote.PromotionFilter{Model: "credit-risk", Environment: env, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(ps) - 1; i >= 0; i-- {
		out = append(out, ps[i].Version+":"+string(ps[i].State)+":"+ps[i].RequestedBy)
	}
	return out
}

// autoToProd registers version, has it succeed in dev, and has automatic
// promotion take it to staging an hour later and request it in prod a day
// after that; it returns the prod promotion, awaiting approval.
func (f *fixture) autoToProd(t *testing.T, version string) promote.Promotion {
	t.Helper()
	ctx := context.Background()
	f.register(t, version, goodMetrics)
	f.request(t, submitter, version, "dev")
	f.advance(time.Hour)
	wantPass(t, "version "+version+" soaked in dev", f.autoPromote(t, ctx), version+"→staging:succeeded")
	f.advance(24 * time.Hour)
	wantPass(t, "version "+version+" soaked in staging", f.autoPromote(t, ctx), version+"→prod:awaiting_approval")
	ps, err := f.svc.Promotions(ctx, promote.PromotionFilter{Model: "credit-risk", Environment: "prod", ActiveOnly: true})
	if err != nil || len(ps) != 1 {
		t.Fatalf("active prod promotions = %+v, %v; want version %s's", ps, err, version)
	}
	return ps[0]
}

func wantPass(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s: AutoPromote requested [%s], want [%s]", what, strings.Join(got, " "), strings.Join(want, " "))
	}
}

// A version that succeeded in dev is requested in staging by
// auto-promote once its hour of soak there is served, not before, and
// once; then in prod, where the policy's approval leaves it awaiting an
// ml-lead: automatic promotion requests, it never approves.
func TestAutoPromote(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testAutoPromote(t, open) })
	}
}

func testAutoPromote(t *testing.T, open opener) {
	f := newAutoFixture(t, open, policyYAML)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	wantPass(t, "before anything succeeded", f.autoPromote(t, ctx))
	if got := f.request(t, submitter, "1", "dev"); got.State != promote.StateSucceeded {
		t.Fatalf("dev promotion = %s (%s)", got.State, got.Reason)
	}
	wantPass(t, "right after dev", f.autoPromote(t, ctx))
	f.advance(59 * time.Minute)
	wantPass(t, "a minute before the soak is served", f.autoPromote(t, ctx))
	if got := f.promotionsTo(t, "staging"); len(got) != 0 {
		t.Fatalf("staging promotions during the soak = %v, want none", got)
	}
	f.advance(time.Minute)
	wantPass(t, "the soak served", f.autoPromote(t, ctx), "1→staging:succeeded")
	wantPass(t, "live in staging", f.autoPromote(t, ctx))
	if got, want := f.live(t)["staging"], "1"; got != want {
		t.Errorf("live in staging = %q, want %q", got, want)
	}

	// The request is auto-promote's, in the audit log as everywhere: it
	// says why it was made.
	ps, err := f.svc.Promotions(ctx, promote.PromotionFilter{Model: "credit-risk", Environment: "staging"})
	if err != nil || len(ps) != 1 {
		t.Fatalf("staging promotions = %+v, %v", ps, err)
	}
	wantNote := "requested automatically (autoPromote in staging): version 1 succeeded in dev at 2026-11-25T10:00:00Z"
	if !strings.HasPrefix(ps[0].Note, wantNote) || !strings.Contains(ps[0].Note, "soaked there for at least the 1h0m0s required") {
		t.Errorf("auto request's note = %q, want it to start %q and name the soak", ps[0].Note, wantNote)
	}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{PromotionID: ps[0].ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var requested []string
	for _, e := range events {
		if e.Action == promote.ActionPromotionRequested {
			requested = append(requested, e.Actor)
		}
	}
	if strings.Join(requested, ",") != "auto-promote" {
		t.Errorf("promotion.requested events of %s by %v, want one by auto-promote", ps[0].ID, requested)
	}

	// Prod: a day later, requested, and left awaiting approval.
	f.advance(24 * time.Hour)
	wantPass(t, "staging's soak served", f.autoPromote(t, ctx), "1→prod:awaiting_approval")
	wantPass(t, "awaiting approval", f.autoPromote(t, ctx))
	ps, err = f.svc.Promotions(ctx, promote.PromotionFilter{Model: "credit-risk", Environment: "prod"})
	if err != nil || len(ps) != 1 {
		t.Fatalf("prod promotions = %+v, %v", ps, err)
	}
	got, err := f.svc.Approve(ctx, lead, ps[0].ID, registry.ApproveRequest{Digest: ps[0].Digest})
	if err != nil || got.State != promote.StateSucceeded {
		t.Fatalf("Approve of the auto request = %s, %v; want succeeded", got.State, err)
	}

	// Version 2 reaches prod by itself too; cancelled there, it is not
	// requested again.
	if _, err := f.svc.Cancel(ctx, lead, f.autoToProd(t, "2").ID, "not this week"); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Hour)
	wantPass(t, "after a cancelled auto request", f.autoPromote(t, ctx))
	if diff := strings.Join(f.promotionsTo(t, "prod"), " "); diff != "1:succeeded:auto-promote 2:cancelled:auto-promote" {
		t.Errorf("prod promotions = %s", diff)
	}
	f.verify(t)
}

// A pass says when a version it left waiting for time alone may go: its
// soak's end, a freeze's end, the later of the two when it waits for
// both, the earliest among models; and nothing while it waits for a
// person.
func TestAutoPromoteDue(t *testing.T) {
	f := newAutoFixture(t, openSQLite, policyYAML)
	ctx := context.Background()
	t0 := f.clock()
	wantDue := func(what string, want time.Time) {
		t.Helper()
		got, due := f.autoPass(t, ctx)
		if len(got) != 0 {
			t.Fatalf("%s: requested %v, want nothing", what, got)
		}
		if !due.Equal(want) {
			t.Errorf("%s: Due = %s, want %s", what, due, want)
		}
	}
	wantDue("nothing succeeded", time.Time{})
	f.register(t, "1", goodMetrics)
	f.request(t, submitter, "1", "dev")
	wantDue("soaking in dev", t0.Add(time.Hour))
	f.advance(20 * time.Minute)
	wantDue("still soaking", t0.Add(time.Hour))

	// A second model, whose version soaks from now: the earliest counts.
	if _, err := f.svc.CreateModel(ctx, submitter, "churn", "predicts churn"); err != nil {
		t.Fatal(err)
	}
	f.registerAs(t, "churn", "1", goodMetrics)
	if _, err := f.svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: "churn", Version: "1", Environment: "dev"}); err != nil {
		t.Fatal(err)
	}
	wantDue("two soaking", t0.Add(time.Hour))
	f.advance(40 * time.Minute)
	wantPass(t, "credit-risk soaked", f.autoPromote(t, ctx), "1→staging:succeeded")
	wantDue("churn soaking, credit-risk soaking in staging", t0.Add(80*time.Minute))

	// Held: waits for a person, whatever its soak.
	h, err := f.svc.SetHold(ctx, lead, "churn", "1", "staging", "check the labels")
	if err != nil {
		t.Fatal(err)
	}
	wantDue("churn held", t0.Add(25*time.Hour))
	if _, err := f.svc.ClearHold(ctx, lead, h.ID, "checked"); err != nil {
		t.Fatal(err)
	}

	// In prod's year-end freeze (2026-12-20 to 2027-01-05): credit-risk
	// waits for its end, and so does churn, whose day in staging ends
	// before it.
	f.advance(time.Date(2026, 12, 21, 0, 0, 0, 0, time.UTC).Sub(f.clock()))
	wantPass(t, "churn soaked", f.autoPromote(t, ctx), "1→staging:succeeded")
	wantDue("frozen", time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC))
	f.advance(time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC).Sub(f.clock()))
	wantPass(t, "the freeze over", f.autoPromote(t, ctx), "1→prod:awaiting_approval", "1→prod:awaiting_approval")
	wantDue("both awaiting approval", time.Time{})
}

// A request of automatic promotion is nobody's own: any submitter may
// cancel it, as one may request, or supersede, a promotion there. A
// person's request stays theirs (and the approvers') to cancel, and a
// viewer cancels nothing.
func TestAutoPromoteCancelledByASubmitter(t *testing.T) {
	f := newAutoFixture(t, openSQLite, policyYAML)
	ctx := context.Background()
	sam := promote.Principal{Name: "sam", Role: promote.RoleSubmitter}
	auto := f.autoToProd(t, "1")
	if _, err := f.svc.Cancel(ctx, viewer, auto.ID, "no"); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("Cancel of the automatic request by a viewer = %v, want Forbidden", err)
	}
	got, err := f.svc.Cancel(ctx, sam, auto.ID, "the dashboard is down")
	if err != nil || got.State != promote.StateCancelled || got.Reason != "cancelled by sam: the dashboard is down" {
		t.Fatalf("Cancel of the automatic request by a submitter = %s (%s), %v; want cancelled", got.State, got.Reason, err)
	}

	// ci's own request for prod: not sam's to cancel.
	mine := f.request(t, submitter, "1", "prod")
	_, err = f.svc.Cancel(ctx, sam, mine.ID, "mine now")
	if promote.ErrorCode(err) != promote.Forbidden || !strings.Contains(err.Error(), "only the requester or an approver may cancel promotion "+mine.ID+" (requested by ci); sam has submitter") {
		t.Errorf("Cancel of ci's request by sam = %v, want Forbidden naming the requester", err)
	}
	if diff := strings.Join(f.promotionsTo(t, "prod"), " "); diff != "1:cancelled:auto-promote 1:awaiting_approval:ci" {
		t.Errorf("prod promotions = %s", diff)
	}
	f.verify(t)
}

// Only the version that last succeeded upstream is requested: an older one
// that has served its soak is not, while the newer one still soaks.
func TestAutoPromoteOnlyTheNewest(t *testing.T) {
	f := newAutoFixture(t, openSQLite, policyYAML)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.register(t, "2", goodMetrics)
	f.request(t, submitter, "1", "dev")
	f.advance(50 * time.Minute)
	f.request(t, submitter, "2", "dev")
	f.advance(10 * time.Minute) // 1 has soaked for its hour, 2 for 10 minutes
	wantPass(t, "the newest still soaking", f.autoPromote(t, ctx))
	f.advance(50 * time.Minute)
	wantPass(t, "the newest soaked", f.autoPromote(t, ctx), "2→staging:succeeded")
	f.advance(time.Hour)
	wantPass(t, "later", f.autoPromote(t, ctx))
	if got := strings.Join(f.promotionsTo(t, "staging"), " "); got != "2:succeeded:auto-promote" {
		t.Errorf("staging promotions = %s, want version 2's only", got)
	}
}

// In a freeze the request waits, and nothing is recorded; it is made when
// the freeze ends.
func TestAutoPromoteWaitsOutAFreeze(t *testing.T) {
	f := newAutoFixture(t, openSQLite, policyYAML)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.request(t, submitter, "1", "dev")
	f.advance(time.Hour)
	wantPass(t, "to staging", f.autoPromote(t, ctx), "1→staging:succeeded")
	// prod is frozen from 2026-12-20 to 2027-01-05 (year-end).
	f.advance(time.Date(2026, 12, 21, 0, 0, 0, 0, time.UTC).Sub(f.clock()))
	wantPass(t, "in the year-end freeze", f.autoPromote(t, ctx))
	if got := f.promotionsTo(t, "prod"); len(got) != 0 {
		t.Fatalf("prod promotions in the freeze = %v, want none", got)
	}
	f.advance(time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC).Sub(f.clock()))
	wantPass(t, "the freeze over", f.autoPromote(t, ctx), "1→prod:awaiting_approval")
}

// A version on hold in the environment, or rejected, is not requested; a
// hold cleared lets it go.
func TestAutoPromoteHeldOrRejected(t *testing.T) {
	f := newAutoFixture(t, openSQLite, policyYAML)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.request(t, submitter, "1", "dev")
	h, err := f.svc.SetHold(ctx, lead, "credit-risk", "1", "staging", "wait for the data fix")
	if err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Hour)
	wantPass(t, "on hold in staging", f.autoPromote(t, ctx))
	if got := f.promotionsTo(t, "staging"); len(got) != 0 {
		t.Fatalf("staging promotions while held = %v, want none", got)
	}
	if _, err := f.svc.ClearHold(ctx, lead, h.ID, "fixed"); err != nil {
		t.Fatal(err)
	}
	wantPass(t, "the hold cleared", f.autoPromote(t, ctx), "1→staging:succeeded")

	f.register(t, "2", goodMetrics)
	f.request(t, submitter, "2", "dev")
	if _, err := f.svc.RejectVersion(ctx, lead, "credit-risk", "2", "leaks a feature"); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Hour)
	wantPass(t, "rejected", f.autoPromote(t, ctx))
	if got := strings.Join(f.promotionsTo(t, "staging"), " "); got != "1:succeeded:auto-promote" {
		t.Errorf("staging promotions = %s, want version 1's only", got)
	}
}

// An auto request that the gate blocks is recorded once, and never made
// again, even by a new server on the same store; a person may still ask.
func TestAutoPromoteBlockedOnce(t *testing.T) {
	strict := strings.Replace(policyYAML, "  staging: {}\n", "  staging:\n    gate:\n      metrics:\n        latency_p95_ms: \"<= 100\"\n", 1)
	f := newAutoFixture(t, openSQLite, strict)
	ctx := context.Background()
	f.register(t, "1", goodMetrics) // latency 140: fine in dev, too slow for staging
	f.request(t, submitter, "1", "dev")
	f.advance(time.Hour)
	wantPass(t, "soaked", f.autoPromote(t, ctx), "1→staging:blocked")
	f.advance(time.Hour)
	wantPass(t, "after the block", f.autoPromote(t, ctx))
	f.serve(t, autoPipelineYAML, strict) // a restart
	wantPass(t, "after a restart", f.autoPromote(t, ctx))
	if got := f.request(t, submitter, "1", "staging"); got.State != promote.StateBlocked {
		t.Errorf("a person's request after the auto one = %s, want blocked (recorded)", got.State)
	}
	if got := strings.Join(f.promotionsTo(t, "staging"), " "); got != "1:blocked:auto-promote 1:blocked:ci" {
		t.Errorf("staging promotions = %s", got)
	}
}

// A replica that no longer leads requests nothing: its writes carry the
// fence of a term that ended.
func TestAutoPromoteNotOnADeposedLeader(t *testing.T) {
	f := newAutoFixture(t, openSQLite, policyYAML)
	f.register(t, "1", goodMetrics)
	f.request(t, submitter, "1", "dev")
	f.advance(time.Hour)
	a := f.takeLease(t, "replica-a", nil)
	b := f.takeLease(t, "replica-b", &a)
	pass, err := f.svc.AutoPromote(promote.WithFence(context.Background(), a))
	wantDeposed(t, "AutoPromote with a's stale fence", err, b)
	if len(pass.Requested) != 0 {
		t.Errorf("AutoPromote with a's stale fence requested %+v, want nothing", pass.Requested)
	}
	if got := f.promotionsTo(t, "staging"); len(got) != 0 {
		t.Fatalf("staging promotions after a deposed leader's pass = %v, want none", got)
	}
	wantPass(t, "the leader's pass", f.autoPromote(t, promote.WithFence(context.Background(), b)), "1→staging:succeeded")
}
