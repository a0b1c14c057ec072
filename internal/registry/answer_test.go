package registry_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// TestCreateAnswersAsRead checks, on each store, that what the service
// answers a creation with (a version registered, a promotion requested in
// each of the states a request leaves it in, a hold set) is what a later
// read of it returns: its seq (the cursor of the listings) included,
// which the store assigns.
func TestCreateAnswersAsRead(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixtureOn(t, open)

			v := f.register(t, "1", goodMetrics)
			got, err := f.svc.Version(ctx, "credit-risk", "1")
			answeredAsRead(t, "RegisterVersion", v.Seq, v, got, err)

			f.register(t, "2", `{"accuracy": 0.5, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`)
			for _, c := range []struct {
				version, env string
				state        promote.State
			}{
				{"1", "dev", promote.StateSucceeded},
				{"2", "dev", promote.StateBlocked},
			} {
				answer := f.request(t, submitter, c.version, c.env)
				if answer.State != c.state {
					t.Fatalf("RequestPromotion(%s → %s) = %s (%s), want %s", c.version, c.env, answer.State, answer.Reason, c.state)
				}
				read, err := f.svc.Promotion(ctx, answer.ID)
				answeredAsRead(t, fmt.Sprintf("RequestPromotion(%s → %s)", c.version, c.env), answer.Seq, answer, read, err)
			}
			f.advance(2 * time.Hour)
			answer := f.request(t, submitter, "1", "staging")
			f.advance(25 * time.Hour)
			answer = f.request(t, submitter, "1", "prod")
			if answer.State != promote.StateAwaitingApproval {
				t.Fatalf("RequestPromotion(1 → prod) = %s (%s), want awaiting approval", answer.State, answer.Reason)
			}
			read, err := f.svc.Promotion(ctx, answer.ID)
			answeredAsRead(t, "RequestPromotion(1 → prod)", answer.Seq, answer, read, err)

			h, err := f.svc.SetHold(ctx, lead, "credit-risk", "2", "staging", "pending a fairness review")
			if err != nil {
				t.Fatal(err)
			}
			holds, err := f.svc.Holds(ctx, promote.HoldFilter{Model: "credit-risk", Version: "2"})
			if err != nil || len(holds) != 1 {
				t.Fatalf("Holds(credit-risk 2) = %+v, %v; want the hold set", holds, err)
			}
			answeredAsRead(t, "SetHold", h.ID, h, holds[0], nil)
		})
	}
}

// answeredAsRead checks that what's answer, whose cursor is seq, is read
// back (read, readErr) as answered, the cursor the store assigned
// included.
func answeredAsRead[T any](t *testing.T, what string, seq int64, answer, read T, readErr error) {
	t.Helper()
	if readErr != nil {
		t.Fatalf("read back after %s: %v", what, readErr)
	}
	if seq == 0 {
		t.Errorf("%s answered seq 0, want the seq the store assigned", what)
	}
	if diff := cmp.Diff(read, answer); diff != "" {
		t.Errorf("%s's answer differs from a later read (-read +answer):\n%s", what, diff)
	}
}

// TestStartRolloutAnswersAsRead checks, on each store, that StartRollout
// answers with the rollout as a later read returns it, its seq included.
func TestStartRolloutAnswersAsRead(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			store := open(t, dir)
			setup := registrytest.Load(t, "apiVersion: promote.dev/v1\nkind: Pipeline\nenvironments:\n  - name: prod\n    policy: policy.yaml\n    rollout: canary\n",
				"gate:\n  require: [tests_passed]\nrollout:\n  steps: [10, 100]\n")
			svc := setup.New(t, store, registry.Config{ArtifactRoots: []string{dir}, GitOps: true, Rollouts: true})
			if _, err := svc.CreateModel(ctx, submitter, "credit-risk", ""); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "model-1.bin")
			if err := os.WriteFile(path, []byte("weights 1"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: "credit-risk", Version: "1", ArtifactURI: "file://" + path,
				Metrics: []byte(`{"accuracy": 0.9, "checks": {"tests_passed": true}}`)}); err != nil {
				t.Fatal(err)
			}
			p, err := svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "prod"})
			if err != nil || p.State != promote.StateApproved {
				t.Fatalf("1 → prod = %s, %v; want approved, waiting for its commit", p.State, err)
			}
			ds, err := svc.Deployments(ctx, "credit-risk", "prod")
			if err != nil || len(ds) != 1 {
				t.Fatalf("deployments = %+v, %v", ds, err)
			}
			if err := svc.Delivered(ctx, ds[0], "c0ffee"); err != nil {
				t.Fatal(err)
			}
			answer, err := svc.StartRollout(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			read, err := svc.Rollout(ctx, p.ID)
			answeredAsRead(t, "StartRollout", answer.Seq, answer, read, err)
		})
	}
}
