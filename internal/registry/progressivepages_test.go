package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// TestRolloutControllerListsEveryPage checks, on each store, that the
// rollout controller's two reads, PendingRollouts and ActiveRollouts, list
// every row past the store's pages: 1,001 committed promotions waiting for
// their rollout and 1,001 running rollouts, one per model, each listed
// once. (They read at most 1,000 before, so that the rest were never
// started or judged.)
func TestRolloutControllerListsEveryPage(t *testing.T) {
	const n = 1001
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	digest := "sha256:" + strings.Repeat("ab", 32)
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			store := open(t, dir)
			setup := registrytest.Load(t, "apiVersion: promote.dev/v1\nkind: Pipeline\nenvironments:\n  - name: staging\n    policy: policy.yaml\n    rollout: canary\n  - name: prod\n    from: staging\n    policy: policy.yaml\n    rollout: canary\n",
				"gate:\n  require: [tests_passed]\nrollout:\n  steps: [10, 100]\n")
			svc := setup.New(t, store, registry.Config{ArtifactRoots: []string{dir}, GitOps: true, Rollouts: true})
			err := store.Update(ctx, func(tx promote.Tx) error {
				for i := range n {
					m := fmt.Sprintf("model-%04d", i)
					if _, err := tx.CreateModel(promote.Model{Name: m, CreatedBy: "ci", CreatedAt: at}); err != nil {
						return err
					}
					if err := tx.CreateVersion(promote.Version{Model: m, Version: "1", ArtifactURI: "file:///model.bin", Digest: digest,
						Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: at}); err != nil {
						return err
					}
					for _, p := range []promote.Promotion{
						{ID: fmt.Sprintf("pr_s%015d", i), Environment: "staging", State: promote.StateCommitted},
						{ID: fmt.Sprintf("pr_p%015d", i), Environment: "prod", State: promote.StateRollingOut},
					} {
						p.Model, p.Version, p.Digest, p.RequestedBy, p.RequestedAt, p.UpdatedAt = m, "1", digest, "ci", at, at
						if _, err := tx.CreatePromotion(p); err != nil {
							return err
						}
					}
					if err := tx.SaveRollout(promote.Rollout{PromotionID: fmt.Sprintf("pr_p%015d", i), Model: m, Version: "1", Environment: "prod", Stable: "0",
						Strategy: "canary", State: promote.RolloutRunning, Weight: 0.1, StartedAt: at, StepStartedAt: at, UpdatedAt: at}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			pending, err := svc.PendingRollouts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			active, err := svc.ActiveRollouts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what string
				ids  []string
			}{
				{"pending rollouts", ids(pending, func(p promote.Promotion) string { return p.ID })},
				{"active rollouts", ids(active, func(r promote.Rollout) string { return r.PromotionID })},
			} {
				seen := map[string]bool{}
				for _, id := range c.ids {
					seen[id] = true
				}
				if len(c.ids) != n || len(seen) != n {
					t.Errorf("%s: %d listed, %d different, want %d", c.what, len(c.ids), len(seen), n)
				}
			}
			if len(pending) == n && pending[0].ID != "pr_s000000000000000" {
				t.Errorf("pending rollouts begin with %s, want the oldest, pr_s000000000000000", pending[0].ID)
			}
		})
	}
}

func ids[T any](rows []T, id func(T) string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}
