package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

const testPipeline = `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: prod
    policy: policy.yaml
    rollout: canary
`

const testPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
rollout:
  strategy: canary
  steps:
    - weight: 10
      minRequests: 100
    - weight: 50
      minRequests: 200
    - weight: 100
      minRequests: 100
  analysis:
    alpha: 0.01
    slos:
      error_rate: "<= 0.05"
  rollback:
    automatic: true
    hold: true
    when: [slo_breach, regression]
`

var submitter = promote.Principal{Name: "ci", Role: promote.RoleSubmitter}

// world is a registry with GitOps and rollouts on, a GitOps remote, and a
// splitter in front of two model servers: v1 (stable) and v2, whose
// share of 5xx answers the test sets.
type world struct {
	svc      *registry.Service
	store    promote.Store
	rec      *gitops.Reconciler
	bare     string
	splitter *traffic.Splitter
	front    *httptest.Server
	ctl      *Controller
	failV2   atomic.Int64 // v2 answers 5xx to one request in failV2 (0: never)
	failV1   atomic.Int64 // v1 likewise
	v1, v2   *url.URL
	n        atomic.Int64        // v2's requests while failV2 is set
	n1       atomic.Int64        // v1's while failV1 is set
	reg      *telemetry.Registry // the splitter's metrics
	metrics  *traffic.Metrics    // the same, as the splitter counts them
}

// SetWeight and SetShadow make the test's splitter the controller's
// traffic, as the local agent's are in promote serve.
func (w *world) SetWeight(_ context.Context, _, _ string, weight float64) error {
	return w.splitter.SetWeight(weight)
}

func (w *world) SetShadow(_ context.Context, _, _ string, share float64) error {
	if share == 0 {
		return w.splitter.SetShadow(nil, 0)
	}
	return w.splitter.SetShadow(&traffic.Backend{Version: "2", URL: w.v2}, share)
}

func (w *world) Ready(context.Context, string, string, string) bool { return true }

func (w *world) SetPinned(_ context.Context, _, _ string, on bool) error {
	w.splitter.SetPinned(on)
	return nil
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, testPipeline, testPolicy)
}

// newWorldWith is newWorld with another pipeline and policy.
func newWorldWith(t *testing.T, pipelineYAML, policyYAML string) *world {
	t.Helper()
	w := &world{}
	dir := t.TempDir()
	setup := registrytest.Load(t, pipelineYAML, policyYAML)
	w.store = registrytest.SQLite(t, dir)
	w.svc = setup.New(t, w.store, registry.Config{ArtifactRoots: []string{dir}, GitOps: true, Rollouts: true})

	w.bare = gittest.Remote(t, nil)
	writer, err := gitops.New(gitops.Config{Remote: w.bare, Dir: filepath.Join(dir, "clone")})
	if err != nil {
		t.Fatal(err)
	}
	if w.rec, err = gitops.NewReconciler(gitops.ReconcilerConfig{Writer: writer, Registry: w.svc}); err != nil {
		t.Fatal(err)
	}

	// The model servers and the splitter in front of them.
	backend := func(version string, fail func() bool) *url.URL {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if fail() {
				http.Error(rw, "model error", http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(rw, "version %s", version)
		}))
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		return u
	}
	v1 := backend("1", func() bool {
		k := w.failV1.Load()
		return k > 0 && w.n1.Add(1)%k == 0
	})
	w.v1 = v1
	v2 := backend("2", func() bool {
		k := w.failV2.Load()
		return k > 0 && w.n.Add(1)%k == 0
	})
	reg := telemetry.NewRegistry()
	w.reg = reg
	if w.metrics, err = traffic.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	// The splitter compares bodies, and routes by a candidate header, when
	// the policy says so, as promote serve's do.
	plan := setup.Policy.Rollout("prod")
	compare := traffic.ShadowConfig{CompareBodies: plan.Shadow != nil && plan.Shadow.CompareBodies}
	if w.splitter, err = traffic.New(traffic.Config{Model: "credit-risk", Env: "prod", Metrics: w.metrics, Shadow: compare,
		CandidateHeader: plan.Traffic.CandidateHeader}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.splitter.Close() })
	if err := w.splitter.SetStable(traffic.Backend{Version: "1", URL: v1}); err != nil {
		t.Fatal(err)
	}
	w.front = httptest.NewServer(w.splitter)
	t.Cleanup(w.front.Close)
	poller, err := metrics.NewPoller(metrics.NewBuiltin(reg), metrics.PollerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w.ctl, err = New(Config{Registry: w.svc, Traffic: w, Metrics: poller, Plans: map[string]*policy.Rollout{"prod": plan}}); err != nil {
		t.Fatal(err)
	}

	// Version 1 is live in prod (no baseline: no rollout), 2 is approved
	// and committed, and waits for the controller.
	if _, err := w.svc.CreateModel(t.Context(), submitter, "credit-risk", ""); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1", "2"} {
		path := filepath.Join(dir, "model-"+v+".bin")
		os.WriteFile(path, []byte("weights "+v), 0o644)
		if _, err := w.svc.RegisterVersion(t.Context(), submitter, registry.RegisterRequest{Model: "credit-risk", Version: v,
			ArtifactURI: "file://" + path, Metrics: []byte(`{"checks": {"tests_passed": true}}`)}); err != nil {
			t.Fatal(err)
		}
		view, err := w.svc.RequestPromotion(t.Context(), submitter, registry.PromoteRequest{Model: "credit-risk", Version: v, Environment: "prod"})
		if err != nil || view.Promotion.State != promote.StateApproved {
			t.Fatalf("request %s: %s, %v", v, view.Promotion.State, err)
		}
		if _, err := w.rec.Reconcile(t.Context(), "credit-risk", "prod"); err != nil {
			t.Fatal(err)
		}
		if v == "1" {
			// The first version has nothing to compare with: the
			// controller gives it the traffic at once. Then 2 is
			// deployed beside it, as the agent does on its commit.
			if err := w.ctl.Tick(t.Context()); err != nil {
				t.Fatal(err)
			}
			if p := w.rollout(t); p.State != promote.RolloutSucceeded || !strings.Contains(p.Reason, "first version") {
				t.Fatalf("the rollout of version 1 = %s (%s), want succeeded as the first version", p.State, p.Reason)
			}
			started, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: view.Promotion.ID, Action: promote.ActionRolloutStarted})
			if err != nil || len(started) != 1 || !strings.Contains(string(started[0].Reasons), "the first version in the environment") {
				t.Fatalf("rollout.started of version 1 = %+v, %v; want one saying it is the first version", started, err)
			}
			w.v2 = v2
			if err := w.splitter.SetCanary(&traffic.Backend{Version: "2", URL: v2}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	return w
}

// blind returns a controller of w's rollouts whose metric source always
// fails, as one whose Prometheus cannot be read.
func (w *world) blind(t *testing.T) *Controller {
	t.Helper()
	cfg := w.ctl.cfg
	cfg.Metrics = failingMetrics{}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pump sends 50 requests through the splitter and ticks the controller,
// rounds times or until the rollout ends, and returns the rollout.
func (w *world) pump(t *testing.T, ctl *Controller, rounds int) promote.Rollout {
	t.Helper()
	return w.pumpUntil(t, ctl, rounds, func(promote.Rollout) bool { return false })
}

// pumpUntil is pump that also stops when done holds.
func (w *world) pumpUntil(t *testing.T, ctl *Controller, rounds int, done func(promote.Rollout) bool) promote.Rollout {
	t.Helper()
	client := w.front.Client()
	var r promote.Rollout
	for range rounds {
		for range 50 {
			resp, err := client.Get(w.front.URL + "/predict")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		if err := ctl.Tick(t.Context()); err != nil {
			t.Fatalf("Tick: %v", err)
		}
		r = w.rollout(t)
		if r.PromotionID != "" && (!r.State.Active() || done(r)) {
			break
		}
	}
	return r
}

// drive pumps until the rollout ends, or fails the test after 10,000
// requests.
func (w *world) drive(t *testing.T) promote.Rollout {
	t.Helper()
	r := w.pump(t, w.ctl, 200)
	if r.PromotionID == "" || r.State.Active() {
		t.Fatalf("the rollout did not end after 10,000 requests: %+v", r)
	}
	return r
}

// rollout returns the newest rollout.
func (w *world) rollout(t *testing.T) promote.Rollout {
	t.Helper()
	list, err := w.svc.Rollouts(t.Context(), promote.RolloutFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		return promote.Rollout{}
	}
	return list[0]
}

func (w *world) promotion(t *testing.T, id string) promote.Promotion {
	t.Helper()
	v, err := w.svc.Promotion(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Promotion
}

func TestHealthyCanaryWalksToFullTraffic(t *testing.T) {
	w := newWorld(t)
	r := w.drive(t)
	if r.State != promote.RolloutSucceeded || r.Step != 2 || r.Weight != 1 {
		t.Fatalf("rollout = %s at step %d, weight %g (%s); want succeeded at step 3 with all traffic", r.State, r.Step+1, r.Weight, r.Reason)
	}
	if got := w.splitter.Weights(); got != 1 {
		t.Errorf("the splitter gives the canary %g, want 1", got)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateSucceeded {
		t.Errorf("promotion is %s, want succeeded", p.State)
	}
	events, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: r.PromotionID})
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for i := len(events) - 1; i >= 0; i-- {
		if strings.HasPrefix(events[i].Action, "rollout.") {
			steps = append(steps, events[i].Action+":"+events[i].Decision)
		}
	}
	want := []string{"rollout.started:running", "rollout.step:step 1: weight 10%", "rollout.step:step 2: weight 50%",
		"rollout.step:step 3: weight 100%", "rollout.finished:succeeded"}
	if strings.Join(steps, "\n") != strings.Join(want, "\n") {
		t.Errorf("rollout audit events:\n%s\nwant:\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
	if res, err := audit.Verify(t.Context(), w.store); err != nil || !res.OK {
		t.Errorf("audit.Verify = %+v, %v", res, err)
	}
}

// TestTwoStepsEndAtFullTraffic runs the seed's "canary rollout with two
// steps (10% → 50%)": after the 50% step the new version takes all
// traffic and the rollout succeeds, as Argo Rollouts' and Flagger's do.
func TestTwoStepsEndAtFullTraffic(t *testing.T) {
	w := newWorldWith(t, testPipeline, strings.Replace(testPolicy, `    - weight: 100
      minRequests: 100
