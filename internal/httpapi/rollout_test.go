package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// opsRecorder stands for the rollout controller: the HTTP layer's part is
// to authenticate, decode and route; the controller's own behaviour is
// tested in package rollout against real traffic.
type opsRecorder struct{ calls []string }

func (o *opsRecorder) op(verb string, who promote.Principal, id, reason string) (promote.Rollout, error) {
	o.calls = append(o.calls, verb+" "+who.Name+" "+id+" "+reason)
	if id == "missing" {
		return promote.Rollout{}, promote.Errorf(promote.NotFound, "rollout of promotion %q not found", id)
	}
	return promote.Rollout{PromotionID: id, State: promote.RolloutPaused}, nil
}

func (o *opsRecorder) Pause(_ context.Context, who promote.Principal, id, reason string) (promote.Rollout, error) {
	return o.op("pause", who, id, reason)
}
func (o *opsRecorder) Resume(_ context.Context, who promote.Principal, id string) (promote.Rollout, error) {
	return o.op("resume", who, id, "")
}
func (o *opsRecorder) Abort(_ context.Context, who promote.Principal, id, reason string) (promote.Rollout, error) {
	return o.op("abort", who, id, reason)
}
func (o *opsRecorder) PromoteNow(_ context.Context, who promote.Principal, id, reason string) (promote.Rollout, error) {
	return o.op("promote", who, id, reason)
}

func TestRolloutRoutes(t *testing.T) {
	ops := &opsRecorder{}
	f := newFixture(t, func(o *Options) { o.Rollouts = ops })
	c := f.client(f.bob)
	list, err := c.Rollouts(t.Context(), promote.RolloutFilter{ActiveOnly: true})
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("Rollouts() = %#v, %v; want an empty list", list, err)
	}
	if _, err := c.Rollout(t.Context(), "pr_none"); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("Rollout(pr_none) = %v, want NotFound", err)
	}
	for _, verb := range []string{"pause", "resume", "abort", "promote"} {
		r, err := c.RolloutOp(t.Context(), "pr_1", verb, "because")
		if err != nil || r.PromotionID != "pr_1" {
			t.Errorf("RolloutOp(%s) = %+v, %v", verb, r, err)
		}
	}
	want := "pause bob pr_1 because|resume bob pr_1 |abort bob pr_1 because|promote bob pr_1 because"
	if got := strings.Join(ops.calls, "|"); got != want {
		t.Errorf("controller calls:\n%s\nwant:\n%s", got, want)
	}
	if _, err := c.RolloutOp(t.Context(), "missing", "pause", ""); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("RolloutOp(missing) = %v, want NotFound", err)
	}
	if _, err := c.RolloutOp(t.Context(), "pr_1", "explode", ""); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("RolloutOp(explode) = %v, want Invalid", err)
	}
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/api/v1/rollouts?flavour=x", http.StatusBadRequest},
		{"/api/v1/rollouts?limit=-1", http.StatusBadRequest},
		{"/api/v1/rollouts/pr_1?x=1", http.StatusBadRequest},
	} {
		if r := f.do("GET", tt.path, f.bob, "", nil); r.status != tt.status {
			t.Errorf("GET %s = %d, want %d", tt.path, r.status, tt.status)
		}
	}
	if r := f.do("POST", "/api/v1/rollouts/pr_1/pause", "", "application/json", strings.NewReader(`{}`)); r.status != http.StatusUnauthorized {
		t.Errorf("POST pause without a token = %d, want 401", r.status)
	}
	if r := f.do("POST", "/api/v1/rollouts/pr_1/pause", f.bob, "application/json", strings.NewReader(`{"reason": 1}`)); r.status != http.StatusBadRequest {
		t.Errorf("POST pause with a number for reason = %d, want 400", r.status)
	}
}

func TestRolloutOpsWithoutController(t *testing.T) {
	f := newFixture(t)
	_, err := f.client(f.bob).RolloutOp(t.Context(), "pr_1", "pause", "")
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "no rollout controller") {
		t.Errorf("RolloutOp on a server without a controller = %v, want a Conflict saying so", err)
	}
}
