package registry

import (
	"fmt"

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
	// Reason says, when Strategy is direct though the environment names
	// another strategy, why the version takes all traffic at once.
	Reason string `json:"reason,omitempty"`
}

// PlanStep is a canary step: the candidate's share of traffic, in
// percent, for at least MinDuration seconds and MinRequests requests,
// with the analysis judging it.
type PlanStep struct {
	Weight      int     `json:"weight"`
	MinDuration float64 `json:"min_duration"`
	MinRequests int     `json:"min_requests"`
	// Confirm says the step then waits for a person to move it on.
	Confirm bool `json:"confirm,omitempty"`
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
	// An environment that names another strategy says why it is direct
	// all the same.
	r := s.cfg.Plans[env.Name]
	progressive := env.Strategy == policy.StrategyCanary || env.Strategy == policy.StrategyShadow
	switch {
	case !progressive:
	case !s.cfg.Rollouts:
		plan.Reason = fmt.Sprintf("%s is configured for %s, but this server has no traffic splitter (rollouts run only with GitOps, --gitops-remote, and the local agent, --agent-addr)",
			env.Strategy, env.Name)
	case r == nil || r.Strategy != env.Strategy || (r.Strategy == policy.StrategyShadow && r.Shadow == nil):
		plan.Reason = fmt.Sprintf("%s is configured for %s, but its policy has no %s rollout plan", env.Strategy, env.Name, env.Strategy)
	case r.Strategy == policy.StrategyCanary:
		plan.Strategy = r.Strategy
		for _, st := range r.Steps {
			plan.Steps = append(plan.Steps, PlanStep{Weight: st.Weight, MinDuration: st.MinDuration.Seconds(), MinRequests: st.MinRequests, Confirm: st.Confirm})
		}
	default:
		plan.Strategy = r.Strategy
		plan.Shadow = &PlanShadow{Duration: r.Shadow.Duration.Seconds(), Percent: r.Shadow.Percent}
	}
	return plan
}

// RolloutPlan returns environment env's rollout plan, as the server's
// rollout controller carries it out; nil when it has none.
func (s *Service) RolloutPlan(env string) *policy.Rollout { return s.cfg.Plans[env] }
