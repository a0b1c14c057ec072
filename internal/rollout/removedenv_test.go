package rollout

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// A rollout in an environment that promote.yaml no longer has after a
// restart is paused by the controller, with the traffic on stable. Its
// overlay is no longer the pipeline's, so an abort, a rollback or a cancel
// would leave the registry and Git saying different versions, and a
// resumption would be paused again at the next tick: each is refused as a
// Conflict that says what to do instead, and changes nothing
// in the registry, the audit log or Git. Put back in the pipeline, the
// environment's rollout is aborted as any other: rolled back in the
// registry, reverted by a Git commit, the version held, the chain intact.
func TestRolloutInAnEnvironmentRemovedFromThePipeline(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 2)
	if r.State != promote.RolloutRunning {
		t.Fatalf("rollout = %s (%s), want running", r.State, r.Reason)
	}

	// The server restarts on a pipeline without prod.
	setup := registrytest.Load(t, "kind: Pipeline\nenvironments:\n  - name: staging\n    policy: policy.yaml\n    rollout: canary\n", testPolicy)
	svc := setup.New(t, w.store, registry.Config{GitOps: true, Rollouts: true})
	cfg := w.ctl.cfg
	cfg.Registry, cfg.Plans = svc, map[string]*policy.Rollout{"staging": setup.Policy.Rollout("staging")}
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	paused, err := svc.Rollout(t.Context(), r.PromotionID)
	if err != nil || paused.State != promote.RolloutPaused || w.splitter.Weights() != 0 {
		t.Fatalf("after the restart: rollout = %s (%s), the splitter %g, %v; want paused, 0", paused.State, paused.Reason, w.splitter.Weights(), err)
	}
	// The pause says why, and what a person can do: not that the policy
	// lacks a plan, since the pipeline lacks the environment.
	for _, want := range []string{"prod is no longer in the pipeline (it has staging)", "put prod back in the pipeline file, restart the server",
		"promote its rollout now (promote rollout promote " + r.PromotionID + ")", "all its traffic is on stable"} {
		if !strings.Contains(paused.Reason, want) {
			t.Errorf("the pause's reason = %q, want it to say %q", paused.Reason, want)
		}
	}

	events := func() int {
		t.Helper()
		list, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	head, logged := gittest.Run(t, w.bare, "rev-parse", "main"), events()
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"abort", func() error { _, err := ctl.Abort(t.Context(), lena, r.PromotionID, "wrong flags"); return err }},
		{"rollback", func() error {
			_, err := svc.Rollback(t.Context(), lena, registry.RollbackRequest{Model: "credit-risk", Environment: "prod", Reason: "wrong flags"})
			return err
		}},
		{"cancel", func() error { _, err := svc.Cancel(t.Context(), lena, r.PromotionID, "wrong flags"); return err }},
		// A resumption would be paused again at the next tick.
		{"resume", func() error { _, err := ctl.Resume(t.Context(), lena, r.PromotionID, "try again"); return err }},
	} {
		err := op.do()
		if promote.ErrorCode(err) != promote.Conflict {
			t.Errorf("%s in a removed environment = %v, want a Conflict", op.name, err)
		}
		for _, want := range []string{"prod is no longer in the pipeline (it has staging)", "put prod back in the pipeline file, restart the server", "promote its rollout now"} {
			if err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("%s in a removed environment = %q, want it to say %q", op.name, err, want)
			}
		}
	}
	after, err := svc.Rollout(t.Context(), r.PromotionID)
	if err != nil || after.State != promote.RolloutPaused || after.Revision != paused.Revision || w.splitter.Weights() != 0 {
		t.Errorf("after the refusals: rollout = %s at revision %d, the splitter %g (%v); want paused at revision %d, 0",
			after.State, after.Revision, w.splitter.Weights(), err, paused.Revision)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateRollingOut {
		t.Errorf("after the refusals: promotion %s, want rolling_out", p.State)
	}
	if got := gittest.Run(t, w.bare, "rev-parse", "main"); got != head {
		t.Errorf("the refusals committed to Git: main %s, was %s", got, head)
	}
	if got := events(); got != logged {
		t.Errorf("the refusals wrote %d audit events, want none", got-logged)
	}

	// prod is back in the pipeline (the world's service and controller):
	// the abort rolls back in the registry and in Git.
	ended, err := w.ctl.Abort(t.Context(), lena, r.PromotionID, "wrong flags")
	if err != nil || ended.State != promote.RolloutRolledBack {
		t.Fatalf("Abort with prod back = %s, %v; want rolled back", ended.State, err)
	}
	st, err := w.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if st.Live["prod"].Version != "1" || len(st.Holds) != 1 || st.Holds[0].Version != "2" {
		t.Errorf("after the abort: live %s, holds %+v; want 1 live and 2 held", st.Live["prod"].Version, st.Holds)
	}
	if _, err := w.rec.Reconcile(t.Context(), "credit-risk", "prod"); err != nil {
		t.Fatal(err)
	}
	trailers := gittest.Run(t, w.bare, "log", "-1", "--format=%(trailers:only,unfold)", "main")
	for _, want := range []string{"Version: 1", "Rollback-Of: 2", "Reason: aborted by lena: wrong flags"} {
		if !strings.Contains(trailers, want) {
			t.Errorf("rollback commit lacks %q:\n%s", want, trailers)
		}
	}
	if res, err := audit.Verify(t.Context(), w.store); err != nil || !res.OK {
		t.Errorf("audit.Verify = %+v, %v", res, err)
	}
}
