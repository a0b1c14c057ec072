package registry_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

const pipelineYAML = `apiVersion: promote.dev/v1
kind: Pipeline
trustedKeys: [cosign.pub]
environments:
  - name: dev
    policy: policy.yaml
  - name: staging
    from: dev
    policy: policy.yaml
    soak: 1h
  - name: prod
    from: staging
    policy: policy.yaml
    soak: 24h
    freeze:
      - name: year-end
        start: 2026-12-20T00:00:00Z
        end: 2027-01-05T00:00:00Z
`

const policyYAML = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed, artifact_signed]
  noBaseline: pass
  metrics:
    accuracy_delta: ">= 0"
    latency_p95_ms: "<= 180"
environments:
  dev: {}
  staging: {}
  prod:
    gate:
      approvals:
        min: 1
        roles: [ml-lead]
`

var (
	submitter = promote.Principal{Name: "ci", Role: promote.RoleSubmitter}
	lead      = promote.Principal{Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	lead2     = promote.Principal{Name: "omar", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	plain     = promote.Principal{Name: "pat", Role: promote.RoleApprover}
	viewer    = promote.Principal{Name: "vic", Role: promote.RoleViewer}
	admin     = promote.Principal{Name: "ada", Role: promote.RoleAdmin}
)

// fixture is a service over a real SQLite store with a clock the test
// moves.
type fixture struct {
	svc   *registry.Service
	store promote.Store
	dir   string
	key   *ecdsa.PrivateKey
	clk   *testtool.Clock
	// metrics, when set, is given to the service that serve makes.
	metrics *registry.Metrics
}

// opener opens the store a fixture runs on, and closes it when the test
// ends.
type opener func(t *testing.T, dir string) promote.Store

func openSQLite(t *testing.T, dir string) promote.Store { return registrytest.SQLite(t, dir) }

func openPostgres(t *testing.T, _ string) promote.Store {
	store, err := postgres.Open(context.Background(), storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// stores are the stores every service test that depends on the store's
// concurrency runs against.
var stores = map[string]opener{"sqlite": openSQLite, "postgres": openPostgres}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, openSQLite) }

func newFixtureOn(t *testing.T, open opener) *fixture { return newFixtureWith(t, open, policyYAML) }

// newFixtureWith is newFixtureOn with every environment's gate from the
// policy document policyDoc.
func newFixtureWith(t *testing.T, open opener, policyDoc string) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &fixture{dir: dir, clk: testtool.NewClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))}
	k, err := signature.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f.key = k
	f.store = open(t, dir)
	f.serve(t, pipelineYAML, policyDoc)
	if _, err := f.svc.CreateModel(ctx, submitter, "credit-risk", "scores loans"); err != nil {
		t.Fatal(err)
	}
	return f
}

// serve makes f's service over its store: the pipeline pipelineDoc, with
// every environment gated by policyDoc, as `promote serve` starts on them.
func (f *fixture) serve(t *testing.T, pipelineDoc, policyDoc string) {
	t.Helper()
	f.svc = registrytest.Load(t, pipelineDoc, policyDoc).New(t, f.store, registry.Config{
		TrustedKeys:   []registry.TrustedKey{{ID: "cosign.pub", Key: &f.key.PublicKey}},
		ArtifactRoots: []string{f.dir},
		Metrics:       f.metrics,
		Now:           f.clock,
	})
}

func (f *fixture) clock() time.Time { return f.clk.Now() }

func (f *fixture) advance(d time.Duration) { f.clk.Advance(d) }

// register writes an artifact, signs it and registers it with metrics.
func (f *fixture) register(t *testing.T, version string, metrics string) promote.Version {
	t.Helper()
	return f.registerAs(t, "credit-risk", version, metrics)
}

// registerAs is register for a version of model.
func (f *fixture) registerAs(t *testing.T, model, version string, metrics string) promote.Version {
	t.Helper()
	path := filepath.Join(f.dir, model+"-"+version+".bin")
	if err := os.WriteFile(path, []byte("weights of "+version), 0o644); err != nil {
		t.Fatal(err)
	}
	digest, _, _ := signature.Digest(bytes.NewReader([]byte("weights of " + version)))
	sig, err := signature.Sign(f.key, digest)
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.RegisterVersion(context.Background(), submitter, registry.RegisterRequest{
		Model: model, Version: version, ArtifactURI: "file://" + path, Signature: string(sig), Metrics: []byte(metrics),
		Lineage: promote.Lineage{CodeCommit: "abc123", DatasetDigest: "sha256:" + strings.Repeat("d", 64)},
	})
	if err != nil {
		t.Fatalf("RegisterVersion(%s): %v", version, err)
	}
	return v
}

func (f *fixture) request(t *testing.T, who promote.Principal, version, env string) registry.PromotionView {
	t.Helper()
	view, err := f.svc.RequestPromotion(context.Background(), who, registry.PromoteRequest{Model: "credit-risk", Version: version, Environment: env})
	if err != nil {
		t.Fatalf("RequestPromotion(%s → %s): %v", version, env, err)
	}
	return view
}

func (f *fixture) live(t *testing.T) map[string]string {
	t.Helper()
	st, err := f.svc.Status(context.Background(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for env, l := range st.Live {
		out[env] = l.Version
	}
	return out
}

func (f *fixture) verify(t *testing.T) audit.Result {
	t.Helper()
	res, err := audit.Verify(context.Background(), f.store)
	if err != nil || !res.OK {
		t.Fatalf("audit.Verify = %+v, %v", res, err)
	}
	return res
}

const goodMetrics = `{"accuracy": 0.91, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`

func blockingRules(v registry.PromotionView) string {
	var rules []string
	if v.Gate != nil {
		for _, r := range v.Gate.Blocking() {
			if r.Kind != policy.KindApprovals {
				rules = append(rules, r.Rule)
			}
		}
	}
	return strings.Join(rules, ",")
}

func TestWalkDevToProd(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testWalkDevToProd(t, open) })
	}
}

func testWalkDevToProd(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	ctx := context.Background()
	v := f.register(t, "1", goodMetrics)
	if !v.Signed() || !strings.HasPrefix(v.Digest, "sha256:") || v.Size != int64(len("weights of 1")) {
		t.Fatalf("registered version = %+v", v)
	}
	if got := f.request(t, submitter, "1", "dev"); got.State != promote.StateSucceeded {
		t.Fatalf("dev promotion = %s (%s)", got.State, got.Reason)
	}
	// Staging needs an hour of soak in dev.
	if got := f.request(t, submitter, "1", "staging"); got.State != promote.StateBlocked || blockingRules(got) != "soak" {
		t.Fatalf("early staging promotion = %s, blocking %s (%s)", got.State, blockingRules(got), got.Reason)
	}
	f.advance(time.Hour)
	if got := f.request(t, submitter, "1", "staging"); got.State != promote.StateSucceeded {
		t.Fatalf("staging promotion = %s (%s)", got.State, got.Reason)
	}
	f.advance(24 * time.Hour)
	p := f.request(t, submitter, "1", "prod")
	if p.State != promote.StateAwaitingApproval {
		t.Fatalf("prod promotion = %s (%s)", p.State, p.Reason)
	}
	// The requester, a viewer, someone without the ml-lead role, and a
	// wrong digest are all refused; nothing changes.
	for _, tc := range []struct {
		who    promote.Principal
		digest string
		code   promote.Code
	}{
		{viewer, p.Digest, promote.Forbidden},
		{plain, p.Digest, promote.Forbidden},
		{lead, "sha256:" + strings.Repeat("0", 64), promote.Conflict},
		{lead, "", promote.Invalid},
	} {
		if _, err := f.svc.Approve(ctx, tc.who, p.ID, registry.ApproveRequest{Digest: tc.digest}); promote.ErrorCode(err) != tc.code {
			t.Errorf("Approve by %s with %q = %v, want %s", tc.who.Name, tc.digest, err, tc.code)
		}
	}
	selfLead := promote.Principal{Name: "ci", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	if _, err := f.svc.Approve(ctx, selfLead, p.ID, registry.ApproveRequest{Digest: p.Digest}); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("self-approval = %v, want Forbidden", err)
	}
	got, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest, Comment: "numbers look right"})
	if err != nil || got.State != promote.StateSucceeded {
		t.Fatalf("Approve = %s, %v", got.State, err)
	}
	if diff := fmt.Sprint(f.live(t)); diff != "map[dev:1 prod:1 staging:1]" {
		t.Errorf("live = %s", diff)
	}
	hist, err := f.svc.History(ctx, promote.LiveFilter{Model: "credit-risk", Environment: "prod"})
	if err != nil || len(hist) != 1 || hist[0].PromotionID != p.ID || hist[0].SetBy != "lena" {
		t.Errorf("History(prod) = %+v, %v", hist, err)
	}
	res := f.verify(t)
	events, _ := f.svc.AuditEvents(ctx, promote.AuditFilter{PromotionID: p.ID, Limit: 100})
	var actions []string
	for i := len(events) - 1; i >= 0; i-- {
		actions = append(actions, events[i].Action+":"+events[i].Decision)
	}
	want := "promotion.requested:requested promotion.state:gated promotion.state:awaiting_approval promotion.approval:approved promotion.state:approved live.changed:promoted promotion.state:succeeded"
	if strings.Join(actions, " ") != want {
		t.Errorf("audit of the prod promotion:\n got %s\nwant %s", strings.Join(actions, " "), want)
	}
	last := events[0]
	if last.Live["prod"] != "1" || last.Digest != p.Digest || last.Actor != "lena" {
		t.Errorf("last event = %+v", last)
	}
	if res.Events < 10 {
		t.Errorf("audit events = %d", res.Events)
	}
}

func TestGateBlocksAgainstBaseline(t *testing.T) {
	f := newFixture(t)
	f.register(t, "1", goodMetrics)
	f.request(t, submitter, "1", "dev")
	f.register(t, "2", `{"accuracy": 0.90, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`)
	got := f.request(t, submitter, "2", "dev")
	if got.State != promote.StateBlocked || blockingRules(got) != "accuracy_delta" || got.Baseline != "1" {
		t.Fatalf("worse version = %s baseline %s blocking %s", got.State, got.Baseline, blockingRules(got))
	}
	if !strings.Contains(got.Reason, "accuracy_delta -0.01 is not >= 0") {
		t.Errorf("reason = %q", got.Reason)
	}
	if live := f.live(t); live["dev"] != "1" {
		t.Errorf("live dev = %s, want 1 still", live["dev"])
	}
	f.verify(t)
}

func TestUpstreamRequired(t *testing.T) {
	f := newFixture(t)
	f.register(t, "1", goodMetrics)
	got := f.request(t, submitter, "1", "prod")
	if got.State != promote.StateBlocked || !strings.Contains(got.Reason, "has not succeeded in staging") {
		t.Fatalf("prod without staging = %s (%s)", got.State, got.Reason)
	}
}

// A request made while the version's promotion upstream is still under
// way (awaiting approval there, or committed and not yet succeeded) is
// blocked, and says which promotion it waits for, so that the person or
// the script asks again once it has succeeded rather than wondering why.
func TestUpstreamUnderWaySaysWhichPromotion(t *testing.T) {
	f := newFixtureWith(t, openSQLite, strings.Replace(policyYAML, "  staging: {}\n", "  staging:\n    gate:\n      approvals:\n        min: 1\n", 1))
	f.register(t, "1", goodMetrics)
	f.request(t, submitter, "1", "dev")
	f.advance(2 * time.Hour)
	staging := f.request(t, submitter, "1", "staging")
	if staging.State != promote.StateAwaitingApproval {
		t.Fatalf("1 → staging = %s (%s), want awaiting_approval", staging.State, staging.Reason)
	}
	got := f.request(t, submitter, "1", "prod")
	want := "version 1 has not succeeded yet in staging, which comes before prod: its promotion " + staging.ID + " there is awaiting_approval; request prod again once it has succeeded"
	if got.State != promote.StateBlocked || !strings.Contains(got.Reason, want) {
		t.Errorf("1 → prod while staging awaits approval = %s (%s), want blocked saying %q", got.State, got.Reason, want)
	}
}

// A version rolled back out of the upstream environment has not passed
// it: its success there, before the rollback, does not open the next
// environment, until it succeeds there again.
func TestUpstreamRolledBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.twoInStaging(t)
	rb, err := f.svc.Rollback(ctx, lead, registry.RollbackRequest{Model: "credit-risk", Environment: "staging", Reason: "errors in staging"})
	if err != nil {
		t.Fatal(err)
	}
	f.advance(25 * time.Hour)
	got := f.request(t, submitter, "2", "prod")
	if got.State != promote.StateBlocked || !strings.Contains(got.Reason, "upstream: version 2 was rolled back in staging") {
		t.Fatalf("2 → prod after its rollback in staging = %s (%s), want blocked by upstream", got.State, got.Reason)
	}
	// Cleared and promoted to staging again, it may go on.
	if _, err := f.svc.ClearHold(ctx, lead, rb.Hold.ID, "fixed upstream of the model"); err != nil {
		t.Fatal(err)
	}
	if got := f.request(t, submitter, "2", "staging"); got.State != promote.StateSucceeded {
		t.Fatalf("2 → staging again = %s (%s)", got.State, got.Reason)
	}
	f.advance(25 * time.Hour)
	if got := f.request(t, submitter, "2", "prod"); got.State != promote.StateAwaitingApproval {
		t.Errorf("2 → prod after succeeding in staging again = %s (%s), want awaiting_approval", got.State, got.Reason)
	}
}

func TestFreezeAndOverride(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	f.toStaging(t, "1")
	f.clk.Set(time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC))
	got := f.request(t, submitter, "1", "prod")
	if got.State != promote.StateBlocked || blockingRules(got) != "freeze" || !strings.Contains(got.Reason, "year-end") {
		t.Fatalf("frozen prod = %s %s (%s)", got.State, blockingRules(got), got.Reason)
	}
	req := registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "prod", Override: true, Reason: "regulatory fix"}
	if _, err := f.svc.RequestPromotion(ctx, submitter, req); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("override by a submitter = %v, want Forbidden", err)
	}
	req.Reason = ""
	if _, err := f.svc.RequestPromotion(ctx, admin, req); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("override without a reason = %v, want Invalid", err)
	}
	req.Reason = "regulatory fix"
	over, err := f.svc.RequestPromotion(ctx, admin, req)
	if err != nil || over.State != promote.StateAwaitingApproval || !over.Override {
		t.Fatalf("override = %+v, %v", over.Promotion, err)
	}
	if _, err := f.svc.Approve(ctx, lead, over.ID, registry.ApproveRequest{Digest: over.Digest}); err != nil {
		t.Fatal(err)
	}
	events, _ := f.svc.AuditEvents(ctx, promote.AuditFilter{Action: promote.ActionFreezeOverride})
	if len(events) != 1 || events[0].Actor != "ada" || !strings.Contains(string(events[0].Reasons), "regulatory fix") {
		t.Errorf("override audit = %+v", events)
	}
}

func TestRejectionHoldsUntilCleared(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if _, err := f.svc.Reject(ctx, lead, p.ID, ""); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("reject without reason = %v", err)
	}
	rej, err := f.svc.Reject(ctx, lead, p.ID, "fairness numbers look off")
	if err != nil || rej.State != promote.StateCancelled || !strings.Contains(rej.Reason, "rejected by lena") {
		t.Fatalf("Reject = %+v, %v", rej.Promotion, err)
	}
	again := f.request(t, submitter, "1", "prod")
	if again.State != promote.StateBlocked || blockingRules(again) != "no_hold" {
		t.Fatalf("request after rejection = %s %s", again.State, blockingRules(again))
	}
	holds, _ := f.svc.Holds(ctx, promote.HoldFilter{Model: "credit-risk", Environment: "prod"})
	if len(holds) != 1 {
		t.Fatalf("holds = %+v", holds)
	}
	if _, err := f.svc.ClearHold(ctx, submitter, holds[0].ID, "looked again"); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("a submitter clearing a hold = %v", err)
	}
	if _, err := f.svc.ClearHold(ctx, lead, holds[0].ID, ""); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("clearing without a reason = %v", err)
	}
	if _, err := f.svc.ClearHold(ctx, lead, holds[0].ID, "fairness re-checked with the risk team"); err != nil {
		t.Fatal(err)
	}
	if got := f.request(t, submitter, "1", "prod"); got.State != promote.StateAwaitingApproval {
		t.Errorf("after clearing = %s (%s)", got.State, got.Reason)
	}
	f.verify(t)
}

func TestRejectVersion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	if _, err := f.svc.RejectVersion(ctx, lead, "credit-risk", "1", "trained on the wrong data"); err != nil {
		t.Fatal(err)
	}
	got := f.request(t, submitter, "1", "dev")
	if got.State != promote.StateBlocked || !strings.Contains(got.Reason, "rejected by lena") {
		t.Fatalf("rejected version = %s (%s)", got.State, got.Reason)
	}
	holds, _ := f.svc.Holds(ctx, promote.HoldFilter{Model: "credit-risk"})
	if len(holds) != 3 {
		t.Errorf("holds after rejection = %d, want one per environment", len(holds))
	}
	if _, err := f.svc.RejectVersion(ctx, lead, "credit-risk", "1", "again"); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("second rejection = %v", err)
	}
}

func TestSupersedeQueued(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, v := range []string{"1", "2"} {
		f.register(t, v, goodMetrics)
		f.request(t, submitter, v, "dev")
	}
	f.advance(time.Hour)
	for _, v := range []string{"1", "2"} {
		f.request(t, submitter, v, "staging")
	}
	f.advance(24 * time.Hour)
	first := f.request(t, submitter, "1", "prod")
	second := f.request(t, submitter, "2", "prod")
	if second.State != promote.StateAwaitingApproval {
		t.Fatalf("second = %s", second.State)
	}
	old, _ := f.svc.Promotion(ctx, first.ID)
	if old.State != promote.StateCancelled || !strings.Contains(old.Reason, "superseded by "+second.ID) {
		t.Errorf("first after supersede = %s (%s)", old.State, old.Reason)
	}
	if _, err := f.svc.Approve(ctx, lead, first.ID, registry.ApproveRequest{Digest: first.Digest}); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("approving a superseded promotion = %v", err)
	}
}

func TestApproveTwiceCountsOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// prod needs two approvals here.
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if _, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest}); err != nil {
		t.Fatal(err)
	}
	// The promotion completed with one approval (min 1); a second approval
	// by anyone is now refused.
	if _, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest}); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("second approval = %v", err)
	}
	view, _ := f.svc.Promotion(ctx, p.ID)
	if len(view.Approvals) != 1 {
		t.Errorf("approvals = %d, want 1", len(view.Approvals))
	}
}

func TestConcurrentRequestsLeaveOneActive(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testConcurrentRequests(t, open) })
	}
}

func testConcurrentRequests(t *testing.T, open opener) {
	f := newFixtureOn(t, open)
	ctx := context.Background()
	const n = 16
	f.register(t, "1", goodMetrics)
	f.toStaging(t, "1")
	f.advance(24 * time.Hour)
	// Each request supersedes the queued one before it, or collides with a
	// concurrent one (Conflict); never are two active.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: "credit-risk", Version: "1", Environment: "prod"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && promote.ErrorCode(err) != promote.Conflict {
			t.Errorf("concurrent request: %v", err)
		}
	}
	active, _ := f.svc.Promotions(ctx, promote.PromotionFilter{Model: "credit-risk", Environment: "prod", ActiveOnly: true})
	if len(active) != 1 {
		t.Errorf("active prod promotions = %d, want exactly 1", len(active))
	}
	f.verify(t)
}

func TestRegisterVersionErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	path := filepath.Join(f.dir, "m.bin")
	os.WriteFile(path, []byte("weights"), 0o644)
	outside := filepath.Join(t.TempDir(), "elsewhere.bin")
	os.WriteFile(outside, []byte("weights"), 0o644)
	d, _, _ := signature.Digest(bytes.NewReader([]byte("weights")))
	digest := fmt.Sprintf("sha256:%x", d)
	other, _ := signature.GenerateKey()
	otherSig, _ := signature.Sign(other, d)
	base := registry.RegisterRequest{Model: "credit-risk", Version: "9", ArtifactURI: "file://" + path}
	tests := []struct {
		name string
		edit func(*registry.RegisterRequest)
		who  promote.Principal
		code promote.Code
		msg  string
	}{
		{"viewer", func(r *registry.RegisterRequest) {}, viewer, promote.Forbidden, "needs the submitter role"},
		{"no model", func(r *registry.RegisterRequest) { r.Model = "nope" }, submitter, promote.NotFound, "nope"},
		{"path-like version", func(r *registry.RegisterRequest) { r.Version = "../x" }, submitter, promote.Invalid, `version "../x"`},
		{"empty version", func(r *registry.RegisterRequest) { r.Version = "" }, submitter, promote.Invalid, "version is empty"},
		{"digest mismatch", func(r *registry.RegisterRequest) { r.Digest = "sha256:" + strings.Repeat("a", 64) }, submitter, promote.Invalid, "digest mismatch"},
		{"bad digest", func(r *registry.RegisterRequest) { r.Digest = "md5:abc" }, submitter, promote.Invalid, "is not sha256:"},
		{"outside roots needs digest", func(r *registry.RegisterRequest) { r.ArtifactURI = "file://" + outside }, submitter, promote.Invalid, "digest is required"},
		{"remote needs digest", func(r *registry.RegisterRequest) { r.ArtifactURI = "s3://bucket/m.bin" }, submitter, promote.Invalid, "digest is required"},
		{"untrusted signature", func(r *registry.RegisterRequest) { r.Signature = string(otherSig) }, submitter, promote.Invalid, "does not verify with any trusted key"},
		{"garbage signature", func(r *registry.RegisterRequest) { r.Signature = "!!!" }, submitter, promote.Invalid, "does not verify"},
		{"NaN metric", func(r *registry.RegisterRequest) { r.Metrics = []byte(`{"accuracy": NaN}`) }, submitter, promote.Invalid, "accuracy: NaN is not a finite number"},
		{"string metric", func(r *registry.RegisterRequest) { r.Metrics = []byte(`{"accuracy": "high"}`) }, submitter, promote.Invalid, `got the string "high"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			tt.edit(&req)
			_, err := f.svc.RegisterVersion(ctx, tt.who, req)
			if promote.ErrorCode(err) != tt.code || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("RegisterVersion = %v, want %s containing %q", err, tt.code, tt.msg)
			}
		})
	}
	versions, _ := f.svc.Versions(ctx, promote.VersionFilter{Model: "credit-risk"})
	if len(versions) != 0 {
		t.Errorf("a failed registration stored %d versions", len(versions))
	}
	// A remote artifact with its digest registers, unsigned.
	req := base
	req.ArtifactURI, req.Digest = "s3://bucket/m.bin", digest
	v, err := f.svc.RegisterVersion(ctx, submitter, req)
	if err != nil || v.Digest != digest || v.Signed() {
		t.Errorf("remote registration = %+v, %v", v, err)
	}
	if _, err := f.svc.RegisterVersion(ctx, submitter, req); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("registering the same version twice = %v", err)
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, _, err := f.svc.CreateToken(ctx, lead, registry.TokenRequest{Name: "x", Role: promote.RoleViewer}); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("non-admin creating a token = %v", err)
	}
	secret, tok, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}})
	if err != nil || !strings.HasPrefix(secret, registry.TokenPrefix) {
		t.Fatalf("CreateToken = %q, %v", secret, err)
	}
	p, err := f.svc.Authenticate(ctx, secret)
	if err != nil || p.Name != "lena" || p.Role != promote.RoleApprover || len(p.Groups) != 1 {
		t.Errorf("Authenticate = %+v, %v", p, err)
	}
	for _, bad := range []string{"", "prm_nope", secret + "x", "Bearer " + secret} {
		if _, err := f.svc.Authenticate(ctx, bad); promote.ErrorCode(err) != promote.Unauthorized {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
	if err := f.svc.RevokeToken(ctx, admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, secret); promote.ErrorCode(err) != promote.Unauthorized {
		t.Errorf("revoked token = %v", err)
	}
	if _, _, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: "x", Role: "root"}); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("bad role = %v", err)
	}
	// A token may not take the name of an actor of Promote's own, in any
	// case: the audit log would show its actions as the system's.
	for _, name := range []string{"gitops", "rollout", "Auto-Promote", "local-admin"} {
		_, _, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: name, Role: promote.RoleApprover})
		if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "is reserved") {
			t.Errorf("CreateToken(%q) = %v, want Invalid: reserved", name, err)
		}
	}
	// The audit trail names a token's groups when it has some, and says
	// nothing of groups when it has none.
	_, plain, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: "ci", Role: promote.RoleSubmitter})
	if err != nil {
		t.Fatal(err)
	}
	events, err := f.svc.AuditEvents(ctx, promote.AuditFilter{Action: promote.ActionTokenCreated})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{tok.ID: `["token ` + tok.ID + ` for lena","groups: ml-lead"]`, plain.ID: `["token ` + plain.ID + ` for ci"]`}
	got := map[string]string{}
	for _, e := range events {
		for id := range want {
			if strings.Contains(string(e.Reasons), id) {
				got[id] = string(e.Reasons)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("token.created reasons (-want +got):\n%s", diff)
	}
}

// The decision stored with a promotion is the gate's full result.
func TestDecisionStored(t *testing.T) {
	f := newFixture(t)
	f.register(t, "1", goodMetrics)
	p := f.request(t, submitter, "1", "dev")
	view, err := f.svc.Promotion(context.Background(), p.ID)
	if err != nil || view.Gate == nil || !view.Gate.Allowed || len(view.Gate.Results) != 4 {
		t.Fatalf("stored decision = %+v, %v", view.Gate, err)
	}
	var d policy.Decision
	if err := json.Unmarshal(view.Decision, &d); err != nil || d.Results[1].Rule != "artifact_signed" || d.Results[1].Status != policy.StatusPass {
		t.Errorf("decision JSON = %s", view.Decision)
	}
}

func TestNamesValidated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, req := range []registry.PromoteRequest{
		{Model: "../x", Version: "1", Environment: "dev"},
		{Model: "credit-risk", Version: "", Environment: "dev"},
		{Model: "credit-risk", Version: strings.Repeat("9", 200), Environment: "dev"},
	} {
		if _, err := f.svc.RequestPromotion(ctx, submitter, req); promote.ErrorCode(err) != promote.Invalid {
			t.Errorf("RequestPromotion(%q, %q) = %v, want Invalid", req.Model, req.Version, err)
		}
	}
	if _, err := f.svc.SetHold(ctx, lead, "credit-risk", "a/b", "dev", "why"); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("SetHold with a path-like version = %v, want Invalid", err)
	}
}

