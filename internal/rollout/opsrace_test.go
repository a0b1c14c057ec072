package rollout

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// endFirst is a registry on which another writer ends a rollout just
// before the controller's rollback of it is stored.
type endFirst struct {
	*registry.Service
	end func()
}

func (e *endFirst) Rollback(ctx context.Context, who promote.Principal, req registry.RollbackRequest) (registry.RollbackView, error) {
	if f := e.end; f != nil && req.Rollout != nil {
		e.end = nil
		f()
	}
	return e.Service.Rollback(ctx, who, req)
}

// A person who aborts or promotes a failing canary through another
// replica as the leader decides to roll it back wins, and the leader
// takes that as it takes any change by another writer: it gives the
// traffic what the stored end says, and logs no failed rollback and no
// pause that did not happen.
func TestEndThroughAnotherReplicaAtTheRollbackIsNoFailure(t *testing.T) {
	for _, tt := range []struct {
		op     string
		state  promote.RolloutState
		weight float64
	}{
		{"abort", promote.RolloutRolledBack, 0},
		{"promote", promote.RolloutSucceeded, 1},
	} {
		t.Run(tt.op, func(t *testing.T) {
			w := newWorld(t)
			follower, _ := newFollower(t, w)
			reg := &endFirst{Service: w.svc}
			var logs testtool.Buffer
			cfg := w.ctl.cfg
			cfg.Registry = reg
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			leader, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := w.pump(t, leader, 1)
			var opErr error
			reg.end = func() {
				if tt.op == "abort" {
					_, opErr = follower.Abort(t.Context(), lena, r.PromotionID, "wrong flags")
				} else {
					_, opErr = follower.PromoteNow(t.Context(), lena, r.PromotionID, "verified by hand")
				}
			}
			w.failV2.Store(3)
			r = w.pump(t, leader, 40)
			if reg.end != nil || opErr != nil {
				t.Fatalf("the %s before the leader's rollback did not run, or failed: %v", tt.op, opErr)
			}
			if r.State != tt.state || w.splitter.Weights() != tt.weight {
				t.Errorf("rollout = %s (%s), the leader's splitter %g; want %s, %g", r.State, r.Reason, w.splitter.Weights(), tt.state, tt.weight)
			}
			if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "pausing") {
				t.Errorf("the leader logged a failure for a rollout another writer ended:\n%s", logs.String())
			}
		})
	}
}
