// Package webuitest builds a real Promote service with a small, realistic
// history for the web UI's tests, browser tests and screenshots: SQLite in
// a directory, a dev → staging → prod pipeline whose prod environment
// rolls out by canary, tokens for each role, and a clock the seed moves.
package webuitest

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// PipelineYAML is the demo pipeline: prod rolls out by canary.
const PipelineYAML = `apiVersion: promote.dev/v1
kind: Pipeline
metadata:
  name: demo
environments:
  - name: dev
    policy: policies/dev.yaml
  - name: staging
    from: dev
    policy: policies/staging.yaml
  - name: prod
    from: staging
    policy: policies/prod.yaml
    rollout: canary
`

// Policies are the demo environments' policies, in the seed's format.
var Policies = map[string]string{
	"dev": `gate:
  require: [tests_passed]
  metrics:
    accuracy: ">= 0.80"
`,
	"staging": `gate:
  require: [tests_passed]
  metrics:
    accuracy_delta: ">= -0.01"
    latency_p95_ms: "<= 200"
  noBaseline: pass
`,
	"prod": `gate:
  require: [tests_passed, artifact_signed]
  metrics:
    accuracy_delta: ">= 0.00"
    latency_p95_ms: "<= 180"
  approvals:
    min: 1
  noBaseline: pass
rollout:
  strategy: canary
  steps:
    - weight: 10
      minDuration: 10m
      minRequests: 500
    - weight: 50
      minDuration: 30m
      minRequests: 2000
    - weight: 100
      minRequests: 1000
`,
}

// Start is the demo clock's first reading.
var Start = time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC)

// Clock is a clock that only moves when told: the service's Now.
type Clock = testtool.Clock

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return testtool.NewClock(t) }

// Env is a running demo service.
type Env struct {
	Store   promote.Store
	Service *registry.Service
	Clock   *Clock
	// Tokens maps each person's name to their token secret: root (admin),
	// alice (submitter), bob and carol (approvers; bob is an ml-lead) and
	// vera (viewer).
	Tokens map[string]string
	// Principals maps each person's name to who they are.
	Principals map[string]promote.Principal
	key        *ecdsa.PrivateKey
	dir        string
	cfg        registry.Config
}

