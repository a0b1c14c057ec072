package rollout

import (
	"context"
	"strings"
	"testing"

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

// A shadow rollout that is paused stops mirroring; once resumed, through
// this replica or another, the controller mirrors again at the next tick,
// as it gives a resumed canary its step's weight: without the mirror the
// candidate serves nothing to judge, and the rollout ends up paused for
// want of data.
func TestResumedShadowMirrorsAgain(t *testing.T) {
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
