package rollout

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// twoConfirmPolicy is confirmPolicy whose first step, at 10%, waits for a
// person too.
var twoConfirmPolicy = strings.Replace(confirmPolicy, "    - weight: 10\n      minRequests: 100\n",
	"    - weight: 10\n      minRequests: 100\n      confirm: true\n", 1)

// An operation decided on a revision of the rollout is refused, and
// changes nothing, once the rollout has moved on: a "go on to 50%" pressed
// on a page that is a step behind never takes the rollout to 100%. The
// refusal says where the rollout is now.
func TestOperateRefusesAnOperationDecidedOnAnOlderRevision(t *testing.T) {
	w := newWorldWith(t, testPipeline, twoConfirmPolicy)
	first := w.pumpUntil(t, w.ctl, 100, promote.Rollout.WaitsForPerson)
	if !first.WaitsForPerson() || first.Step != 0 {
		t.Fatalf("rollout = %s at step %d (needs %+v), want waiting for a person at step 1", first.State, first.Step+1, first.StepNeeds)
	}
	// Another approver moves it on, and it comes to wait at step 2.
	if _, err := w.ctl.Operate(t.Context(), lena, Op{Verb: OpResume, ID: first.PromotionID, Revision: first.Revision}); err != nil {
		t.Fatalf("Operate(resume) at the revision read: %v", err)
	}
	second := w.waiting(t)

	for _, verb := range Verbs {
		t.Run(verb, func(t *testing.T) {
			_, err := w.ctl.Operate(t.Context(), lena, Op{Verb: verb, ID: first.PromotionID, Reason: "from an old page", Revision: first.Revision})
			if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "has changed since the operation was decided") ||
				!strings.Contains(err.Error(), "waiting for a person at 50% (step 2 of 3)") {
				t.Errorf("Operate(%s) at revision %d of a rollout at %d = %v; want a Conflict saying it waits at 50%% now", verb, first.Revision, second.Revision, err)
			}
			if got := w.rollout(t); got.Revision != second.Revision || got.Step != 1 || !got.WaitsForPerson() || w.splitter.Weights() != 0.5 {
				t.Errorf("after a refused %s the rollout is %s at revision %d step %d, splitter %g; want it waiting at revision %d, step 2, 0.5",
					verb, got.State, got.Revision, got.Step+1, w.splitter.Weights(), second.Revision)
			}
		})
	}

	// The revision the page shows now moves it on.
	r, err := w.ctl.Operate(t.Context(), lena, Op{Verb: OpResume, ID: second.PromotionID, Revision: second.Revision})
	if err != nil || r.Step != 2 || w.splitter.Weights() != 1 {
		t.Errorf("Operate(resume) at revision %d = step %d, %v, splitter %g; want step 3 with all traffic", second.Revision, r.Step+1, err, w.splitter.Weights())
	}
}

func TestOperateRefusesBadInput(t *testing.T) {
	w := newWorldWith(t, testPipeline, confirmPolicy)
	r := w.pumpUntil(t, w.ctl, 100, func(r promote.Rollout) bool { return r.Step == 1 })
	for _, tt := range []struct {
		name string
		op   Op
		want string
	}{
		{"unknown verb", Op{Verb: "explode", ID: r.PromotionID}, `unknown operation "explode" on a rollout: want one of pause, resume, abort, promote`},
		{"negative revision", Op{Verb: OpAbort, ID: r.PromotionID, Revision: -1}, "revision -1 is negative"},
		{"long reason", Op{Verb: OpAbort, ID: r.PromotionID, Reason: strings.Repeat("x", 5000)}, "the reason"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.ctl.Operate(t.Context(), lena, tt.op)
			if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Operate(%+v) = %v, want Invalid saying %q", tt.op, err, tt.want)
			}
			if got := w.rollout(t); got.Revision != r.Revision || got.State != promote.RolloutRunning || w.splitter.Weights() != 0.5 {
				t.Errorf("after a refused operation the rollout is %s at revision %d, splitter %g; want it as it was", got.State, got.Revision, w.splitter.Weights())
			}
		})
	}
	if _, err := w.ctl.Operate(t.Context(), promote.Principal{Name: "vic", Role: promote.RoleViewer}, Op{Verb: "explode", ID: r.PromotionID}); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("Operate by a viewer = %v, want Forbidden before anything else", err)
	}
}
