package registry_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// After a token leaks, an admin lists what it did by its ID: every event
// appended for a request made with a token records the token's ID, and
// the audit filter by token ID finds those and no other, not even those
// of another token of the same person.
func TestAuditRecordsTokenID(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testAuditRecordsTokenID(t, open) })
	}
}

func testAuditRecordsTokenID(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	ctx := context.Background()
	// Two tokens of one person: a laptop's, which leaks, and a CI's.
	principal := func(secret string) promote.Principal {
		t.Helper()
		who, err := f.svc.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		return who
	}
	secretA, tokA, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}})
	if err != nil {
		t.Fatal(err)
	}
	secretB, tokB, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}})
	if err != nil {
		t.Fatal(err)
	}
	withA, withB := principal(secretA), principal(secretB)
	if withA.TokenID != tokA.ID || withB.TokenID != tokB.ID {
		t.Fatalf("Authenticate: token IDs %q and %q, want %q and %q", withA.TokenID, withB.TokenID, tokA.ID, tokB.ID)
	}

	f.register(t, "1", goodMetrics)
	p1 := f.toProd(t, "1")
	if v, err := f.svc.Approve(ctx, withA, p1.ID, registry.ApproveRequest{Digest: p1.Digest}); err != nil || v.Promotion.State != promote.StateSucceeded {
		t.Fatalf("Approve(%s) with token A = %+v, %v; want succeeded", p1.ID, v.Promotion, err)
	}
	f.register(t, "2", goodMetrics)
	p2 := f.toProd(t, "2")
	if v, err := f.svc.Approve(ctx, withB, p2.ID, registry.ApproveRequest{Digest: p2.Digest}); err != nil || v.Promotion.State != promote.StateSucceeded {
		t.Fatalf("Approve(%s) with token B = %+v, %v; want succeeded", p2.ID, v.Promotion, err)
	}
	if _, err := f.svc.SetHold(ctx, withA, "credit-risk", "2", "prod", "suspicious"); err != nil {
		t.Fatal(err)
	}

	type row struct{ Action, Promotion, Decision, Actor, TokenID string }
	list := func(f2 promote.AuditFilter) []row {
		t.Helper()
		evs, err := f.svc.AuditEvents(ctx, f2)
		if err != nil {
			t.Fatalf("AuditEvents(%+v): %v", f2, err)
		}
		out := []row{}
		for _, e := range evs {
			out = append(out, row{e.Action, e.PromotionID, e.Decision, e.Actor, e.TokenID})
		}
		return out
	}
	// What token A did, newest first: the hold, and the approval of
	// version 1 with what it set off in the same request.
	wantA := []row{
		{promote.ActionHoldSet, "", "hold", "lena", tokA.ID},
		{promote.ActionPromotionState, p1.ID, string(promote.StateSucceeded), "lena", tokA.ID},
		{promote.ActionLiveChanged, p1.ID, "promoted", "lena", tokA.ID},
		{promote.ActionPromotionState, p1.ID, string(promote.StateApproved), "lena", tokA.ID},
		{promote.ActionPromotionApproval, p1.ID, "approved", "lena", tokA.ID},
	}
	if diff := cmp.Diff(wantA, list(promote.AuditFilter{TokenID: tokA.ID})); diff != "" {
		t.Errorf("AuditEvents(token A) mismatch (-want +got):\n%s", diff)
	}
	approvals := list(promote.AuditFilter{TokenID: tokB.ID, Action: promote.ActionPromotionApproval})
	if diff := cmp.Diff([]row{{promote.ActionPromotionApproval, p2.ID, "approved", "lena", tokB.ID}}, approvals); diff != "" {
		t.Errorf("AuditEvents(token B's approvals) mismatch (-want +got):\n%s", diff)
	}
	// The name alone does not tell the tokens apart.
	if got := list(promote.AuditFilter{Actor: "lena", Action: promote.ActionPromotionApproval}); len(got) != 2 {
		t.Errorf("AuditEvents(lena's approvals) = %v, want both", got)
	}
	// A principal that no token stands for (the admin here, the
	// submitter, Promote's own actors) records none.
	for _, r := range list(promote.AuditFilter{Limit: 1000}) {
		if r.TokenID != "" && r.TokenID != tokA.ID && r.TokenID != tokB.ID || r.TokenID != "" && r.Actor != "lena" {
			t.Errorf("event %+v records a token ID, want it only on lena's", r)
		}
	}
	f.verify(t)
}
