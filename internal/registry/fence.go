package registry

import (
	"context"

	"github.com/promote-ml/promote/promote"
)

// CheckFence checks the fence ctx carries (promote.WithFence) against the
// lease, in a transaction of its own: Conflict ("deposed: …") once the
// fence's term has ended, nil while it lasts or when ctx carries no fence.
// A leader's controllers call it right before a side effect outside the
// store, such as a Git push, which no transaction can fence.
func (s *Service) CheckFence(ctx context.Context) error {
	if _, fenced := promote.FenceFrom(ctx); !fenced {
		return nil
	}
	return s.update(ctx, func(promote.Tx) error { return nil })
}
