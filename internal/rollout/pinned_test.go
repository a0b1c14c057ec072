package rollout

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// Requests that the policy's candidate header sends to the canary reach
// it, but are no part of the rollout's evidence: however many there are,
// and however badly the canary answers them, the step does not count them
// towards its minimum requests, nor the analysis against the canary.
func TestCandidateHeaderRequestsAreNotEvidence(t *testing.T) {
	pol := strings.Replace(testPolicy, "  analysis:\n", "  traffic:\n    candidateHeader: X-Promote-Candidate\n  analysis:\n", 1)
	w := newWorldWith(t, testPipeline, pol)
	cfg := w.ctl.cfg
	cfg.SampleEvery = time.Nanosecond // the verdict stored at every tick
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := w.pump(t, ctl, 2)
	if r.State != promote.RolloutRunning || r.Step != 0 || w.splitter.Weights() != 0.1 {
		t.Fatalf("rollout = %s at step %d, splitter %g; want running at step 1, 0.1", r.State, r.Step+1, w.splitter.Weights())
	}
	w.failV2.Store(1) // every answer of the canary is a 500
	client := w.front.Client()
	for range 300 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, w.front.URL+"/predict", nil)
		req.Header.Set("X-Promote-Candidate", "1")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Promote-Version") != "2" {
			t.Fatalf("a request with the candidate header was answered by version %q, want 2", resp.Header.Get("Promote-Version"))
		}
	}
	if err := ctl.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	r = w.rollout(t)
	if r.State != promote.RolloutRunning || r.Step != 0 || r.StepRequests >= 100 {
		t.Errorf("after 300 failed requests pinned to the canary the rollout is %s at step %d with %g step requests (%q); "+
			"want it running at step 1, the pinned requests counted nowhere", r.State, r.Step+1, r.StepRequests, r.Reason)
	}
	var v analysis.Verdict
	if err := json.Unmarshal(r.Verdict, &v); err != nil {
		t.Fatalf("verdict %s: %v", r.Verdict, err)
	}
	for _, tr := range v.Tests {
		if tr.Name == analysis.TestErrorRate && (tr.CanaryRequests > 50 || tr.CanaryEvents > 0) {
			t.Errorf("the error-rate test saw %g canary requests, %g failed; want only the weighted ones (at most 50), none failed", tr.CanaryRequests, tr.CanaryEvents)
		}
	}
}

// pinned sends a request with the candidate header through w's splitter
// and returns the version and the track that answered it.
func (w *world) pinned(t *testing.T) (version, track string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, w.front.URL+"/predict", nil)
	req.Header.Set("X-Promote-Candidate", "1")
	resp, err := w.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Promote-Version"), resp.Header.Get("Promote-Track")
}

// operation is a person's operation on w's rollout, by lena, failing the
// test when it fails.
func operation(op func(*Controller, context.Context, promote.Principal, string, string) (promote.Rollout, error)) func(*testing.T, *world, promote.Rollout) promote.Rollout {
	return func(t *testing.T, w *world, r promote.Rollout) promote.Rollout {
		t.Helper()
		r, err := op(w.ctl, t.Context(), lena, r.PromotionID, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// The candidate header reaches the candidate while its rollout may give
// it traffic: deployed at weight 0 before the first step, running,
// paused by a person at its step's weight. A rollout that failed, was
// aborted or rolled back, or that the controller paused with all traffic
// on stable, stops it at once, before the commit that follows removes the
// candidate (as Argo Rollouts and Flagger drop a header route on abort);
// a resumption opens it again.
func TestCandidateHeaderStopsWithTheRollout(t *testing.T) {
	pol := strings.Replace(testPolicy, "  analysis:\n", "  traffic:\n    candidateHeader: X-Promote-Candidate\n  analysis:\n", 1)
	tests := []struct {
		name string
		stop func(*testing.T, *world, promote.Rollout) promote.Rollout
		// reaches says whether the header still reaches the candidate
		// after stop.
		reaches bool
		// resume resumes the stopped rollout, after which the header
		// reaches the candidate again.
		resume bool
	}{
		{"rolled back by the analysis", func(t *testing.T, w *world, _ promote.Rollout) promote.Rollout {
			w.failV2.Store(10) // a regression
			return w.pump(t, w.ctl, 200)
		}, false, false},
		{"aborted", operation((*Controller).Abort), false, false},
		{"paused by the controller", func(t *testing.T, w *world, _ promote.Rollout) promote.Rollout {
			return w.pump(t, w.blind(t), 1)
		}, false, true},
		{"paused by a person", operation((*Controller).Pause), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorldWith(t, testPipeline, pol)
			if v, track := w.pinned(t); v != "2" || track != "canary" {
				t.Fatalf("before the first step the candidate header reached %s %s, want the canary, 2, at weight 0", track, v)
			}
			r := w.pump(t, w.ctl, 1)
			if v, _ := w.pinned(t); r.State != promote.RolloutRunning || v != "2" {
				t.Fatalf("rollout %s; the candidate header reached version %s, want 2", r.State, v)
			}
			r = tt.stop(t, w, r)
			want := map[bool]string{true: "2", false: "1"}[tt.reaches]
			if v, track := w.pinned(t); v != want {
				t.Errorf("rollout %s at weight %g (%q): the candidate header reached %s %s, want version %s", r.State, w.splitter.Weights(), r.Reason, track, v, want)
			}
			if !tt.resume {
				return
			}
			if _, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, ""); err != nil {
				t.Fatal(err)
			}
			if v, _ := w.pinned(t); v != "2" {
				t.Errorf("after a resumption the candidate header reached version %s, want 2", v)
			}
		})
	}
}

// A shadow rollout's candidate has no weight while it runs: the candidate
// header reaches it all the same, as the shadow; a pause stops the mirror
// and gives it nothing, the header's route included, until the
// resumption.
func TestCandidateHeaderInAShadowRollout(t *testing.T) {
	pol := strings.Replace(strings.Replace(shadowPolicy, "duration: 1s", "duration: 1h", 1),
		"  shadow:\n", "  traffic:\n    candidateHeader: X-Promote-Candidate\n  shadow:\n", 1)
	w := newWorldWith(t, shadowPipeline, pol)
	r := w.pump(t, w.ctl, 2)
	if v, track := w.pinned(t); r.State != promote.RolloutRunning || v != "2" || track != "shadow" {
		t.Fatalf("shadow rollout %s: the candidate header reached %s %s, want the shadow, 2", r.State, track, v)
	}
	if _, err := w.ctl.Pause(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatal(err)
	}
	if v, track := w.pinned(t); v != "1" {
		t.Errorf("paused shadow rollout: the candidate header reached %s %s, want stable's 1", track, v)
	}
	if _, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatal(err)
	}
	if v, track := w.pinned(t); v != "2" || track != "shadow" {
		t.Errorf("resumed shadow rollout: the candidate header reached %s %s, want the shadow, 2", track, v)
	}
}

