package rollout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// mirrorTraffic is the world's traffic layer, recording the share of
// requests it was last told to mirror.
type mirrorTraffic struct {
	*world
	share float64
}

func (m *mirrorTraffic) SetShadow(ctx context.Context, model, env string, share float64) error {
	m.share = share
	return m.world.SetShadow(ctx, model, env, share)
}

// mirroringShadow starts an hour-long shadow rollout on a traffic layer
// that records the mirrored share, and runs it until it mirrors.
func mirroringShadow(t *testing.T) (*world, *Controller, *mirrorTraffic, promote.Rollout) {
	t.Helper()
	w := newWorldWith(t, shadowPipeline, strings.Replace(shadowPolicy, "duration: 1s", "duration: 1h", 1))
	tr := &mirrorTraffic{world: w}
	cfg := w.ctl.cfg
	cfg.Traffic = tr
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := w.pump(t, ctl, 2)
	if r.State != promote.RolloutRunning || tr.share != 0.5 {
		t.Fatalf("shadow rollout = %s mirroring %g, want running mirroring 0.5", r.State, tr.share)
	}
	return w, ctl, tr, r
}

// A shadow rollout that is paused stops mirroring; once resumed, through
// this replica or another, the controller mirrors again at the next tick,
// as it gives a resumed canary its step's weight: without the mirror the
// candidate serves nothing to judge, and the rollout ends up paused for
// want of data.
func TestResumedShadowMirrorsAgain(t *testing.T) {
	w, ctl, tr, r := mirroringShadow(t)
	if _, err := ctl.Pause(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if r = w.pump(t, ctl, 1); r.State != promote.RolloutPaused || tr.share != 0 {
		t.Fatalf("paused shadow rollout = %s mirroring %g, want paused mirroring nothing", r.State, tr.share)
	}
	if _, err := ctl.Resume(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if r = w.pump(t, ctl, 2); r.State != promote.RolloutRunning || tr.share != 0.5 {
		t.Errorf("resumed shadow rollout = %s mirroring %g, want running mirroring 0.5 again", r.State, tr.share)
	}
}

// A shadow's duration counts again from its resumption, as a canary
// step's minimum time does: a shadow paused soon after it began and
// resumed after its duration had passed mirrors for its whole duration
// again before it succeeds, rather than at its first judged tick.
func TestResumedShadowMirrorsForItsDuration(t *testing.T) {
	w := newWorldWith(t, shadowPipeline, strings.Replace(shadowPolicy, "duration: 1s", "duration: 1h", 1))
	var later time.Duration // how far the controller's clock is ahead
	cfg := w.ctl.cfg
	cfg.Now = func() time.Time { return time.Now().Add(later) }
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := w.pump(t, ctl, 2)
	if _, err := ctl.Pause(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	later = 2 * time.Hour
	if _, err := ctl.Resume(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if r = w.pump(t, ctl, 5); r.State != promote.RolloutRunning {
		t.Fatalf("shadow of 1h resumed 2h after it began = %s (%s) five ticks later, want running", r.State, r.Reason)
	}
	later += time.Hour + time.Second
	if r = w.pump(t, ctl, 5); r.State != promote.RolloutSucceeded {
		t.Errorf("shadow of 1h an hour after its resumption = %s (%s), want succeeded", r.State, r.Reason)
	}
}

// A shadow that answers otherwise than stable (another status where
// stable answers, or, with compareBodies, another body) is judged on
// those answers as on errors, and rolled back without having served a
// user; not given all the traffic because it answers no 5xx.
func TestShadowThatAnswersOtherwiseIsRolledBack(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		shadow http.HandlerFunc // nil: the world's version 2, whose body differs from 1's
	}{
		{"another body", strings.Replace(shadowPolicy, "percent: 50", "percent: 50\n    compareBodies: true", 1), nil},
		{"another status", shadowPolicy, func(rw http.ResponseWriter, _ *http.Request) {
			http.Error(rw, "no such route", http.StatusNotFound)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorldWith(t, shadowPipeline, tt.policy)
			if tt.shadow != nil {
				srv := httptest.NewServer(tt.shadow)
				t.Cleanup(srv.Close)
				w.v2, _ = url.Parse(srv.URL)
			}
			r := w.drive(t)
			if r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0 || !strings.Contains(r.Reason, "answers that differ") {
				t.Errorf("shadow answering otherwise = %s, splitter weight %g (%s), want rolled back with no traffic", r.State, w.splitter.Weights(), r.Reason)
			}
		})
	}
}
