// Package autopromote runs automatic promotion: on the elected replica, it
// asks the registry at an interval, when cued (Cues says by what), and
// when a version it left waiting may go, to request the promotions that
// environments with autoPromote call for (registry.Service.AutoPromote).
// It keeps no state of its own: what was requested is in the store, so a
// restart or a new leader carries on.
package autopromote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/wait"
	"github.com/promote-ml/promote/promote"
)

// DefaultInterval is how often a Controller looks when not cued and when
// nothing it knows of becomes due sooner: it bounds how late a change that
// no pass can foresee and no event cues (see Cues) is acted on.
const DefaultInterval = 30 * time.Second

// minWait is the shortest wait between timed passes, when the due time a
// pass reported is already past.
const minWait = time.Second

// Promoter requests the promotions that automatic promotion calls for.
type Promoter interface {
	AutoPromote(ctx context.Context) (registry.AutoPass, error)
}

// Config is what a Controller needs.
type Config struct {
	Registry Promoter
	// Interval is the time between two passes; DefaultInterval when 0.
	Interval time.Duration
	// Now is the clock that the wait until a pass's Due is measured on,
	// the registry's; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Controller makes a pass at start, when Trigger cues it, and at the
// moment the last pass said a waiting version may go (the end of its soak,
// or of a freeze), or after Interval if that comes first, until its
// context ends.
type Controller struct {
	cfg Config
	cue wait.Cue
}

// New returns a controller; cfg.Registry is required.
func New(cfg Config) (*Controller, error) {
	if cfg.Registry == nil {
		return nil, errors.New("autopromote: no registry")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("autopromote: interval %s: want a positive duration", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Controller{cfg: cfg, cue: wait.NewCue()}, nil
}

// Cues reports whether audit event e may let automatic promotion request
// a promotion it could not before: a promotion that ended (one that
// succeeded may be carried on downstream, and any that ended frees its
// environment for a version that waited for it), or a hold cleared (the
// version it held may go). Whoever hears of such an event, on whichever
// replica it was recorded, calls Trigger.
func Cues(e promote.AuditEvent) bool {
	switch e.Action {
	case promote.ActionPromotionState:
		return promote.State(e.Decision).Terminal()
	case promote.ActionHoldCleared:
		return true
	}
	return false
}

// Trigger cues a pass soon (a promotion ended: it may go on downstream,
// or its environment is free for a version that waited). It never
// blocks; cues that arrive during a pass make one more pass after it.
func (c *Controller) Trigger() { c.cue.Send() }

// Run makes passes until ctx ends, and then returns nil: a pass's errors
// are logged, never fatal, since the next pass tries again.
func (c *Controller) Run(ctx context.Context) error {
	failing := false
	wait.Loop{Every: c.cfg.Interval, Now: c.cue}.Run(ctx, func(ctx context.Context, _ wait.Why) wait.Next {
		pass, err := c.cfg.Registry.AutoPromote(ctx)
		for _, v := range pass.Requested {
			c.cfg.Logger.Info("auto-promote: requested", slog.String("model", v.Model), slog.String("version", v.Version),
				slog.String("env", v.Environment), slog.String("promotion", v.ID), slog.String("state", string(v.State)))
		}
		switch {
		case err != nil && ctx.Err() == nil:
			// Said once while it lasts, not at every pass.
			if !failing {
				c.cfg.Logger.Warn("auto-promote: a pass failed; trying again", slog.Any("error", err))
			}
			failing = true
		case err == nil && failing:
			c.cfg.Logger.Info("auto-promote: passes work again")
			failing = false
		}
		if pass.Due.IsZero() {
			return wait.Next{}
		}
		// A moment already past (the clock moved on since the registry
		// read it) is a pass soon, but at most one a second: a due time
		// that stays past (a clock that disagrees with the registry's, a
		// freeze boundary in a skipped hour) must not become a busy loop.
		return wait.Next{In: max(pass.Due.Sub(c.cfg.Now()), minWait)}
	})
	return nil
}