// toStaging requests version v to dev, then an hour later to staging,
// and returns the staging promotion.
func (f *fixture) toStaging(t *testing.T, v string) registry.PromotionView {
	t.Helper()
	f.request(t, submitter, v, "dev")
	f.advance(time.Hour)
	return f.request(t, submitter, v, "staging")
}

// twoInStaging registers versions 1 and 2 and puts each in staging in
// turn, so that 2 is live there with 1 before it to roll back to.
func (f *fixture) twoInStaging(t *testing.T) {
	t.Helper()
	f.register(t, "1", goodMetrics)
	f.toStaging(t, "1")
	f.register(t, "2", goodMetrics)
	if got := f.toStaging(t, "2"); got.State != promote.StateSucceeded {
		t.Fatalf("2 → staging = %s (%s)", got.State, got.Reason)
	}
}

// toProd walks version v through dev and staging and requests prod.
func (f *fixture) toProd(t *testing.T, v string) registry.PromotionView {
	t.Helper()
	f.toStaging(t, v)
	f.advance(24 * time.Hour)
	return f.request(t, submitter, v, "prod")
}

func TestBlockedRequestSupersedesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	queued := f.toProd(t, "1")
	f.register(t, "2", goodMetrics)
	blocked := f.request(t, submitter, "2", "prod") // not through staging: blocked
	if blocked.State != promote.StateBlocked {
		t.Fatalf("second request = %s", blocked.State)
	}
	still, _ := f.svc.Promotion(ctx, queued.ID)
	if still.State != promote.StateAwaitingApproval {
		t.Errorf("the queued promotion is %s after a blocked request; want it untouched", still.State)
	}
	f.verify(t)
}

