package storetest

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
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
			if _, err := tx.CreatePromotion(p); err != nil {
				return err
			}
		}
		if err := tx.SaveRollout(first); err != nil {
			return err
		}
		return tx.SaveRollout(second)
	})
	// A new rollout is stored at revision 1, and each later state names
	// the revision it was made from.
	first.Revision, second.Revision = 1, 1
	// A later state of the first: the next step, with a verdict and the
	// step's progress.
	first.Step, first.Weight, first.StepStartedAt, first.UpdatedAt = 1, 0.5, at(3), at(3)
	first.Verdict = json.RawMessage(`{"decision":"continue"}`)
	first.StepRequests, first.StepNeeds = 6, &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300, WaitingForRequests: true,
		Confirm: true, WaitingForPerson: true}
	second.State, second.Reason, second.Weight, second.UpdatedAt = promote.RolloutRolledBack, "error rate 5%", 0, at(4)
	update(t, s, func(tx promote.Tx) error {
		if err := tx.SaveRollout(first); err != nil {
			return err
		}
		return tx.SaveRollout(second)
	})
	first.Revision, second.Revision = 2, 2
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Rollout("p1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(first, got, ignoreSeq); diff != "" {
			t.Errorf("Rollout(p1) mismatch (-want +got):\n%s", diff)
		}
		all, err := tx.Rollouts(promote.RolloutFilter{})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Rollout{second, first}, all, ignoreSeq); diff != "" {
			t.Errorf("Rollouts() mismatch, want newest first (-want +got):\n%s", diff)
		} else {
			// The cursor is the order the rollouts were started in.
			if all[1].Seq <= 0 || all[0].Seq <= all[1].Seq {
				t.Errorf("Rollouts() seqs = %d, %d; want the second started above the first, above 0", all[0].Seq, all[1].Seq)
			}
			first.Seq, second.Seq = all[1].Seq, all[0].Seq
		}
		active, err := tx.Rollouts(promote.RolloutFilter{ActiveOnly: true})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Rollout{first}, active, ignoreSeq); diff != "" {
			t.Errorf("Rollouts(active) mismatch (-want +got):\n%s", diff)
		}
		churn, err := tx.Rollouts(promote.RolloutFilter{Model: "churn", Environment: "prod"})
		if err != nil {
			return err
		}
		if len(churn) != 1 || churn[0].PromotionID != "p2" {
			t.Errorf("Rollouts(churn, prod) = %+v, want p2's", churn)
		}
		byModels, err := tx.Rollouts(promote.RolloutFilter{Models: []string{"churn", "nope"}})
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Rollout{second}, byModels, ignoreSeq); diff != "" {
			t.Errorf("Rollouts(models churn, nope) mismatch (-want +got):\n%s", diff)
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
		{"negative revision", func(r *promote.Rollout) { r.Revision = -1 }, promote.Invalid},
		{"stale revision", func(r *promote.Rollout) { r.Revision = 1 }, promote.Conflict},
		{"negative step requests", func(r *promote.Rollout) { r.StepRequests = -1 }, promote.Invalid},
		{"NaN step requests", func(r *promote.Rollout) { r.StepRequests = math.NaN() }, promote.Invalid},
		{"step needs without steps", func(r *promote.Rollout) { r.StepNeeds = &promote.StepNeeds{MinRequests: 100} }, promote.Invalid},
		{"negative minimum time", func(r *promote.Rollout) { r.StepNeeds = &promote.StepNeeds{Steps: 1, MinDuration: -1} }, promote.Invalid},
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
	testRolloutStep(t, s)
	testRolloutRevisions(t, s)
}