`, "", 1))
	r := w.drive(t)
	if r.State != promote.RolloutSucceeded || r.Weight != 1 {
		t.Fatalf("rollout = %s at step %d, weight %g (%s); want succeeded with all traffic", r.State, r.Step+1, r.Weight, r.Reason)
	}
	if got := w.splitter.Weights(); got != 1 {
		t.Errorf("the splitter gives the canary %g, want 1", got)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateSucceeded {
		t.Errorf("promotion is %s, want succeeded", p.State)
	}
}

func TestFaultyCanaryIsRolledBackInGit(t *testing.T) {
	w := newWorld(t)
	w.failV2.Store(10) // one v2 answer in ten is a 5xx
	r := w.drive(t)
	if r.State != promote.RolloutRolledBack || r.Weight != 0 {
		t.Fatalf("rollout = %s, weight %g (%s); want rolled back with no traffic", r.State, r.Weight, r.Reason)
	}
	if got := w.splitter.Weights(); got != 0 {
		t.Errorf("the splitter gives the canary %g after the rollback, want 0", got)
	}
	if !strings.Contains(r.Reason, "canary") || len(r.Verdict) == 0 {
		t.Errorf("rollout reason %q, verdict %s: want the analysis's evidence", r.Reason, r.Verdict)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateRolledBack {
		t.Errorf("promotion is %s, want rolled_back", p.State)
	}
	trailers := w.rolledBackInGit(t)
	for _, want := range []string{"Version: 1", "Rollback-Of: 2", "Reason: the canary analysis failed"} {
		if !strings.Contains(trailers, want) {
			t.Errorf("rollback commit lacks %q:\n%s", want, trailers)
		}
	}
	if res, err := audit.Verify(t.Context(), w.store); err != nil || !res.OK {
		t.Errorf("audit.Verify = %+v, %v", res, err)
	}
}

// rolledBackInGit checks that version 2, rolled back, left 1 live and 2
// on hold, and that the reconciler writes the rollback to Git as one
// commit, whose trailers it returns.
func (w *world) rolledBackInGit(t *testing.T) string {
	t.Helper()
	st, err := w.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if st.Live["prod"].Version != "1" || len(st.Holds) != 1 || st.Holds[0].Version != "2" {
		t.Errorf("after the rollback: live %s, holds %+v; want 1 live and 2 held", st.Live["prod"].Version, st.Holds)
	}
	before := gittest.Run(t, w.bare, "rev-list", "--count", "main")
	if _, err := w.rec.Reconcile(t.Context(), "credit-risk", "prod"); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Run(t, w.bare, "rev-list", "--count", "main"); got == before {
		t.Fatal("no rollback commit")
	}
	return gittest.Run(t, w.bare, "log", "-1", "--format=%(trailers:only,unfold)", "main")
}

// The reason of an automatic rollback says the step and the weight the
// canary failed at: the rollout's record of the rollback stores the
// weight after it, 0, so without it the audit log, the webhook and the
// Git commit do not say how much traffic the faulty candidate had.
func TestRollbackReasonSaysTheStepAndWeight(t *testing.T) {
	w := newWorld(t)
	w.failV2.Store(10) // one v2 answer in ten is a 5xx
	r := w.drive(t)
	const want = "; the canary was at step 1: weight 10%"
	if r.State != promote.RolloutRolledBack || !strings.HasPrefix(r.Reason, "the canary analysis failed: ") || !strings.HasSuffix(r.Reason, want) {
		t.Fatalf("rollout = %s (%s); want rolled back, the reason ending %q", r.State, r.Reason, want)
	}
	events, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{Model: "credit-risk", Action: promote.ActionRolledBack})
	if err != nil || len(events) != 1 || !strings.Contains(string(events[0].Reasons), want) {
		t.Errorf("live.rolled_back events %+v (%v): want one whose reason ends %q", events, err, want)
	}
}

// A failure of a kind rollback.when does not list takes the traffic back
// to stable and pauses for a person; nothing is rolled back.
func TestFailureNotInRollbackWhenPauses(t *testing.T) {
	pol := strings.Replace(strings.Replace(testPolicy, "    slos:\n      error_rate: \"<= 0.05\"\n", "", 1),
		"when: [slo_breach, regression]", "when: [slo_breach]", 1)
	w := newWorldWith(t, testPipeline, pol)
	w.failV2.Store(10) // one v2 answer in ten is a 5xx: a regression
	r := w.pumpUntil(t, w.ctl, 200, func(r promote.Rollout) bool { return r.State != promote.RolloutRunning })
	if r.State != promote.RolloutPaused || r.Weight != 0 || !strings.Contains(r.Reason, "does not list regression") {
		t.Fatalf("rollout = %s at weight %g (%s); want paused at 0, rollback.when not listing regression", r.State, r.Weight, r.Reason)
	}
	if got := w.splitter.Weights(); got != 0 {
		t.Errorf("the splitter gives the canary %g, want 0", got)
	}
	st, err := w.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Holds) != 0 {
		t.Errorf("holds %+v, want none: nothing was rolled back", st.Holds)
	}
	if p := w.promotion(t, r.PromotionID); p.State == promote.StateRolledBack {
		t.Errorf("promotion is %s, want it not rolled back", p.State)
	}
}

var lena = promote.Principal{Name: "lena", Role: promote.RoleApprover}

func TestPauseResumeAndPromoteNow(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	if r.State != promote.RolloutRunning || r.Weight != 0.1 {
		t.Fatalf("rollout after the first tick = %s at weight %g, want running at 0.1", r.State, r.Weight)
	}
	// A viewer's operations are refused before the traffic moves.
	vic := promote.Principal{Name: "vic", Role: promote.RoleViewer}
	if _, err := w.ctl.Pause(t.Context(), vic, r.PromotionID, ""); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("Pause by a viewer = %v, want Forbidden", err)
	}
	if _, err := w.ctl.PromoteNow(t.Context(), vic, r.PromotionID, ""); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("PromoteNow by a viewer = %v, want Forbidden", err)
	}
	if _, err := w.ctl.Abort(t.Context(), vic, r.PromotionID, ""); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("Abort by a viewer = %v, want Forbidden", err)
	}
	if _, err := w.ctl.Resume(t.Context(), promote.Principal{}, r.PromotionID, ""); promote.ErrorCode(err) != promote.Unauthorized {
		t.Errorf("Resume without a token = %v, want Unauthorized", err)
	}
	if got, st := w.splitter.Weights(), w.rollout(t); got != 0.1 || st.State != promote.RolloutRunning {
		t.Fatalf("after a viewer's refused operations: splitter weight %g, rollout %s; want 0.1, running", got, st.State)
	}
	if _, err := w.ctl.Pause(t.Context(), lena, r.PromotionID, "looking at a dashboard"); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	// Paused: traffic keeps its weight, and the steps do not advance.
	r = w.pump(t, w.ctl, 30) // enough for step 1's 100 canary requests
	if r.State != promote.RolloutPaused || r.Step != 0 || w.splitter.Weights() != 0.1 {
		t.Fatalf("paused rollout after 1,500 requests = %s at step %d, splitter weight %g; want paused at step 1, weight 0.1", r.State, r.Step+1, w.splitter.Weights())
	}
	if _, err := w.ctl.Pause(t.Context(), lena, r.PromotionID, ""); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("Pause of a paused rollout = %v, want Conflict", err)
	}
	if _, stored := storedLogE(t, w, r.PromotionID); !stored {
		t.Fatal("no analysis state stored when the rollout was paused")
	}
	if _, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, "the incident was upstream"); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	newest, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: r.PromotionID, Limit: 1})
	if err != nil || len(newest) != 1 || !strings.Contains(fmt.Sprint(newest[0]), "resumed by lena: the incident was upstream") {
		t.Errorf("newest audit event after Resume = %+v, %v; want the resumption with its reason", newest, err)
	}
	// The analysis goes on with its evidence: its state is kept.
	if _, stored := storedLogE(t, w, r.PromotionID); !stored {
		t.Error("Resume dropped the stored analysis of a rollout whose analysis had not failed")
	}
	atStep2 := func(r promote.Rollout) bool { return r.Step == 1 }
	r = w.pumpUntil(t, w.ctl, 100, atStep2)
	if r.State != promote.RolloutRunning || r.Step != 1 || r.Weight != 0.5 {
		t.Fatalf("resumed rollout = %s at step %d weight %g, want running at step 2, 0.5", r.State, r.Step+1, r.Weight)
	}
	if r, err := w.ctl.PromoteNow(t.Context(), lena, r.PromotionID, "the dashboards look fine"); err != nil || r.State != promote.RolloutSucceeded {
		t.Fatalf("PromoteNow = %s, %v; want succeeded", r.State, err)
	}
	if got := w.splitter.Weights(); got != 1 {
		t.Errorf("after PromoteNow the canary has %g of the traffic, want 1", got)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateSucceeded || !strings.Contains(p.Reason, "promoted by lena") {
		t.Errorf("promotion = %s (%q), want succeeded, promoted by lena", p.State, p.Reason)
	}
	if _, err := w.ctl.Resume(t.Context(), lena, r.PromotionID, ""); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("Resume of a finished rollout = %v, want Conflict", err)
	}
	// People's operations are events of the chart too; the analysis did
	// not decide them.
	want := []string{"step 0 0.1 ", "paused 0 0.1 ", "resumed 0 0.1 ", "step 1 0.5 continue", "succeeded 1 1 "}
	if diff := cmp.Diff(want, events(t, w.samples(t, r.PromotionID))); diff != "" {
		t.Errorf("sample events mismatch (-want +got):\n%s", diff)
	}
}

func TestAbortRollsBack(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	r, err := w.ctl.Abort(t.Context(), lena, r.PromotionID, "wrong feature flags")
	if err != nil || r.State != promote.RolloutRolledBack {
		t.Fatalf("Abort = %s, %v; want rolled back", r.State, err)
	}
	if got := w.splitter.Weights(); got != 0 {
		t.Errorf("after Abort the canary has %g of the traffic, want 0", got)
	}
	st, err := w.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if st.Live["prod"].Version != "1" || len(st.Holds) != 1 || !strings.Contains(st.Holds[0].Reason, "aborted by lena: wrong feature flags") {
		t.Errorf("after Abort: live %s, holds %+v", st.Live["prod"].Version, st.Holds)
	}
	want := []string{"step 0 0.1 ", "rolled_back 0 0 "}
	if diff := cmp.Diff(want, events(t, w.samples(t, r.PromotionID))); diff != "" {
		t.Errorf("sample events mismatch (-want +got):\n%s", diff)
	}
}

// A restarted controller resumes the rollout at its step and puts the
// step's weight back on a traffic layer that lost it.
func TestRestartResumesAtItsStep(t *testing.T) {
	w := newWorld(t)
	r := w.pumpUntil(t, w.ctl, 100, func(r promote.Rollout) bool { return r.Step == 1 })
	if r.Step != 1 {
		t.Fatalf("rollout at step %d, want 2", r.Step+1)
	}
	restarted, err := New(w.ctl.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.splitter.SetWeight(0); err != nil { // the splitter restarted too
		t.Fatal(err)
	}
	before := len(w.samples(t, r.PromotionID))
	if r := w.pump(t, restarted, 1); r.Step != 1 || w.splitter.Weights() != 0.5 {
		t.Fatalf("after the restart: step %d, splitter weight %g; want step 2 and 0.5 again", r.Step+1, w.splitter.Weights())
	}
	// The first sample after the restart counts from the restart: the
	// hundreds of requests before it are not the restarted controller's
	// to report.
	w.pump(t, restarted, 1)
	after := w.samples(t, r.PromotionID)[before:]
	if len(after) == 0 || after[0].Event != "" || after[0].Step != 1 || after[0].Stable.Requests+after[0].Canary.Requests > 100 {
		t.Errorf("samples of the restarted controller's first ticks = %+v; want a plain sample at step 2 of at most the 100 requests sent since the restart", after)
	}
	if r := w.pump(t, restarted, 200); r.State != promote.RolloutSucceeded {
		t.Errorf("rollout after the restart = %s (%s), want succeeded", r.State, r.Reason)
	}
}

func TestAnalysisConfigSplitsAlpha(t *testing.T) {
	slos := []policy.SLO{{Metric: "error_rate", Threshold: policy.Threshold{Op: policy.OpLE, Value: 0.01}},
		{Metric: "latency_p95_ms", Threshold: policy.Threshold{Op: policy.OpLE, Value: 150}}}
	tests := []struct {
		name                string
		plan                policy.Rollout
		alpha, guard, maxER float64
		maxP95              time.Duration
		share               float64
	}{
		{"default, no guards", policy.Rollout{}, 0.01, 0, 0, 0, 0},
		{"alpha, no guards", policy.Rollout{Analysis: policy.Analysis{Alpha: 0.02}}, 0.02, 0, 0, 0, 0},
		{"guards share alpha", policy.Rollout{Analysis: policy.Analysis{Alpha: 0.02, SLOs: slos}}, 0.01, 0.01, 0.01, 150 * time.Millisecond, 0},
		{"guards share the default", policy.Rollout{Analysis: policy.Analysis{SLOs: slos[:1]}}, 0.005, 0.005, 0.01, 0, 0},
		{"error share", policy.Rollout{Analysis: policy.Analysis{ErrorShare: 0.5}}, 0.01, 0, 0, 0, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := analysisConfig(&tt.plan, nil)
			if got.Alpha != tt.alpha || got.GuardAlpha != tt.guard || got.MaxErrorRate != tt.maxER || got.MaxLatencyP95 != tt.maxP95 || got.ErrorAlphaShare != tt.share {
				t.Errorf("analysisConfig = alpha %g, guard %g, max error rate %g, max p95 %s, error share %g; want %g, %g, %g, %s, %g",
					got.Alpha, got.GuardAlpha, got.MaxErrorRate, got.MaxLatencyP95, got.ErrorAlphaShare, tt.alpha, tt.guard, tt.maxER, tt.maxP95, tt.share)
			}
		})
	}
}

const shadowPipeline = `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: prod
    policy: policy.yaml
    rollout: shadow
