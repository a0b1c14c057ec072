package rollout

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// A resumption of a rollout the controller paused at weight 0 (it could
// not judge) is one action: the candidate gets its step's weight back at
// once, the resumption's record says so, and the next tick records
// nothing more. The API, the splitter and the notifications agree.
func TestResumeAfterAPauseAtWeightZeroIsOneEvent(t *testing.T) {
	w := newWorld(t)
	var r promote.Rollout
	w.notifications(t, func() {
		w.pump(t, w.ctl, 1)
		r = w.pump(t, w.blind(t), 1)
	})
	if r.State != promote.RolloutPaused || r.Weight != 0 || w.splitter.Weights() != 0 {
		t.Fatalf("rollout the controller cannot judge = %s at weight %g, splitter %g; want paused at 0", r.State, r.Weight, w.splitter.Weights())
	}
	events := w.notifications(t, func() {
		resumed, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, "the metric source is back")
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if resumed.Weight != 0.1 || w.splitter.Weights() != 0.1 {
			t.Errorf("Resume = weight %g, splitter %g; want the step's 0.1 in both", resumed.Weight, w.splitter.Weights())
		}
		r = w.pump(t, w.ctl, 2)
	})
	if r.State != promote.RolloutRunning || r.Weight != 0.1 || w.splitter.Weights() != 0.1 {
		t.Errorf("resumed rollout after two ticks = %s at weight %g, splitter %g; want running at 0.1", r.State, r.Weight, w.splitter.Weights())
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Type+" "+ev.Summary)
	}
	if len(events) != 1 {
		t.Errorf("a resumption notified %d times: %q; want once", len(events), got)
	}
}

// A rollout whose environment lost its rollout plan (the pipeline made it
// direct, and the server restarted) can still be steered: the controller,
// which cannot judge it, returns its traffic to stable and pauses it for a
// person instead of failing every tick; a resume, which the next tick
// would undo, is refused, saying what to do instead, and changes nothing;
// an abort needs no plan.
func TestRolloutWithoutAPlanIsPausedAndCanBeAborted(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	cfg := w.ctl.cfg
	cfg.Plans = map[string]*policy.Rollout{}
	restarted, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Tick(t.Context()); err != nil {
		t.Errorf("Tick of a rollout without a plan = %v, want it paused for a person", err)
	}
	r = w.rollout(t)
	if r.State != promote.RolloutPaused || !strings.Contains(r.Reason, "no rollout plan") || w.splitter.Weights() != 0 {
		t.Errorf("rollout without a plan = %s (%q), splitter %g; want paused saying why, all traffic on stable", r.State, r.Reason, w.splitter.Weights())
	}
	_, err = restarted.Resume(t.Context(), lena, r.PromotionID, "")
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "no rollout plan") || !strings.Contains(err.Error(), "promote rollout abort "+r.PromotionID) {
		t.Errorf("Resume without a plan = %v, want a Conflict that says why and what to do", err)
	}
	if got := w.rollout(t); got.State != r.State || got.Reason != r.Reason || got.Revision != r.Revision || w.splitter.Weights() != 0 {
		t.Errorf("after a refused resume the rollout is %s (%q, revision %d), splitter %g; want it as it was", got.State, got.Reason, got.Revision, w.splitter.Weights())
	}
	if r, err = restarted.Abort(t.Context(), lena, r.PromotionID, "the pipeline changed"); err != nil || r.State != promote.RolloutRolledBack {
		t.Errorf("Abort without a plan = %s, %v; want rolled back", r.State, err)
	}
}

// A paused shadow rollout stops mirroring when the pause is stored, not
// at the controller's next tick: the API and the traffic layer agree as
// soon as the operation answers.
func TestPausedShadowStopsMirroringAtOnce(t *testing.T) {
	_, ctl, tr, r := mirroringShadow(t)
	var err error
	if r, err = ctl.Pause(t.Context(), lena, r.PromotionID, "a look"); err != nil || r.State != promote.RolloutPaused {
		t.Fatalf("Pause = %s, %v", r.State, err)
	}
	if tr.share != 0 {
		t.Errorf("a paused shadow rollout mirrors %g until the next tick, want 0 at once", tr.share)
	}
}