// testRolloutAnalysis checks the analysis state and verdict of stored
// rollouts: absent at first, written by SaveRollout and by
// SaveRolloutAnalysis alone, read by Rollout and Rollouts, cleared by nil.
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
	verdict := json.RawMessage(`{"decision":"continue","tests":[{"name":"error_rate","status":"pass"}]}`)
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutAnalysis("p1", state, verdict) })
	got := read("p1")
	if string(got.AnalysisState) != string(state) || string(got.Verdict) != string(verdict) {
		t.Errorf("Rollout(p1) = state %s, verdict %s; want %s, %s", got.AnalysisState, got.Verdict, state, verdict)
	}
	// Only the state and the verdict changed: not even the revision, which
	// people's operations check.
	got.AnalysisState, got.Verdict = first.AnalysisState, first.Verdict
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("SaveRolloutAnalysis changed more than the state and the verdict (-want +got):\n%s", diff)
	}
	view(t, s, func(tx promote.Tx) error {
		all, err := tx.Rollouts(promote.RolloutFilter{ActiveOnly: true})
		if err == nil && (len(all) != 1 || string(all[0].AnalysisState) != string(state) || string(all[0].Verdict) != string(verdict)) {
			t.Errorf("Rollouts(active) = %+v, want p1 with its analysis state and verdict", all)
		}
		return err
	})
	// SaveRollout writes the state it carries.
	next := first
	next.Step, next.UpdatedAt = 2, at(5)
	next.AnalysisState = json.RawMessage(`{"version":1,"step":2}`)
	update(t, s, func(tx promote.Tx) error { return tx.SaveRollout(next) })
	next.Revision++
	if diff := cmp.Diff(next, read("p1")); diff != "" {
		t.Errorf("Rollout(p1) after SaveRollout with a state (-want +got):\n%s", diff)
	}
	if got := read("p2").AnalysisState; got != nil {
		t.Errorf("the state of p1 leaked into p2: %s", got)
	}
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutAnalysis("p1", nil, nil) })
	if got := read("p1"); got.AnalysisState != nil || got.Verdict != nil {
		t.Errorf("Rollout(p1) = state %s, verdict %s after clearing them, want nil", got.AnalysisState, got.Verdict)
	}
	// An unknown rollout, a promotion without one, and bad JSON are
	// refused.
	update(t, s, func(tx promote.Tx) error {
		_, err := tx.CreatePromotion(promotion("p3", "fraud", "1.1", "staging", 6))
		return err
	})
	for _, b := range []struct {
		id             string
		state, verdict json.RawMessage
		code           promote.Code
	}{
		{"p9", state, verdict, promote.NotFound},
		{"p3", state, verdict, promote.NotFound},
		{"p1", json.RawMessage(`{"version":`), verdict, promote.Invalid},
		{"p1", state, json.RawMessage(`{"decision":`), promote.Invalid},
	} {
		err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.SaveRolloutAnalysis(b.id, b.state, b.verdict) })
		if promote.ErrorCode(err) != b.code {
			t.Errorf("SaveRolloutAnalysis(%s, %s, %s) = %v, want code %s", b.id, b.state, b.verdict, err, b.code)
		}
	}
	if got := read("p1"); got.AnalysisState != nil || got.Verdict != nil {
		t.Errorf("a refused SaveRolloutAnalysis stored state %s, verdict %s", got.AnalysisState, got.Verdict)
	}
}

// testRolloutStep checks SaveRolloutStep: it stores the step's requests
// and needs of p1 alone, clears the needs with nil, and refuses what it
// cannot store.
func testRolloutStep(t *testing.T, s promote.Store) {
	t.Helper()
	read := func() promote.Rollout {
		var r promote.Rollout
		view(t, s, func(tx promote.Tx) (err error) {
			r, err = tx.Rollout("p1")
			return err
		})
		return r
	}
	want := read()
	want.StepRequests, want.StepNeeds = 57.5, &promote.StepNeeds{Steps: 2, MinRequests: 1000, MinDuration: 0.5}
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutStep("p1", want.StepRequests, want.StepNeeds) })
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("Rollout(p1) after SaveRolloutStep, which changes the step's requests and needs alone (-want +got):\n%s", diff)
	}
	for _, b := range []struct {
		id       string
		requests float64
		needs    *promote.StepNeeds
		code     promote.Code
	}{
		{"p9", 1, nil, promote.NotFound},
		{"p3", 1, nil, promote.NotFound},
		{"p1", math.Inf(1), nil, promote.Invalid},
		{"p1", 1, &promote.StepNeeds{Steps: 1, MinRequests: -1}, promote.Invalid},
	} {
		err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.SaveRolloutStep(b.id, b.requests, b.needs) })
		if promote.ErrorCode(err) != b.code {
			t.Errorf("SaveRolloutStep(%s, %v, %+v) = %v, want code %s", b.id, b.requests, b.needs, err, b.code)
		}
	}
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutStep("p1", 0, nil) })
	want.StepRequests, want.StepNeeds = 0, nil
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("Rollout(p1) after clearing its step's progress (-want +got):\n%s", diff)
	}
}