// activeFails is the registry with the next reads of the active rollouts
// failing, as a store that goes away for a moment does.
type activeFails struct {
	*registry.Service
	fails atomic.Int64
}

func (a *activeFails) ActiveRollouts(ctx context.Context) ([]promote.Rollout, error) {
	if a.fails.Add(-1) >= 0 {
		return nil, errStoreDown
	}
	return a.Service.ActiveRollouts(ctx)
}

// A new rollout of a candidate whose earlier rollout closed the candidate
// header's route (aborted here; the version cleared of its hold and
// promoted again, the splitter keeping it as its canary) opens the route
// as it gives the candidate its first step's weight: not at its first
// judged tick, which a store that fails after the start puts off.
func TestCandidateHeaderReopensWithANewRollout(t *testing.T) {
	pol := strings.Replace(testPolicy, "  analysis:\n", "  traffic:\n    candidateHeader: X-Promote-Candidate\n  analysis:\n", 1)
	w := newWorldWith(t, testPipeline, pol)
	first := w.pump(t, w.ctl, 1)
	if _, err := w.ctl.Abort(t.Context(), lena, first.PromotionID, "wrong feature flags"); err != nil {
		t.Fatal(err)
	}
	if v, track := w.pinned(t); v != "1" {
		t.Fatalf("after the abort the candidate header reached %s %s, want stable's 1", track, v)
	}
	holds, err := w.svc.Holds(t.Context(), promote.HoldFilter{Model: "credit-risk", Environment: "prod"})
	if err != nil || len(holds) != 1 {
		t.Fatalf("holds after the abort = %+v, %v; want the one on version 2", holds, err)
	}
	if _, err := w.svc.ClearHold(t.Context(), lena, holds[0].ID, "flags fixed"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.rec.Reconcile(t.Context(), "credit-risk", "prod"); err != nil { // the rollback's commit
		t.Fatal(err)
	}
	view, err := w.svc.RequestPromotion(t.Context(), submitter, registry.PromoteRequest{Model: "credit-risk", Version: "2", Environment: "prod"})
	if err != nil || view.Promotion.State != promote.StateApproved {
		t.Fatalf("promote 2 again: %s, %v", view.Promotion.State, err)
	}
	if _, err := w.rec.Reconcile(t.Context(), "credit-risk", "prod"); err != nil {
		t.Fatal(err)
	}

	reg := &activeFails{Service: w.svc}
	cfg := w.ctl.cfg
	cfg.Registry = reg
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg.fails.Store(1)
	if err := ctl.Tick(t.Context()); err == nil || !strings.Contains(err.Error(), "read active rollouts") {
		t.Fatalf("Tick with the active rollouts unreadable = %v, want that error", err)
	}
	r := w.rollout(t)
	if r.PromotionID != view.Promotion.ID || r.State != promote.RolloutRunning || w.splitter.Weights() != 0.1 {
		t.Fatalf("newest rollout = %s %s, splitter %g; want %s running at 10%%", r.PromotionID, r.State, w.splitter.Weights(), view.Promotion.ID)
	}
	if v, track := w.pinned(t); v != "2" || track != "canary" {
		t.Errorf("the new rollout's candidate has 10%% of the traffic, and the candidate header reached %s %s; want the canary, 2", track, v)
	}
}
