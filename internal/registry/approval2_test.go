package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// userMessage is the message of err's domain error: what the API and the
// web UI show.
func userMessage(err error) string {
	var pe *promote.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return ""
}

// auditCount is how many audit events the store holds.
func (f *fixture) auditCount(t *testing.T) int {
	t.Helper()
	events, err := f.svc.AuditEvents(context.Background(), promote.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

// Cancelling a promotion that is past cancelling (finished, or its change
// already committed) is a Conflict that names the promotion and its state
// and says what to do instead, and changes nothing.
func TestCancelFinishedPromotionSaysWhy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	done := f.toStaging(t, "1")
	if done.State != promote.StateSucceeded {
		t.Fatalf("staging promotion = %s, want succeeded", done.State)
	}
	before := f.auditCount(t)
	_, err := f.svc.Cancel(ctx, submitter, done.ID, "too late")
	if promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("Cancel(succeeded) = %v, want Conflict", err)
	}
	for _, want := range []string{done.ID, "succeeded", "roll"} {
		if msg := userMessage(err); !strings.Contains(msg, want) {
			t.Errorf("Cancel(succeeded) says %q, want it to name %q", msg, want)
		}
	}
	if n := f.auditCount(t); n != before {
		t.Errorf("audit events after a refused cancel = %d, want %d", n, before)
	}
}

// The audit trail links each hold's clearing to its setting by the hold's
// ID: several holds may stand on one version in one environment (here a
// person's and a rejection's), and the holds table, which says which is
// which, is not part of the hash chain.
func TestHoldSetEventNamesTheHold(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	h, err := f.svc.SetHold(ctx, lead2, "credit-risk", "1", "prod", "incident in staging")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reject(ctx, lead, p.ID, "latency regression"); err != nil {
		t.Fatal(err)
	}
	holds, err := f.svc.Holds(ctx, promote.HoldFilter{Model: "credit-risk", Version: "1", Environment: "prod"})
	if err != nil || len(holds) != 2 {
		t.Fatalf("holds on 1 in prod = %+v, %v; want two", holds, err)
	}
	if _, err := f.svc.ClearHold(ctx, lead, h.ID, "incident resolved"); err != nil {
		t.Fatal(err)
	}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{Model: "credit-risk", Version: "1", Environment: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if e.Action == promote.ActionHoldSet || e.Action == promote.ActionHoldCleared {
			got = append(got, e.Action+" "+string(e.Reasons))
		}
	}
	want := []string{
		fmt.Sprintf(`hold.cleared ["hold %d cleared: incident resolved"]`, h.ID),
		fmt.Sprintf(`hold.set ["hold %d: promotion %s rejected by lena: latency regression"]`, holds[0].ID, p.ID),
		fmt.Sprintf(`hold.set ["hold %d: incident in staging"]`, h.ID),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hold events, newest first (-want +got):\n%s", diff)
	}
}

// A person's free text — a hold's reason, a clearing's, a rejection's, a
// cancellation's, an approval's comment — is bounded as a rollback's
// reason is: a longer one is refused, naming it, and changes nothing. A
// hold's reason is copied into every request it blocks afterwards.
func TestLongReasonsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	h, err := f.svc.SetHold(ctx, lead2, "credit-risk", "1", "staging", "ok")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 1025)
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"SetHold", func() error {
			_, err := f.svc.SetHold(ctx, lead2, "credit-risk", "1", "prod", long)
			return err
		}, "the reason is 1025 characters; at most 1024"},
		{"ClearHold", func() error { _, err := f.svc.ClearHold(ctx, lead2, h.ID, long); return err }, "the reason is 1025 characters; at most 1024"},
		{"Reject", func() error { _, err := f.svc.Reject(ctx, lead, p.ID, long); return err }, "the reason is 1025 characters; at most 1024"},
		{"Cancel", func() error { _, err := f.svc.Cancel(ctx, submitter, p.ID, long); return err }, "the reason is 1025 characters; at most 1024"},
		{"RejectVersion", func() error { _, err := f.svc.RejectVersion(ctx, lead, "credit-risk", "1", long); return err }, "the reason is 1025 characters; at most 1024"},
		{"Approve", func() error {
			_, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest, Comment: strings.Repeat("é", 2001)})
			return err
		}, "the comment is 2001 characters; at most 2000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.auditCount(t)
			err := tc.do()
			if promote.ErrorCode(err) != promote.Invalid || userMessage(err) != tc.want {
				t.Errorf("%s with a long text = %v, want Invalid %q", tc.name, err, tc.want)
			}
			if n := f.auditCount(t); n != before {
				t.Errorf("audit events after a refused %s = %d, want %d", tc.name, n, before)
			}
		})
	}
	// At the limit, the text is taken.
	if _, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest, Comment: strings.Repeat("é", 2000)}); err != nil {
		t.Errorf("Approve with a 2000-character comment = %v", err)
	}
}

// An approval stays counted after the token that made it is revoked
// (docs/concepts.md, Approvals): it was valid when given, and revoking a
// token refuses only what it asks from then on. The token itself is
// refused at once.
func TestApprovalCountsAfterItsTokenIsRevoked(t *testing.T) {
	f := newFixtureWith(t, openSQLite, approvalPolicy)
	ctx := context.Background()
	secret, tok, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: "lena", Role: promote.RoleApprover})
	if err != nil {
		t.Fatal(err)
	}
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	lena, err := f.svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(ctx, lena, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatalf("Approve(lena) = %v", err)
	}
	if err := f.svc.RevokeToken(ctx, admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, secret); promote.ErrorCode(err) != promote.Unauthorized {
		t.Errorf("Authenticate(revoked) = %v, want Unauthorized", err)
	}
	got, err := f.svc.Approve(ctx, plain, p.ID, registry.ApproveRequest{Digest: p.Digest})
	if err != nil {
		t.Fatalf("Approve(pat) = %v", err)
	}
	if got.State != promote.StateSucceeded || got.Reason != "approved by lena, pat" {
		t.Errorf("after lena (token revoked since) and pat: %s (%s), want succeeded (approved by lena, pat)", got.State, got.Reason)
	}
}

// A rollback's reason is bounded in characters, as every other reason is:
// a reason of 1,024 accented letters (2,048 bytes) is taken, one of 1,025
// is refused, naming its length in characters, and changes nothing.
func TestRollbackReasonCountsCharacters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.twoInStaging(t)
	before := f.auditCount(t)
	_, err := f.svc.Rollback(ctx, lead, registry.RollbackRequest{Model: "credit-risk", Environment: "staging", Reason: strings.Repeat("é", 1025)})
	if want := "the reason is 1025 characters; at most 1024"; promote.ErrorCode(err) != promote.Invalid || userMessage(err) != want {
		t.Errorf("Rollback with a 1025-character reason = %v, want Invalid %q", err, want)
	}
	if n := f.auditCount(t); n != before {
		t.Errorf("audit events after a refused rollback = %d, want %d", n, before)
	}
	reason := strings.Repeat("é", 1024)
	rb, err := f.svc.Rollback(ctx, lead, registry.RollbackRequest{Model: "credit-risk", Environment: "staging", Reason: reason})
	if err != nil {
		t.Fatalf("Rollback with a 1024-character reason = %v, want it taken", err)
	}
	if rb.RolledBack != "2" || !strings.Contains(rb.Hold.Reason, reason) {
		t.Errorf("Rollback = version %s rolled back, hold reason %.40q…; want 2, the reason in the hold", rb.RolledBack, rb.Hold.Reason)
	}
}