`

const shadowPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
rollout:
  strategy: shadow
  shadow:
    duration: 1s
    percent: 50
  # On loopback backends that answer in about a millisecond, the latency
  # comparison's threshold is the 5 ms bucket, and a loaded test machine
  # (go test runs packages in parallel) delays a few mirrored requests
  # past it, which is a real difference the analysis may see. This test is
  # about the shadow's flow, so its analysis wants strong evidence; the
  # failing case (one shadow answer in five a 5xx) still gives it.
  analysis:
    alpha: 0.0001
  rollback:
    automatic: true
    hold: true
`

// A shadow rollout mirrors requests to the candidate for its duration,
// compares it with stable on the mirrored requests, then gives it all the
// traffic; one that fails is rolled back without users having seen it.
func TestShadowRollout(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing=%v", failing), func(t *testing.T) {
			w := newWorldWith(t, shadowPipeline, shadowPolicy)
			if failing {
				w.failV2.Store(5) // one shadow answer in five is a 5xx
			}
			r := w.drive(t)
			switch {
			case !failing && (r.State != promote.RolloutSucceeded || r.Weight != 1):
				t.Errorf("healthy shadow rollout = %s at weight %g (%s), want succeeded with all traffic", r.State, r.Weight, r.Reason)
			case failing && (r.State != promote.RolloutRolledBack || w.splitter.Weights() != 0):
				t.Errorf("failing shadow rollout = %s, splitter weight %g (%s), want rolled back with no traffic", r.State, w.splitter.Weights(), r.Reason)
			}
			if r.Strategy != "shadow" {
				t.Errorf("rollout strategy %q, want shadow", r.Strategy)
			}
		})
	}
}

