package registry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// Every promotion state the gate decides (gated, blocked,
// awaiting_approval, approved) names the policy that decided it, by file
// and by the sha256 of its bytes, so that the audit log shows which
// version of the policy a decision was made under; the states that follow
// (succeeded) and the other events do not, and the chain still verifies.
func TestGateStatesNameTheirPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if p.State != promote.StateAwaitingApproval {
		t.Fatalf("1 → prod = %s (%s), want awaiting_approval", p.State, p.Reason)
	}
	if _, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatal(err)
	}
	blocked := f.request(t, submitter, "1", "dev") // already live there
	f.register(t, "2", goodMetrics)
	skipped := f.request(t, submitter, "2", "prod") // not through staging
	if skipped.State != promote.StateBlocked {
		t.Fatalf("2 → prod = %s, want blocked", skipped.State)
	}

	sum := sha256.Sum256([]byte(policyYAML))
	want := &promote.AuditPolicy{File: "policy.yaml", Digest: "sha256:" + hex.EncodeToString(sum[:])}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	decided := []string{string(promote.StateGated), string(promote.StateBlocked), string(promote.StateAwaitingApproval), string(promote.StateApproved)}
	seen := map[string]bool{}
	for _, e := range events {
		gateState := e.Action == promote.ActionPromotionState && slices.Contains(decided, e.Decision)
		if gateState && e.Environment != "" {
			seen[e.Decision] = true
			if diff := cmp.Diff(want, e.Policy); diff != "" {
				t.Errorf("event %d (%s %s in %s): policy differs (-want +got):\n%s", e.Seq, e.Action, e.Decision, e.Environment, diff)
			}
		} else if e.Policy != nil {
			t.Errorf("event %d (%s %s) names policy %+v, want none: the gate did not decide it", e.Seq, e.Action, e.Decision, e.Policy)
		}
	}
	for _, d := range decided {
		if !seen[d] {
			t.Errorf("no promotion.state %s event in the log (blocked promotion: %s)", d, blocked.State)
		}
	}
	f.verify(t)
}

// Every promotion state the gate decides records the digests of the
// metrics it judged: the candidate's, and the baseline's when there is
// one. Each is the digest of the version's metrics file, parsed as the
// server parses it, however the file is laid out; on the approval path
// too, which judges again.
func TestGateStatesNameTheMetricsJudged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	files := map[string]string{
		// MLflow's layout, spaced, with metadata the gate does not read
		// and groups from which it derives fairness metrics.
		"1": "{\n  \"metadata\": {\"run\": \"r1\"},\n  \"metrics\": {\"latency_p95_ms\": 140, \"accuracy\": 0.91},\n" +
			"  \"checks\": {\"tests_passed\": true},\n  \"groups\": {\"b\": {\"selection_rate\": 0.5}, \"a\": {\"selection_rate\": 0.4}}\n}\n",
		"2": `{"accuracy":0.92,"latency_p95_ms":1.4e2,"checks":{"tests_passed":true}}`,
		"3": `{"accuracy": 0.5, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`,
	}
	digest := map[string]string{}
	for _, v := range []string{"1", "2", "3"} {
		ev, err := policy.ParseEvidence("metrics.json", []byte(files[v]))
		if err != nil {
			t.Fatal(err)
		}
		if digest[v], err = ev.Digest(); err != nil {
			t.Fatal(err)
		}
	}
	if digest["1"] == digest["2"] || digest["2"] == digest["3"] {
		t.Fatalf("different metrics, one digest: %v", digest)
	}

	f.register(t, "1", files["1"])
	p := f.toProd(t, "1")
	if _, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatal(err)
	}
	f.register(t, "2", files["2"])
	f.request(t, submitter, "2", "dev") // against 1
	f.register(t, "3", files["3"])
	if v := f.request(t, submitter, "3", "dev"); v.State != promote.StateBlocked { // against 2
		t.Fatalf("3 → dev = %s, want blocked", v.State)
	}

	type judged struct{ env, version, decision string }
	want := map[judged]*promote.AuditMetrics{
		{"dev", "1", "gated"}:              {Candidate: digest["1"]},
		{"dev", "1", "approved"}:           {Candidate: digest["1"]},
		{"staging", "1", "gated"}:          {Candidate: digest["1"]},
		{"staging", "1", "approved"}:       {Candidate: digest["1"]},
		{"prod", "1", "gated"}:             {Candidate: digest["1"]},
		{"prod", "1", "awaiting_approval"}: {Candidate: digest["1"]},
		{"prod", "1", "approved"}:          {Candidate: digest["1"]},
		{"dev", "2", "gated"}:              {Candidate: digest["2"], Baseline: digest["1"]},
		{"dev", "2", "approved"}:           {Candidate: digest["2"], Baseline: digest["1"]},
		{"dev", "3", "blocked"}:            {Candidate: digest["3"], Baseline: digest["2"]},
	}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[judged]*promote.AuditMetrics{}
	for _, e := range events {
		if e.Metrics == nil {
			continue
		}
		if e.Action != promote.ActionPromotionState {
			t.Errorf("event %d (%s %s) names metrics %+v, want none: the gate did not decide it", e.Seq, e.Action, e.Decision, e.Metrics)
		}
		got[judged{e.Environment, e.Version, e.Decision}] = e.Metrics
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the metrics judged, by promotion state (-want +got):\n%s", diff)
	}
	f.verify(t)
}
