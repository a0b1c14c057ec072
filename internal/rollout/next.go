package rollout

import (
	"fmt"
	"strconv"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// Next says what a person's resume does to r, by the plan the controller
// carries r on with: the current policy of r's environment, which may
// have more or fewer steps, or other weights, than when r began. To a
// canary that waits for a person at its step it is their go (a
// confirmation): the next step and its weight, or the end of the
// rollout. To a paused canary it is its resumption: r's step again, at
// that step's weight by the plan (the plan's last step when r's is past
// it, the policy having lost steps since r began), with the step's
// minimums counted again. To a paused shadow, whose resumption mirrors
// again, it says nothing (no steps). The web UI's button, the REST API's
// rollout (WithNext) and the operation itself (confirm, resumeBy) take
// what it does from here, so that they never disagree. It is a
// Conflict, saying why and what a person can do instead, when nothing
// can move r on: its environment has left the pipeline, or its policy no
// longer rolls it out as it began (the next tick pauses it).
func (c *Controller) Next(r promote.Rollout) (promote.RolloutNext, error) {
	_, next, err := c.next(r)
	return next, err
}

// WithNext returns r with its Next set, when r waits for a person or is
// paused, to what a person's resume does (Next), or to why the
// controller refuses it; and cleared otherwise (a rollout that runs and
// does not wait for a person, or a paused shadow, whose resumption
// mirrors again and has no step to say).
func (c *Controller) WithNext(r promote.Rollout) promote.Rollout {
	r.Next = nil
	if !r.WaitsForPerson() && r.State != promote.RolloutPaused {
		return r
	}
	next, err := c.Next(r)
	switch {
	case err != nil:
		r.Next = &promote.RolloutNext{Refused: err.Error()}
	case next.Steps > 0:
		r.Next = &next
	}
	return r
}

// next is Next, with the plan it read: the plan r goes on by, which every
// change of r's step or weight that a person makes reads through it.
func (c *Controller) next(r promote.Rollout) (*policy.Rollout, promote.RolloutNext, error) {
	plan, err := c.carrier(r)
	switch {
	case err != nil:
		return nil, promote.RolloutNext{}, err
	case r.State == promote.RolloutPaused:
		return plan, resumeOf(plan, r), nil
	case len(plan.Steps) == 0:
		// A shadow: it has no step to move on to (nor waits at one).
		return nil, promote.RolloutNext{}, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s cannot be moved on: a %s has no steps", r.Model, r.Version, r.Environment, r.Strategy)
	}
	return plan, nextOf(plan, r), nil
}

// carrier is the plan that carries r on: its environment's, of the
// strategy r began with. It is a Conflict, saying why (in ownPlan's
// words, which the tick's pause uses too) and what a person can do
// instead, when there is none (the next tick pauses r, or keeps it
// paused): its environment has left the pipeline, or its policy no
// longer rolls it out as it began (direct now, or by the other
// strategy). A go on a rollout waiting for a person (Next) and the
// resumption of a paused one are refused by it alike.
func (c *Controller) carrier(r promote.Rollout) (*policy.Rollout, error) {
	if gone := c.gone(r); gone != "" {
		return nil, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s cannot be moved on: %s", r.Model, r.Version, r.Environment, gone)
	}
	plan, err := c.ownPlan(r)
	if err != nil {
		return nil, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s cannot be moved on: %v; "+
			"promote it now (promote rollout promote %s) or abort it (promote rollout abort %s)", r.Model, r.Version, r.Environment, err, r.PromotionID, r.PromotionID)
	}
	return plan, nil
}

