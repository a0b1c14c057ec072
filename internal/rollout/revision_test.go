package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// interleaved is a registry on which another writer changes a rollout
// between a controller's read of it and its save: before the next
// RecordRollout, FinishRollout or Rollback that saves a rollout, once.
type interleaved struct {
	*registry.Service
	mu     sync.Mutex
	before func()
	ran    int
}

// interleavedController is a controller of w on an interleaved registry,
// which its operations meet another writer's change through.
func (w *world) interleavedController(t *testing.T) (*Controller, *interleaved) {
	t.Helper()
	reg := &interleaved{Service: w.svc}
	cfg := w.ctl.cfg
	cfg.Registry = reg
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

func (i *interleaved) interleave(f func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.before = f
}

func (i *interleaved) hook() {
	i.mu.Lock()
	f := i.before
	i.before = nil
	if f != nil {
		i.ran++
	}
	i.mu.Unlock()
	if f != nil {
		f()
	}
}

func (i *interleaved) times() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.ran
}

func (i *interleaved) RecordRollout(ctx context.Context, who promote.Principal, r promote.Rollout, what string) (promote.Rollout, error) {
	i.hook()
	return i.Service.RecordRollout(ctx, who, r, what)
}

func (i *interleaved) Rollback(ctx context.Context, who promote.Principal, req registry.RollbackRequest) (registry.RollbackView, error) {
	if req.Rollout != nil {
		i.hook()
	}
	return i.Service.Rollback(ctx, who, req)
}

func (i *interleaved) FinishRollout(ctx context.Context, who promote.Principal, r promote.Rollout, reason string) (promote.Rollout, error) {
	i.hook()
	return i.Service.FinishRollout(ctx, who, r, reason)
}

// A pause made through another replica between the leader's read of a
// rollout and its save of the next step survives: the leader's save is
// refused, it drops its view of the rollout, logs that once, and the next
// ticks find the rollout paused and leave it at its step.
func TestPauseBetweenTheLeadersReadAndSaveSurvives(t *testing.T) {
	w := newWorld(t)
	follower, _ := newFollower(t, w)
	reg := &interleaved{Service: w.svc}
	var logs strings.Builder
	cfg := w.ctl.cfg
	cfg.Registry = reg
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	leader, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := w.pump(t, leader, 1)
	if before.State != promote.RolloutRunning || before.Step != 0 || before.Weight != 0.1 {
		t.Fatalf("rollout after the first tick = %s at step %d, weight %g; want running at step 1, 0.1", before.State, before.Step+1, before.Weight)
	}
	var pauseErr error
	reg.interleave(func() {
		_, pauseErr = follower.Pause(t.Context(), lena, before.PromotionID, "through another replica")
	})
	// Enough requests for step 1's 100 canary requests: the leader
	// records step 2, and the pause lands just before.
	r := w.pumpUntil(t, leader, 60, func(r promote.Rollout) bool { return r.State == promote.RolloutPaused })
	if reg.times() != 1 || pauseErr != nil {
		t.Fatalf("the pause between the leader's read and save ran %d times, error %v; want once, no error", reg.times(), pauseErr)
	}
	if r.State != promote.RolloutPaused || r.Step != 0 || r.Weight != 0.1 || !strings.Contains(r.Reason, "paused by lena") {
		t.Fatalf("rollout after the leader's step met the pause = %s at step %d, weight %g (%q); want paused by lena at step 1, 0.1",
			r.State, r.Step+1, r.Weight, r.Reason)
	}
	if r.Revision != before.Revision+1 {
		t.Errorf("revision %d after the pause, want %d: only the pause was stored", r.Revision, before.Revision+1)
	}
	if got := w.splitter.Weights(); got != 0.1 {
		t.Errorf("the leader's splitter after its step was refused = %g, want the stored 0.1", got)
	}
	// The next ticks see the pause and do not advance.
	r = w.pump(t, leader, 30)
	if r.State != promote.RolloutPaused || r.Step != 0 || w.splitter.Weights() != 0.1 {
		t.Fatalf("rollout after 30 more ticks = %s at step %d, splitter weight %g; want paused at step 1, 0.1", r.State, r.Step+1, w.splitter.Weights())
	}
	if n := strings.Count(logs.String(), "changed by another writer"); n != 1 {
		t.Errorf("the refused save was logged %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a refused save is no failure, but was logged as one:\n%s", logs.String())
	}
}

