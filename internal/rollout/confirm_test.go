package rollout

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// confirmPolicy is testPolicy whose second step, at 50%, waits for a
// person once it has served its minimum requests.
var confirmPolicy = strings.Replace(testPolicy, "    - weight: 50\n      minRequests: 200\n",
	"    - weight: 50\n      minRequests: 200\n      confirm: true\n", 1)

// waiting pumps w's rollout with ctl until it waits for a person, or fails
// the test.
func (w *world) waiting(t *testing.T) promote.Rollout {
	t.Helper()
	r := w.pumpUntil(t, w.ctl, 100, promote.Rollout.WaitsForPerson)
	if !r.WaitsForPerson() || r.Step != 1 || r.Weight != 0.5 || w.splitter.Weights() != 0.5 {
		t.Fatalf("rollout = %s at step %d weight %g (needs %+v), splitter %g; want running at step 2, 0.5, waiting for a person",
			r.State, r.Step+1, r.Weight, r.StepNeeds, w.splitter.Weights())
	}
	return r
}

// waits returns the audit events that record r's waits for a person.
func (w *world) waits(t *testing.T, id string) []string {
	t.Helper()
	list, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: id, Action: promote.ActionRolloutStep})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		if strings.HasPrefix(e.Decision, "waiting for a person") {
			out = append(out, e.Actor+" "+e.Decision)
		}
	}
	return out
}

// A step with confirm holds the rollout at its weight once its minimums
// are served, however much traffic comes, until a person resumes it; the
// wait is recorded once (audited, notified), survives a restart of the
// controller and of the splitter, and the resumption moves the rollout to
// the next step at once, with the analysis's evidence.
func TestConfirmStepWaitsForAPerson(t *testing.T) {
	w := newWorldWith(t, testPipeline, confirmPolicy)
	var r promote.Rollout
	hooks := w.notifications(t, func() { r = w.waiting(t) })
	var summaries []string
	for _, ev := range hooks {
		if strings.Contains(ev.Summary, "person") {
			summaries = append(summaries, ev.Type+" "+ev.Summary)
		}
	}
	if len(summaries) != 1 || !strings.HasPrefix(summaries[0], "rollout.step waiting for a person at 50% (step 2)") {
		t.Errorf("notifications of the wait = %q; want one rollout.step saying it waits for a person at 50%%", summaries)
	}
	if !r.StepNeeds.Confirm || r.StepRequests < 200 {
		t.Errorf("waiting rollout's step = %g requests, needs %+v; want its 200 requests served and confirm", r.StepRequests, r.StepNeeds)
	}
	if _, err := w.ctl.Resume(t.Context(), promote.Principal{Name: "vic", Role: promote.RoleViewer}, r.PromotionID, ""); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("Resume of a waiting rollout by a viewer = %v, want Forbidden", err)
	}

	// Much more traffic than the step needs: it stays, and the wait is
	// not recorded again.
	r = w.pump(t, w.ctl, 20)
	if !r.WaitsForPerson() || r.Step != 1 || w.splitter.Weights() != 0.5 {
		t.Fatalf("after 1,000 more requests the rollout is %s at step %d (needs %+v), splitter %g; want it waiting at step 2, 0.5",
			r.State, r.Step+1, r.StepNeeds, w.splitter.Weights())
	}

	// A restart of the server: a new controller, a splitter back at 0.
	restarted, err := New(w.ctl.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.splitter.SetWeight(0); err != nil {
		t.Fatal(err)
	}
	r = w.pump(t, restarted, 10)
	if !r.WaitsForPerson() || r.Step != 1 || w.splitter.Weights() != 0.5 {
		t.Fatalf("after a restart the rollout is %s at step %d (needs %+v), splitter %g; want it waiting at step 2, 0.5 again",
			r.State, r.Step+1, r.StepNeeds, w.splitter.Weights())
	}
	if got := w.waits(t, r.PromotionID); len(got) != 1 || got[0] != registry.RolloutActor.Name+" waiting for a person at 50% (step 2)" {
		t.Errorf("audited waits = %q; want one, the controller's", got)
	}
	if _, stored := storedLogE(t, w, r.PromotionID); !stored {
		t.Fatal("no analysis state stored with the waiting rollout")
	}

	moved, err := restarted.Resume(t.Context(), lena, r.PromotionID, "dashboards fine")
	if err != nil {
		t.Fatalf("Resume of a waiting rollout: %v", err)
	}
	if moved.State != promote.RolloutRunning || moved.Step != 2 || moved.Weight != 1 || w.splitter.Weights() != 1 || moved.WaitsForPerson() || moved.StepRequests != 0 {
		t.Errorf("Resume = %s at step %d weight %g (%g requests, needs %+v), splitter %g; want running at step 3, 1, counting afresh",
			moved.State, moved.Step+1, moved.Weight, moved.StepRequests, moved.StepNeeds, w.splitter.Weights())
	}
	newest, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: r.PromotionID, Limit: 1})
	if err != nil || len(newest) != 1 || newest[0].Actor != "lena" || newest[0].Decision != "step 3: weight 100%, confirmed by lena: dashboards fine" {
		t.Errorf("newest audit event after the confirmation = %+v, %v; want lena's step 3 with her reason", newest, err)
	}
	if _, stored := storedLogE(t, w, r.PromotionID); !stored {
		t.Error("the confirmation dropped the analysis's evidence")
	}
	if _, err := restarted.Resume(t.Context(), lena, r.PromotionID, ""); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("Resume of the next step, which has no confirm = %v, want Conflict", err)
	}
	if r = w.pump(t, restarted, 100); r.State != promote.RolloutSucceeded {
		t.Fatalf("rollout after the confirmation = %s (%s), want succeeded", r.State, r.Reason)
	}
	var got []string
	for _, s := range w.samples(t, r.PromotionID) {
		if s.Event == "step" || s.Event == "waiting" {
			got = append(got, fmt.Sprintf("%s %d", s.Event, s.Step))
		}
	}
	if diff := cmp.Diff([]string{"step 0", "step 1", "waiting 1", "step 2"}, got); diff != "" {
		t.Errorf("sample events mismatch (-want +got):\n%s", diff)
	}
}

