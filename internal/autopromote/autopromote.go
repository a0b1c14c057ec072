// Package autopromote runs automatic promotion: on the elected replica, it
// asks the registry at an interval, and when cued, to request the
// promotions that environments with autoPromote call for
// (registry.Service.AutoPromote). It keeps no state of its own: what was
// requested is in the store, so a restart or a new leader carries on.
package autopromote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/wait"
)

// DefaultInterval is how often a Controller looks when not cued: a soak
// that ends, or a freeze that ends, is acted on within it.
const DefaultInterval = 30 * time.Second

// Promoter requests the promotions that automatic promotion calls for.
type Promoter interface {
	AutoPromote(ctx context.Context) ([]registry.PromotionView, error)
}

// Config is what a Controller needs.
type Config struct {
	Registry Promoter
	// Interval is the time between two passes; DefaultInterval when 0.
	Interval time.Duration
	Logger   *slog.Logger
}

// Controller makes a pass at start, at every Interval, and when Trigger
// cues it, until its context ends.
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
	return &Controller{cfg: cfg, cue: wait.NewCue()}, nil
}

// Trigger cues a pass soon (a promotion succeeded upstream). It never
// blocks; cues that arrive during a pass make one more pass after it.
func (c *Controller) Trigger() { c.cue.Send() }

// Run makes passes until ctx ends, and then returns nil: a pass's errors
// are logged, never fatal, since the next pass tries again.
func (c *Controller) Run(ctx context.Context) error {
	failing := false
	wait.Loop{Every: c.cfg.Interval, Now: c.cue}.Run(ctx, func(ctx context.Context, _ wait.Why) wait.Next {
		views, err := c.cfg.Registry.AutoPromote(ctx)
		for _, v := range views {
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
		return wait.Next{}
	})
	return nil
}