// A person's operation whose save meets a change made since its read (the
// leader's step) reads the rollout again and applies to what is stored,
// once; what no longer applies is a Conflict.
func TestOperationRetriesOnceAfterAChange(t *testing.T) {
	bob := promote.Principal{Name: "bob", Role: promote.RoleApprover}
	tests := []struct {
		name string
		// change is the other writer's, between the operation's read
		// and its save.
		change  func(t *testing.T, w *world, r promote.Rollout) error
		op      func(ctx context.Context, c *Controller, id string) (promote.Rollout, error)
		want    promote.RolloutState
		step    int
		reason  string
		errCode promote.Code
	}{
		{
			name: "pause after a step",
			change: func(t *testing.T, w *world, r promote.Rollout) error {
				r.Step, r.Weight = 1, 0.5
				_, err := w.svc.RecordRollout(t.Context(), registry.RolloutActor, r, stepWords(r))
				return err
			},
			op: func(ctx context.Context, c *Controller, id string) (promote.Rollout, error) {
				return c.Pause(ctx, lena, id, "")
			},
			want:   promote.RolloutPaused,
			step:   1,
			reason: "paused by lena",
		},
		{
			name: "abort after a step",
			change: func(t *testing.T, w *world, r promote.Rollout) error {
				r.Step, r.Weight = 1, 0.5
				_, err := w.svc.RecordRollout(t.Context(), registry.RolloutActor, r, stepWords(r))
				return err
			},
			op: func(ctx context.Context, c *Controller, id string) (promote.Rollout, error) {
				return c.Abort(ctx, lena, id, "")
			},
			want:   promote.RolloutRolledBack,
			step:   1,
			reason: "aborted by lena",
		},
		{
			name: "pause after another pause",
			change: func(t *testing.T, w *world, r promote.Rollout) error {
				r.State, r.Reason = promote.RolloutPaused, "paused by bob"
				_, err := w.svc.RecordRollout(t.Context(), bob, r, "paused")
				return err
			},
			op: func(ctx context.Context, c *Controller, id string) (promote.Rollout, error) {
				return c.Pause(ctx, lena, id, "")
			},
			want:    promote.RolloutPaused,
			reason:  "paused by bob",
			errCode: promote.Conflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			r := w.pump(t, w.ctl, 1)
			other, reg := w.interleavedController(t)
			var changeErr error
			reg.interleave(func() { changeErr = tt.change(t, w, r) })
			_, err := tt.op(t.Context(), other, r.PromotionID)
			if changeErr != nil {
				t.Fatalf("the other writer's change: %v", changeErr)
			}
			if promote.ErrorCode(err) != tt.errCode {
				t.Fatalf("%s = %v, want code %q", tt.name, err, tt.errCode)
			}
			got := w.rollout(t)
			if got.State != tt.want || got.Step != tt.step || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("stored rollout = %s at step %d (%q), want %s at step %d (%q)", got.State, got.Step+1, got.Reason, tt.want, tt.step+1, tt.reason)
			}
		})
	}
}

// The state of an analysis is stored with a sample only while the rollout
// is at the revision the analysis judged, and storing it leaves the
// revision as it is.
func TestProgressFromAStaleRevisionStoresNothing(t *testing.T) {
	w := newWorld(t)
	follower, _ := newFollower(t, w)
	r := w.pump(t, w.ctl, 1)
	if _, err := follower.Pause(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatal(err)
	}
	paused := w.rollout(t)
	samples := len(w.samples(t, r.PromotionID))
	state := json.RawMessage(`{"version":1,"stale":true}`)
	err := w.svc.RecordRolloutProgress(t.Context(), promote.RolloutSample{PromotionID: r.PromotionID}, r.Revision, promote.RolloutProgress{AnalysisState: state})
	if !errors.As(err, new(*promote.RolloutChangedError)) {
		t.Errorf("RecordRolloutProgress from revision %d, stored %d = %v, want a RolloutChangedError", r.Revision, paused.Revision, err)
	}
	got := w.rollout(t)
	if string(got.AnalysisState) == string(state) || len(w.samples(t, r.PromotionID)) != samples {
		t.Errorf("a stale RecordRolloutProgress stored the state %s or a sample", got.AnalysisState)
	}
	if err := w.svc.RecordRolloutProgress(t.Context(), promote.RolloutSample{PromotionID: r.PromotionID}, paused.Revision, promote.RolloutProgress{AnalysisState: state}); err != nil {
		t.Fatalf("RecordRolloutProgress at the stored revision: %v", err)
	}
	got = w.rollout(t)
	if string(got.AnalysisState) != string(state) || got.Revision != paused.Revision {
		t.Errorf("after RecordRolloutProgress: state %s at revision %d, want %s at %d", got.AnalysisState, got.Revision, state, paused.Revision)
	}
}
