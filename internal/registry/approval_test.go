package registry_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// approvalPolicy is policyYAML with prod wanting two approvers holding the
// approver role.
const approvalPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed, artifact_signed]
  noBaseline: pass
environments:
  dev: {}
  staging: {}
  prod:
    gate:
      approvals:
        min: 2
        roles: [approver]
`

// An admin's token includes the approver role: an admin's approval, which
// is accepted where the policy asks for approvers, also counts there.
func TestAdminApprovalCountsForApproverRole(t *testing.T) {
	f := newFixtureWith(t, openSQLite, approvalPolicy)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if _, err := f.svc.Approve(ctx, admin, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatalf("Approve(admin) = %v", err)
	}
	got, err := f.svc.Approve(ctx, plain, p.ID, registry.ApproveRequest{Digest: p.Digest})
	if err != nil {
		t.Fatalf("Approve(approver) = %v", err)
	}
	if got.State != promote.StateSucceeded {
		t.Errorf("after an admin's and an approver's approvals the promotion is %s (%s), want succeeded", got.State, got.Reason)
	}
	if live := f.live(t); live["prod"] != "1" {
		t.Errorf("live = %v, want prod on 1", live)
	}
	if want := "approved by ada, pat"; got.Reason != want {
		t.Errorf("reason = %q, want %q", got.Reason, want)
	}
	f.verify(t)
}

// Names are compared without regard to case: a second token whose name
// differs from an approver's only in case is the same person, and may not
// decide again, so that the record lists each person once.
func TestApproverNamesDifferingInCaseDecideOnce(t *testing.T) {
	f := newFixtureWith(t, openSQLite, approvalPolicy)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	lower := promote.Principal{Name: "lena", Role: promote.RoleApprover}
	upper := promote.Principal{Name: "Lena", Role: promote.RoleApprover}
	if _, err := f.svc.Approve(ctx, lower, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatalf("Approve(lena) = %v", err)
	}
	if _, err := f.svc.Approve(ctx, upper, p.ID, registry.ApproveRequest{Digest: p.Digest}); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("Approve(Lena) after lena = %v, want Conflict", err)
	}
	if _, err := f.svc.Reject(ctx, upper, p.ID, "changed my mind"); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("Reject(Lena) after lena approved = %v, want Conflict", err)
	}
	got, err := f.svc.Approve(ctx, plain, p.ID, registry.ApproveRequest{Digest: p.Digest})
	if err != nil {
		t.Fatalf("Approve(pat) = %v", err)
	}
	if got.State != promote.StateSucceeded || got.Reason != "approved by lena, pat" {
		t.Errorf("after lena and pat: %s (%s), want succeeded (approved by lena, pat)", got.State, got.Reason)
	}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{PromotionID: p.ID, Action: promote.ActionPromotionApproval})
	if err != nil {
		t.Fatal(err)
	}
	var approvers [][]string
	for _, e := range events {
		approvers = append(approvers, e.Approvers)
	}
	if diff := cmp.Diff([][]string{{"lena", "pat"}, {"lena"}}, approvers); diff != "" {
		t.Errorf("approvers of the approval events, newest first (-want +got):\n%s", diff)
	}
}

// A promotion still short of approvals says how many it has: its reason
// follows each approval, as its gate's result does.
func TestAwaitingReasonCountsApprovals(t *testing.T) {
	f := newFixtureWith(t, openSQLite, approvalPolicy)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if want := "awaiting approval: 0 of 2 distinct approvers (none)"; p.Reason != want {
		t.Fatalf("reason at request = %q, want %q", p.Reason, want)
	}
	if _, err := f.svc.Approve(ctx, plain, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Promotion(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "awaiting approval: 1 of 2 distinct approvers (pat)"; got.State != promote.StateAwaitingApproval || got.Reason != want {
		t.Errorf("after one approval: %s (%q), want awaiting_approval (%q)", got.State, got.Reason, want)
	}
}