// A person's pause of a rollout whose failure the store refused to record
// (its rollback is tried again at every tick, the candidate at weight 0)
// never gives the failed candidate its traffic back: the failure is
// carried out first, and while it cannot be, the pause says so.
func TestPauseAfterARefusedRollbackKeepsTheFailure(t *testing.T) {
	w := newWorld(t)
	ctl, reg := w.refusedRollback(t)
	id := w.rollout(t).PromotionID
	// The store still refuses: the pause is refused too, saying why.
	reg.pauseFails.Store(1 << 30)
	if _, err := ctl.Pause(t.Context(), lena, id, "looking"); promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "could not be stored yet") {
		t.Errorf("Pause while the failure cannot be stored = %v, want a Conflict saying so", err)
	}
	if got := w.splitter.Weights(); got != 0 {
		t.Errorf("after the refused pause the failed canary has %g of the traffic, want 0", got)
	}
	// The store works again; a person pauses before the next tick.
	reg.rollbackFails.Store(0)
	reg.pauseFails.Store(0)
	if _, err := ctl.Pause(t.Context(), lena, id, "looking"); promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "has ended: it was rolled back") {
		t.Errorf("Pause once the store works = %v, want a Conflict: the rollout was rolled back first", err)
	}
	r := w.pump(t, ctl, 2)
	if r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0 || !strings.Contains(r.Reason, "canary analysis failed") {
		t.Errorf("rollout = %s (%q), splitter %g; want rolled back by the analysis, all traffic on stable", r.State, r.Reason, w.splitter.Weights())
	}
}

// The same through another replica: a pause stored there while the
// leader keeps a failure the store refused does not make the leader drop
// the failure and give the failed candidate the paused step's weight; the
// leader carries the failure out at its next tick.
func TestPauseThroughAnotherReplicaKeepsTheLeadersFailure(t *testing.T) {
	w := newWorld(t)
	follower, _ := newFollower(t, w)
	leader, reg := w.refusedRollback(t)
	reg.rollbackFails.Store(0)
	reg.pauseFails.Store(0)
	if _, err := follower.Pause(t.Context(), lena, w.rollout(t).PromotionID, "looking"); err != nil {
		t.Fatalf("Pause through another replica: %v", err)
	}
	r := w.pump(t, leader, 1)
	if r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0 || !strings.Contains(r.Reason, "canary analysis failed") {
		t.Errorf("rollout after the leader's tick = %s (%q), the leader's splitter %g; want rolled back by the analysis, all traffic on stable",
			r.State, r.Reason, w.splitter.Weights())
	}
}

// Promoting now a rollout whose failure the store refused to record (its
// rollback tried again at every tick, the candidate at weight 0) never
// promotes the failed candidate: the failure wins. While it cannot be
// stored, the promotion is refused saying so; once it can, it is carried
// out first, and the promotion is refused naming it.
func TestPromoteNowAfterARefusedRollbackKeepsTheFailure(t *testing.T) {
	w := newWorld(t)
	ctl, reg := w.refusedRollback(t)
	id := w.rollout(t).PromotionID
	if _, err := ctl.PromoteNow(t.Context(), lena, id, "ship it"); promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "could not be stored yet") {
		t.Errorf("PromoteNow while the failure cannot be stored = %v, want a Conflict saying so", err)
	}
	if r, got := w.rollout(t), w.splitter.Weights(); r.State != promote.RolloutRunning || got != 0 {
		t.Errorf("after the refused promotion the rollout is %s and the failed canary has %g of the traffic, want running at 0", r.State, got)
	}
	reg.rollbackFails.Store(0)
	reg.pauseFails.Store(0)
	_, err := ctl.PromoteNow(t.Context(), lena, id, "ship it")
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "canary analysis failed") || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("PromoteNow once the store works = %v, want a Conflict naming the analysis's failure and the rollback", err)
	}
	if r := w.rollout(t); r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0 || !strings.Contains(r.Reason, "canary analysis failed") {
		t.Errorf("rollout = %s (%q), splitter %g; want rolled back by the analysis, all traffic on stable", r.State, r.Reason, w.splitter.Weights())
	}
	if p := w.promotion(t, id); p.State == promote.StateSucceeded {
		t.Errorf("promotion = %s, want not promoted", p.State)
	}
}
