package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/promote"
)

// noRollouts stands for a rollout controller that has no rollout at all,
// as the real one answers for a promotion whose rollout has not begun.
type noRollouts struct{}

func (noRollouts) Operate(_ context.Context, _ promote.Principal, op rollout.Op) (promote.Rollout, error) {
	return promote.Rollout{}, promote.Errorf(promote.NotFound, "rollout of promotion %q not found", op.ID)
}

func (noRollouts) WithNext(r promote.Rollout) promote.Rollout { return r }

// An operation on a promotion that has no rollout says what state the
// promotion is in: one whose rollout has not begun yet (awaiting approval,
// or committed and waiting for its candidate to be deployed) is a
// Conflict, as an operation that does not apply to a rollout's state is;
// one that ended without a rollout is bad input, as promote rollout watch
// says; an unknown ID stays NotFound.
func TestRolloutOpOnAPromotionWithoutRolloutSaysItsState(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Rollouts = noRollouts{} })
	c := f.client(f.bob)
	f.model("churn")
	waiting := f.promoteTo("churn", "prod").Promotion
	if waiting.State.Terminal() {
		t.Fatalf("promotion to prod is %s, want one still under way", waiting.State)
	}
	_, err := c.RolloutOp(t.Context(), waiting.ID, "pause", RolloutOpRequest{})
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), string(waiting.State)) || !strings.Contains(err.Error(), "no rollout") {
		t.Errorf("RolloutOp(pause) of a promotion %s = %v, want a Conflict naming its state", waiting.State, err)
	}
	f.model("fraud")
	ended := f.promoteTo("fraud", "dev").Promotion
	if !ended.State.Terminal() {
		t.Fatalf("promotion to dev is %s, want ended", ended.State)
	}
	_, err = c.RolloutOp(t.Context(), ended.ID, "abort", RolloutOpRequest{})
	if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), string(ended.State)) {
		t.Errorf("RolloutOp(abort) of a promotion %s without rollout = %v, want Invalid naming its state", ended.State, err)
	}
	if _, err := c.RolloutOp(t.Context(), "pr_0000000000000000", "resume", RolloutOpRequest{}); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("RolloutOp(resume) of an unknown promotion = %v, want NotFound", err)
	}
}