// RunRolloutStepUpgrade checks migration name, which adds the step's
// requests and needs to the rollouts: it stores a rollout, takes the
// database back to before the migration (down, then forgetting that it
// was applied), and opens it again. The rollout reads as it was, counting
// its step from 0 with no needs known, and takes the new columns' writes.
func RunRolloutStepUpgrade(t *testing.T, name string, down []string, open func(t *testing.T) (func(t *testing.T) promote.Store, *sql.DB)) {
	ctx := t.Context()
	reopen, db := open(t)
	s := reopen(t)
	seed(t, s)
	r := rollout("p1", "fraud", "1.1", "prod", 1)
	r.Verdict = json.RawMessage(`{"decision":"continue"}`)
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promotion("p1", "fraud", "1.1", "prod", 1)); err != nil {
			return err
		}
		return tx.SaveRollout(r)
	})
	r.Revision = 1
	for _, stmt := range down {
		exec(ctx, t, db, stmt)
	}
	exec(ctx, t, db, "DELETE FROM schema_migrations WHERE name = $1", name)

	s = reopen(t)
	var got promote.Rollout
	view(t, s, func(tx promote.Tx) (err error) {
		got, err = tx.Rollout("p1")
		return err
	})
	if diff := cmp.Diff(r, got, ignoreSeq); diff != "" {
		t.Errorf("the rollout after migration %s (-want +got):\n%s", name, diff)
	}
	r.StepRequests, r.StepNeeds = 6, &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300, WaitingForRequests: true}
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutStep("p1", r.StepRequests, r.StepNeeds) })
	view(t, s, func(tx promote.Tx) (err error) {
		got, err = tx.Rollout("p1")
		return err
	})
	if diff := cmp.Diff(r, got, ignoreSeq); diff != "" {
		t.Errorf("the rollout's step saved after migration %s (-want +got):\n%s", name, diff)
	}
}

func testRolloutSamples(t *testing.T, s promote.Store) {
	seed(t, s)
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promotion("p1", "fraud", "1.1", "prod", 1)); err != nil {
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
			if err := tx.AppendRolloutSample(smp, promote.RolloutSamplesKept); err != nil {
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
		err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.AppendRolloutSample(smp, promote.RolloutSamplesKept) })
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
	if err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.AppendRolloutSample(want[0], 0) }); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("AppendRolloutSample keeping 0 = %v, want Invalid", err)
	}

	// A rollout keeps its newest keep samples; another rollout's stay.
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promotion("p2", "fraud", "1.0", "staging", 7)); err != nil {
			return err
		}
		return tx.SaveRollout(rollout("p2", "fraud", "1.0", "staging", 7))
	})
	var kept []promote.RolloutSample
	for i := range 6 {
		smp := promote.RolloutSample{PromotionID: "p2", At: at(10 + i), Weight: 0.1, Decision: "continue",
			Canary: promote.TrackSample{Requests: float64(i)}}
		update(t, s, func(tx promote.Tx) error { return tx.AppendRolloutSample(smp, 3) })
		kept = append(kept, smp)
	}
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.RolloutSamples("p2", 0)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(kept[3:], got); diff != "" {
			t.Errorf("p2's samples after six appends keeping 3 (-want +got):\n%s", diff)
		}
		other, err := tx.RolloutSamples("p1", 0)
		if err == nil && len(other) != len(want) {
			t.Errorf("keeping p2's newest samples removed p1's: %d left, want %d", len(other), len(want))
		}
		return err
	})
}

