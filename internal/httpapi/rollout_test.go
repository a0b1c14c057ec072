package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/rollout"
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

func (o *opsRecorder) Operate(_ context.Context, who promote.Principal, op rollout.Op) (promote.Rollout, error) {
	return o.op(op.Verb, who, op.ID, op.Reason)
}

// WithNext leaves r as it is: what a go does is the controller's, tested
// in package rollout and through the API over a real controller.
func (o *opsRecorder) WithNext(r promote.Rollout) promote.Rollout { return r }

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
		r, err := c.RolloutOp(t.Context(), "pr_1", verb, RolloutOpRequest{Reason: "because"})
		if err != nil || r.PromotionID != "pr_1" {
			t.Errorf("RolloutOp(%s) = %+v, %v", verb, r, err)
		}
	}
	want := "pause bob pr_1 because|resume bob pr_1 because|abort bob pr_1 because|promote bob pr_1 because"
	if got := strings.Join(ops.calls, "|"); got != want {
		t.Errorf("controller calls:\n%s\nwant:\n%s", got, want)
	}
	if _, err := c.RolloutOp(t.Context(), "missing", "pause", RolloutOpRequest{}); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("RolloutOp(missing) = %v, want NotFound", err)
	}
	if _, err := c.RolloutOp(t.Context(), "pr_1", "explode", RolloutOpRequest{}); promote.ErrorCode(err) != promote.Invalid {
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
	// An operation with a query parameter is refused before the controller
	// sees it: ignored, ?dry_run=true would abort for real.
	calls := len(ops.calls)
	if r := f.do("POST", "/api/v1/rollouts/pr_1/abort?dry_run=true", f.bob, "application/json", strings.NewReader(`{}`)); r.status != http.StatusBadRequest ||
		!strings.Contains(r.err.Error.Message, `unknown query parameter "dry_run"`) || len(ops.calls) != calls {
		t.Errorf("POST abort?dry_run=true = %d %s, controller calls %q; want 400 naming dry_run and no call", r.status, r.body, ops.calls[calls:])
	}
	if r := f.do("POST", "/api/v1/rollouts/pr_1/pause", "", "application/json", strings.NewReader(`{}`)); r.status != http.StatusUnauthorized {
		t.Errorf("POST pause without a token = %d, want 401", r.status)
	}
	calls = len(ops.calls)
	if r := f.do("POST", "/api/v1/rollouts/pr_1/pause", f.bob, "application/json", strings.NewReader(`null`)); r.status != http.StatusBadRequest || len(ops.calls) != calls {
		t.Errorf("POST pause with a body of null = %d %s, controller calls %q; want 400 and no call", r.status, r.body, ops.calls[calls:])
	}
	if r := f.do("POST", "/api/v1/rollouts/pr_1/pause", f.bob, "application/json", strings.NewReader(`{"reason": 1}`)); r.status != http.StatusBadRequest {
		t.Errorf("POST pause with a number for reason = %d, want 400", r.status)
	}
}

func TestRolloutOpsWithoutController(t *testing.T) {
	f := newFixture(t)
	_, err := f.client(f.bob).RolloutOp(t.Context(), "pr_1", "pause", RolloutOpRequest{})
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "no rollout controller") {
		t.Errorf("RolloutOp on a server without a controller = %v, want a Conflict saying so", err)
	}
	// A role that may not operate a rollout is refused for that, with or
	// without a controller: the answer does not depend on the set-up.
	for _, tok := range []struct{ name, secret string }{{"vera", f.vera}, {"alice", f.alice}} {
		for _, verb := range []string{"pause", "resume", "abort", "promote"} {
			_, err := f.client(tok.secret).RolloutOp(t.Context(), "pr_1", verb, RolloutOpRequest{})
			if promote.ErrorCode(err) != promote.Forbidden || !strings.Contains(err.Error(), "needs the approver role") {
				t.Errorf("RolloutOp(%s) as %s = %v, want Forbidden: needs the approver role", verb, tok.name, err)
			}
		}
	}
}

// runningRollout promotes churn 1 to dev and stores a running canary
// rollout of it at 10%, started at start.
func (f *fixture) runningRollout(t *testing.T) (p promote.Promotion, start time.Time) {
	t.Helper()
	f.model("churn")
	p = f.promoteTo("churn", "dev").Promotion
	start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := f.store.Update(t.Context(), func(tx promote.Tx) error {
		return tx.SaveRollout(promote.Rollout{PromotionID: p.ID, Model: "churn", Version: "1", Environment: "dev", Stable: "0",
			Strategy: "canary", State: promote.RolloutRunning, Weight: 0.1, StartedAt: start, StepStartedAt: start, UpdatedAt: start})
	}); err != nil {
		t.Fatal(err)
	}
	return p, start
}

