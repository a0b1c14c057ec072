package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/promote"
)

// The registry side of the reconciler tests: a real service on SQLite,
// with the scaffold's dev -> staging -> prod, prod needing one approval.
const reconcilePipeline = `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: dev
    policy: policy.yaml
  - name: staging
    from: dev
    policy: policy.yaml
  - name: prod
    from: staging
    policy: policy.yaml
`

const reconcilePolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
  metrics:
    accuracy_delta: ">= 0"
environments:
  dev: {}
  staging: {}
  prod:
    gate:
      approvals:
        min: 1
`

var (
	ci   = promote.Principal{Name: "ci", Role: promote.RoleSubmitter}
	lena = promote.Principal{Name: "lena", Role: promote.RoleApprover}
)

type regFixture struct {
	svc   *registry.Service
	store promote.Store
	dir   string
	// cues records the registry's Changed calls.
	mu   sync.Mutex
	cues []string
}

func newRegistry(t *testing.T) *regFixture {
	t.Helper()
	f := &regFixture{dir: t.TempDir()}
	f.store = registrytest.SQLite(t, f.dir)
	setup := registrytest.Load(t, reconcilePipeline, reconcilePolicy)
	f.svc = setup.New(t, f.store, registry.Config{ArtifactRoots: []string{f.dir}, GitOps: true,
		Changed: func(model, env string) {
			f.mu.Lock()
			f.cues = append(f.cues, model+"/"+env)
			f.mu.Unlock()
		}})
	if _, err := f.svc.CreateModel(t.Context(), ci, "credit-risk", ""); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *regFixture) register(t *testing.T, version, accuracy string) promote.Version {
	t.Helper()
	path := filepath.Join(f.dir, "model-"+version+".bin")
	body := []byte("weights of " + version)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.RegisterVersion(t.Context(), ci, registry.RegisterRequest{Model: "credit-risk", Version: version,
		ArtifactURI: "file://" + path, Metrics: []byte(`{"accuracy": ` + accuracy + `, "checks": {"tests_passed": true}}`)})
	if err != nil {
		t.Fatalf("RegisterVersion(%s): %v", version, err)
	}
	if d, _, _ := signature.Digest(bytes.NewReader(body)); v.Digest != fmt.Sprintf("sha256:%x", d) {
		t.Fatalf("digest of %s = %s, want %s", version, v.Digest, d)
	}
	return v
}

// promote requests version in env and approves it when it waits.
func (f *regFixture) promote(t *testing.T, version, env string) registry.PromotionView {
	t.Helper()
	view, err := f.svc.RequestPromotion(t.Context(), ci, registry.PromoteRequest{Model: "credit-risk", Version: version, Environment: env})
	if err != nil {
		t.Fatalf("RequestPromotion(%s → %s): %v", version, env, err)
	}
	if view.Promotion.State == promote.StateAwaitingApproval {
		view, err = f.svc.Approve(t.Context(), lena, view.Promotion.ID, registry.ApproveRequest{Digest: view.Promotion.Digest})
		if err != nil {
			t.Fatalf("Approve(%s → %s): %v", version, env, err)
		}
	}
	if view.Promotion.State != promote.StateApproved {
		t.Fatalf("promotion of %s to %s is %s (%s), want approved", version, env, view.Promotion.State, view.Promotion.Reason)
	}
	return view
}

func (f *regFixture) promotion(t *testing.T, id string) promote.Promotion {
	t.Helper()
	v, err := f.svc.Promotion(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Promotion
}

func (f *regFixture) live(t *testing.T, env string) (promote.Live, bool) {
	t.Helper()
	st, err := f.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	l, ok := st.Live[env]
	return l, ok
}

func (f *regFixture) verify(t *testing.T) {
	t.Helper()
	res, err := audit.Verify(t.Context(), f.store)
	if err != nil || !res.OK {
		t.Fatalf("audit.Verify = %+v, %v; want an intact chain", res, err)
	}
}

func (f *regFixture) auditActions(t *testing.T, promotionID string) []string {
	t.Helper()
	events, err := f.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: promotionID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		out = append(out, events[i].Action+":"+events[i].Decision)
	}
	return out
}

func newReconciler(t *testing.T, w *Writer, reg Registry) *Reconciler {
	t.Helper()
	r, err := NewReconciler(ReconcilerConfig{Writer: w, Registry: reg, RetryDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func kinds(out Outcome) []string {
	var k []string
	for _, a := range out.Actions {
		s := a.Deployment.Environment + "/" + a.Deployment.Version + ":" + string(a.Kind)
		if a.Err != nil {
			s += " (" + a.Err.Error() + ")"
		}
		k = append(k, s)
	}
	return k
}

func reconcile(t *testing.T, r *Reconciler, model, env string) Outcome {
	t.Helper()
	out, err := r.Reconcile(t.Context(), model, env)
	if err != nil {
		t.Fatalf("Reconcile(%q, %q): %v", model, env, err)
	}
	return out
}

func TestReconcileCommitsAPromotionOnce(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	v2 := f.register(t, "2", "0.91")
	r := newReconciler(t, newWriter(t, bare, nil), f.svc)
	n := commitCount(t, bare, "main")

	// dev, staging, then prod with an approval: one commit each.
	var ids []string
	for _, env := range []string{"dev", "staging", "prod"} {
		view := f.promote(t, "2", env)
		ids = append(ids, view.Promotion.ID)
		if l, _ := f.live(t, env); l.Version != "2" || l.Commit != "" {
			t.Fatalf("live in %s before the reconciler = %+v, want version 2 without a commit", env, l)
		}
		out := reconcile(t, r, "credit-risk", env)
		if diff := cmp.Diff([]string{env + "/2:committed"}, kinds(out)); diff != "" {
			t.Fatalf("Reconcile(%s) actions (-want +got):\n%s", env, diff)
		}
		head := runGit(t, bare, "rev-parse", "main")
		if out.Actions[0].Commit != head {
			t.Errorf("commit %s, want main's head %s", out.Actions[0].Commit, head)
		}
		if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded {
			t.Errorf("promotion to %s is %s after its commit, want succeeded", env, p.State)
		}
		if l, _ := f.live(t, env); l.Commit != head {
			t.Errorf("live in %s records commit %q, want %s", env, l.Commit, head)
		}
	}
	if got := commitCount(t, bare, "main"); got != n+3 {
		t.Errorf("main has %d commits, want %d: one per promotion", got, n+3)
	}
	want := []string{
		"Promotion-Id: " + ids[2], "Model: credit-risk", "Version: 2", "Digest: " + v2.Digest, "Environment: prod",
		"Approved-By: lena", "Gate: allowed: 3 passed",
	}
	if diff := cmp.Diff(want, cliTrailers(t, bare, "main")); diff != "" {
		t.Errorf("prod commit trailers (-want +got):\n%s", diff)
	}
	if got := pinsOnBranch(t, bare, "prod")["credit-risk"]; got.Version != "2" || got.Digest != v2.Digest || got.URI != v2.ArtifactURI {
		t.Errorf("prod pins %+v, want version 2 of %s at %s", got, v2.Digest, v2.ArtifactURI)
	}
	wantAudit := []string{"promotion.requested:requested", "promotion.state:gated", "promotion.state:awaiting_approval",
		"promotion.approval:approved", "promotion.state:approved", "live.changed:promoted", "gitops.committed:committed",
		"promotion.state:committed", "promotion.state:succeeded"}
	if diff := cmp.Diff(wantAudit, f.auditActions(t, ids[2])); diff != "" {
		t.Errorf("prod promotion's audit events (-want +got):\n%s", diff)
	}

	// Again: everything is in sync and nothing is committed.
	out := reconcile(t, r, "", "")
	if out.InSync != 3 || len(out.Actions) != 0 {
		t.Errorf("Reconcile again = %d in sync, actions %v; want 3 and none", out.InSync, kinds(out))
	}
	if got := commitCount(t, bare, "main"); got != n+3 {
		t.Errorf("main has %d commits after a second pass, want %d", got, n+3)
	}
	f.verify(t)
}

// A crash after the registry moved the alias and before the push: the
// restarted process (a fresh writer and reconciler) commits once.
func TestReconcileAfterCrashBeforePush(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	view := f.promote(t, "2", "dev")
	n := commitCount(t, bare, "main")

	// The first process dies between its commit and its push.
	w := newWriter(t, bare, nil)
	ctx, cancel := context.WithCancel(t.Context())
	w.beforePush = cancel
	if _, err := newReconciler(t, w, f.svc).Reconcile(ctx, "credit-risk", "dev"); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Reconcile with the push interrupted: %v", err)
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Fatalf("main has %d commits after an interrupted push, want %d", got, n)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateApproved {
		t.Fatalf("promotion is %s after an interrupted push, want approved", p.State)
	}

	// At restart, a full sweep repairs it.
	out := reconcile(t, newReconciler(t, newWriter(t, bare, nil), f.svc), "", "")
	if diff := cmp.Diff([]string{"dev/2:committed"}, kinds(out)); diff != "" {
		t.Errorf("Reconcile after restart (-want +got):\n%s", diff)
	}
	if got := commitCount(t, bare, "main"); got != n+1 {
		t.Errorf("main has %d commits, want %d", got, n+1)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded {
		t.Errorf("promotion is %s, want succeeded", p.State)
	}
	f.verify(t)
}

// stopAfterPush is the registry of a process that dies after its push
// and before it records the commit.
type stopAfterPush struct {
	Registry
}

var errStopped = errors.New("the process stopped")

func (stopAfterPush) Delivered(context.Context, promote.Deployment, string) error { return errStopped }

func TestReconcileAfterCrashAfterPush(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	view := f.promote(t, "2", "dev")
	n := commitCount(t, bare, "main")

	out := reconcile(t, newReconciler(t, newWriter(t, bare, nil), stopAfterPush{f.svc}), "credit-risk", "dev")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRetry || !errors.Is(out.Actions[0].Err, errStopped) {
		t.Fatalf("Reconcile with the record lost = %v, want a retry", kinds(out))
	}
	pushed := runGit(t, bare, "rev-parse", "main")
	if got := commitCount(t, bare, "main"); got != n+1 {
		t.Fatalf("main has %d commits after the push, want %d", got, n+1)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateApproved {
		t.Fatalf("promotion is %s before the record, want approved", p.State)
	}

	// At restart the branch has it: it is recorded with that commit,
	// and nothing is committed again.
	out = reconcile(t, newReconciler(t, newWriter(t, bare, nil), f.svc), "", "")
	if diff := cmp.Diff([]string{"dev/2:recorded"}, kinds(out)); diff != "" {
		t.Errorf("Reconcile after restart (-want +got):\n%s", diff)
	}
	if out.Actions[0].Commit != pushed {
		t.Errorf("recorded commit %s, want the pushed %s", out.Actions[0].Commit, pushed)
	}
	if got := commitCount(t, bare, "main"); got != n+1 {
		t.Errorf("main has %d commits, want still %d", got, n+1)
	}
	if l, _ := f.live(t, "dev"); l.Commit != pushed {
		t.Errorf("live records commit %q, want %s", l.Commit, pushed)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded {
		t.Errorf("promotion is %s, want succeeded", p.State)
	}
	f.verify(t)
}

func TestReconcileBrokenOverlayFailsThePromotion(t *testing.T) {
	bare := newRemote(t, func(dir string) {
		p := filepath.Join(dir, "deploy", "overlays", "staging", "kustomization.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, append(b, []byte("resources: [missing.yaml]\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	f.register(t, "3", "0.92")
	r := newReconciler(t, newWriter(t, bare, nil), f.svc)
	f.promote(t, "2", "dev")
	reconcile(t, r, "credit-risk", "dev")
	first := f.promote(t, "2", "staging")
	n := commitCount(t, bare, "main")

	// A first promotion into staging cannot render: it fails, and the
	// alias is cleared.
	out := reconcile(t, r, "credit-risk", "staging")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionFailed || !errors.Is(out.Actions[0].Err, ErrRender) {
		t.Fatalf("Reconcile of a broken overlay = %v, want failed with ErrRender", kinds(out))
	}
	if !strings.Contains(out.Actions[0].Err.Error(), "missing.yaml") {
		t.Errorf("error %q does not carry kustomize's error about missing.yaml", out.Actions[0].Err)
	}
	p := f.promotion(t, first.Promotion.ID)
	if p.State != promote.StateFailed || !strings.Contains(p.Reason, "missing.yaml") {
		t.Errorf("promotion is %s (%q), want failed with kustomize's error", p.State, p.Reason)
	}
	if l, ok := f.live(t, "staging"); ok {
		t.Errorf("live in staging = %+v, want none: the only change never reached Git", l)
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Errorf("main has %d commits, want %d", got, n)
	}

	// In dev, where 2 is delivered, 3 fails later on an overlay that
	// stopped declaring the model: the alias returns to 2.
	view := f.promote(t, "3", "dev")
	breakDev := filepath.Join(t.TempDir(), "break")
	runGit(t, t.TempDir(), "clone", "-q", bare, breakDev)
	if err := os.Remove(filepath.Join(breakDev, "deploy", "overlays", "dev", "models", "credit-risk.env")); err != nil {
		t.Fatal(err)
	}
	kust := filepath.Join(breakDev, "deploy", "overlays", "dev", "kustomization.yaml")
	b, _ := os.ReadFile(kust)
	if err := os.WriteFile(kust, bytes.ReplaceAll(b, []byte("models/credit-risk.env"), []byte("models/other.env")), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, breakDev, "add", "-A")
	runGit(t, breakDev, "commit", "-q", "-m", "stop declaring credit-risk")
	runGit(t, breakDev, "push", "-q", "origin", "main")
	out = reconcile(t, r, "credit-risk", "dev")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionFailed || !errors.Is(out.Actions[0].Err, ErrOverlay) {
		t.Fatalf("Reconcile of an overlay without the model = %v, want failed with ErrOverlay", kinds(out))
	}
	if l, _ := f.live(t, "dev"); l.Version != "2" || l.Commit == "" {
		t.Errorf("live in dev = %+v, want 2 again, delivered", l)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateFailed {
		t.Errorf("promotion of 3 is %s, want failed", p.State)
	}
	f.verify(t)
}

func TestReconcileRollbackIsOneCommit(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	v2 := f.register(t, "2", "0.91")
	f.register(t, "3", "0.92")
	r := newReconciler(t, newWriter(t, bare, nil), f.svc)
	for _, v := range []string{"2", "3"} {
		view := f.promote(t, v, "dev")
		reconcile(t, r, "credit-risk", "dev")
		if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded {
			t.Fatalf("promotion of %s is %s, want succeeded", v, p.State)
		}
	}
	n := commitCount(t, bare, "main")

	rb, err := f.svc.Rollback(t.Context(), lena, registry.RollbackRequest{Model: "credit-risk", Environment: "dev", Reason: "error rate 5% on live traffic"})
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if rb.Live.Version != "2" || rb.RolledBack != "3" || rb.Hold.Version != "3" {
		t.Errorf("Rollback = live %s, rolled back %s, hold on %s; want 2, 3, 3", rb.Live.Version, rb.RolledBack, rb.Hold.Version)
	}
	out := reconcile(t, r, "credit-risk", "dev")
	if diff := cmp.Diff([]string{"dev/2:committed"}, kinds(out)); diff != "" {
		t.Fatalf("Reconcile of the rollback (-want +got):\n%s", diff)
	}
	if got := commitCount(t, bare, "main"); got != n+1 {
		t.Errorf("main has %d commits, want %d: one for the rollback", got, n+1)
	}
	want := []string{"Promotion-Id: " + rb.Live.PromotionID, "Model: credit-risk", "Version: 2", "Digest: " + v2.Digest,
		"Environment: dev", "Rollback-Of: 3", "Reason: error rate 5% on live traffic"}
	if diff := cmp.Diff(want, cliTrailers(t, bare, "main")); diff != "" {
		t.Errorf("rollback commit trailers (-want +got):\n%s", diff)
	}
	if got := runGit(t, bare, "log", "-1", "--format=%s", "main"); got != "rollback credit-risk in dev to 2" {
		t.Errorf("rollback commit subject %q", got)
	}
	if l, _ := f.live(t, "dev"); l.Version != "2" || l.RollbackOf != "3" || l.Commit != runGit(t, bare, "rev-parse", "main") {
		t.Errorf("live in dev = %+v, want 2, rolling back 3, at main's head", l)
	}
	// The rolled-back version may not come back until a person clears
	// the hold.
	req, err := f.svc.RequestPromotion(t.Context(), ci, registry.PromoteRequest{Model: "credit-risk", Version: "3", Environment: "dev"})
	if err != nil || req.Promotion.State != promote.StateBlocked {
		t.Errorf("RequestPromotion of the held version = %s, %v; want blocked", req.Promotion.State, err)
	}
	if out := reconcile(t, r, "", ""); len(out.Actions) != 0 {
		t.Errorf("Reconcile again = %v, want nothing", kinds(out))
	}
	f.verify(t)
}

// Two replicas' reconcilers deliver promotions to different environments
// at once: each lands once on the branch.
func TestReconcileConcurrentEnvironments(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	f.register(t, "3", "0.92")
	r := newReconciler(t, newWriter(t, bare, nil), f.svc)
	f.promote(t, "2", "dev")
	reconcile(t, r, "", "")
	f.promote(t, "2", "staging")
	reconcile(t, r, "", "")
	f.promote(t, "3", "dev")
	f.promote(t, "2", "prod")
	n := commitCount(t, bare, "main")

	var wg sync.WaitGroup
	outs := make([]Outcome, 2)
	errs := make([]error, 2)
	for i, env := range []string{"dev", "prod"} {
		rr := newReconciler(t, newWriter(t, bare, nil), f.svc)
		wg.Go(func() { outs[i], errs[i] = rr.Reconcile(t.Context(), "credit-risk", env) })
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil || len(outs[i].Actions) != 1 || outs[i].Actions[0].Kind != ActionCommitted {
			t.Errorf("Reconcile %d = %v, %v; want one commit", i, kinds(outs[i]), errs[i])
		}
	}
	if got := commitCount(t, bare, "main"); got != n+2 {
		t.Errorf("main has %d commits, want %d", got, n+2)
	}
	wantVersions(t, bare, map[string]string{"dev": "3", "staging": "2", "prod": "2"})
	f.verify(t)
}

// wantVersions checks the version of credit-risk that the branch pins in
// each environment.
func wantVersions(t *testing.T, bare string, want map[string]string) {
	t.Helper()
	for env, v := range want {
		if got := pinsOnBranch(t, bare, env)["credit-risk"].Version; got != v {
			t.Errorf("%s pins %s, want %s", env, got, v)
		}
	}
}

func TestRunCommitsOnTrigger(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	r, err := NewReconciler(ReconcilerConfig{Writer: newWriter(t, bare, nil), Registry: f.svc, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	committed := make(chan string, 4)
	r.cfg.Committed = func(d promote.Deployment, commit string) { committed <- d.Environment + "@" + commit }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	}()

	f.promote(t, "2", "dev")
	f.mu.Lock()
	cues := append([]string(nil), f.cues...)
	f.mu.Unlock()
	if diff := cmp.Diff([]string{"credit-risk/dev"}, cues); diff != "" {
		t.Fatalf("the registry's cues (-want +got):\n%s", diff)
	}
	r.Trigger("credit-risk", "dev")
	select {
	case got := <-committed:
		if want := "dev@" + runGit(t, bare, "rev-parse", "main"); got != want {
			t.Errorf("committed %s, want %s", got, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no commit 30 s after the trigger")
	}
}

func TestReconcilePullRequestWaitsForTheMerge(t *testing.T) {
	for _, merge := range []bool{true, false} {
		t.Run(fmt.Sprintf("merged=%v", merge), func(t *testing.T) {
			bare := newRemote(t, nil)
			gh := &fakeGitHub{t: t}
			srv := httptest.NewServer(gh.handler())
			defer srv.Close()
			w := newWriter(t, bare, func(c *Config) {
				c.Mode = ModePullRequest
				c.PullRequest = PullRequestConfig{Provider: ProviderGitHub, BaseURL: srv.URL, Repository: "acme/gitops"}
				c.Credentials = Credentials{Token: apiToken}
				c.HTTPClient = srv.Client()
			})
			f := newRegistry(t)
			f.register(t, "2", "0.91")
			view := f.promote(t, "2", "dev")
			r := newReconciler(t, w, f.svc)
			mainBefore := runGit(t, bare, "rev-parse", "main")
			for range 2 {
				if diff := cmp.Diff([]string{"dev/2:review"}, kinds(reconcile(t, r, "", ""))); diff != "" {
					t.Fatalf("Reconcile with the pull request open (-want +got):\n%s", diff)
				}
			}
			if len(gh.pulls) != 1 || runGit(t, bare, "rev-parse", "main") != mainBefore {
				t.Fatalf("%d pull requests and main moved: want one pull request and main untouched", len(gh.pulls))
			}
			if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateApproved {
				t.Fatalf("promotion is %s while its pull request is open, want approved", p.State)
			}
			const branch = "promote/credit-risk-2-dev"
			if merge {
				review := filepath.Join(t.TempDir(), "review")
				runGit(t, t.TempDir(), "clone", "-q", bare, review)
				runGit(t, review, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/"+branch)
				runGit(t, review, "push", "-q", "origin", "main")
				gh.set(1, "closed", true)
			} else {
				gh.set(1, "closed", false)
			}
			out := reconcile(t, r, "", "")
			p := f.promotion(t, view.Promotion.ID)
			if merge {
				if diff := cmp.Diff([]string{"dev/2:recorded"}, kinds(out)); diff != "" {
					t.Errorf("Reconcile after the merge (-want +got):\n%s", diff)
				}
				if l, _ := f.live(t, "dev"); p.State != promote.StateSucceeded || l.Commit != runGit(t, bare, "rev-parse", branch) {
					t.Errorf("after the merge: promotion %s, live commit %q; want succeeded at the review commit", p.State, l.Commit)
				}
			} else {
				if len(out.Actions) != 1 || out.Actions[0].Kind != ActionFailed {
					t.Errorf("Reconcile after the close = %v, want failed", kinds(out))
				}
				if _, ok := f.live(t, "dev"); p.State != promote.StateFailed || ok {
					t.Errorf("after the close: promotion %s, live set %v; want failed and no live version", p.State, ok)
				}
			}
			f.verify(t)
		})
	}
}

// refusePushes installs in the bare repository bare a pre-receive hook
// that refuses every push, as a protected branch would, or removes it.
func refusePushes(t *testing.T, bare string, on bool) {
	t.Helper()
	hook := filepath.Join(bare, "hooks", "pre-receive")
	if !on {
		if err := os.Remove(hook); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'the branch is protected' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// twoInDev registers versions 2, 3 and 4, and promotes 2, then 3,
// to dev, each committed: a rollback of dev returns to 2, and 4 is there to
// request after it.
func twoInDev(t *testing.T) (string, *regFixture, *Reconciler) {
	t.Helper()
	bare := newRemote(t, nil)
	f := newRegistry(t)
	for _, v := range []string{"2", "3", "4"} {
		f.register(t, v, "0.9"+v)
	}
	r := newReconciler(t, newWriter(t, bare, nil), f.svc)
	for _, v := range []string{"2", "3"} {
		f.promote(t, v, "dev")
		reconcile(t, r, "credit-risk", "dev")
	}
	return bare, f, r
}

// While the remote refuses a rollback's commit, no promotion into its
// environment goes live ahead of it: the reconciler would commit the
// promotion in its place, and the branch would never record the rollback.
// Once the rollback's commit lands, the promotion goes ahead, one commit
// each, in order.
func TestReconcileRollbackRefusedIsNotOvertaken(t *testing.T) {
	bare, f, r := twoInDev(t)
	n := commitCount(t, bare, "main")

	refusePushes(t, bare, true)
	rb, err := f.svc.Rollback(t.Context(), lena, registry.RollbackRequest{Model: "credit-risk", Environment: "dev", Reason: "error rate 5% on the canary"})
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	out := reconcile(t, r, "credit-risk", "dev")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRetry || !strings.Contains(out.Actions[0].Err.Error(), "pre-receive hook declined") {
		t.Fatalf("Reconcile with the push refused = %v, want retry with the remote's refusal", kinds(out))
	}
	_, err = f.svc.RequestPromotion(t.Context(), ci, registry.PromoteRequest{Model: "credit-risk", Version: "4", Environment: "dev"})
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), rb.Live.PromotionID) {
		t.Fatalf("RequestPromotion of 4 while the rollback's commit is refused = %v, want a conflict naming %s", err, rb.Live.PromotionID)
	}
	if l, _ := f.live(t, "dev"); l.PromotionID != rb.Live.PromotionID {
		t.Errorf("live in dev = %+v, want still the rollback %s", l, rb.Live.PromotionID)
	}

	refusePushes(t, bare, false)
	if diff := cmp.Diff([]string{"dev/2:committed"}, kinds(reconcile(t, r, "credit-risk", "dev"))); diff != "" {
		t.Fatalf("Reconcile once the remote takes pushes (-want +got):\n%s", diff)
	}
	view := f.promote(t, "4", "dev")
	if diff := cmp.Diff([]string{"dev/4:committed"}, kinds(reconcile(t, r, "credit-risk", "dev"))); diff != "" {
		t.Fatalf("Reconcile of the promotion of 4 (-want +got):\n%s", diff)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded {
		t.Errorf("promotion of 4 is %s, want succeeded", p.State)
	}
	got := strings.Split(runGit(t, bare, "log", "--format=%s", fmt.Sprintf("-%d", 2), "main"), "\n")
	if diff := cmp.Diff([]string{"promote credit-risk 4 to dev", "rollback credit-risk in dev to 2"}, got); diff != "" {
		t.Errorf("main's last commits (-want +got):\n%s", diff)
	}
	if got := commitCount(t, bare, "main"); got != n+2 {
		t.Errorf("main has %d commits, want %d: the rollback's and the promotion's", got, n+2)
	}
	if diff := cmp.Diff([]string{"live.rolled_back:rolled_back", "gitops.committed:committed"}, f.auditActions(t, rb.Live.PromotionID)); diff != "" {
		t.Errorf("the rollback's audit events (-want +got):\n%s", diff)
	}
	f.verify(t)
}

// A rollback whose overlay someone broke on the branch meanwhile is not
// undone: the registry keeps the version rolled back to live (the one it
// replaced stays held and off), says why once in the audit trail, and the
// rollback is committed once a person repairs the overlay.
func TestReconcileRollbackOnABrokenOverlayIsKept(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	f.register(t, "3", "0.92")
	r := newReconciler(t, newWriter(t, bare, nil), f.svc)
	for _, v := range []string{"2", "3"} {
		f.promote(t, v, "dev")
		reconcile(t, r, "credit-risk", "dev")
	}
	rb, err := f.svc.Rollback(t.Context(), lena, registry.RollbackRequest{Model: "credit-risk", Environment: "dev", Reason: "error rate 5% on the canary"})
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	// Someone else pushes a commit to the same overlay that breaks it.
	other := filepath.Join(t.TempDir(), "other")
	runGit(t, t.TempDir(), "clone", "-q", bare, other)
	kust := filepath.Join(other, "deploy", "overlays", "dev", "kustomization.yaml")
	good, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kust, append(slices.Clone(good), "resources: [missing.yaml]\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, other, "commit", "-qam", "add a resource")
	runGit(t, other, "push", "-q", "origin", "main")

	for range 2 {
		out := reconcile(t, r, "credit-risk", "dev")
		if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRetry || !errors.Is(out.Actions[0].Err, ErrRender) {
			t.Fatalf("Reconcile of a rollback on a broken overlay = %v, want retry with ErrRender", kinds(out))
		}
		if l, _ := f.live(t, "dev"); l.PromotionID != rb.Live.PromotionID || l.Version != "2" || l.Commit != "" {
			t.Fatalf("live in dev = %+v, want still the rollback to 2, waiting for its commit", l)
		}
	}
	if diff := cmp.Diff([]string{"live.rolled_back:rolled_back", "gitops.failed:failed"}, f.auditActions(t, rb.Live.PromotionID)); diff != "" {
		t.Errorf("the rollback's audit events (-want +got):\n%s", diff)
	}

	if err := os.WriteFile(kust, good, 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, other, "commit", "-qam", "drop the missing resource")
	runGit(t, other, "push", "-q", "origin", "main")
	if diff := cmp.Diff([]string{"dev/2:committed"}, kinds(reconcile(t, r, "credit-risk", "dev"))); diff != "" {
		t.Fatalf("Reconcile once the overlay renders (-want +got):\n%s", diff)
	}
	if got := runGit(t, bare, "log", "-1", "--format=%s", "main"); got != "rollback credit-risk in dev to 2" {
		t.Errorf("main's head is %q, want the rollback", got)
	}
	if l, _ := f.live(t, "dev"); l.PromotionID != rb.Live.PromotionID || l.Commit != runGit(t, bare, "rev-parse", "main") {
		t.Errorf("live in dev = %+v, want the rollback at main's head", l)
	}
	f.verify(t)
}
