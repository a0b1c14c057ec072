package rollout

import (
	"testing"

	"github.com/promote-ml/promote/promote"
)

// What a step waits for, a person or the canary's requests, is said only
// while the rollout runs: a pause, a person's or the controller's, and
// every end clear it in what the API serves, so that no client reads a
// paused or ended rollout as waiting; what the step needs stays.
func TestWaitsEndWhenTheRolloutStops(t *testing.T) {
	person := func(t *testing.T, w *world) promote.Rollout { return w.waiting(t) }
	requests := func(t *testing.T, w *world) promote.Rollout {
		r := w.pumpUntil(t, w.ctl, 10, func(r promote.Rollout) bool { return r.StepNeeds != nil && r.StepNeeds.WaitingForRequests })
		if r.StepNeeds == nil || !r.StepNeeds.WaitingForRequests {
			t.Fatalf("rollout = %s at step %d (needs %+v); want it waiting for requests", r.State, r.Step+1, r.StepNeeds)
		}
		return r
	}
	pause := func(t *testing.T, w *world, r promote.Rollout) (promote.Rollout, error) {
		return w.ctl.Pause(t.Context(), lena, r.PromotionID, "")
	}
	tests := []struct {
		name  string
		wait  func(*testing.T, *world) promote.Rollout
		stop  func(*testing.T, *world, promote.Rollout) (promote.Rollout, error)
		state promote.RolloutState
	}{
		{"a person pauses a wait for a person", person, pause, promote.RolloutPaused},
		{"a person pauses a wait for requests", requests, pause, promote.RolloutPaused},
		{"the controller pauses", requests, func(t *testing.T, w *world, r promote.Rollout) (promote.Rollout, error) {
			return w.pump(t, w.blind(t), 1), nil
		}, promote.RolloutPaused},
		{"promoted now", person, func(t *testing.T, w *world, r promote.Rollout) (promote.Rollout, error) {
			return w.ctl.PromoteNow(t.Context(), lena, r.PromotionID, "")
		}, promote.RolloutSucceeded},
		{"aborted", person, func(t *testing.T, w *world, r promote.Rollout) (promote.Rollout, error) {
			return w.ctl.Abort(t.Context(), lena, r.PromotionID, "")
		}, promote.RolloutRolledBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorldWith(t, testPipeline, confirmPolicy)
			r := tt.wait(t, w)
			got, err := tt.stop(t, w, r)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := w.svc.Rollout(t.Context(), r.PromotionID)
			if err != nil {
				t.Fatal(err)
			}
			for what, r := range map[string]promote.Rollout{"returned": got, "stored": stored} {
				if r.State != tt.state || r.StepNeeds == nil || r.StepNeeds.WaitingForPerson || r.StepNeeds.WaitingForRequests || r.StepNeeds.MinRequests == 0 {
					t.Errorf("%s rollout = %s (needs %+v); want %s, waiting for nothing, what its step needs kept", what, r.State, r.StepNeeds, tt.state)
				}
			}
		})
	}
}
