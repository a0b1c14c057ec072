package storetest

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

func rollout(id, model, v, env string, n int) promote.Rollout {
	return promote.Rollout{PromotionID: id, Model: model, Version: v, Environment: env, Stable: "1.0", Strategy: "canary",
		State: promote.RolloutRunning, Weight: 0.1, StartedAt: at(n), StepStartedAt: at(n), UpdatedAt: at(n)}
}

func testRollouts(t *testing.T, s promote.Store) {
	seed(t, s)
	first := rollout("p1", "fraud", "1.1", "prod", 1)
	second := rollout("p2", "churn", "1.0", "prod", 2)
	update(t, s, func(tx promote.Tx) error {
		for _, p := range []promote.Promotion{promotion("p1", "fraud", "1.1", "prod", 1), promotion("p2", "churn", "1.0", "prod", 2)} {
			if err := tx.CreatePromotion(p); err != nil {
				return err
			}
		}
		if err := tx.SaveRollout(first); err != nil {
			return err
		}
		return tx.SaveRollout(second)
	})
	// A later state of the first: the next step, with a verdict.
	first.Step, first.Weight, first.StepStartedAt, first.UpdatedAt = 1, 0.5, at(3), at(3)
	first.Verdict = json.RawMessage(`{"decision":"continue"}`)
	second.State, second.Reason, second.Weight, second.UpdatedAt = promote.RolloutRolledBack, "error rate 5%", 0, at(4)
	update(t, s, func(tx promote.Tx) error {
		if err := tx.SaveRollout(first); err != nil {
			return err
		}
		return tx.SaveRollout(second)
	})
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Rollout("p1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("Rollout(p1) mismatch (-want +got):\n%s", diff)
		}
		all, err := tx.Rollouts(promote.RolloutFilter{})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Rollout{second, first}, all); diff != "" {
			t.Errorf("Rollouts() mismatch, want newest first (-want +got):\n%s", diff)
		}
		active, err := tx.Rollouts(promote.RolloutFilter{ActiveOnly: true})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Rollout{first}, active); diff != "" {
			t.Errorf("Rollouts(active) mismatch (-want +got):\n%s", diff)
		}
		churn, err := tx.Rollouts(promote.RolloutFilter{Model: "churn", Environment: "prod"})
		if err != nil {
			return err
		}
		if len(churn) != 1 || churn[0].PromotionID != "p2" {
			t.Errorf("Rollouts(churn, prod) = %+v, want p2's", churn)
		}
		if _, err := tx.Rollout("p9"); promote.ErrorCode(err) != promote.NotFound {
			t.Errorf("Rollout(p9) = %v, want NotFound", err)
		}
		return nil
	})
	// Bad input is refused and changes nothing.
	bad := []struct {
		name string
		edit func(*promote.Rollout)
		code promote.Code
	}{
		{"unknown promotion", func(r *promote.Rollout) { r.PromotionID = "p9" }, promote.NotFound},
		{"NaN weight", func(r *promote.Rollout) { r.Weight = math.NaN() }, promote.Invalid},
		{"weight above 1", func(r *promote.Rollout) { r.Weight = 1.5 }, promote.Invalid},
		{"negative step", func(r *promote.Rollout) { r.Step = -1 }, promote.Invalid},
		{"unknown state", func(r *promote.Rollout) { r.State = "exploded" }, promote.Invalid},
	}
	for _, b := range bad {
		r := first
		r.Weight = 0.25
		b.edit(&r)
		err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.SaveRollout(r) })
		if promote.ErrorCode(err) != b.code {
			t.Errorf("SaveRollout with %s = %v, want code %s", b.name, err, b.code)
		}
	}
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Rollout("p1")
		if err == nil && got.Weight != first.Weight {
			t.Errorf("a refused SaveRollout changed the weight to %v", got.Weight)
		}
		return err
	})
}

func testRolloutSamples(t *testing.T, s promote.Store) {
	seed(t, s)
	update(t, s, func(tx promote.Tx) error {
		if err := tx.CreatePromotion(promotion("p1", "fraud", "1.1", "prod", 1)); err != nil {
			return err
		}
		return tx.SaveRollout(rollout("p1", "fraud", "1.1", "prod", 1))
	})
	var want []promote.RolloutSample
	for i := range 5 {
		want = append(want, promote.RolloutSample{PromotionID: "p1", At: at(2 + i), Step: i / 2, Weight: 0.1 * float64(1+i/2),
			Stable:   promote.TrackSample{Requests: float64(900 + i), Errors: float64(i), LatencyP95: 0.120},
			Canary:   promote.TrackSample{Requests: float64(100 + i), Errors: 2 * float64(i), LatencyP95: 0.150 + float64(i)/100},
			Decision: "continue"})
	}
	want[2].Event = "step"
	want[4].Decision, want[4].Event = "fail", "rolled_back"
	update(t, s, func(tx promote.Tx) error {
		for _, smp := range want {
			if err := tx.AppendRolloutSample(smp); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx promote.Tx) error {
		all, err := tx.RolloutSamples("p1", 0)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, all); diff != "" {
			t.Errorf("RolloutSamples(p1, 0) mismatch, want oldest first (-want +got):\n%s", diff)
		}
		last, err := tx.RolloutSamples("p1", 2)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want[3:], last); diff != "" {
			t.Errorf("RolloutSamples(p1, 2) mismatch, want the newest two, oldest first (-want +got):\n%s", diff)
		}
		none, err := tx.RolloutSamples("p9", 0)
		if err != nil || len(none) != 0 {
			t.Errorf("RolloutSamples(p9) = %v, %v; want none", none, err)
		}
		return nil
	})
	bad := []struct {
		name string
		edit func(*promote.RolloutSample)
		code promote.Code
	}{
		{"unknown rollout", func(r *promote.RolloutSample) { r.PromotionID = "p9" }, promote.NotFound},
		{"NaN canary errors", func(r *promote.RolloutSample) { r.Canary.Errors = math.NaN() }, promote.Invalid},
		{"infinite latency", func(r *promote.RolloutSample) { r.Stable.LatencyP95 = math.Inf(1) }, promote.Invalid},
		{"negative requests", func(r *promote.RolloutSample) { r.Canary.Requests = -1 }, promote.Invalid},
		{"weight above 1", func(r *promote.RolloutSample) { r.Weight = 2 }, promote.Invalid},
		{"unknown event", func(r *promote.RolloutSample) { r.Event = "exploded" }, promote.Invalid},
	}
	for _, b := range bad {
		smp := want[0]
		b.edit(&smp)
		err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.AppendRolloutSample(smp) })
		if promote.ErrorCode(err) != b.code {
			t.Errorf("AppendRolloutSample with %s = %v, want code %s", b.name, err, b.code)
		}
	}
	view(t, s, func(tx promote.Tx) error {
		all, err := tx.RolloutSamples("p1", 0)
		if err == nil && len(all) != len(want) {
			t.Errorf("refused samples were stored: %d samples, want %d", len(all), len(want))
		}
		return err
	})
}
