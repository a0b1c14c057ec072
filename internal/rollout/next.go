package rollout

import (
	"fmt"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// Next is what a person's go does to a canary that waits for them at its
// step (a resumption): it moves the rollout to its next step, at that
// step's weight, or, at its last step, gives the candidate all traffic
// and ends the rollout as a success.
type Next struct {
	// Last says that the go ends the rollout.
	Last bool
	// Step is the index of the step the go moves the rollout to, and
	// Weight that step's share of traffic in percent; 0 when Last.
	Step, Weight int
}

// Next says what a person's go does to r, a canary that waits for a
// person at its step, by the plan the controller carries r on with: the
// current policy of r's environment, which may have more or fewer steps,
// or other weights, than when r began. The web UI's button says what the
// resumption does from it, so that the two never disagree. It is a
// Conflict, saying why and what a person can do instead, when nothing can
// move r on: its environment has left the pipeline, or its policy no
// longer rolls it out as it began (the next tick pauses it).
func (c *Controller) Next(r promote.Rollout) (Next, error) {
	_, next, err := c.next(r)
	return next, err
}

// next is Next, with the plan it read: the plan r goes on by, which every
// change of r's step or weight that a person makes reads through it.
func (c *Controller) next(r promote.Rollout) (*policy.Rollout, Next, error) {
	if gone := c.gone(r); gone != "" {
		return nil, Next{}, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s cannot be moved on: %s", r.Model, r.Version, r.Environment, gone)
	}
	plan, err := c.plan(r.Environment)
	if err == nil && (plan.Strategy != r.Strategy || len(plan.Steps) == 0) {
		err = fmt.Errorf("the policy of %s now rolls out by %s; this rollout began as a %s", r.Environment, plan.Strategy, r.Strategy)
	}
	if err != nil {
		// Nothing says what the next step is.
		return nil, Next{}, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s cannot be moved on: %v; "+
			"promote it now (promote rollout promote %s) or abort it (promote rollout abort %s)", r.Model, r.Version, r.Environment, err, r.PromotionID, r.PromotionID)
	}
	return plan, nextOf(plan, r), nil
}

// nextOf is what a go does to r under plan, a canary plan with steps. A
// step at or past plan's last (the policy lost steps since r began) is
// the last: the go ends the rollout, as the controller carries such a
// rollout on from plan's last step.
func nextOf(plan *policy.Rollout, r promote.Rollout) Next {
	if r.Step >= len(plan.Steps)-1 {
		return Next{Last: true}
	}
	return Next{Step: r.Step + 1, Weight: plan.Steps[r.Step+1].Weight}
}
