package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// A server killed between the push of a promotion's commit and its record
// restarts with the commit on the branch and the promotion still approved;
// its agent reads the branch before the reconciler records the commit.
// stableOf must name the baseline as the stable version then too, so that
// the agent makes the new version the candidate at weight 0, not the
// stable version outright (the rollout then found no canary to weigh and
// paused).
func TestStableOfAnApprovedPromotion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	setup := registrytest.Load(t, "apiVersion: promote.dev/v1\nkind: Pipeline\nenvironments:\n  - name: prod\n    policy: policy.yaml\n    rollout: canary\n",
		"gate:\n  require: [tests_passed]\nrollout:\n  steps: [10, 100]\n")
	svc := setup.New(t, registrytest.SQLite(t, dir), registry.Config{ArtifactRoots: []string{dir}, GitOps: true, Rollouts: true})
	ci := promote.Principal{Name: "ci", Role: promote.RoleSubmitter}
	lead := promote.Principal{Name: "lena", Role: promote.RoleApprover}
	if _, err := svc.CreateModel(ctx, ci, "credit-risk", ""); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1", "2"} {
		path := filepath.Join(dir, "model-"+v+".bin")
		if err := os.WriteFile(path, []byte("weights "+v), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RegisterVersion(ctx, ci, registry.RegisterRequest{Model: "credit-risk", Version: v, ArtifactURI: "file://" + path,
			Metrics: []byte(`{"accuracy": 0.9, "checks": {"tests_passed": true}}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// Version 1 is the first in prod: committed, rolled out to all the
	// traffic, succeeded.
	first, err := svc.RequestPromotion(ctx, ci, registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "prod"})
	if err != nil || first.State != promote.StateApproved {
		t.Fatalf("1 → prod = %s, %v; want approved, waiting for its commit", first.State, err)
	}
	deliver := func() {
		t.Helper()
		ds, err := svc.Deployments(ctx, "credit-risk", "prod")
		if err != nil || len(ds) != 1 {
			t.Fatalf("deployments = %+v, %v", ds, err)
		}
		if err := svc.Delivered(ctx, ds[0], "c0ffee"); err != nil {
			t.Fatal(err)
		}
	}
	deliver()
	r, err := svc.StartRollout(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Weight = 1
	if _, err := svc.FinishRollout(ctx, lead, r, "all traffic"); err != nil {
		t.Fatal(err)
	}

	second, err := svc.RequestPromotion(ctx, ci, registry.PromoteRequest{Model: "credit-risk", Version: "2", Environment: "prod"})
	if err != nil || second.State != promote.StateApproved || second.Baseline != "1" {
		t.Fatalf("2 → prod = %s against %q, %v; want approved against 1", second.State, second.Baseline, err)
	}
	// The branch pins 2; the registry has not recorded the commit.
	if pin, ok := stableOf(ctx, svc, "prod", "credit-risk", "2"); !ok || pin.Version != "1" {
		t.Errorf("stableOf(2) while its promotion is approved = %+v, %v; want version 1", pin, ok)
	}
	deliver()
	if pin, ok := stableOf(ctx, svc, "prod", "credit-risk", "2"); !ok || pin.Version != "1" {
		t.Errorf("stableOf(2) once committed = %+v, %v; want version 1", pin, ok)
	}
}
