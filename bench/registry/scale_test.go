package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	bench "github.com/promote-ml/promote/bench/registry"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/promote"
)

// scaleService returns the scale benchmark's service over a SQLite store:
// the one in $SCALE_DATA (a data directory cmd/seedscale filled; a copy,
// since opening it may migrate it), or else a small one seeded here.
func scaleService(tb testing.TB) *registry.Service {
	tb.Helper()
	ctx := context.Background()
	dir := filepath.Join(tb.TempDir(), "data")
	seeded := os.Getenv("SCALE_DATA")
	if seeded != "" {
		if err := os.CopyFS(dir, os.DirFS(seeded)); err != nil {
			tb.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "serve.lock"))
	}
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	svc, err := bench.ScaleService(store)
	if err != nil {
		tb.Fatal(err)
	}
	if seeded == "" {
		if err := bench.SeedScale(ctx, svc, bench.Scale{Models: 10, Versions: 12, Rolling: 3, Samples: 20, Workers: 1}, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return svc
}

// BenchmarkLeaderReads measures the store reads of the leader's
// controllers, on the scale benchmark's store: the rollout controller's
// tick (every second) reads the committed promotions that wait for it and
// the active rollouts; the GitOps reconciler's sweep (every 30 s) reads
// every live version's deployment. Each should cost what it returns, not
// what the store has held.
//
//	go test -run '^$' -bench LeaderReads ./bench/registry
//	SCALE_DATA=/tmp/scale/large go test -run '^$' -bench LeaderReads ./bench/registry
func BenchmarkLeaderReads(b *testing.B) {
	svc := scaleService(b)
	ctx := context.Background()
	b.Run("PendingRollouts", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.PendingRollouts(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ActiveRollouts", func(b *testing.B) {
		for b.Loop() {
			rs, err := svc.ActiveRollouts(ctx)
			if err != nil || len(rs) == 0 {
				b.Fatalf("ActiveRollouts = %d rollouts, %v; want some", len(rs), err)
			}
		}
	})
	b.Run("Deployments", func(b *testing.B) {
		for b.Loop() {
			ds, err := svc.Deployments(ctx, "", "")
			if err != nil || len(ds) == 0 {
				b.Fatalf("Deployments = %d, %v; want some", len(ds), err)
			}
		}
	})
	b.Run("ActivePromotions", func(b *testing.B) {
		for b.Loop() {
			ps, err := svc.Promotions(ctx, promote.PromotionFilter{ActiveOnly: true, Limit: 1000})
			if err != nil || len(ps) == 0 {
				b.Fatalf("Promotions(active) = %d, %v; want some", len(ps), err)
			}
		}
	})
}
