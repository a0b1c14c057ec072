package httpapi

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// TestListPages: GET /promotions, /rollouts and /holds answer a page at a
// time, 100 by default, newest first, as a plain array; a client that
// follows the cursor (the last row's seq, or a hold's id, as before, or
// the first's as after) walks 1,050 of each through the real client, with
// a filter, none left out or repeated.
func TestListPages(t *testing.T) {
	f := newFixture(t)
	const total = 1050
	c := f.model("pager")
	f.model("other")
	ctx := t.Context()
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	var promotions, rollouts, holds []string // oldest first
	envs := []string{"dev", "staging", "prod"}
	if err := f.store.Update(ctx, func(tx promote.Tx) error {
		for i := range total {
			model := "pager"
			if i%5 == 4 {
				model = "other" // left out by the filters below
			}
			env := envs[i%len(envs)]
			p := promote.Promotion{ID: fmt.Sprintf("pr_%04d", i), Model: model, Version: "1", Environment: env, Digest: digest1,
				State: promote.StateSucceeded, RequestedBy: "alice", RequestedAt: t0, UpdatedAt: t0}
			if _, err := tx.CreatePromotion(p); err != nil {
				return err
			}
			r := promote.Rollout{PromotionID: p.ID, Model: model, Version: "1", Environment: env, Stable: "0", Strategy: "canary",
				State: promote.RolloutSucceeded, Weight: 1, StartedAt: t0, StepStartedAt: t0, UpdatedAt: t0}
			if err := tx.SaveRollout(r); err != nil {
				return err
			}
			h, err := tx.AddHold(promote.Hold{Model: model, Version: "1", Environment: env, Reason: p.ID, SetBy: "bob", SetAt: t0})
			if err != nil {
				return err
			}
			if model == "pager" {
				promotions, rollouts, holds = append(promotions, p.ID), append(rollouts, r.PromotionID), append(holds, h.Reason)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][]string{promotions, rollouts, holds} {
		slices.Reverse(l) // newest first
	}

	first, err := c.Promotions(ctx, promote.PromotionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != promote.DefaultLimit || first[0].ID != fmt.Sprintf("pr_%04d", total-1) || first[0].Seq == 0 {
		t.Fatalf("Promotions() = %d promotions, the first %s at seq %d; want the default page of %d, the newest first, with its seq",
			len(first), first[0].ID, first[0].Seq, promote.DefaultLimit)
	}

	const size = 250
	promotionID := func(p promote.Promotion) string { return p.ID }
	walk(t, "promotions", promotions, promotionID, func(p promote.Promotion) int64 { return p.Seq },
		func(before, after int64) ([]promote.Promotion, error) {
			return c.Promotions(ctx, promote.PromotionFilter{Model: "pager", States: []promote.State{promote.StateSucceeded}, BeforeSeq: before, AfterSeq: after, Limit: size})
		})
	walk(t, "rollouts", rollouts, func(r promote.Rollout) string { return r.PromotionID }, func(r promote.Rollout) int64 { return r.Seq },
		func(before, after int64) ([]promote.Rollout, error) {
			return c.Rollouts(ctx, promote.RolloutFilter{Model: "pager", BeforeSeq: before, AfterSeq: after, Limit: size})
		})
	walk(t, "holds", holds, func(h promote.Hold) string { return h.Reason }, func(h promote.Hold) int64 { return h.ID },
		func(before, after int64) ([]promote.Hold, error) {
			return c.Holds(ctx, promote.HoldFilter{Model: "pager", BeforeSeq: before, AfterSeq: after, Limit: size})
		})
}

// walk pages through a listing with list, back from the newest and forth
// from the oldest, 250 at a time, and wants the keys of want (newest
// first) once each.
func walk[T any](t *testing.T, what string, want []string, key func(T) string, seq func(T) int64, list func(before, after int64) ([]T, error)) {
	t.Helper()
	keys := func(items []T) []string {
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = key(it)
		}
		return out
	}
	back := storetest.Walk(t, what, 0, 250, seq, list)
	if diff := cmp.Diff(want, keys(back)); diff != "" {
		t.Errorf("%s paged back 250 at a time (-want +got):\n%s", what, diff)
	}
	if len(back) == 0 {
		return
	}
	forth := storetest.Walk(t, what, seq(back[len(back)-1]), 250, seq, list)
	if diff := cmp.Diff(want[:len(want)-1], keys(forth)); diff != "" {
		t.Errorf("%s paged forth 250 at a time from the oldest (-want +got):\n%s", what, diff)
	}
}

// TestModelPages: GET /models answers a page at a time, 100 by default,
// newest (the last registered) first, as versions do; a client that
// follows the cursor walks 1,050 models, none left out or repeated, and a
// model's registration answers with its seq.
func TestModelPages(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c := f.client(f.alice)
	const total = 1050
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	before, err := c.Models(ctx, promote.ModelFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var want []string // newest first
	if err := f.store.Update(ctx, func(tx promote.Tx) error {
		for i := range total {
			m := promote.Model{Name: fmt.Sprintf("m%04d", total-i), CreatedBy: "alice", CreatedAt: t0}
			if _, err := tx.CreateModel(m); err != nil {
				return err
			}
			want = append([]string{m.Name}, want...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateModel(ctx, "newest", "")
	if err != nil {
		t.Fatal(err)
	}
	want = append([]string{"newest"}, want...)
	for _, m := range before {
		want = append(want, m.Name)
	}
	first, err := c.Models(ctx, promote.ModelFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != promote.DefaultLimit || first[0].Name != "newest" || first[0].Seq != created.Seq || created.Seq == 0 {
		t.Fatalf("Models() = %d models, the first %s at seq %d; want the default page of %d, the newest first, at seq %d as its registration said",
			len(first), first[0].Name, first[0].Seq, promote.DefaultLimit, created.Seq)
	}
	walk(t, "models", want, func(m promote.Model) string { return m.Name }, func(m promote.Model) int64 { return m.Seq },
		func(before, after int64) ([]promote.Model, error) {
			return c.Models(ctx, promote.ModelFilter{BeforeSeq: before, AfterSeq: after, Limit: 250})
		})
}

// TestRolloutsByVersion: GET /rollouts filters by a version of a model,
// as /promotions and /holds do (the client sends it): the rollouts of
// version 1 alone, not those of version 2 nor another model's version 1.
func TestRolloutsByVersion(t *testing.T) {
	f := newFixture(t)
	c := f.model("churn")
	f.model("other")
	ctx := t.Context()
	if _, err := c.RegisterVersion(ctx, registry.RegisterRequest{Model: "churn", Version: "2", ArtifactURI: "s3://models/churn/2/model.bin",
		Digest: digest1, Size: 1024, Metrics: []byte(metricsGood)}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	if err := f.store.Update(ctx, func(tx promote.Tx) error {
		for i, mv := range [][2]string{{"churn", "1"}, {"churn", "2"}, {"other", "1"}, {"churn", "1"}} {
			p := promote.Promotion{ID: fmt.Sprintf("pr_%04d", i), Model: mv[0], Version: mv[1], Environment: "dev", Digest: digest1,
				State: promote.StateSucceeded, RequestedBy: "alice", RequestedAt: t0, UpdatedAt: t0}
			if _, err := tx.CreatePromotion(p); err != nil {
				return err
			}
			if err := tx.SaveRollout(promote.Rollout{PromotionID: p.ID, Model: p.Model, Version: p.Version, Environment: "dev", Stable: "0",
				Strategy: "canary", State: promote.RolloutSucceeded, Weight: 1, StartedAt: t0, StepStartedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rs, err := c.Rollouts(ctx, promote.RolloutFilter{Model: "churn", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.PromotionID)
	}
	if diff := cmp.Diff([]string{"pr_0003", "pr_0000"}, got); diff != "" {
		t.Errorf("Rollouts(churn 1) (-want +got):\n%s", diff)
	}
}
