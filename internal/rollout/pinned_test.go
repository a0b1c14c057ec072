package rollout

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
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
