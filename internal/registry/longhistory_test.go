package registry_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// liveReads is a store that counts the live history rows its
// transactions return (LiveChanges), to show what a decision reads.
type liveReads struct {
	promote.Store
	rows int
}

func (s *liveReads) Update(ctx context.Context, fn func(promote.Tx) error) error {
	return s.Store.Update(ctx, func(tx promote.Tx) error { return fn(liveReadsTx{tx, s}) })
}

func (s *liveReads) View(ctx context.Context, fn func(promote.Tx) error) error {
	return s.Store.View(ctx, func(tx promote.Tx) error { return fn(liveReadsTx{tx, s}) })
}

type liveReadsTx struct {
	promote.Tx
	s *liveReads
}

func (tx liveReadsTx) LiveChanges(f promote.LiveFilter) ([]promote.LiveChange, error) {
	l, err := tx.Tx.LiveChanges(f)
	tx.s.rows += len(l)
	return l, err
}

// longHistory is how many changes the long history test stores in an
// environment: a few years of a model promoted and rolled back several
// times a day.
const longHistory = 3000

// maxLiveReads is the most live history rows a decision may read on a
// long history: a few, whatever the history's length.
const maxLiveReads = 10

// TestDecisionsOnALongHistory checks, on each store, that the decisions
// that look back at a model's live history in an environment (the
// upstream rule, a rollback's target, the alias restored when a change
// cannot be committed) decide as they did on a history of thousands of
// changes, each reading a few of its rows rather than all of them.
func TestDecisionsOnALongHistory(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testDecisionsOnALongHistory(t, open) })
	}
}