// New opens a SQLite store in dir and a registry service over it with the
// demo pipeline, GitOps and rollouts on (so that promotions to prod are
// committed and roll out), a trusted signing key and a token per role. The
// caller closes Store.
func New(ctx context.Context, dir string) (*Env, error) {
	p, err := pipeline.Parse(filepath.Join(dir, "promote.yaml"), []byte(PipelineYAML))
	if err != nil {
		return nil, err
	}
	gates := map[string]*policy.Gate{}
	plans := map[string]*policy.Rollout{}
	for _, e := range p.Environments {
		pol, err := policy.Load(filepath.Join(dir, e.Policy), []byte(Policies[e.Name]))
		if err != nil {
			return nil, err
		}
		if gates[e.Name], err = pol.Gate(e.Name); err != nil {
			return nil, err
		}
		if plan := pol.Rollout(e.Name); plan != nil && plan.Strategy == e.Strategy {
			plans[e.Name] = plan
		}
	}
	key, err := signature.GenerateKey()
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	clock := NewClock(Start)
	cfg := registry.Config{Pipeline: p, Gates: gates, Plans: plans, GitOps: true, Rollouts: true, Now: clock.Now,
		TrustedKeys: []registry.TrustedKey{{ID: "release.pub", Key: &key.PublicKey}}}
	svc, err := registry.New(store, cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	env := &Env{Store: store, Service: svc, Clock: clock, Tokens: map[string]string{}, Principals: map[string]promote.Principal{}, key: key,
		dir: dir, cfg: cfg}
	bootstrap := promote.Principal{Name: "bootstrap", Role: promote.RoleAdmin}
	for _, t := range []struct {
		name   string
		role   promote.Role
		groups []string
	}{{"root", promote.RoleAdmin, nil}, {"alice", promote.RoleSubmitter, nil}, {"bob", promote.RoleApprover, []string{"ml-lead"}},
		{"carol", promote.RoleApprover, nil}, {"vera", promote.RoleViewer, nil}} {
		secret, _, err := svc.CreateToken(ctx, bootstrap, registry.TokenRequest{Name: t.name, Role: t.role, Groups: t.groups})
		if err != nil {
			store.Close()
			return nil, err
		}
		env.Tokens[t.name] = secret
		env.Principals[t.name] = promote.Principal{Name: t.name, Role: t.role, Groups: t.groups}
	}
	return env, nil
}

// Replica opens another store over the same database and a service over
// it with the same configuration, as another replica of the server has:
// they share nothing but the database. The caller closes the store.
func (e *Env) Replica(ctx context.Context) (promote.Store, *registry.Service, error) {
	store, err := sqlite.Open(ctx, filepath.Join(e.dir, "data"))
	if err != nil {
		return nil, nil, err
	}
	svc, err := registry.New(store, e.cfg)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, svc, nil
}

// ReleaseKey is the public key that signs the demo's versions.
func (e *Env) ReleaseKey() *ecdsa.PublicKey { return &e.key.PublicKey }

// RotatedKeys returns a service over the same store whose pipeline trusts
// only keys, as after the signing key was rotated out: what the release key
// signed no longer counts.
func (e *Env) RotatedKeys(keys []registry.TrustedKey) (*registry.Service, error) {
	cfg := e.cfg
	cfg.TrustedKeys = keys
	return registry.New(e.Store, cfg)
}

// Demo names what SeedDemo made, for tests to look at.
type Demo struct {
	Models []string
	// Awaiting is a prod promotion of credit-risk 2 awaiting approval,
	// requested by alice.
	Awaiting string
	// RolledBack is the prod promotion of fraud-detector 2 whose canary
	// failed and was rolled back, with its rollout's samples.
	RolledBack string
	// Succeeded is the prod promotion of credit-risk 1, rolled out by
	// canary to 100% with samples.
	Succeeded string
	// Blocked is a dev promotion of churn-predictor 2 the gate blocked.
	Blocked string
	// Rejected is a prod promotion of churn-predictor 1 that carol
	// rejected.
	Rejected string
}

// SeedDemo gives the service a small, realistic history: three models
// (credit-risk, fraud-detector, churn-predictor) moving through dev,
// staging and prod over a few days, with promotions in every state that
// matters: succeeded with a canary rollout, awaiting approval, rolled back
// by the canary analysis (with the rollout's samples), blocked by the gate
// and rejected by an approver.
func (e *Env) SeedDemo(ctx context.Context) (Demo, error) {
	d := Demo{Models: []string{"credit-risk", "fraud-detector", "churn-predictor"}}
	as := e.Principals
	descriptions := map[string]string{
		"credit-risk":     "Probability of default for consumer loan applications",
		"fraud-detector":  "Card transaction fraud scoring",
		"churn-predictor": "Subscriber churn within 30 days",
	}
	for _, m := range d.Models {
		if _, err := e.Service.CreateModel(ctx, as["alice"], m, descriptions[m]); err != nil {
			return d, err
		}
		e.Clock.Advance(time.Minute)
	}
	reg := func(model, ver string, accuracy, latency float64, signed bool) error {
		e.Clock.Advance(7 * time.Minute)
		sum := sha256.Sum256([]byte(model + "/" + ver))
		req := registry.RegisterRequest{Model: model, Version: ver,
			ArtifactURI: fmt.Sprintf("s3://models/%s/%s/model.onnx", model, ver), Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: 48<<20 + int64(len(ver))*4096,
			Metrics: fmt.Appendf(nil, `{"accuracy": %g, "f1": %g, "latency_p95_ms": %g, "checks": {"tests_passed": true, "data_quality": true},
  "groups": {"female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07, "count": 1200}, "male": {"selection_rate": 0.33, "tpr": 0.84, "fpr": 0.08, "count": 1350}}}`,
				accuracy, accuracy-0.03, latency),
			Lineage: promote.Lineage{DatasetDigest: "sha256:" + hex.EncodeToString(sha256Of(model+" dataset "+ver)),
				CodeCommit: hex.EncodeToString(sha1Of(model + " code " + ver)), TrainingRun: fmt.Sprintf("mlflow://runs/%s-%s", model, ver),
				BaseImageDigest: "sha256:" + hex.EncodeToString(sha256Of("python:3.12-slim"))}}
		if signed {
			sig, err := signature.Sign(e.key, sum)
			if err != nil {
				return err
			}
			req.Signature = string(sig)
		}
		_, err := e.Service.RegisterVersion(ctx, as["alice"], req)
		return err
	}
	request := func(model, ver, env string) (registry.PromotionView, error) {
		e.Clock.Advance(11 * time.Minute)
		return e.Service.RequestPromotion(ctx, as["alice"], registry.PromoteRequest{Model: model, Version: ver, Environment: env})
	}
	deliver := func(id string) error { return e.deliver(ctx, id) }
	// promote takes a version through env when its gate needs no approval.
	promoteTo := func(model, ver, env string) (string, error) {
		v, err := request(model, ver, env)
		if err != nil {
			return "", err
		}
		if v.State != promote.StateApproved {
			return v.ID, fmt.Errorf("promotion of %s %s to %s is %s: %s", model, ver, env, v.State, v.Reason)
		}
		return v.ID, deliver(v.ID)
	}
	approve := func(id, who string) error { return e.approve(ctx, id, who) }

	// credit-risk 1: dev, staging, prod with a canary that succeeds.
	if err := reg("credit-risk", "1", 0.912, 142, true); err != nil {
		return d, err
	}
	for _, env := range []string{"dev", "staging"} {
		if _, err := promoteTo("credit-risk", "1", env); err != nil {
			return d, err
		}
		e.Clock.Advance(3 * time.Hour)
	}
	v, err := request("credit-risk", "1", "prod")
	if err != nil {
		return d, err
	}
	d.Succeeded = v.ID
	if err := approve(v.ID, "bob"); err != nil {
		return d, err
	}
	if err := deliver(v.ID); err != nil {
		return d, err
	}
	if err := e.canary(ctx, v.ID, 0.004, 0.004, 0.118, 0.121, false); err != nil {
		return d, err
	}

	// fraud-detector 1 everywhere (its first prod rollout has no baseline),
	// then 2 rolled back by the canary analysis.
	if err := reg("fraud-detector", "1", 0.951, 95, true); err != nil {
		return d, err
	}
	for _, env := range []string{"dev", "staging"} {
		if _, err := promoteTo("fraud-detector", "1", env); err != nil {
			return d, err
		}
		e.Clock.Advance(2 * time.Hour)
	}
	if v, err = request("fraud-detector", "1", "prod"); err != nil {
		return d, err
	}
	if err := approve(v.ID, "carol"); err != nil {
		return d, err
	}
	if err := deliver(v.ID); err != nil {
		return d, err
	}
	if err := e.canary(ctx, v.ID, 0.002, 0.002, 0.081, 0.080, false); err != nil {
		return d, err
	}
	e.Clock.Advance(20 * time.Hour)
	if err := reg("fraud-detector", "2", 0.958, 88, true); err != nil {
		return d, err
	}
	for _, env := range []string{"dev", "staging"} {
		if _, err := promoteTo("fraud-detector", "2", env); err != nil {
			return d, err
		}
		e.Clock.Advance(2 * time.Hour)
	}
	if v, err = request("fraud-detector", "2", "prod"); err != nil {
		return d, err
	}
	d.RolledBack = v.ID
	if err := approve(v.ID, "bob"); err != nil {
		return d, err
	}
	if err := deliver(v.ID); err != nil {
		return d, err
	}
	if err := e.canary(ctx, v.ID, 0.002, 0.031, 0.080, 0.094, true); err != nil {
		return d, err
	}

	// churn-predictor: 1 through staging and rejected for prod; 2 blocked in dev.
	e.Clock.Advance(5 * time.Hour)
	if err := reg("churn-predictor", "1", 0.874, 61, true); err != nil {
		return d, err
	}
	for _, env := range []string{"dev", "staging"} {
		if _, err := promoteTo("churn-predictor", "1", env); err != nil {
			return d, err
		}
		e.Clock.Advance(90 * time.Minute)
	}
	if v, err = request("churn-predictor", "1", "prod"); err != nil {
		return d, err
	}
	d.Rejected = v.ID
	if v.State != promote.StateBlocked {
		e.Clock.Advance(40 * time.Minute)
		if _, err := e.Service.Reject(ctx, as["carol"], v.ID, "unsigned artifact and no fairness review yet"); err != nil {
			return d, err
		}
	}
	if err := reg("churn-predictor", "2", 0.772, 58, false); err != nil {
		return d, err
	}
	if v, err = request("churn-predictor", "2", "dev"); err != nil {
		return d, err
	}
	d.Blocked = v.ID

	// credit-risk 2: through staging, and waiting for an approver in prod.
	e.Clock.Advance(3 * time.Hour)
	if err := reg("credit-risk", "2", 0.919, 131, true); err != nil {
		return d, err
	}
	for _, env := range []string{"dev", "staging"} {
		if _, err := promoteTo("credit-risk", "2", env); err != nil {
			return d, err
		}
		e.Clock.Advance(time.Hour)
	}
	if v, err = request("credit-risk", "2", "prod"); err != nil {
		return d, err
	}
	if v.State != promote.StateAwaitingApproval {
		return d, fmt.Errorf("credit-risk 2 to prod is %s, want awaiting approval: %s", v.State, v.Reason)
	}
	d.Awaiting = v.ID
	e.Clock.Advance(10 * time.Minute)
	return d, nil
}

// deliver reports promotion id's GitOps commit, as the reconciler would.
func (e *Env) deliver(ctx context.Context, id string) error {
	e.Clock.Advance(2 * time.Minute)
	p, err := e.Service.Promotion(ctx, id)
	if err != nil {
		return err
	}
	deps, err := e.Service.Deployments(ctx, p.Model, p.Environment)
	if err != nil {
		return err
	}
	for _, dep := range deps {
		if dep.PromotionID == id {
			return e.Service.Delivered(ctx, dep, hex.EncodeToString(sha1Of("commit "+id)))
		}
	}
	return fmt.Errorf("promotion %s: no deployment to deliver", id)
}

// approve records who's approval of promotion id, of the digest it
// promotes.
func (e *Env) approve(ctx context.Context, id, who string) error {
	e.Clock.Advance(25 * time.Minute)
	p, err := e.Service.Promotion(ctx, id)
	if err != nil {
		return err
	}
	_, err = e.Service.Approve(ctx, e.Principals[who], id, registry.ApproveRequest{Digest: p.Digest, Comment: "numbers look right; go"})
	return err
}

// Canary steps of the demo rollouts, in percent.
var canarySteps = []int{10, 50, 100}

// canary carries a committed promotion's rollout out as the rollout
// controller would, writing a sample every 15 seconds: the stable and
// canary tracks serve with the given error rates and p95 latencies (in
// seconds). A failing canary's error rate climbs after its second step
// begins, and the analysis rolls it back.
func (e *Env) canary(ctx context.Context, id string, stableErr, canaryErr, stableP95, canaryP95 float64, fail bool) error {
	svc, actor := e.Service, registry.RolloutActor
	r, err := svc.StartRollout(ctx, id)
	if err != nil {
		return err
	}
	if r.Stable == "" {
		// No baseline: the candidate takes everything at once.
		e.Clock.Advance(time.Minute)
		r.Weight = 1
		_, err := svc.FinishRollout(ctx, actor, r, "no stable version to compare with: the candidate took all traffic")
		return err
	}
	const perStep = 16
	sample := func(s promote.RolloutSample) error {
		return e.Store.Update(ctx, func(tx promote.Tx) error { return tx.AppendRolloutSample(s, promote.RolloutSamplesKept) })
	}
	i := 0
	for step, w := range canarySteps {
		r.Step, r.Weight, r.StepStartedAt = step, float64(w)/100, e.Clock.Now()
		if r, err = svc.RecordRollout(ctx, actor, r, fmt.Sprintf("step %d of %d: %d%%", step+1, len(canarySteps), w)); err != nil {
			return err
		}
		if err := sample(promote.RolloutSample{PromotionID: id, At: e.Clock.Now(), Step: step, Weight: r.Weight, Event: "step"}); err != nil {
			return err
		}
		for k := range perStep {
			e.Clock.Advance(15 * time.Second)
			i++
			total := 1200.0
			cr := total * r.Weight
			ce := canaryErr
			cp := canaryP95
			if fail && step >= 1 {
				ce = canaryErr * (0.5 + float64(k)/6)
				cp = canaryP95 * (1 + float64(k)/20)
			}
			wobble := 1 + 0.15*float64((i*7)%5-2)/2
			s := promote.RolloutSample{PromotionID: id, At: e.Clock.Now(), Step: step, Weight: r.Weight,
				Stable:   promote.TrackSample{Requests: total - cr, Errors: round((total - cr) * stableErr * wobble), LatencyP95: stableP95 * wobble},
				Canary:   promote.TrackSample{Requests: cr, Errors: round(cr * ce * wobble), LatencyP95: cp * wobble},
				Decision: "continue"}
			if k < 3 {
				s.Decision = "inconclusive"
			}
			if fail && step >= 1 && k >= 8 {
				e.Clock.Advance(5 * time.Second)
				s.At, s.Decision = e.Clock.Now(), "fail"
				if err := sample(s); err != nil {
					return err
				}
				why := fmt.Sprintf("canary error rate %.1f%% against stable %.1f%% at step %d (%d%%): the sequential test rejects equality",
					100*s.Canary.Errors/s.Canary.Requests, 100*s.Stable.Errors/s.Stable.Requests, step+1, w)
				// As the controller does: the rollout's end in the
				// rollback's transaction.
				r.State, r.Reason, r.Weight = promote.RolloutRolledBack, why, 0
				view, err := svc.Rollback(ctx, actor, registry.RollbackRequest{Model: r.Model, Environment: r.Environment, To: r.Stable, Reason: why, Rollout: &r})
				if err != nil {
					return err
				}
				if view.Rollout != nil {
					r = *view.Rollout
				}
				if err := sample(promote.RolloutSample{PromotionID: id, At: e.Clock.Now(), Step: step, Weight: 0, Decision: "fail", Event: "rolled_back"}); err != nil {
					return err
				}
				return e.deliverRollback(ctx, r.Model, r.Environment)
			}
			if err := sample(s); err != nil {
				return err
			}
		}
	}
	e.Clock.Advance(10 * time.Second)
	if err := sample(promote.RolloutSample{PromotionID: id, At: e.Clock.Now(), Step: len(canarySteps) - 1, Weight: 1, Decision: "continue", Event: "succeeded"}); err != nil {
		return err
	}
	_, err = svc.FinishRollout(ctx, actor, r, fmt.Sprintf("all %d steps passed", len(canarySteps)))
	return err
}

// deliverRollback reports the GitOps commit of a rollback.
func (e *Env) deliverRollback(ctx context.Context, model, env string) error {
	e.Clock.Advance(time.Minute)
	deps, err := e.Service.Deployments(ctx, model, env)
	if err != nil {
		return err
	}
	for _, dep := range deps {
		if dep.RollbackOf != "" {
			return e.Service.Delivered(ctx, dep, hex.EncodeToString(sha1Of("rollback "+dep.PromotionID)))
		}
	}
	return errors.New("no rollback to deliver")
}

func round(x float64) float64 { return float64(int64(x + 0.5)) }

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func sha1Of(s string) []byte {
	h := sha1.Sum([]byte(s))
	return h[:]
}

// RecordDeliveries appends webhook delivery attempts to the store's
// delivery log, as a Dispatcher records them, for pages that show it
// (notify.NewStoreLog reads them back).
func (e *Env) RecordDeliveries(ctx context.Context, ds ...promote.WebhookDelivery) error {
	return e.Store.Update(ctx, func(tx promote.Tx) error {
		for _, d := range ds {
			if _, err := tx.RecordWebhookDelivery(d, promote.WebhookDeliveriesKept); err != nil {
				return err
			}
		}
		return nil
	})
}
