package rollout

import (
	"context"
	"log/slog"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/wait"
	"github.com/promote-ml/promote/promote"
)

// Follow makes this process's traffic layer divide traffic as the stored
// rollouts say, every Interval until ctx ends, without judging or changing
// any rollout. It is what a replica does while another one runs the
// controller: each replica's traffic layer (the local agent's splitters) is
// its own, and only the leader's is moved by Run, so the others follow the
// weights the leader stores at every step. When a rollout ends, the
// candidate gets all the traffic (it succeeded) or none (it was rolled
// back), until the commit that follows routes the environment anew.
//
// It returns nil when ctx ends; failures are logged at debug level and
// tried again at the next look.
func (c *Controller) Follow(ctx context.Context) error {
	seen := map[string]promote.Rollout{} // the active rollouts at the last look
	wait.Loop{Every: c.cfg.Interval, Now: c.kick}.Run(ctx, func(ctx context.Context, _ wait.Why) wait.Next {
		seen = c.follow(ctx, seen)
		return wait.Next{}
	})
	return nil
}

// follow applies the stored state of each active rollout, and the end of
// each one seen active last time and active no more. It returns the active
// rollouts, or seen when they could not be read.
func (c *Controller) follow(ctx context.Context, seen map[string]promote.Rollout) map[string]promote.Rollout {
	active, err := c.cfg.Registry.ActiveRollouts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Debug("rollout: following: read active rollouts", slog.Any("error", err))
		}
		return seen
	}
	c.cfg.Gauges.count(active)
	now := make(map[string]promote.Rollout, len(active))
	for _, r := range active {
		now[r.PromotionID] = r
		c.apply(ctx, r)
	}
	for id, was := range seen {
		if _, ok := now[id]; ok {
			continue
		}
		r, err := c.cfg.Registry.Rollout(ctx, id)
		if err != nil || c.apply(ctx, r) != nil {
			now[id] = was // look again next time
		}
	}
	return now
}

// apply gives a rollout's candidate the traffic its stored state says:
// its weight (and mirror) while active, all of it once it succeeded, none
// once it was rolled back, and the candidate header's route with it. A failure is logged at debug level and
// returned.
func (c *Controller) apply(ctx context.Context, r promote.Rollout) error {
	if !c.cfg.Traffic.Ready(ctx, r.Model, r.Environment, r.Version) {
		return nil
	}
	weight, shadow := r.Weight, 0.0
	switch r.State {
	case promote.RolloutSucceeded:
		weight = 1
	case promote.RolloutRolledBack:
		weight = 0
	case promote.RolloutRunning:
		if plan := c.cfg.Plans[r.Environment]; r.Strategy == policy.StrategyShadow && plan != nil {
			shadow = shadowShare(plan)
		}
	}
	// The candidate header reaches the candidate while the rollout may
	// give it traffic: not once it was rolled back, nor while it is
	// paused at weight 0 (by the controller, for a failure or for want of
	// a judgement; a person's pause keeps a canary's weight, and a paused
	// shadow's candidate has none).
	on := r.State != promote.RolloutRolledBack && (r.State != promote.RolloutPaused || r.Weight > 0)
	err := c.cfg.Traffic.SetPinned(ctx, r.Model, r.Environment, on)
	if err == nil && r.Strategy == policy.StrategyShadow {
		err = c.cfg.Traffic.SetShadow(ctx, r.Model, r.Environment, shadow)
	}
	if err == nil {
		err = c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, weight)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Debug("rollout: following: set the traffic", append(c.attrs(r), slog.Any("error", err))...)
	}
	return err
}
