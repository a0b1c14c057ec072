package registry

import (
	"context"

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
		holds, err := tx.Holds(promote.HoldFilter{Limit: maxStranded})
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
