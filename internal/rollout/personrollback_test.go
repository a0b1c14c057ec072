package rollout

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// A person's rollback (promote rollback, not rollout abort) of a version
// that is rolling out ends its rollout as rolled back, in the rollback's
// transaction: the controller then takes the candidate's traffic away at
// its next tick, rather than go on giving it its step's weight while the
// rollback's commit is on its way.
func TestPersonsRollbackEndsTheRollout(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	if r.State != promote.RolloutRunning || w.splitter.Weights() == 0 {
		t.Fatalf("before the rollback: %s at weight %g, want running with traffic", r.State, w.splitter.Weights())
	}
	if _, err := w.svc.Rollback(t.Context(), lena, registry.RollbackRequest{Model: "credit-risk", Environment: "prod", Reason: "wrong features"}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if err := w.ctl.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	got := w.rollout(t)
	if got.State != promote.RolloutRolledBack || got.Weight != 0 || !strings.Contains(got.Reason, "rolled back by lena: wrong features") {
		t.Errorf("rollout after a person's rollback = %s at weight %g (%q), want rolled back at 0 with the rollback's reason", got.State, got.Weight, got.Reason)
	}
	if weight := w.splitter.Weights(); weight != 0 {
		t.Errorf("after a person's rollback and a tick the candidate has %g of the traffic, want 0", weight)
	}
	if p := w.promotion(t, got.PromotionID); p.State != promote.StateRolledBack {
		t.Errorf("promotion = %s, want rolled_back", p.State)
	}
}
