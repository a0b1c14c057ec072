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
	testRolloutAnalysis(t, s, first)
}

// testRolloutAnalysis checks the analysis state of stored rollouts:
// absent at first, written by SaveRollout and by SaveRolloutAnalysis
// alone, read by Rollout and Rollouts, cleared by nil.
func testRolloutAnalysis(t *testing.T, s promote.Store, first promote.Rollout) {
	t.Helper()
	read := func(id string) promote.Rollout {
		var r promote.Rollout
		view(t, s, func(tx promote.Tx) (err error) {
			r, err = tx.Rollout(id)
			return err
		})
		return r
	}
	if got := read("p1").AnalysisState; got != nil {
		t.Errorf("Rollout(p1).AnalysisState = %s before any was saved, want nil", got)
	}
	state := json.RawMessage(`{"version":1,"error_rate":{"log_lr":[0.5,-1.25],"log_e":0.1}}`)
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutAnalysis("p1", state) })
	got := read("p1")
	if string(got.AnalysisState) != string(state) {
		t.Errorf("Rollout(p1).AnalysisState = %s, want %s", got.AnalysisState, state)
	}
	// Only the state changed.
	got.AnalysisState = nil
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("SaveRolloutAnalysis changed more than the state (-want +got):\n%s", diff)
	}
	view(t, s, func(tx promote.Tx) error {
		all, err := tx.Rollouts(promote.RolloutFilter{ActiveOnly: true})
		if err == nil && (len(all) != 1 || string(all[0].AnalysisState) != string(state)) {
			t.Errorf("Rollouts(active) = %+v, want p1 with its analysis state", all)
		}
		return err
	})
	// SaveRollout writes the state it carries.
	next := first
	next.Step, next.UpdatedAt = 2, at(5)
	next.AnalysisState = json.RawMessage(`{"version":1,"step":2}`)
	update(t, s, func(tx promote.Tx) error { return tx.SaveRollout(next) })
	if diff := cmp.Diff(next, read("p1")); diff != "" {
		t.Errorf("Rollout(p1) after SaveRollout with a state (-want +got):\n%s", diff)
	}
	if got := read("p2").AnalysisState; got != nil {
		t.Errorf("the state of p1 leaked into p2: %s", got)
	}
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutAnalysis("p1", nil) })
	if got := read("p1").AnalysisState; got != nil {
		t.Errorf("Rollout(p1).AnalysisState = %s after clearing it, want nil", got)
	}
	// An unknown rollout, a promotion without one, and bad JSON are
	// refused.
	update(t, s, func(tx promote.Tx) error {
		return tx.CreatePromotion(promotion("p3", "fraud", "1.1", "staging", 6))
	})
	for _, b := range []struct {
		id    string
		state json.RawMessage
		code  promote.Code
	}{{"p9", state, promote.NotFound}, {"p3", state, promote.NotFound}, {"p1", json.RawMessage(`{"version":`), promote.Invalid}} {
		err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.SaveRolloutAnalysis(b.id, b.state) })
		if promote.ErrorCode(err) != b.code {
			t.Errorf("SaveRolloutAnalysis(%s, %s) = %v, want code %s", b.id, b.state, err, b.code)
		}
	}
	if got := read("p1").AnalysisState; got != nil {
		t.Errorf("a refused SaveRolloutAnalysis stored %s", got)
	}
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