func TestHoldAfterRequestStopsApproval(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	if _, err := f.svc.SetHold(ctx, lead2, "credit-risk", "1", "prod", "incident in staging"); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Approve(ctx, lead, p.ID, registry.ApproveRequest{Digest: p.Digest})
	if err != nil || got.State != promote.StateBlocked || !strings.Contains(got.Reason, "on hold") {
		t.Fatalf("approval under a hold = %s (%s), %v", got.State, got.Reason, err)
	}
	if live := f.live(t); live["prod"] != "" {
		t.Errorf("prod went live under a hold: %v", live)
	}
}

func TestRejectRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.register(t, "1", goodMetrics)
	p := f.toProd(t, "1")
	selfLead := promote.Principal{Name: "ci", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	if _, err := f.svc.Reject(ctx, selfLead, p.ID, "no"); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("the requester rejecting = %v, want Forbidden", err)
	}
	if _, err := f.svc.Reject(ctx, plain, p.ID, "no"); promote.ErrorCode(err) != promote.Forbidden {
		t.Errorf("rejecting without the ml-lead role = %v, want Forbidden", err)
	}
	events, _ := f.svc.AuditEvents(ctx, promote.AuditFilter{PromotionID: p.ID})
	before := len(events)
	if _, err := f.svc.Reject(ctx, lead, p.ID, "not yet"); err != nil {
		t.Fatal(err)
	}
	events, _ = f.svc.AuditEvents(ctx, promote.AuditFilter{PromotionID: p.ID, Action: promote.ActionPromotionApproval})
	if len(events) != 1 || !strings.Contains(string(events[0].Reasons), "ml-lead") {
		t.Errorf("rejection audit = %+v (before: %d)", events, before)
	}
}

// A policy role that names an API role is held by every token whose role
// includes it.
func TestAdminHoldsApproverRole(t *testing.T) {
	for _, tc := range []struct {
		who  promote.Principal
		want bool
	}{
		{promote.Principal{Name: "a", Role: promote.RoleAdmin}, true},
		{promote.Principal{Name: "b", Role: promote.RoleApprover}, true},
		{promote.Principal{Name: "c", Role: promote.RoleSubmitter}, false},
		{promote.Principal{Name: "d", Role: promote.RoleViewer, Groups: []string{"Approver"}}, true},
	} {
		if got := registry.HasRole(tc.who, []string{"approver"}); got != tc.want {
			t.Errorf("HasRole(%s %s, approver) = %v, want %v", tc.who.Name, tc.who.Role, got, tc.want)
		}
	}
}
