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

// AutoPass is what a call of AutoPromote did, and when the next one has
// something to do.
type AutoPass struct {
	// Requested holds the promotions it requested.
	Requested []PromotionView
	// Due is the earliest moment at which a version it left waiting for
	// time alone (its soak, a freeze window's end) may be requested; zero
	// when none waits for time alone. A call before then requests
	// nothing more, unless a person or a promotion changed something.
	Due time.Time
}

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
// requested and when to call again, and the errors of the ones it could
// not request, joined: one model's failure stops none of the others.
func (s *Service) AutoPromote(ctx context.Context) (AutoPass, error) {
	var pass AutoPass
	envs := s.cfg.Pipeline.AutoPromoted()
	if len(envs) == 0 {
		return pass, nil
	}
	var models []promote.Model
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		models, err = promote.AllModels(tx)
		return err
	})
	if err != nil {
		return pass, fmt.Errorf("auto-promote: list models: %w", err)
	}
	var errs []error
	// Oldest model first, environments in pipeline order.
	for i := len(models) - 1; i >= 0; i-- {
		for _, e := range envs {
			if ctx.Err() != nil {
				return pass, errors.Join(append(errs, ctx.Err())...)
			}
			view, due, err := s.autoPromote(ctx, models[i].Name, e)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("auto-promote %s to %s: %w", models[i].Name, e.Name, err))
			case view.ID != "":
				pass.Requested = append(pass.Requested, view)
			case !due.IsZero() && (pass.Due.IsZero() || due.Before(pass.Due)):
				pass.Due = due
			}
		}
	}
	return pass, errors.Join(errs...)
}

// autoPromote requests model's candidate for env, if it has one: found by
// a read, then found again and requested in one write, so that a request
// made meanwhile (by a person, or by another replica's last term) wins.
// It returns the promotion requested (no ID when none was), or else when
// the candidate that waits for time alone may go (zero when none does).
func (s *Service) autoPromote(ctx context.Context, model string, env *promote.Environment) (PromotionView, time.Time, error) {
	var found bool
	var due time.Time
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		_, found, due, err = s.autoCandidate(tx, model, env, s.clock())
		return err
	})
	if err != nil || !found {
		return PromotionView{}, due, err
	}
	var view PromotionView
	err = s.updateAs(ctx, AutoPromoteActor, func(tx promote.Tx) error {
		now := s.clock()
		req, ok, _, err := s.autoCandidate(tx, model, env, now)
		if err != nil || !ok {
			return err
		}
		view, err = s.request(tx, AutoPromoteActor, req, env.Name, now)
		return err
	})
	// No ID: the candidate was gone by the write (a request made
	// meanwhile), and nothing was requested.
	if err != nil || view.ID == "" {
		return PromotionView{}, time.Time{}, err
	}
	view, err = s.afterDecide(view, nil)
	return view, time.Time{}, err
}

// autoCandidate returns the request that automatic promotion makes now for
// model into env, and whether it makes one (see AutoPromote); when it
// makes none because the candidate waits for time alone, due is the
// earliest moment it may be made.
//
// The candidate is the version of the newest successful promotion into the
// upstream environment. Promotions are listed in the order they were
// requested, and it is also the order of their success there: at most one
// promotion per model and environment is under way at a time, and one that
// ended blocked never succeeds.
func (s *Service) autoCandidate(tx promote.Tx, model string, env *promote.Environment, now time.Time) (req PromoteRequest, ok bool, due time.Time, err error) {
	done, err := tx.Promotions(promote.PromotionFilter{Model: model, Environment: env.From, States: []promote.State{promote.StateSucceeded}, Limit: 1})
	if err != nil || len(done) == 0 {
		return req, false, due, err
	}
	up := done[0]
	live, err := tx.Live(model)
	if err != nil {
		return req, false, due, err
	}
	if l, ok := live[env.Name]; ok && l.Version == up.Version {
		return req, false, due, nil
	}
	active, err := tx.Promotions(promote.PromotionFilter{Model: model, Environment: env.Name, ActiveOnly: true, Limit: 1})
	if err != nil || len(active) > 0 {
		return req, false, due, err
	}
	// Once requested, by anyone and however it ended, never again by
	// itself: a blocked or rejected request would otherwise be made anew
	// at every pass.
	before, err := tx.Promotions(promote.PromotionFilter{Model: model, Version: up.Version, Environment: env.Name, Limit: 1})
	if err != nil || len(before) > 0 {
		return req, false, due, err
	}
	v, err := tx.Version(model, up.Version)
	if err != nil {
		return req, false, due, err
	}
	// The preconditions a request meets first (rejection, holds, the
	// upstream environment, soak, freeze): one that does not hold yet is
	// waited out rather than recorded as a blocked request; when time
	// alone makes them all hold (a soak, a freeze), due says when.
	pre, _, err := s.preconditions(tx, v, env.Name, PromoteRequest{}, now)
	if err != nil {
		return req, false, due, err
	}
	waits, timed := false, true
	for _, p := range pre {
		if !p.met {
			waits, timed = true, timed && !p.until.IsZero()
			if p.until.After(due) {
				due = p.until
			}
		}
	}
	if waits {
		if !timed {
			due = time.Time{}
		}
		return req, false, due, nil
	}
	note := fmt.Sprintf("requested automatically (autoPromote in %s): version %s succeeded in %s at %s (promotion %s)",
		env.Name, v.Version, env.From, up.UpdatedAt.UTC().Format(time.RFC3339), up.ID)
	if env.Soak > 0 {
		note += fmt.Sprintf(" and has soaked there for at least the %s required", env.Soak)
	}
	return PromoteRequest{Model: model, Version: v.Version, Environment: env.Name, Note: note}, true, due, nil
}
