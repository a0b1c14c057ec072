package registry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// A model live in an environment taken out of the pipeline, with no
// promotion under way there, cannot be rolled back there nor its
// promotion cancelled; the refusal says to put the environment back, and
// does not tell a person to promote a rollout that does not exist.
func TestGoneEnvironmentWithNothingUnderWay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1").Promotion
	v, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest})
	if err != nil || v.Promotion.State != promote.StateSucceeded {
		t.Fatalf("approve 1 → prod = %v, %v; want succeeded", v.Promotion.State, err)
	}
	// The server restarts on a pipeline without prod.
	withoutProd, _, _ := strings.Cut(pipelineYAML, "  - name: prod\n")
	f.serve(t, withoutProd, policyYAML)

	_, rbErr := f.svc.Rollback(ctx, lead, registry.RollbackRequest{Model: "credit-risk", Environment: "prod", Reason: "bad"})
	_, cancelErr := f.svc.Cancel(ctx, lead, p.ID, "bad")
	for name, err := range map[string]error{"rollback": rbErr, "cancel": cancelErr} {
		if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "put prod back in the pipeline file, restart the server") {
			t.Errorf("%s in prod, gone from the pipeline = %v, want a Conflict saying to put prod back", name, err)
			continue
		}
		if strings.Contains(err.Error(), "rollout") {
			t.Errorf("%s in prod, with no rollout there = %q, want no word of a rollout", name, err)
		}
	}
	if live := f.live(t); live["prod"] != "1" {
		t.Errorf("live after the refusals = %v, want prod still at 1", live)
	}
}
