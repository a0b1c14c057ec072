package registry

import (
	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// Plan is what approving a promotion sets going, from the pipeline and
// the environment's rollout plan, so that an approver knows what they
// start: the overlay committed, then the traffic the version gets.
type Plan struct {
	// Strategy is how the version takes traffic: direct (all at once,
	// when its change is deployed), canary (Steps) or shadow (Shadow).
	Strategy string `json:"strategy"`
	// Overlay is the GitOps overlay whose change is committed, pinning
	// the version's digest; "" when the server commits to no GitOps
	// repository (the live alias moves, nothing else).
	Overlay string `json:"overlay,omitempty"`
	// Steps are a canary's steps, in order.
	Steps []PlanStep `json:"steps,omitempty"`
	// Shadow is a shadow rollout's mirror.
	Shadow *PlanShadow `json:"shadow,omitempty"`
}

// PlanStep is a canary step: the candidate's share of traffic, in
// percent, for at least MinDuration seconds and MinRequests requests,
// with the analysis judging it.
type PlanStep struct {
	Weight      int     `json:"weight"`
	MinDuration float64 `json:"min_duration"`
	MinRequests int     `json:"min_requests"`
}

// PlanShadow is a shadow rollout: Percent of the stable version's
// requests mirrored to the candidate, whose answers are discarded, for
// Duration seconds.
type PlanShadow struct {
	Duration float64 `json:"duration"`
	Percent  int     `json:"percent"`
}

// OnApproval returns what approving p would set going, while it can still
// be approved (gated or awaiting approval); nil otherwise, or when its
// environment has left the pipeline.
func (s *Service) OnApproval(p promote.Promotion) *Plan {
	if p.State != promote.StateGated && p.State != promote.StateAwaitingApproval {
		return nil
	}
	env, err := s.cfg.Pipeline.Environment(p.Environment)
	if err != nil {
		return nil
	}
	plan := &Plan{Strategy: policy.StrategyDirect}
	if s.cfg.GitOps {
		plan.Overlay = pipeline.OverlayDir + "/" + env.Name
	}
	// The rollout controller carries out the plans it was given; without
	// it (or without a plan) a committed version takes all traffic.
	r := s.cfg.Plans[env.Name]
	if !s.cfg.Rollouts || r == nil || r.Strategy != env.Strategy {
		return plan
	}
	switch r.Strategy {
	case policy.StrategyCanary:
		plan.Strategy = r.Strategy
		for _, st := range r.Steps {
			plan.Steps = append(plan.Steps, PlanStep{Weight: st.Weight, MinDuration: st.MinDuration.Seconds(), MinRequests: st.MinRequests})
		}
	case policy.StrategyShadow:
		if r.Shadow != nil {
			plan.Strategy = r.Strategy
			plan.Shadow = &PlanShadow{Duration: r.Shadow.Duration.Seconds(), Percent: r.Shadow.Percent}
		}
	}
	return plan
}
