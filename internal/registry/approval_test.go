package registry_test

import (
	"context"
	"testing"

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
