package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// An operation on a rollout may name the revision it was decided on: on a
// rollout that has moved on since it is refused with 409, naming the
// current revision, and changes nothing; on the current one, or without a
// revision, it is carried out. The controller is the real one, over a real
// splitter, with the demo's canary waiting for a person at 10%.
func TestRolloutOpRevision(t *testing.T) {
	ctx := t.Context()
	env, st := webuitest.NewSteering(t)
	srv := httptest.NewServer(NewServer(env.Service, Options{Rollouts: st.Controller}).Handler())
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, env.Tokens["bob"], srv.Client())
	stored := func() promote.Rollout {
		t.Helper()
		r, err := env.Service.Rollout(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	unchanged := func(what string, before promote.Rollout) {
		t.Helper()
		if r := stored(); r.Revision != before.Revision || r.State != before.State || r.Weight != before.Weight || st.Splitter.Weights() != before.Weight {
			t.Errorf("after %s the rollout is %s at %g, revision %d, splitter %g; want it unchanged: %s at %g, revision %d",
				what, r.State, r.Weight, r.Revision, st.Splitter.Weights(), before.State, before.Weight, before.Revision)
		}
	}

	waiting := stored()
	// A body as a script sends it, and an old revision in it.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+Prefix+"/rollouts/"+st.ID+"/pause", strings.NewReader(fmt.Sprintf(`{"revision": %d}`, waiting.Revision-1)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.Tokens["bob"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("POST pause with revision %d of a rollout at %d = %d, want 409", waiting.Revision-1, waiting.Revision, resp.StatusCode)
	}
	unchanged("a pause decided on an old revision", waiting)

	_, err = c.RolloutOp(ctx, st.ID, "promote", RolloutOpRequest{Reason: "all good", Revision: waiting.Revision - 1})
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), fmt.Sprintf("now %d", waiting.Revision)) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("RolloutOp(promote, old revision) = %v, want a Conflict naming the current revision %d", err, waiting.Revision)
	}
	unchanged("a promotion decided on an old revision", waiting)

	if _, err := c.RolloutOp(ctx, st.ID, "abort", RolloutOpRequest{Revision: -1}); promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "revision -1") {
		t.Errorf("RolloutOp(abort, revision -1) = %v, want Invalid naming the revision", err)
	}
	unchanged("an abort with a negative revision", waiting)

	r, err := c.RolloutOp(ctx, st.ID, "resume", RolloutOpRequest{Reason: "dashboards fine", Revision: waiting.Revision})
	if err != nil || r.Weight != 0.5 || r.Revision <= waiting.Revision || st.Splitter.Weights() != 0.5 {
		t.Fatalf("RolloutOp(resume, revision %d) = weight %g revision %d, %v; splitter %g; want it on at 50%%", waiting.Revision, r.Weight, r.Revision, err, st.Splitter.Weights())
	}
	// The page that offered to go on at 10% is old now: its abort is refused.
	if _, err := c.RolloutOp(ctx, st.ID, "abort", RolloutOpRequest{Revision: waiting.Revision}); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("RolloutOp(abort, revision %d) of a rollout at %d = %v, want a Conflict", waiting.Revision, r.Revision, err)
	}
	unchanged("an abort decided before the rollout went on", r)

	// Without a revision the operation applies to the rollout as it is.
	if r, err := c.RolloutOp(ctx, st.ID, "pause", RolloutOpRequest{Reason: "a closer look"}); err != nil || r.State != promote.RolloutPaused {
		t.Errorf("RolloutOp(pause) without a revision = %s, %v; want paused", r.State, err)
	}
}
