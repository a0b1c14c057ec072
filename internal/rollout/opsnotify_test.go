package rollout

import (
	"testing"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/promote"
)

// Each of a person's operations on a rollout is one notification: an
// abort is the rollback's (rollout.rolled_back, carrying the rollout's
// record with decision aborted), not that and a rollout.step besides.
func TestEachOperationIsNotifiedOnce(t *testing.T) {
	w := newWorld(t)
	var r promote.Rollout
	count := func(events []notify.Event) map[string]int {
		n := map[string]int{}
		for _, ev := range events {
			if ev.Type == notify.TypeRolloutStep || ev.Type == notify.TypeRolloutRolledBack {
				n[ev.Type+" "+ev.Summary[:min(len(ev.Summary), 12)]]++
			}
		}
		return n
	}
	// The start's notifications are sent first, and not counted.
	w.notifications(t, func() { r = w.pump(t, w.ctl, 1) })
	events := w.notifications(t, func() {
		if _, err := w.ctl.Pause(t.Context(), lena, r.PromotionID, "a look"); err != nil {
			t.Fatal(err)
		}
	})
	if len(events) != 1 || events[0].Type != notify.TypeRolloutStep {
		t.Errorf("Pause notified %v, want one rollout.step", count(events))
	}
	events = w.notifications(t, func() {
		if _, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, ""); err != nil {
			t.Fatal(err)
		}
	})
	if len(events) != 1 || events[0].Type != notify.TypeRolloutStep {
		t.Errorf("Resume notified %v, want one rollout.step", count(events))
	}
	events = w.notifications(t, func() {
		if _, err := w.ctl.Abort(t.Context(), lena, r.PromotionID, "wrong feature flags"); err != nil {
			t.Fatal(err)
		}
	})
	if len(events) != 1 || events[0].Type != notify.TypeRolloutRolledBack {
		t.Fatalf("Abort notified %v, want one rollout.rolled_back", count(events))
	}
	if ro := events[0].Rollout; ro == nil || ro.Decision != "aborted" || ro.PromotionID != r.PromotionID {
		t.Errorf("the abort's rollout record = %+v, want promotion %s, aborted", ro, r.PromotionID)
	}
}