// Before its minimums are served, a step with confirm does not wait for a
// person yet: a resumption is refused, saying why, and changes nothing.
// While it waits, the analysis still judges it and rolls a failing
// canary back; and a promotion ends the wait with all traffic.
func TestConfirmStepResumeTooSoonRollbackAndPromote(t *testing.T) {
	t.Run("too soon", func(t *testing.T) {
		w := newWorldWith(t, testPipeline, confirmPolicy)
		r := w.pumpUntil(t, w.ctl, 100, func(r promote.Rollout) bool { return r.Step == 1 })
		if r.Step != 1 || r.WaitsForPerson() {
			t.Fatalf("rollout = step %d (needs %+v), want step 2 not waiting yet", r.Step+1, r.StepNeeds)
		}
		_, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, "")
		if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "does not wait for a person yet") {
			t.Errorf("Resume before the minimums = %v, want a Conflict saying it does not wait yet", err)
		}
		if got := w.rollout(t); got.Revision != r.Revision || got.Step != 1 || w.splitter.Weights() != 0.5 {
			t.Errorf("after a refused resume the rollout is at revision %d step %d, splitter %g; want it as it was", got.Revision, got.Step+1, w.splitter.Weights())
		}
	})
	t.Run("rollback while waiting", func(t *testing.T) {
		w := newWorldWith(t, testPipeline, confirmPolicy)
		r := w.waiting(t)
		w.failV2.Store(2) // half of the canary's answers fail
		r = w.pump(t, w.ctl, 100)
		if r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0 || !strings.Contains(r.Reason, "canary analysis failed") {
			t.Errorf("failing canary waiting for a person = %s (%q), splitter %g; want rolled back by the analysis", r.State, r.Reason, w.splitter.Weights())
		}
	})
	t.Run("promote while waiting", func(t *testing.T) {
		w := newWorldWith(t, testPipeline, confirmPolicy)
		r := w.waiting(t)
		r, err := w.ctl.PromoteNow(t.Context(), lena, r.PromotionID, "")
		if err != nil || r.State != promote.RolloutSucceeded || w.splitter.Weights() != 1 {
			t.Errorf("PromoteNow of a waiting rollout = %s, %v, splitter %g; want succeeded with all traffic", r.State, err, w.splitter.Weights())
		}
	})
	t.Run("pause and resume count the step again", func(t *testing.T) {
		w := newWorldWith(t, testPipeline, confirmPolicy)
		r := w.waiting(t)
		if _, err := w.ctl.Pause(t.Context(), lena, r.PromotionID, "a look"); err != nil {
			t.Fatal(err)
		}
		r, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, "")
		if err != nil || r.State != promote.RolloutRunning || r.Step != 1 || r.WaitsForPerson() {
			t.Fatalf("Resume of the paused rollout = %s at step %d (needs %+v), %v; want running at step 2, not waiting until its minimums are served again",
				r.State, r.Step+1, r.StepNeeds, err)
		}
		w.waiting(t)
		if got := w.waits(t, r.PromotionID); len(got) != 2 {
			t.Errorf("audited waits = %q, want two: before the pause and after the resumption", got)
		}
	})
}