// failingMetrics stands for a metric source that has spent its error
// budget (the Poller's StatusFailed), which a real one reaches only after
// minutes of failures.
type failingMetrics struct{}

func (failingMetrics) Read(context.Context, metrics.Query) metrics.Reading {
	return metrics.Reading{Status: metrics.StatusFailed, Err: fmt.Errorf("%w: 4 consecutive failed queries", metrics.ErrBudgetExhausted)}
}

// When the controller cannot judge, and the policy does not say to roll
// back then, all traffic returns to stable and the rollout waits for a
// person.
func TestCannotJudgeReturnsTrafficToStable(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	if r.State != promote.RolloutRunning || w.splitter.Weights() != 0.1 {
		t.Fatalf("rollout = %s, splitter weight %g; want running at 0.1", r.State, w.splitter.Weights())
	}
	r = w.pump(t, w.blind(t), 1)
	if r.State != promote.RolloutPaused || r.Weight != 0 || w.splitter.Weights() != 0 || !strings.Contains(r.Reason, "cannot judge") {
		t.Errorf("rollout = %s at weight %g, splitter %g (%s); want paused, all traffic on stable, saying it cannot judge",
			r.State, r.Weight, w.splitter.Weights(), r.Reason)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateRollingOut {
		t.Errorf("promotion is %s, want still rolling out: a person decides", p.State)
	}
	list := w.samples(t, r.PromotionID)
	if last := list[len(list)-1]; last.Event != "paused" || last.Weight != 0 || last.Decision != "" {
		t.Errorf("last sample = %+v; want paused at weight 0, without a decision", last)
	}
}

// forgetting records the queries the controller tells the real Poller to
// forget.
type forgetting struct {
	*metrics.Poller
	forgot []string
}

func (f *forgetting) Forget(q metrics.Query) {
	f.forgot = append(f.forgot, q.Track)
	f.Poller.Forget(q)
}

// A finished rollout's queries are forgotten, so a long-running
// controller keeps nothing per ended rollout.
func TestFinishedRolloutIsForgotten(t *testing.T) {
	w := newWorld(t)
	f := &forgetting{Poller: w.ctl.cfg.Metrics.(*metrics.Poller)}
	cfg := w.ctl.cfg
	cfg.Metrics = f
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := w.pump(t, ctl, 200); r.State != promote.RolloutSucceeded {
		t.Fatalf("rollout = %s, want succeeded", r.State)
	}
	if fmt.Sprint(f.forgot) != "[stable canary]" {
		t.Errorf("forgot %v, want the stable and canary queries", f.forgot)
	}
	if len(ctl.runs) != 0 {
		t.Errorf("the controller keeps %d runs after the rollout ended, want none", len(ctl.runs))
	}
}

// pairReader is the real Poller that remembers the last pair of stable and
// candidate readings that were both OK: the counts the controller judged
// last.
type pairReader struct {
	*metrics.Poller
	stable  metrics.Reading
	judged  [2]metrics.Counts
	nJudged int
}

func (p *pairReader) Read(ctx context.Context, q metrics.Query) metrics.Reading {
	rd := p.Poller.Read(ctx, q)
	if q.Track == metrics.TrackStable {
		p.stable = rd
		return rd
	}
	if p.stable.Status == metrics.StatusOK && rd.Status == metrics.StatusOK {
		p.judged = [2]metrics.Counts{p.stable.Counts, rd.Counts}
		p.nJudged++
	}
	return rd
}

// sampling returns a controller over w's world that samples every 5 s of a
// clock the test moves, reading through a pairReader.
func (w *world) sampling(t *testing.T, now *time.Time) (*Controller, *pairReader) {
	t.Helper()
	pr := &pairReader{Poller: w.ctl.cfg.Metrics.(*metrics.Poller)}
	cfg := w.ctl.cfg
	cfg.Metrics, cfg.SampleEvery = pr, 5*time.Second
	cfg.Now = func() time.Time { return *now }
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ctl, pr
}

// pumpClock is pump with a clock that moves 2 s before every tick.
func (w *world) pumpClock(t *testing.T, ctl *Controller, now *time.Time, rounds int) promote.Rollout {
	t.Helper()
	client := w.front.Client()
	var r promote.Rollout
	for range rounds {
		for range 50 {
			resp, err := client.Get(w.front.URL + "/predict")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		*now = now.Add(2 * time.Second)
		if err := ctl.Tick(t.Context()); err != nil {
			t.Fatalf("Tick: %v", err)
		}
		if r = w.rollout(t); r.PromotionID != "" && !r.State.Active() {
			break
		}
	}
	return r
}

func (w *world) samples(t *testing.T, id string) []promote.RolloutSample {
	t.Helper()
	list, err := w.svc.RolloutSamples(t.Context(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// checkSums fails unless the samples' intervals add up to the counts the
// controller judged last: nothing counted twice, nothing lost.
func checkSums(t *testing.T, list []promote.RolloutSample, pr *pairReader) {
	t.Helper()
	var stable, canary, canaryErrors float64
	for _, s := range list {
		stable += s.Stable.Requests
		canary += s.Canary.Requests
		canaryErrors += s.Canary.Errors
		for _, tr := range []promote.TrackSample{s.Stable, s.Canary} {
			if (tr.Requests > 0) != (tr.LatencyP95 > 0) {
				t.Errorf("sample at %s: %g requests with p95 %gs; want a p95 exactly when there are requests", s.At, tr.Requests, tr.LatencyP95)
			}
		}
	}
	if pr.nJudged == 0 || pr.judged[1].Requests == 0 {
		t.Fatalf("the controller judged %d readings, the last with %g canary requests; want some", pr.nJudged, pr.judged[1].Requests)
	}
	if stable != pr.judged[0].Requests || canary != pr.judged[1].Requests || canaryErrors != pr.judged[1].Errors {
		t.Errorf("the samples add up to %g stable and %g canary requests (%g errors); the last reading counted %g, %g (%g)",
			stable, canary, canaryErrors, pr.judged[0].Requests, pr.judged[1].Requests, pr.judged[1].Errors)
	}
}

// events lists the samples' events with step, weight and decision, in
// order, and checks that plain samples come at most one per 5 s, each with
// the analysis's decision.
func events(t *testing.T, list []promote.RolloutSample) []string {
	t.Helper()
	var out []string
	var lastPlain time.Time
	for _, s := range list {
		if s.Event != "" {
			out = append(out, fmt.Sprintf("%s %d %g %s", s.Event, s.Step, s.Weight, s.Decision))
			continue
		}
		if s.Decision == "" {
			t.Errorf("plain sample at %s has no decision", s.At)
		}
		if !lastPlain.IsZero() && s.At.Sub(lastPlain) < 5*time.Second {
			t.Errorf("plain samples at %s and %s: less than 5 s apart", lastPlain, s.At)
		}
		lastPlain = s.At
	}
	return out
}

func TestSamplesOfAHealthyCanary(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	start := now
	ctl, pr := w.sampling(t, &now)
	r := w.pumpClock(t, ctl, &now, 200)
	if r.State != promote.RolloutSucceeded {
		t.Fatalf("rollout = %s (%s), want succeeded", r.State, r.Reason)
	}
	list := w.samples(t, r.PromotionID)
	if len(list) < 2 || list[0].Event != "step" || list[1].Event != "" || list[1].Decision == "" || !list[1].At.After(list[0].At) {
		t.Fatalf("first samples %+v; want the start's step, then a plain sample at the first judged tick", list[:min(2, len(list))])
	}
	got := events(t, list)
	want := []string{"step 0 0.1 ", "step 1 0.5 continue", "step 2 1 continue", "succeeded 2 1 continue"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample events mismatch (-want +got):\n%s", diff)
	}
	plain := len(list) - len(got)
	if most := int(now.Sub(start)/(5*time.Second)) + 1; plain > most || plain < 3 {
		t.Errorf("%d plain samples in %s; want from 3 to %d, at most one per 5 s", plain, now.Sub(start), most)
	}
	checkSums(t, list, pr)
}

// Within a step, the rollout as stored (what the API, promote rollout show
// and watch read) carries the analysis's verdict as of its last sample,
// not only as of its last step, and storing it does not move the revision
// that people's operations check.
func TestVerdictStoredWithSamples(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	ctl, _ := w.sampling(t, &now)
	started := w.pump(t, ctl, 1)
	if started.State != promote.RolloutRunning || started.Step != 0 {
		t.Fatalf("rollout = %s at step %d, want running at step 1", started.State, started.Step+1)
	}
	r := w.pumpClock(t, ctl, &now, 4) // 8 s: samples at the first judged tick and 5 s later; the step wants 100 canary requests
	if r.State != promote.RolloutRunning || r.Step != 0 {
		t.Fatalf("rollout = %s at step %d, want still running at step 1", r.State, r.Step+1)
	}
	if r.Revision != started.Revision {
		t.Errorf("the revision moved from %d to %d within a step", started.Revision, r.Revision)
	}
	var v analysis.Verdict
	if err := json.Unmarshal(r.Verdict, &v); err != nil {
		t.Fatalf("Rollout().Verdict = %q within step 1: %v; want the analysis's verdict", r.Verdict, err)
	}
	if v.Decision != analysis.Continue || len(v.Tests) == 0 || v.Tests[0].Name != analysis.TestErrorRate || v.Tests[0].CanaryRequests == 0 {
		t.Errorf("Rollout().Verdict = %+v; want continue, with the canary's requests counted by the error-rate test", v)
	}
	list := w.samples(t, r.PromotionID)
	if last := list[len(list)-1]; !v.At.Equal(last.At) {
		t.Errorf("the stored verdict is of %s, the last sample of %s; want the same", v.At, last.At)
	}
}

func TestSamplesOfAFaultyCanary(t *testing.T) {
	w := newWorld(t)
	w.failV2.Store(10)
	now := time.Now()
	ctl, pr := w.sampling(t, &now)
	r := w.pumpClock(t, ctl, &now, 200)
	if r.State != promote.RolloutRolledBack {
		t.Fatalf("rollout = %s (%s), want rolled back", r.State, r.Reason)
	}
	list := w.samples(t, r.PromotionID)
	got := events(t, list)
	if len(got) == len(list) {
		t.Error("no plain sample")
	}
	if len(got) < 2 || got[0] != "step 0 0.1 " || got[len(got)-1] != fmt.Sprintf("rolled_back %d 0 fail", r.Step) {
		t.Errorf("sample events %q; want the start's step first and rolled_back at weight 0 with decision fail last", got)
	}
	checkSums(t, list, pr)
	var errs float64
	for _, s := range list {
		errs += s.Canary.Errors
	}
	if errs == 0 {
		t.Error("the samples count no canary error")
	}
}

// noSamples is the registry with a store that refuses samples.
type noSamples struct{ *registry.Service }

func (noSamples) RecordRolloutProgress(context.Context, promote.RolloutSample, int64, promote.RolloutProgress) error {
	return promote.Errorf(promote.Internal, "disk full")
}

// A sample that cannot be stored is logged; the rollout goes on.
func TestSampleFailureDoesNotStopTheRollout(t *testing.T) {
	w := newWorld(t)
	var logs strings.Builder
	cfg := w.ctl.cfg
	cfg.Registry = noSamples{w.svc}
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := w.pump(t, ctl, 200); r.State != promote.RolloutSucceeded {
		t.Fatalf("rollout = %s (%s), want succeeded", r.State, r.Reason)
	}
	if list := w.samples(t, w.rollout(t).PromotionID); len(list) != 0 {
		t.Errorf("%d samples stored, want none", len(list))
	}
	if !strings.Contains(logs.String(), "storing a sample failed") || !strings.Contains(logs.String(), "disk full") {
		t.Errorf("logs lack the failed sample:\n%s", logs.String())
	}
}

func TestNewRejectsNegativeSampleEvery(t *testing.T) {
	cfg := Config{Registry: noSamples{}, Traffic: &world{}, Metrics: failingMetrics{}, SampleEvery: -time.Second}
	if _, err := New(cfg); promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "sample interval") {
		t.Errorf("New with SampleEvery -1s = %v, want Invalid naming the sample interval", err)
	}
}

// splitterTraffic is the traffic layer of another replica: a splitter of
// its own, in front of the same model servers.
type splitterTraffic struct{ sp *traffic.Splitter }

func (s splitterTraffic) SetWeight(_ context.Context, _, _ string, weight float64) error {
	return s.sp.SetWeight(weight)
}

func (s splitterTraffic) SetShadow(context.Context, string, string, float64) error { return nil }

func (s splitterTraffic) Ready(context.Context, string, string, string) bool { return true }

func (s splitterTraffic) SetPinned(_ context.Context, _, _ string, on bool) error {
	s.sp.SetPinned(on)
	return nil
}

// A replica that does not run the controller follows the weights the
// leader stores, and the end of the rollout; a pause made through it
// stops the leader, whose analysis starts afresh at the resumption.
func TestFollowerAppliesStoredWeights(t *testing.T) {
	w := newWorld(t)
	follower, sp := newFollower(t, w)
	r := w.pumpUntil(t, w.ctl, 100, func(r promote.Rollout) bool { return r.Step == 1 })
	seen := follower.follow(t.Context(), nil)
	if got := sp.Weights(); r.Step != 1 || got != 0.5 {
		t.Fatalf("the follower's splitter at the leader's step %d = %g, want 0.5 at step 2", r.Step+1, got)
	}
	if _, err := follower.Pause(t.Context(), lena, r.PromotionID, "through another replica"); err != nil {
		t.Fatalf("Pause through the follower: %v", err)
	}
	if r := w.pump(t, w.ctl, 5); r.State != promote.RolloutPaused || r.Step != 1 {
		t.Fatalf("the leader after a pause through the follower: %s at step %d, want paused at step 2", r.State, r.Step+1)
	}
	w.ctl.mu.Lock()
	kept := len(w.ctl.runs)
	w.ctl.mu.Unlock()
	if kept != 0 {
		t.Errorf("the leader keeps %d runs of a paused rollout, want none", kept)
	}
	if _, err := follower.Resume(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatalf("Resume through the follower: %v", err)
	}
	seen = follower.follow(t.Context(), seen)
	if r := w.drive(t); r.State != promote.RolloutSucceeded {
		t.Fatalf("rollout = %s (%s), want succeeded", r.State, r.Reason)
	}
	if follower.follow(t.Context(), seen); sp.Weights() != 1 {
		t.Errorf("the follower's splitter after the rollout succeeded = %g, want 1", sp.Weights())
	}
}

// newFollower returns a controller of another replica, on the same
// registry, with a splitter of its own.
func newFollower(t *testing.T, w *world) (*Controller, *traffic.Splitter) {
	t.Helper()
	sp, err := traffic.New(traffic.Config{Model: "credit-risk", Env: "prod", Registry: telemetry.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	if err := sp.SetStable(traffic.Backend{Version: "1", URL: w.v2}); err != nil {
		t.Fatal(err)
	}
	if err := sp.SetCanary(&traffic.Backend{Version: "2", URL: w.v2}, 0); err != nil {
		t.Fatal(err)
	}
	cfg := w.ctl.cfg
	cfg.Traffic = splitterTraffic{sp}
	follower, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return follower, sp
}

// A rollout aborted or promoted through another replica gives the
// leader's traffic layer the end's traffic at the leader's next tick.
func TestEndThroughAnotherReplicaReachesTheLeader(t *testing.T) {
	for _, verb := range []string{"abort", "promote"} {
		t.Run(verb, func(t *testing.T) {
			w := newWorld(t)
			follower, _ := newFollower(t, w)
			r := w.pump(t, w.ctl, 1)
			if w.splitter.Weights() != 0.1 {
				t.Fatalf("the leader's splitter after the first tick = %g, want 0.1", w.splitter.Weights())
			}
			want := 0.0
			var err error
			if verb == "abort" {
				_, err = follower.Abort(t.Context(), lena, r.PromotionID, "through another replica")
			} else {
				want = 1
				_, err = follower.PromoteNow(t.Context(), lena, r.PromotionID, "through another replica")
			}
			if err != nil {
				t.Fatalf("%s through the follower: %v", verb, err)
			}
			if err := w.ctl.Tick(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := w.splitter.Weights(); got != want {
				t.Errorf("the leader's splitter after a %s through another replica = %g, want %g", verb, got, want)
			}
		})
	}
}