// The schemas of a rollout's samples describe these Go types; the check
// is TestOpenAPISchemasMatchTypes.
func TestRolloutSamples(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	p, start := f.runningRollout(t)
	var want []promote.RolloutSample
	for i, event := range []string{"step", "", "", "step", "rolled_back"} {
		s := promote.RolloutSample{PromotionID: p.ID, At: start.Add(time.Duration(i) * 5 * time.Second), Step: i / 3, Weight: 0.1,
			Stable:   promote.TrackSample{Requests: float64(90 * i), Errors: float64(i), LatencyP95: 0.25},
			Canary:   promote.TrackSample{Requests: float64(10 * i), Errors: float64(2 * i), LatencyP95: 0.5 + float64(i)/10},
			Decision: "continue", Event: event}
		if event == "rolled_back" {
			s.Decision, s.Weight = "fail", 0
		}
		if err := f.svc.RecordRolloutProgress(ctx, s, 0, promote.RolloutProgress{}); err != nil {
			t.Fatalf("RecordRolloutProgress(%d): %v", i, err)
		}
		want = append(want, s)
	}

	c := f.client(f.vera) // reading samples needs the viewer role
	for _, tt := range []struct {
		limit int
		want  []promote.RolloutSample
	}{{0, want}, {1000, want}, {2, want[3:]}, {MaxSampleLimit, want}} {
		got, err := c.RolloutSamples(ctx, p.ID, tt.limit)
		if err != nil {
			t.Fatalf("RolloutSamples(limit %d): %v", tt.limit, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("RolloutSamples(limit %d) mismatch (-want +got):\n%s", tt.limit, diff)
		}
	}
	if got, err := c.RolloutSamples(ctx, "pr_none", 0); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("RolloutSamples(pr_none) = %v, %v; want NotFound", got, err)
	}

	path := "/api/v1/rollouts/" + p.ID + "/samples"
	for _, tt := range []struct {
		query  string
		token  string
		status int
		msg    string
	}{
		{"", "", http.StatusUnauthorized, "token"},
		{"?limit=0", f.vera, http.StatusBadRequest, "limit"},
		{"?limit=-3", f.vera, http.StatusBadRequest, "limit"},
		{"?limit=10001", f.vera, http.StatusBadRequest, "limit"},
		{"?limit=ten", f.vera, http.StatusBadRequest, "limit"},
		{"?limit=1&limit=2", f.vera, http.StatusBadRequest, "limit"},
		{"?since=0", f.vera, http.StatusBadRequest, "since"},
		{"?limit=1", f.vera, http.StatusOK, ""},
	} {
		r := f.do("GET", path+tt.query, tt.token, "", nil)
		if r.status != tt.status || !strings.Contains(r.err.Error.Message, tt.msg) {
			t.Errorf("GET %s = %d %q, want %d naming %q", path+tt.query, r.status, r.err.Error.Message, tt.status, tt.msg)
		}
		if r.status == http.StatusOK {
			var got []promote.RolloutSample
			if err := json.Unmarshal(r.body, &got); err != nil || len(got) != 1 || got[0].Event != "rolled_back" || got[0].Decision != "fail" {
				t.Errorf("GET %s = %s, %v; want the rolled_back sample alone", path+tt.query, r.body, err)
			}
		}
	}
}

// A rollout's step progress, stored by the controller with each sample, is
// served with the rollout: how many requests the step has counted, what it
// needs, and whether it waits for requests past its minimum time.
func TestRolloutStepProgressServed(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	p, start := f.runningRollout(t)
	needs := &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300, WaitingForRequests: true}
	if err := f.svc.RecordRolloutProgress(ctx, promote.RolloutSample{PromotionID: p.ID, At: start.Add(6 * time.Minute)}, 1,
		promote.RolloutProgress{AnalysisState: json.RawMessage(`{"version":1}`), Verdict: json.RawMessage(`{"decision":"continue"}`),
			StepRequests: 6, StepNeeds: needs}); err != nil {
		t.Fatal(err)
	}
	r := f.do("GET", "/api/v1/rollouts/"+p.ID, f.vera, "", nil)
	var got struct {
		StepRequests float64         `json:"step_requests"`
		StepNeeds    json.RawMessage `json:"step_needs"`
	}
	if err := json.Unmarshal(r.body, &got); r.status != http.StatusOK || err != nil {
		t.Fatalf("GET the rollout = %d %s, %v", r.status, r.body, err)
	}
	want := `{"steps":3,"min_requests":100,"min_duration":300,"waiting_for_requests":true}`
	if got.StepRequests != 6 || string(got.StepNeeds) != want {
		t.Errorf("GET the rollout: step_requests %g, step_needs %s; want 6 and %s", got.StepRequests, got.StepNeeds, want)
	}
	list, err := f.client(f.vera).Rollouts(ctx, promote.RolloutFilter{ActiveOnly: true})
	if err != nil || len(list) != 1 || list[0].StepRequests != 6 || list[0].StepNeeds == nil || *list[0].StepNeeds != *needs {
		t.Errorf("Rollouts(active) = %+v, %v; want the rollout with 6 step requests and %+v", list, err, *needs)
	}
}