func testDecisionsOnALongHistory(t *testing.T, open opener) {
	ctx := context.Background()
	dir := t.TempDir()
	inner := open(t, dir)
	store := &liveReads{Store: inner}
	setup := registrytest.Load(t, `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: dev
    policy: policy.yaml
  - name: staging
    from: dev
    policy: policy.yaml
`, "gate:\n  require: [tests_passed]\n")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	svc := setup.New(t, store, registry.Config{ArtifactRoots: []string{dir}, GitOps: true,
		Now: func() time.Time { return now }})
	const model = "credit-risk"
	if _, err := svc.CreateModel(ctx, submitter, model, ""); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 5; v++ {
		path := filepath.Join(dir, fmt.Sprintf("model-%d.bin", v))
		if err := os.WriteFile(path, []byte(path), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: model, Version: fmt.Sprint(v), ArtifactURI: "file://" + path,
			Metrics: []byte(`{"accuracy": 0.9, "checks": {"tests_passed": true}}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// seed appends changes to the alias in env, each a second after the
	// one before, and records the commit of those committed.
	at := now.Add(-24 * time.Hour)
	seed := func(changes ...promote.Live) {
		t.Helper()
		if err := inner.Update(ctx, func(tx promote.Tx) error {
			for _, l := range changes {
				at = at.Add(time.Second)
				l.Model, l.SetBy, l.SetAt = model, "seed", at
				if l.Reason == "" {
					l.Reason = "promoted"
				}
				if err := tx.SetLive(l); err != nil {
					return err
				}
				if l.Commit != "" {
					if err := tx.SetLiveCommit(model, l.Environment, l.PromotionID, l.Commit); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// cycle is n changes in env by versions in turn, made by promotions
	// prefix-0, prefix-1 and so on, each committed but those of the
	// versions never.
	cycle := func(env, prefix string, n int, versions []string, never ...string) []promote.Live {
		out := make([]promote.Live, n)
		for i := range out {
			v := versions[i%len(versions)]
			id := fmt.Sprintf("%s-%d", prefix, i)
			out[i] = promote.Live{Environment: env, Version: v, PromotionID: id, Commit: "c-" + id}
			if slices.Contains(never, v) {
				out[i].Commit = ""
			}
		}
		return out
	}

	// Dev: 1 on the branch, then 5 promoted and delivered, rolled back
	// to 1, and thousands of changes between 2, 3 and 4 since; 4 never
	// reached the branch, and 2 is live.
	seed(promote.Live{Environment: "dev", Version: "1", PromotionID: "dev-first", Commit: "c-first"})
	now = at.Add(time.Second)
	p5, err := svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: model, Version: "5", Environment: "dev"})
	if err != nil || p5.State != promote.StateApproved {
		t.Fatalf("5 → dev = %s, %v; want approved, waiting for its commit", p5.State, err)
	}
	ds, err := svc.Deployments(ctx, model, "dev")
	if err != nil || len(ds) != 1 {
		t.Fatalf("deployments = %+v, %v", ds, err)
	}
	if err := svc.Delivered(ctx, ds[0], "c-5"); err != nil {
		t.Fatal(err)
	}
	at = now
	seed(promote.Live{Environment: "dev", Version: "1", PromotionID: "dev-rb5", RollbackOf: "5", Reason: "errors up", Commit: "c-rb5"})
	seed(cycle("dev", "dev", longHistory, []string{"3", "4", "2"}, "4")...)
	now = at.Add(time.Hour)

	// The upstream rule finds 5's rollback in dev, thousands of changes
	// back, after its success there.
	store.rows = 0
	got, err := svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: model, Version: "5", Environment: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != promote.StateBlocked || !strings.Contains(got.Reason, "version 5 was rolled back in dev") || !strings.Contains(got.Reason, "errors up") {
		t.Errorf("5 → staging = %s (%s), want blocked by its rollback in dev", got.State, got.Reason)
	}
	if store.rows > maxLiveReads {
		t.Errorf("5 → staging read %d live history rows of %d, want at most %d", store.rows, longHistory+3, maxLiveReads)
	}

	// A rollback from 2 passes over 4, never on the branch, and 3, on
	// hold, to 1, below thousands of changes.
	if _, err := svc.SetHold(ctx, lead, model, "3", "dev", "bad batch"); err != nil {
		t.Fatal(err)
	}
	store.rows = 0
	rb, err := svc.Rollback(ctx, lead, registry.RollbackRequest{Model: model, Environment: "dev", Reason: "latency up"})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Live.Version != "1" || rb.RolledBack != "2" {
		t.Errorf("rollback in dev = from %s to %s, want from 2 to 1", rb.RolledBack, rb.Live.Version)
	}
	if store.rows > maxLiveReads {
		t.Errorf("the rollback read %d live history rows of %d, want at most %d", store.rows, longHistory+3, maxLiveReads)
	}

	// Staging: thousands of committed changes, the newest of them 3's;
	// then one of the change that cannot be committed, committed long
	// ago (an alias restored to it), and a hundred that never reached the
	// branch; it is live again, not committed.
	seed(cycle("staging", "staging", longHistory, []string{"2", "3"})...)
	seed(promote.Live{Environment: "staging", Version: "2", PromotionID: "stuck", Commit: "c-stuck"})
	seed(cycle("staging", "pending", 100, []string{"4", "2"}, "4", "2")...)
	seed(promote.Live{Environment: "staging", Version: "4", PromotionID: "stuck"})
	now = at.Add(time.Hour)
	store.rows = 0
	if err := svc.Undeliverable(ctx, promote.Deployment{Live: promote.Live{Model: model, Environment: "staging", Version: "4", PromotionID: "stuck"}},
		"the overlay does not render"); err != nil {
		t.Fatal(err)
	}
	st, err := svc.Status(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	last := fmt.Sprintf("staging-%d", longHistory-1)
	if l := st.Live["staging"]; l.Version != "3" || l.PromotionID != last || l.Commit != "c-"+last || !strings.HasPrefix(l.Reason, "restored: ") {
		t.Errorf("staging after its change could not be committed = %+v, want 3 restored, as %s committed it", l, last)
	}
	if store.rows > maxLiveReads {
		t.Errorf("restoring the alias read %d live history rows, want at most %d", store.rows, maxLiveReads)
	}
}
