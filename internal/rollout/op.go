package rollout

import (
	"context"
	"fmt"
	"strings"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// The operations people take on an active rollout (Op.Verb), as the REST
// API names them (POST /api/v1/rollouts/{id}/{verb}).
const (
	OpPause   = "pause"
	OpResume  = "resume"
	OpAbort   = "abort"
	OpPromote = "promote"
)

// Verbs are the operations on a rollout, in the order the API lists them.
var Verbs = []string{OpPause, OpResume, OpAbort, OpPromote}

// opActions name each operation in a refusal ("aborting a rollout needs
// the approver role").
var opActions = map[string]string{
	OpPause:   "pausing a rollout",
	OpResume:  "resuming a rollout",
	OpAbort:   "aborting a rollout",
	OpPromote: "promoting a rollout now",
}

// Op is a person's operation on the active rollout of promotion ID.
type Op struct {
	Verb string
	ID   string
	// Reason, when not empty, is recorded with the operation.
	Reason string
	// Revision, when not 0, is the rollout's revision the person decided
	// on (promote.Rollout.Revision, as a page showed it): the operation
	// is refused, and nothing changed, when the rollout has moved on
	// since (a step, a wait for a person, another person's operation),
	// so that a button pressed on an old page ("go on to 50%") never
	// does something else (go on to 100%). 0 applies the operation to
	// the rollout as it is stored, as the CLI does without --revision.
	// One thing happens before any operation, whatever its revision: a
	// failure of the analysis that the store refused to record is carried
	// out first (the failure wins; a resumption or promotion is then
	// refused).
	Revision int64
}

// Action names the operation in a refusal: "pausing a rollout".
func (o Op) Action() string {
	if a, ok := opActions[o.Verb]; ok {
		return a
	}
	return "an operation on a rollout"
}

// check refuses an operation the controller does not know, or whose
// reason or revision is not valid.
func (o Op) check() error {
	if _, ok := opActions[o.Verb]; !ok {
		return promote.Errorf(promote.Invalid, "unknown operation %q on a rollout: want one of %s", o.Verb, strings.Join(Verbs, ", "))
	}
	if o.Revision < 0 {
		return promote.Errorf(promote.Invalid, "the rollout's revision %d is negative: want the revision the operation was decided on, or 0 for the rollout as it is", o.Revision)
	}
	return registry.CheckReason(o.Reason)
}

// Operate carries out a person's operation on a rollout: Pause, Resume,
// Abort or PromoteNow, as op.Verb names, only on the rollout at
// op.Revision when that is not 0. who needs the approver role, which is
// checked before anything is touched: traffic moves before the registry,
// which checks it again, records the change.
func (c *Controller) Operate(ctx context.Context, who promote.Principal, op Op) (promote.Rollout, error) {
	if err := registry.Authorize(who, promote.RoleApprover, op.Action()); err != nil {
		return promote.Rollout{}, err
	}
	if err := op.check(); err != nil {
		return promote.Rollout{}, err
	}
	c.operate()
	defer c.op.Unlock()
	switch op.Verb {
	case OpPause:
		return c.pauseBy(ctx, who, op)
	case OpResume:
		return c.resumeBy(ctx, who, op)
	case OpAbort:
		return c.abortBy(ctx, who, op)
	default:
		return c.promoteBy(ctx, who, op)
	}
}

// moved is the refusal of an operation decided on revision seen of a
// rollout that is at r now: it says where the rollout has moved.
func moved(r promote.Rollout, seen int64) error {
	return promote.Errorf(promote.Conflict, "the rollout of %s %s in %s has changed since the operation was decided (revision %d, now %d): it is %s now; nothing was changed: look at it again and decide",
		r.Model, r.Version, r.Environment, seen, r.Revision, Where(r))
}

// Where says where an active rollout stands, for people: "waiting for a
// person at 50% (step 2 of 3)", "paused at 10% (step 1 of 3)", "running
// (shadow)". The step and the count of steps are StepOf's: by the plan
// the controller carries the rollout on with when r says what a go does
// (Controller.WithNext), so that they agree with it.
func Where(r promote.Rollout) string {
	state := string(r.State)
	if r.WaitsForPerson() {
		state = "waiting for a person"
	}
	if r.Strategy == policy.StrategyShadow {
		return state + " (shadow)"
	}
	return fmt.Sprintf("%s at %s (step %s)", state, percentOf(r.Weight), StepWords(r))
}

// Operator carries out people's operations on rollouts (Controller).
type Operator interface {
	Operate(ctx context.Context, who promote.Principal, op Op) (promote.Rollout, error)
}

// Promotions reads a promotion (registry.Service).
type Promotions interface {
	Promotion(ctx context.Context, id string) (registry.PromotionView, error)
}

// Steer carries out a person's operation through ops, the server's
// rollout controller (nil: the server runs none), as the REST API and the
// web UI do alike. A viewer is refused as such, before anything else,
// even on a server without a controller. An operation on a promotion
// without a rollout says the promotion's state, read from promotions: a
// rollout that has not begun (the promotion awaits approval, or its
// commit's deployment) is a Conflict; a promotion that ended without one
// is bad input, as promote rollout watch says; an unknown promotion is
// NotFound.
func Steer(ctx context.Context, ops Operator, promotions Promotions, who promote.Principal, op Op) (promote.Rollout, error) {
	if err := registry.Authorize(who, promote.RoleApprover, op.Action()); err != nil {
		return promote.Rollout{}, err
	}
	if ops == nil {
		return promote.Rollout{}, promote.Errorf(promote.Conflict, "this server runs no rollout controller (promote serve needs GitOps and the local agent, or a cluster's traffic layer)")
	}
	r, err := ops.Operate(ctx, who, op)
	if promote.ErrorCode(err) != promote.NotFound {
		return r, err
	}
	view, perr := promotions.Promotion(ctx, op.ID)
	if perr != nil {
		return r, err
	}
	return r, Absent(view.Promotion, op.Verb)
}

// Absent is the refusal of verb ("pause", "show") on the rollout of
// promotion p, which has none: a promotion that ended without one is bad
// input (Invalid); one whose rollout has not begun (it awaits approval,
// or its commit's deployment) is a Conflict that says when it begins.
func Absent(p promote.Promotion, verb string) error {
	if p.State.Terminal() {
		return promote.Errorf(promote.Invalid, "promotion %s of %s %s to %s is %s and has no rollout to %s", p.ID, p.Model, p.Version, p.Environment, p.State, verb)
	}
	return promote.Errorf(promote.Conflict, "promotion %s of %s %s to %s is %s and has no rollout to %s yet: a rollout starts once its commit is deployed",
		p.ID, p.Model, p.Version, p.Environment, p.State, verb)
}
