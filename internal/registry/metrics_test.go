package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// gateSeries reads reg's promote_gate_evaluations_total, by
// "env,verdict".
func gateSeries(t *testing.T, reg *telemetry.Registry) map[string]float64 {
	t.Helper()
	return testtool.Samples(t, reg, registry.MetricGateEvaluations)
}

// Every decision a gate records counts once, by environment and verdict:
// a rule that could not be judged is an error, a failed rule or a
// precondition a block, missing approvals a wait; a dry run and a request
// refused before anything is recorded count nothing.
func TestGateEvaluationsCounted(t *testing.T) {
	f := newFixture(t)
	reg := telemetry.NewRegistry()
	m, err := registry.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f.metrics = m
	f.serve(t, pipelineYAML, policyYAML)
	ctx := context.Background()

	want := map[string]float64{}
	for _, env := range []string{"dev", "staging", "prod"} {
		for _, v := range []string{"allowed", "awaiting_approval", "blocked", "error"} {
			want[fmt.Sprintf("env=%s,verdict=%s", env, v)] = 0
		}
	}
	if diff := cmp.Diff(want, gateSeries(t, reg)); diff != "" {
		t.Fatalf("before any request (-want +got):\n%s", diff)
	}

	f.register(t, "1", goodMetrics)
	if _, err := f.svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "dev", DryRun: true}); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	f.request(t, submitter, "1", "dev")
	want["env=dev,verdict=allowed"]++
	// No latency: the rule cannot be judged.
	f.register(t, "2", `{"accuracy": 0.95, "checks": {"tests_passed": true}}`)
	if got := f.request(t, submitter, "2", "dev"); got.State != promote.StateBlocked {
		t.Fatalf("2 → dev without latency = %s, want blocked", got.State)
	}
	want["env=dev,verdict=error"]++
	f.register(t, "3", `{"accuracy": 0.80, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`)
	f.request(t, submitter, "3", "dev")
	want["env=dev,verdict=blocked"]++
	// Not soaked in dev for the hour staging asks.
	f.request(t, submitter, "1", "staging")
	want["env=staging,verdict=blocked"]++
	if _, err := f.svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: "nope", Version: "1", Environment: "dev"}); promote.ErrorCode(err) != promote.NotFound {
		t.Fatalf("request of an unknown model = %v, want NotFound", err)
	}
	f.advance(time.Hour)
	f.request(t, submitter, "1", "staging")
	want["env=staging,verdict=allowed"]++
	f.advance(24 * time.Hour)
	p := f.request(t, submitter, "1", "prod")
	want["env=prod,verdict=awaiting_approval"]++
	if _, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: "sha256:" + strings.Repeat("0", 64)}); promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("approval of another digest = %v, want Conflict", err)
	}
	if got, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil || got.State != promote.StateSucceeded {
		t.Fatalf("Approve = %s, %v, want succeeded", got.State, err)
	}
	want["env=prod,verdict=allowed"]++
	if diff := cmp.Diff(want, gateSeries(t, reg)); diff != "" {
		t.Errorf("after the requests (-want +got):\n%s", diff)
	}
}

func TestNewMetricsNeedsARegistry(t *testing.T) {
	if _, err := registry.NewMetrics(nil); err == nil {
		t.Error("NewMetrics(nil) = nil error, want one")
	}
}