// ownPlan is the plan of r's environment when it rolls out by the
// strategy r began with; else an error that says why it does not carry
// r on: the environment has no rollout plan now (the pipeline rolls it
// out directly), or its policy rolls out by the other strategy (it was
// edited since r began). The tick's pause (prepare) and the refusal of
// a go or a resumption (carrier) both word it by this, so that a person
// reads the same reason whichever found it.
func (c *Controller) ownPlan(r promote.Rollout) (*policy.Rollout, error) {
	plan, err := c.plan(r.Environment)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%v; this rollout began as a %s", err, r.Strategy)
	case plan.Strategy != r.Strategy:
		return nil, fmt.Errorf("the policy of %s now rolls out by %s; this rollout began as a %s", r.Environment, plan.Strategy, r.Strategy)
	}
	return plan, nil
}

// resumeOf is what the resumption of r, a paused rollout, does under
// plan, the plan of its strategy: r's step again, or plan's last when
// r's is past it (the policy lost steps since r began, and the tick
// carries such a rollout on from plan's last step), at that step's
// weight, with that step's minimums; nothing of steps for a shadow,
// whose resumption mirrors again.
func resumeOf(plan *policy.Rollout, r promote.Rollout) promote.RolloutNext {
	if len(plan.Steps) == 0 {
		return promote.RolloutNext{}
	}
	step := min(r.Step, len(plan.Steps)-1)
	needs := needsOf(plan, step, false, false)
	return promote.RolloutNext{Steps: needs.Steps, Step: step, Weight: plan.Steps[step].Weight,
		MinRequests: needs.MinRequests, MinDuration: needs.MinDuration}
}

// nextOf is what a go does to r under plan, a canary plan with steps. A
// step at or past plan's last (the policy lost steps since r began) is
// the last: the go ends the rollout, as the controller carries such a
// rollout on from plan's last step.
func nextOf(plan *policy.Rollout, r promote.Rollout) promote.RolloutNext {
	if r.Step >= len(plan.Steps)-1 {
		return promote.RolloutNext{Steps: len(plan.Steps), Last: true}
	}
	return promote.RolloutNext{Steps: len(plan.Steps), Step: r.Step + 1, Weight: plan.Steps[r.Step+1].Weight}
}

// StepOf is r's step, from 1, and the number of steps of its plan, 0 when
// r does not say: by r.Next when the server said what a go does (the plan
// the controller carries r on with now; a step past its last counts as
// its last, from which the controller carries r on), else as the
// controller last judged r (its StepNeeds).
func StepOf(r promote.Rollout) (step, steps int) {
	step = r.Step + 1
	switch {
	case r.Next != nil && r.Next.Steps > 0:
		steps = r.Next.Steps
		step = min(step, steps)
	case r.StepNeeds != nil && r.StepNeeds.Steps > 0:
		steps = r.StepNeeds.Steps
	}
	return step, steps
}

// StepWords is r's step, from 1, and the number of its plan's steps when
// known, by StepOf: "2 of 3", or "2".
func StepWords(r promote.Rollout) string {
	step, steps := StepOf(r)
	if steps > 0 {
		return fmt.Sprintf("%d of %d", step, steps)
	}
	return strconv.Itoa(step)
}

// ResumeWords says where the resumption of r, a paused canary, puts it,
// as the server's controller says (r.Next), for people: "step 2 of 3, at
// 50% of the traffic", or "step 3 of 3, with all the traffic"; empty when
// the server does not say (it refuses the resumption, runs no rollout
// controller, or r is a shadow, whose resumption mirrors again).
func ResumeWords(r promote.Rollout) string {
	n := r.Next
	if n == nil || n.Steps == 0 || r.State != promote.RolloutPaused {
		return ""
	}
	at := fmt.Sprintf("at %d%% of the traffic", n.Weight)
	if n.Weight >= 100 {
		at = "with all the traffic"
	}
	return fmt.Sprintf("step %d of %d, %s", n.Step+1, n.Steps, at)
}

// GoEnds reports whether a person's go ends r, a canary that waits for
// them: by r.Next when the server said (false when it refuses the go),
// else by the count of steps stored when the controller last judged r.
func GoEnds(r promote.Rollout) bool {
	if r.Next != nil {
		return r.Next.Last
	}
	step, steps := StepOf(r)
	return steps > 0 && step >= steps
}
