package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

// AutoPromoteActor is who requests the promotions of automatic promotion
// (an environment's autoPromote): the requester that the audit log, the
// webhooks, the web UI and the CLI show for them. It may request, not
// approve: an environment whose gate needs approvals still waits for
// people.
var AutoPromoteActor = promote.Principal{Name: "auto-promote", Role: promote.RoleSubmitter}

// AutoPromote requests, for every model and every environment E of the
// pipeline with autoPromote, the promotion into E of the version whose
// promotion into E's upstream environment succeeded last, through the same
// path as a person's request (RequestPromotion: preconditions, gate,
// approvals) and in AutoPromoteActor's name, when all of these hold:
//
//   - the version is not live in E, and no promotion of it to E was ever
//     requested, in any state: a blocked, rejected, cancelled or
//     rolled-back one is never requested again by itself (a person still
//     can);
//   - E has no active promotion of the model;
//   - every precondition of a request holds now: the version is neither
//     rejected nor held in E, it was not rolled back upstream since, its
//     soak there is served, and E is not frozen.
//
// A version that is waiting (for its soak, for a freeze to end, for E's
// slot) is requested on a later call once it may go; nothing is recorded
// meanwhile. The store is the only state, so a restart or a new leader
// takes over where the last one stopped. It returns the promotions it
// requested, and the errors of the ones it could not, joined: one model's
// failure stops none of the others.
func (s *Service) AutoPromote(ctx context.Context) ([]PromotionView, error) {
	envs := s.cfg.Pipeline.AutoPromoted()
	if len(envs) == 0 {
		return nil, nil
	}
	var models []promote.Model
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		models, err = promote.AllModels(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auto-promote: list models: %w", err)
	}
	var out []PromotionView
	var errs []error
	// Oldest model first, environments in pipeline order.
	for i := len(models) - 1; i >= 0; i-- {
		for _, e := range envs {
			if ctx.Err() != nil {
				return out, errors.Join(append(errs, ctx.Err())...)
			}
			view, ok, err := s.autoPromote(ctx, models[i].Name, e)
			if err != nil {
				errs = append(errs, fmt.Errorf("auto-promote %s to %s: %w", models[i].Name, e.Name, err))
			} else if ok {
				out = append(out, view)
			}
		}
	}
	return out, errors.Join(errs...)
}

// autoPromote requests model's candidate for env, if it has one: found by
// a read, then found again and requested in one write, so that a request
// made meanwhile (by a person, or by another replica's last term) wins.
func (s *Service) autoPromote(ctx context.Context, model string, env *promote.Environment) (PromotionView, bool, error) {
	var found bool
	err := s.store.View(ctx, func(tx promote.Tx) error {
		_, ok, err := s.autoCandidate(tx, model, env, s.clock())
		found = ok
		return err
	})
	if err != nil || !found {
		return PromotionView{}, false, err
	}
	var view PromotionView
	err = s.updateAs(ctx, AutoPromoteActor, func(tx promote.Tx) error {
		now := s.clock()
		req, ok, err := s.autoCandidate(tx, model, env, now)
		if err != nil || !ok {
			return err
		}
		view, err = s.request(tx, AutoPromoteActor, req, env.Name, now)
		return err
	})
	// No ID: the candidate was gone by the write (a request made
	// meanwhile), and nothing was requested.
	if err != nil || view.ID == "" {
		return PromotionView{}, false, err
	}
	view, err = s.afterDecide(view, nil)
	return view, true, err
}

// autoCandidate returns the request that automatic promotion makes now for
// model into env, and whether it makes one (see AutoPromote).
//
// The candidate is the version of the newest successful promotion into the
// upstream environment. Promotions are listed in the order they were
// requested, and it is also the order of their success there: at most one
// promotion per model and environment is under way at a time, and one that
// ended blocked never succeeds.
func (s *Service) autoCandidate(tx promote.Tx, model string, env *promote.Environment, now time.Time) (PromoteRequest, bool, error) {
	none := PromoteRequest{}
	done, err := tx.Promotions(promote.PromotionFilter{Model: model, Environment: env.From, States: []promote.State{promote.StateSucceeded}, Limit: 1})
	if err != nil || len(done) == 0 {
		return none, false, err
	}
	up := done[0]
	live, err := tx.Live(model)
	if err != nil {
		return none, false, err
	}
	if l, ok := live[env.Name]; ok && l.Version == up.Version {
		return none, false, nil
	}
	active, err := tx.Promotions(promote.PromotionFilter{Model: model, Environment: env.Name, ActiveOnly: true, Limit: 1})
	if err != nil || len(active) > 0 {
		return none, false, err
	}
	// Once requested, by anyone and however it ended, never again by
	// itself: a blocked or rejected request would otherwise be made anew
	// at every pass.
	before, err := tx.Promotions(promote.PromotionFilter{Model: model, Version: up.Version, Environment: env.Name, Limit: 1})
	if err != nil || len(before) > 0 {
		return none, false, err
	}
	v, err := tx.Version(model, up.Version)
	if err != nil {
		return none, false, err
	}
	// The preconditions a request meets first (rejection, holds, the
	// upstream environment, soak, freeze): one that does not hold yet is
	// waited out rather than recorded as a blocked request.
	pre, _, err := s.preconditions(tx, v, env.Name, PromoteRequest{}, now)
	if err != nil {
		return none, false, err
	}
	for _, p := range pre {
		if !p.met {
			return none, false, nil
		}
	}
	note := fmt.Sprintf("requested automatically (autoPromote in %s): version %s succeeded in %s at %s (promotion %s)",
		env.Name, v.Version, env.From, up.UpdatedAt.UTC().Format(time.RFC3339), up.ID)
	if env.Soak > 0 {
		note += fmt.Sprintf(" and has soaked there for at least the %s required", env.Soak)
	}
	return PromoteRequest{Model: model, Version: v.Version, Environment: env.Name, Note: note}, true, nil
}