// testRolloutRevisions checks the optimistic lock of rollouts: a save made
// from a revision that is no longer the stored one is refused with a
// RolloutChangedError and changes nothing, and of writers racing from the
// same revision exactly one wins.
func testRolloutRevisions(t *testing.T, s promote.Store) {
	t.Helper()
	read := func(id string) promote.Rollout {
		t.Helper()
		var r promote.Rollout
		view(t, s, func(tx promote.Tx) (err error) {
			r, err = tx.Rollout(id)
			return err
		})
		return r
	}
	save := func(r promote.Rollout) error {
		return s.Update(t.Context(), func(tx promote.Tx) error { return tx.SaveRollout(r) })
	}
	update(t, s, func(tx promote.Tx) error {
		for _, id := range []string{"r1", "r2", "r3"} {
			if _, err := tx.CreatePromotion(promotion(id, "churn", "1.0", "env-"+id, 7)); err != nil {
				return err
			}
		}
		return nil
	})
	start := rollout("r1", "churn", "1.0", "env-r1", 7)
	if err := save(start); err != nil {
		t.Fatalf("SaveRollout(new r1) = %v", err)
	}
	stored := read("r1")
	if stored.Revision != 1 {
		t.Fatalf("a new rollout is at revision %d, want 1", stored.Revision)
	}
	// The leader's step, made from revision 1, lands.
	step := stored
	step.Step, step.Weight, step.UpdatedAt = 1, 0.5, at(8)
	if err := save(step); err != nil {
		t.Fatalf("SaveRollout(r1 at revision 1) = %v", err)
	}
	step.Revision = 2
	if diff := cmp.Diff(step, read("r1")); diff != "" {
		t.Errorf("Rollout(r1) after a save at revision 1 (-want +got):\n%s", diff)
	}
	stale := []struct {
		name     string
		revision int64
	}{
		{"the revision read before the step", 1},
		{"a revision never stored", 9},
		{"a new rollout over a stored one", 0},
	}
	for _, tt := range stale {
		pause := stored
		pause.Revision = tt.revision
		pause.State, pause.Reason, pause.UpdatedAt = promote.RolloutPaused, "paused by bob", at(9)
		err := save(pause)
		var changed *promote.RolloutChangedError
		if !errors.As(err, &changed) || promote.ErrorCode(err) != promote.Conflict {
			t.Errorf("SaveRollout from %s (%d) = %v, want a RolloutChangedError, a Conflict", tt.name, tt.revision, err)
			continue
		}
		want := promote.RolloutChangedError{PromotionID: "r1", Read: tt.revision, Stored: 2}
		if *changed != want {
			t.Errorf("SaveRollout from %s = %+v, want %+v", tt.name, *changed, want)
		}
		if want := fmt.Sprintf("the rollout of promotion r1 changed since it was read (revision %d, now 2)", tt.revision); err.Error() != want {
			t.Errorf("SaveRollout from %s = %q, want %q", tt.name, err, want)
		}
		if diff := cmp.Diff(step, read("r1")); diff != "" {
			t.Errorf("a refused SaveRollout from %s changed the rollout (-want +got):\n%s", tt.name, diff)
		}
	}
	// A later state of a rollout that was never stored is NotFound.
	ghost := rollout("r3", "churn", "1.0", "env-r3", 7)
	ghost.Revision = 4
	if err := save(ghost); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("SaveRollout(r3 at revision 4, not stored) = %v, want NotFound", err)
	}
	// Racing writers that read the same revision: exactly one wins, the
	// others change nothing. Both the start of a rollout (revision 0) and
	// a later state (revision 2) are raced.
	for _, tt := range []struct {
		name string
		base promote.Rollout
	}{
		{"start", rollout("r2", "churn", "1.0", "env-r2", 7)},
		{"later state", step},
	} {
		const writers = 4
		errs := make([]error, writers)
		var wg sync.WaitGroup
		ready := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := tt.base
				r.Reason, r.UpdatedAt = fmt.Sprintf("writer %d", i), at(10+i)
				<-ready
				errs[i] = save(r)
			}()
		}
		close(ready)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("%s: writers %d and %d both saved from revision %d", tt.name, winner, i, tt.base.Revision)
			case err == nil:
				winner = i
			case !errors.As(err, new(*promote.RolloutChangedError)):
				t.Errorf("%s: writer %d = %v, want nil or a RolloutChangedError", tt.name, i, err)
			}
		}
		if winner < 0 {
			t.Errorf("%s: no writer saved from revision %d: %v", tt.name, tt.base.Revision, errs)
			continue
		}
		got := read(tt.base.PromotionID)
		if want := fmt.Sprintf("writer %d", winner); got.Reason != want || got.Revision != tt.base.Revision+1 {
			t.Errorf("%s: stored %q at revision %d, want the winner's %q at %d", tt.name, got.Reason, got.Revision, want, tt.base.Revision+1)
		}
	}
}

// RunStepMovedByOlderReplica checks that a step moved on by an older
// replica, whose statements leave the step's request count out (before
// migration 0016), does not carry the previous step's count into the new
// step: the count starts again from 0. db is a plain connection to the
// store's database.
func RunStepMovedByOlderReplica(t *testing.T, s promote.Store, db *sql.DB) {
	ctx := t.Context()
	seed(t, s)
	r := rollout("p1", "fraud", "1.1", "prod", 1)
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promotion("p1", "fraud", "1.1", "prod", 1)); err != nil {
			return err
		}
		if err := tx.SaveRollout(r); err != nil {
			return err
		}
		return tx.SaveRolloutStep("p1", 60, &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300})
	})
	// The 0015 binary's next step, as its SaveRollout writes it.
	exec(ctx, t, db, `UPDATE rollouts SET step = step + 1, weight = 0.5, step_started_at = step_started_at + 1000000000,
		revision = revision + 1 WHERE promotion_id = 'p1'`)
	var got promote.Rollout
	view(t, s, func(tx promote.Tx) (err error) {
		got, err = tx.Rollout("p1")
		return err
	})
	if got.Step != r.Step+1 || got.StepRequests != 0 || got.StepNeeds != nil {
		t.Errorf("after an older replica moved the step on: step %d, %g requests counted in it, needs %+v; want step %d from 0, needs unknown",
			got.Step, got.StepRequests, got.StepNeeds, r.Step+1)
	}
	// A newer writer's count in the same step stays.
	update(t, s, func(tx promote.Tx) error { return tx.SaveRolloutStep("p1", 7, nil) })
	view(t, s, func(tx promote.Tx) (err error) {
		got, err = tx.Rollout("p1")
		return err
	})
	if got.StepRequests != 7 {
		t.Errorf("step requests = %g after a newer writer counted 7, want 7", got.StepRequests)
	}
}
