package registry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	bench "github.com/promote-ml/promote/bench/registry"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// historyService returns the service over a fresh SQLite store with the
// benchmark's pipeline and one model whose alias in dev has changed n
// times and more: n changes between v1 and v2 stored directly, as years
// of promotions and rollbacks leave them, then v1 and v2 promoted there
// through the service.
func historyService(b *testing.B, n int) *registry.Service {
	b.Helper()
	ctx := context.Background()
	pl, gates, err := bench.Pipeline()
	if err != nil {
		b.Fatal(err)
	}
	store := openSQLite(b)
	svc, err := registry.New(store, registry.Config{Pipeline: pl, Gates: gates})
	if err != nil {
		b.Fatal(err)
	}
	model := bench.ModelName(0)
	if _, err := svc.CreateModel(ctx, ci, model, ""); err != nil {
		b.Fatal(err)
	}
	for j := 1; j <= 2; j++ {
		v := bench.VersionName(j)
		if _, err := svc.RegisterVersion(ctx, ci, registry.RegisterRequest{Model: model, Version: v,
			ArtifactURI: bench.ArtifactURI(model, v), Digest: bench.Digest(model, v), Metrics: bench.Metrics(j)}); err != nil {
			b.Fatal(err)
		}
	}
	at := time.Now().Add(-time.Duration(n+1) * time.Minute)
	if err := store.Update(ctx, func(tx promote.Tx) error {
		for i := range n {
			at = at.Add(time.Minute)
			l := promote.Live{Model: model, Environment: "dev", Version: bench.VersionName(i%2 + 1),
				PromotionID: fmt.Sprintf("seed-%d", i), SetBy: bench.Submitter, SetAt: at, Reason: "promoted"}
			if err := tx.SetLive(l); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	request(b, svc, model, "v1", "dev", promote.StateSucceeded)
	request(b, svc, model, "v2", "dev", promote.StateSucceeded)
	return svc
}

// BenchmarkLongLiveHistory measures, on SQLite, the two decisions that
// look back at a model's live history in an environment, on an alias
// that has changed 100 or 5,000 times in dev: "upstream" a dry run of
// the model's v2 to staging, whose upstream rule looks for a rollback of
// v2 in dev since its success there; "rollback" a rollback in dev, which
// goes back from v2 to the version before it (v1), then v2's hold
// cleared and v2 promoted again (each round adds two changes).
func BenchmarkLongLiveHistory(b *testing.B) {
	ctx := context.Background()
	model := bench.ModelName(0)
	lead := promote.Principal{Name: "lena", Role: promote.RoleApprover}
	for _, n := range []int{100, 5000} {
		b.Run(fmt.Sprintf("changes=%d/upstream", n), func(b *testing.B) {
			svc := historyService(b, n)
			for b.Loop() {
				v, err := svc.RequestPromotion(ctx, ci, registry.PromoteRequest{Model: model, Version: "v2", Environment: "staging", DryRun: true})
				if err != nil || v.State != promote.StateApproved {
					b.Fatalf("dry run of v2 to staging = %s (%s), %v; want approved", v.State, v.Reason, err)
				}
			}
		})
		b.Run(fmt.Sprintf("changes=%d/rollback", n), func(b *testing.B) {
			svc := historyService(b, n)
			for b.Loop() {
				rb, err := svc.Rollback(ctx, lead, registry.RollbackRequest{Model: model, Environment: "dev", Reason: "errors up"})
				if err != nil || rb.Live.Version != "v1" {
					b.Fatalf("rollback in dev = %s, %v; want v1", rb.Live.Version, err)
				}
				if _, err := svc.ClearHold(ctx, lead, rb.Hold.ID, "fixed"); err != nil {
					b.Fatal(err)
				}
				request(b, svc, model, "v2", "dev", promote.StateSucceeded)
			}
		})
	}
}
