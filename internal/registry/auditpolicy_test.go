package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// Every promotion state the gate decides (gated, blocked,
// awaiting_approval, approved) names the policy that decided it, by file
// and by the sha256 of its bytes, so that the audit log shows which
// version of the policy a decision was made under; the states that follow
// (succeeded) and the other events do not, and the chain still verifies.
func TestGateStatesNameTheirPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if p.State != promote.StateAwaitingApproval {
		t.Fatalf("1 → prod = %s (%s), want awaiting_approval", p.State, p.Reason)
	}
	if _, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatal(err)
	}
	blocked := f.request(t, submitter, "1", "dev") // already live there
	f.register(t, "2", goodMetrics)
	skipped := f.request(t, submitter, "2", "prod") // not through staging
	if skipped.State != promote.StateBlocked {
		t.Fatalf("2 → prod = %s, want blocked", skipped.State)
	}

	sum := sha256.Sum256([]byte(policyYAML))
	want := &promote.AuditPolicy{File: "policy.yaml", Digest: "sha256:" + hex.EncodeToString(sum[:])}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	decided := []string{string(promote.StateGated), string(promote.StateBlocked), string(promote.StateAwaitingApproval), string(promote.StateApproved)}
	seen := map[string]bool{}
	for _, e := range events {
		gateState := e.Action == promote.ActionPromotionState && slices.Contains(decided, e.Decision)
		if gateState && e.Environment != "" {
			seen[e.Decision] = true
			if diff := cmp.Diff(want, e.Policy); diff != "" {
				t.Errorf("event %d (%s %s in %s): policy differs (-want +got):\n%s", e.Seq, e.Action, e.Decision, e.Environment, diff)
			}
		} else if e.Policy != nil {
			t.Errorf("event %d (%s %s) names policy %+v, want none: the gate did not decide it", e.Seq, e.Action, e.Decision, e.Policy)
		}
	}
	for _, d := range decided {
		if !seen[d] {
			t.Errorf("no promotion.state %s event in the log (blocked promotion: %s)", d, blocked.State)
		}
	}
	f.verify(t)
}
