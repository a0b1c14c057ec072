package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// ScalePipeline returns the scale benchmark's pipeline (testdata/scale.yaml:
// the registry benchmark's, with prod rolled out as a canary) and each
// environment's compiled gate.
func ScalePipeline() (*pipeline.Pipeline, map[string]*policy.Gate, error) {
	return loadPipeline("scale.yaml")
}

// Scale says how large a store SeedScale builds.
type Scale struct {
	Models   int // models
	Versions int // versions per model (at least 12)
	// Rolling is how many models are left with a canary rollout in
	// progress in prod; the others end with a request awaiting approval.
	Rolling int
	// Samples is how many samples each rollout records.
	Samples int
	// Workers is how many models are seeded at once.
	Workers int
}

// Scale's people: the CI job that registers and requests, the ML lead who
// approves, the SRE who sets holds and rolls back.
var (
	scaleCI   = promote.Principal{Name: Submitter, Role: promote.RoleSubmitter}
	scaleLead = promote.Principal{Name: Approver, Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
	scaleSRE  = promote.Principal{Name: "sre", Role: promote.RoleApprover, Groups: []string{"ml-lead"}}
)

// ScaleService returns the registry service SeedScale drives over store:
// the scale pipeline, with GitOps and rollouts on, as `promote serve` runs
// it with a GitOps repository and the rollout controller.
func ScaleService(store promote.Store) (*registry.Service, error) {
	pl, gates, err := ScalePipeline()
	if err != nil {
		return nil, err
	}
	return registry.New(store, registry.Config{Pipeline: pl, Gates: gates, GitOps: true, Rollouts: true})
}

// SeedScale fills svc's store through the service, as a large installation
// fills it over time: every model gets its versions, promotions in every
// state (succeeded in dev and staging, blocked, rejected, cancelled,
// superseded, rolled out by a canary that succeeded or was rolled back,
// rolling out or awaiting approval in prod), holds set and cleared, and
// the audit events all of that writes. progress, when not nil, is called
// after each model with the number done.
func SeedScale(ctx context.Context, svc *registry.Service, sc Scale, progress func(done int)) error {
	if sc.Models < 1 || sc.Versions < 12 || sc.Workers < 1 || sc.Samples < 1 {
		return fmt.Errorf("seed scale: %+v: at least 1 model, 12 versions, 1 sample and 1 worker", sc)
	}
	done := 0
	return ForEachModel(ctx, sc.Models, sc.Workers, func(ctx context.Context, m int) error {
		if err := seedScaleModel(ctx, svc, sc, m); err != nil {
			return fmt.Errorf("%s: %w", ModelName(m), err)
		}
		return nil
	}, func() {
		done++
		if progress != nil {
			progress(done)
		}
	})
}

func seedScaleModel(ctx context.Context, svc *registry.Service, sc Scale, m int) error {
	name := ModelName(m)
	if _, err := svc.CreateModel(ctx, scaleCI, name, "scale benchmark model"); err != nil {
		return err
	}
	for j := 1; j <= sc.Versions; j++ {
		v := VersionName(j)
		if _, err := svc.RegisterVersion(ctx, scaleCI, registry.RegisterRequest{Model: name, Version: v,
			ArtifactURI: ArtifactURI(name, v), Digest: Digest(name, v), Size: 1 << 20, Metrics: Metrics(j),
			Lineage: promote.Lineage{CodeCommit: fmt.Sprintf("%040x", m*100000+j), TrainingRun: fmt.Sprintf("run-%d", j)}}); err != nil {
			return fmt.Errorf("register %s: %w", v, err)
		}
	}
	// A version whose evidence every gate blocks.
	bad := "bad"
	if _, err := svc.RegisterVersion(ctx, scaleCI, registry.RegisterRequest{Model: name, Version: bad,
		ArtifactURI: ArtifactURI(name, bad), Digest: Digest(name, bad), Size: 1 << 20,
		Metrics: []byte(`{"accuracy": 0.5, "f1": 0.4, "latency_p95_ms": 900, "checks": {"tests_passed": false}}`)}); err != nil {
		return fmt.Errorf("register %s: %w", bad, err)
	}
	request := func(v, env string, want promote.State) (registry.PromotionView, error) {
		p, err := svc.RequestPromotion(ctx, scaleCI, registry.PromoteRequest{Model: name, Version: v, Environment: env})
		if err != nil {
			return p, fmt.Errorf("request %s to %s: %w", v, env, err)
		}
		if p.State != want {
			return p, fmt.Errorf("request %s to %s: %s (%s), want %s", v, env, p.State, p.Reason, want)
		}
		return p, nil
	}
	// deliver reports the GitOps commit of the model's live change in env,
	// as the reconciler does once it is on the branch.
	deliver := func(env string) error {
		ds, err := svc.Deployments(ctx, name, env)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.Pending() {
				if err := svc.Delivered(ctx, d, fmt.Sprintf("%040x", time.Now().UnixNano())); err != nil {
					return fmt.Errorf("deliver %s %s: %w", d.Version, env, err)
				}
			}
		}
		return nil
	}
	promoteTo := func(v, env string) error {
		if _, err := request(v, env, promote.StateApproved); err != nil {
			return err
		}
		return deliver(env)
	}
	// dev and staging: a run of versions goes live, one after another.
	for j := 1; j <= 8; j++ {
		if err := promoteTo(VersionName(j), "dev"); err != nil {
			return err
		}
	}
	for j := 1; j <= 7; j++ {
		if err := promoteTo(VersionName(j), "staging"); err != nil {
			return err
		}
	}
	if _, err := request(bad, "dev", promote.StateBlocked); err != nil {
		return err
	}
	// prod: approved and rolled out by a canary.
	canary := func(v string) (promote.Rollout, error) {
		p, err := request(v, "prod", promote.StateAwaitingApproval)
		if err != nil {
			return promote.Rollout{}, err
		}
		if _, err := svc.Approve(ctx, scaleLead, p.ID, registry.ApproveRequest{Digest: p.Digest, Comment: "metrics reviewed"}); err != nil {
			return promote.Rollout{}, fmt.Errorf("approve %s: %w", v, err)
		}
		if err := deliver("prod"); err != nil {
			return promote.Rollout{}, err
		}
		r, err := svc.StartRollout(ctx, p.ID)
		if err != nil {
			return r, fmt.Errorf("start rollout of %s: %w", v, err)
		}
		at := time.Now().UTC().Add(-time.Duration(sc.Samples) * 5 * time.Second)
		for k := range sc.Samples {
			s := promote.RolloutSample{PromotionID: p.ID, At: at.Add(time.Duration(k) * 5 * time.Second), Step: 0, Weight: 0.1,
				Stable: promote.TrackSample{Requests: 900, Errors: 1, LatencyP95: 0.120},
				Canary: promote.TrackSample{Requests: 100, Errors: 0, LatencyP95: 0.118}, Decision: "continue"}
			if err := svc.RecordRolloutProgress(ctx, s, r.Revision, promote.RolloutProgress{}); err != nil {
				return r, fmt.Errorf("sample %s: %w", v, err)
			}
		}
		return r, nil
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		r, err := canary(v)
		if err != nil {
			return err
		}
		if _, err := svc.FinishRollout(ctx, registry.RolloutActor, r, "all steps passed"); err != nil {
			return fmt.Errorf("finish rollout of %s: %w", v, err)
		}
	}
	// prod: a canary rolled back, which holds its version.
	r, err := canary("v4")
	if err != nil {
		return err
	}
	verdict, _ := json.Marshal(map[string]string{"decision": "fail", "reason": "error rate above the stable's"})
	r.State, r.Weight, r.Verdict = promote.RolloutRolledBack, 0, verdict
	if _, err := svc.Rollback(ctx, registry.RolloutActor, registry.RollbackRequest{Model: name, Environment: "prod", To: "v3",
		Reason: "canary error rate", Rollout: &r}); err != nil {
		return fmt.Errorf("roll back v4: %w", err)
	}
	if err := deliver("prod"); err != nil {
		return err
	}
	// prod: rejected and cancelled requests; a queued one superseded.
	p, err := request("v5", "prod", promote.StateAwaitingApproval)
	if err != nil {
		return err
	}
	if _, err := svc.Reject(ctx, scaleLead, p.ID, "not this quarter"); err != nil {
		return fmt.Errorf("reject v5: %w", err)
	}
	if p, err = request("v6", "prod", promote.StateAwaitingApproval); err != nil {
		return err
	}
	if _, err := svc.Cancel(ctx, scaleCI, p.ID, "retrained"); err != nil {
		return fmt.Errorf("cancel v6: %w", err)
	}
	if _, err := request("v6", "prod", promote.StateAwaitingApproval); err != nil {
		return err
	}
	// Holds: set on later versions everywhere, half of them cleared.
	for j := 9; j <= 11; j++ {
		h, err := svc.SetHold(ctx, scaleSRE, name, VersionName(j), "dev", "under investigation")
		if err != nil {
			return fmt.Errorf("hold %s: %w", VersionName(j), err)
		}
		if j%2 == 1 {
			if _, err := svc.ClearHold(ctx, scaleSRE, h.ID, "resolved"); err != nil {
				return fmt.Errorf("clear hold %d: %w", h.ID, err)
			}
		}
	}
	// The model's last word in prod: a canary in progress, or a request
	// awaiting approval.
	if m < sc.Rolling {
		_, err = canary("v7")
	} else {
		_, err = request("v7", "prod", promote.StateAwaitingApproval)
	}
	return err
}
