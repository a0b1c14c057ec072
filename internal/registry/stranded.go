package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/promote-ml/promote/promote"
)

// maxStranded bounds how many stranded promotions Stranded reads: one
// store page, far more than a pipeline change leaves behind.
const maxStranded = 1000

// Stranded lists the promotions still in flight (queued, approved,
// committed or rolling out) in environments that the pipeline no longer
// has: promote.yaml is read at start, and an environment renamed or
// removed since keeps what the store holds under its name. Nothing in the
// pipeline gates or carries them out any more, so `promote serve` names
// them when it starts, for a person to cancel or finish.
func (s *Service) Stranded(ctx context.Context) ([]promote.Promotion, error) {
	var out []promote.Promotion
	err := s.store.View(ctx, func(tx promote.Tx) error {
		active, err := tx.Promotions(promote.PromotionFilter{ActiveOnly: true, Limit: maxStranded})
		out = outsidePipeline(s, active, func(p promote.Promotion) string { return p.Environment })
		return err
	})
	return out, err
}

// StrandedHolds lists the active holds in environments that the pipeline
// no longer has. A hold binds a version to one environment by name, so
// renaming the environment lifts it: the version may enter the new one.
// `promote serve` names them when it starts, for a person to set again
// where they still matter.
func (s *Service) StrandedHolds(ctx context.Context) ([]promote.Hold, error) {
	var out []promote.Hold
	err := s.store.View(ctx, func(tx promote.Tx) error {
		// Every active hold: a large installation holds more than a page.
		holds, err := promote.AllHolds(tx, promote.HoldFilter{})
		out = outsidePipeline(s, holds, func(h promote.Hold) string { return h.Environment })
		return err
	})
	return out, err
}

// outsidePipeline returns the items whose environment (env) the pipeline
// does not have.
func outsidePipeline[T any](s *Service, items []T, env func(T) string) []T {
	var out []T
	for _, it := range items {
		if _, err := s.cfg.Pipeline.Environment(env(it)); err != nil {
			out = append(out, it)
		}
	}
	return out
}

// goneEnvironment is the error of a rollback of model in env, which the
// pipeline does not have (err says so): when model has a live version
// there, env was removed or renamed since it was promoted to, and the
// error is a Conflict that says what a person can do instead. Nothing in
// the pipeline names env's overlay any more, so its Git state cannot be
// reverted, and a rollback that changed only the registry would leave
// the registry saying one version and Git deploying another. Otherwise
// (a typo) it is err.
func (s *Service) goneEnvironment(ctx context.Context, model, env string, err error) error {
	var live, underWay bool
	if model != "" {
		if viewErr := s.store.View(ctx, func(tx promote.Tx) error {
			l, err := tx.Live(model)
			if err != nil {
				return err
			}
			_, live = l[env]
			ps, err := tx.Promotions(promote.PromotionFilter{Model: model, Environment: env,
				States: []promote.State{promote.StateCommitted, promote.StateRollingOut}, Limit: 1})
			underWay = len(ps) > 0
			return err
		}); viewErr != nil {
			return err
		}
	}
	if !live {
		return err
	}
	return promote.Errorf(promote.Conflict, "%s", goneText(s, model, env, underWay))
}

// goneText says why model cannot be rolled back in env, which the
// pipeline no longer has, and what to do. underWay says that a promotion
// of model there is committed or rolling out: it can be promoted now to
// keep what Git deploys, which is advice only then.
func goneText(s *Service, model, env string, underWay bool) string {
	text := fmt.Sprintf("environment %s is no longer in the pipeline (it has %s), so its overlay is no longer Promote's to revert, and %s cannot be rolled back there: ",
		env, strings.Join(s.cfg.Pipeline.Names(), ", "), model)
	if !underWay {
		return text + fmt.Sprintf("to roll it back, put %s back in the pipeline file, restart the server and do it then", env)
	}
	return text + fmt.Sprintf("to roll it back (or abort its rollout), put %s back in the pipeline file, restart the server and do it then; "+
		"to keep the version Git already deploys there, promote its rollout now (promote rollout promote)", env)
}
