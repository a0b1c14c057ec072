package gitops

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// A dry run is refused as the request would be: while a rollback's commit
// has not landed, a request that would go live at once is a Conflict
// naming the rollback, and so is its dry run, rather than "approved".
func TestDryRunWhileARollbackWaitsForItsCommit(t *testing.T) {
	_, f, _ := twoInDev(t)
	rb, err := f.svc.Rollback(t.Context(), lena, registry.RollbackRequest{Model: "credit-risk", Environment: "dev", Reason: "error rate 5% on the canary"})
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	req := registry.PromoteRequest{Model: "credit-risk", Version: "4", Environment: "dev", DryRun: true}
	dry, err := f.svc.RequestPromotion(t.Context(), ci, req)
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), rb.Live.PromotionID) {
		t.Errorf("dry run of 4 → dev while the rollback waits for its commit = %s (%s), %v; want a conflict naming %s",
			dry.State, dry.Reason, err, rb.Live.PromotionID)
	}
	req.DryRun = false
	if _, err := f.svc.RequestPromotion(t.Context(), ci, req); promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("RequestPromotion of 4 → dev while the rollback waits for its commit = %v, want a conflict", err)
	}
}