// A confirm on the last step holds the rollout before it succeeds; the
// person's resumption ends it, with all traffic.
func TestConfirmOnTheLastStepEndsTheRollout(t *testing.T) {
	policy := strings.Replace(testPolicy, "    - weight: 100\n      minRequests: 100\n", "    - weight: 100\n      minRequests: 100\n      confirm: true\n", 1)
	w := newWorldWith(t, testPipeline, policy)
	r := w.pumpUntil(t, w.ctl, 200, promote.Rollout.WaitsForPerson)
	if !r.WaitsForPerson() || r.Step != 2 || w.splitter.Weights() != 1 {
		t.Fatalf("rollout = %s at step %d (needs %+v), splitter %g; want waiting at step 3 with all traffic", r.State, r.Step+1, r.StepNeeds, w.splitter.Weights())
	}
	if r = w.pump(t, w.ctl, 5); r.State != promote.RolloutRunning {
		t.Fatalf("rollout waiting at its last step = %s (%s), want it still running", r.State, r.Reason)
	}
	r, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, "")
	if err != nil || r.State != promote.RolloutSucceeded || !strings.Contains(r.Reason, "confirmed by lena") {
		t.Fatalf("Resume at the last step = %s (%q), %v; want succeeded, confirmed by lena", r.State, r.Reason, err)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateSucceeded {
		t.Errorf("promotion = %s, want succeeded", p.State)
	}
}

// What approving a promotion sets going says which steps wait for a
// person.
func TestPlanLinesSayAStepWaitsForAPerson(t *testing.T) {
	lines := PlanLines(&registry.Plan{Strategy: "canary", Steps: []registry.PlanStep{{Weight: 10, MinDuration: 300},
		{Weight: 50, MinRequests: 200, Confirm: true}, {Weight: 100}}})
	var got []string
	for _, l := range lines[2:] {
		got = append(got, l.Label+": "+l.Text)
	}
	want := []string{"Step 1: 10% of traffic for at least 5m", "Step 2: 50% of traffic for at least 200 requests, then waits for a person", "Step 3: 100% of traffic"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PlanLines steps (-want +got):\n%s", diff)
	}
}

// A resumption that meets a change made since its read (a pause through
// another replica, or the analysis's) applies only while the rollout still
// waits for a person: at the last step too, where it would otherwise
// promote a rollout someone paused.
func TestConfirmAfterAPauseSinceItsReadIsRefused(t *testing.T) {
	policy := strings.Replace(testPolicy, "    - weight: 100\n      minRequests: 100\n", "    - weight: 100\n      minRequests: 100\n      confirm: true\n", 1)
	for _, tt := range []struct {
		name   string
		policy string
		step   int
	}{{"at a middle step", confirmPolicy, 1}, {"at the last step", policy, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorldWith(t, testPipeline, tt.policy)
			r := w.pumpUntil(t, w.ctl, 200, promote.Rollout.WaitsForPerson)
			if !r.WaitsForPerson() || r.Step != tt.step {
				t.Fatalf("rollout = %s at step %d (needs %+v), want waiting at step %d", r.State, r.Step+1, r.StepNeeds, tt.step+1)
			}
			other, reg := w.interleavedController(t)
			var pauseErr error
			reg.interleave(func() {
				paused := r
				paused.State, paused.Reason = promote.RolloutPaused, "paused by bob"
				_, pauseErr = w.svc.RecordRollout(t.Context(), promote.Principal{Name: "bob", Role: promote.RoleApprover}, paused, "paused")
			})
			_, err := other.Resume(t.Context(), lena, r.PromotionID, "")
			if pauseErr != nil {
				t.Fatalf("the other writer's pause: %v", pauseErr)
			}
			if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "no longer waits for a person") {
				t.Errorf("Resume after a pause since its read = %v, want a Conflict saying it no longer waits for a person", err)
			}
			if got := w.rollout(t); got.State != promote.RolloutPaused || got.Step != tt.step || got.Reason != "paused by bob" || w.splitter.Weights() != r.Weight {
				t.Errorf("rollout after the refused resumption = %s at step %d (%q), splitter %g; want paused by bob at step %d, %g",
					got.State, got.Step+1, got.Reason, w.splitter.Weights(), tt.step+1, r.Weight)
			}
		})
	}
}

// A confirmation of a rollout whose failure the store refused to record
// (its rollback tried again at every tick, the candidate at weight 0)
// carries the failure out first, as a pause does: it never moves the
// failed candidate on to the next step's weight.
func TestConfirmAfterARefusedRollbackKeepsTheFailure(t *testing.T) {
	w := newWorldWith(t, testPipeline, confirmPolicy)
	w.waiting(t)
	ctl, reg := w.refusedRollback(t)
	id := w.rollout(t).PromotionID
	if got := w.rollout(t); !got.WaitsForPerson() || w.splitter.Weights() != 0 {
		t.Fatalf("rollout whose rollback the store refused = %s (needs %+v), splitter %g; want stored as waiting, all traffic on stable",
			got.State, got.StepNeeds, w.splitter.Weights())
	}
	// The store works again; a person confirms before the next tick.
	reg.rollbackFails.Store(0)
	reg.pauseFails.Store(0)
	if _, err := ctl.Resume(t.Context(), lena, id, "looks fine"); promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("Resume once the store works = %v, want a Conflict: the rollout was rolled back first", err)
	}
	if r := w.rollout(t); r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0 || !strings.Contains(r.Reason, "canary analysis failed") {
		t.Errorf("rollout = %s at step %d (%q), splitter %g; want rolled back by the analysis, all traffic on stable",
			r.State, r.Step+1, r.Reason, w.splitter.Weights())
	}
}
