package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// A dry run answers what a request would get now — blocked, awaiting
// approval or approved, with the gate's decision — and records nothing: no
// promotion, no audit event, no change to a promotion it would supersede.
func TestDryRunRecordsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.toStaging(t, "1")
	f.advance(24 * time.Hour)
	waiting := f.request(t, submitter, "1", "prod")
	if waiting.State != promote.StateAwaitingApproval {
		t.Fatalf("1 → prod = %s (%s), want awaiting approval", waiting.State, waiting.Reason)
	}
	f.register(t, "2", `{"accuracy": 0.5, "latency_p95_ms": 250, "checks": {"tests_passed": true}}`)
	before := f.auditCount(t)
	promotions := func() int {
		ps, err := f.svc.Promotions(ctx, promote.PromotionFilter{Model: "credit-risk", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(ps)
	}
	count := promotions()

	dry := func(who promote.Principal, version, env string) registry.PromotionView {
		t.Helper()
		v, err := f.svc.RequestPromotion(ctx, who, registry.PromoteRequest{Model: "credit-risk", Version: version, Environment: env, DryRun: true})
		if err != nil {
			t.Fatalf("dry run of %s → %s: %v", version, env, err)
		}
		if !v.DryRun || v.ID != "" || v.Gate == nil {
			t.Errorf("dry run of %s → %s = dry_run %v, id %q, gate %v; want a dry run without an id, with the gate", version, env, v.DryRun, v.ID, v.Gate)
		}
		return v
	}
	// A viewer may ask: a dry run changes nothing.
	if v := dry(viewer, "1", "prod"); v.State != promote.StateAwaitingApproval || v.Reason != waiting.Reason {
		t.Errorf("1 → prod = %s (%s), want awaiting approval (%s)", v.State, v.Reason, waiting.Reason)
	}
	if v := dry(submitter, "2", "dev"); v.State != promote.StateBlocked || !strings.Contains(v.Reason, "accuracy_delta") || !strings.Contains(v.Reason, "latency_p95_ms") {
		t.Errorf("2 → dev = %s (%s), want blocked on accuracy_delta and latency_p95_ms", v.State, v.Reason)
	}
	if v := dry(submitter, "2", "staging"); v.State != promote.StateBlocked || !strings.Contains(v.Reason, "dev") {
		t.Errorf("2 → staging = %s (%s), want blocked: not through dev", v.State, v.Reason)
	}
	f.register(t, "3", goodMetrics)
	if v := dry(submitter, "3", "dev"); v.State != promote.StateApproved || v.Baseline != "1" {
		t.Errorf("3 → dev = %s against %q (%s), want approved against 1", v.State, v.Baseline, v.Reason)
	}
	if n := f.auditCount(t); n != before+1 { // version 3's registration
		t.Errorf("audit events: %d after the dry runs, want %d", n, before+1)
	}
	if n := promotions(); n != count {
		t.Errorf("promotions: %d after the dry runs, want %d", n, count)
	}
	if got, err := f.svc.Promotion(ctx, waiting.ID); err != nil || got.State != promote.StateAwaitingApproval {
		t.Errorf("the waiting promotion is %s (%v) after a dry run, want still awaiting approval", got.State, err)
	}
	if live := f.live(t); live["dev"] != "1" {
		t.Errorf("dev runs %q after the dry runs, want 1", live["dev"])
	}
	// The override's checks hold for a dry run too.
	_, err := f.svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "prod", DryRun: true, Override: true, Reason: "x"})
	if promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("a submitter's dry run with override = %v, want Forbidden", err)
	}
}
