// Package wait waits for a duration or until a context ends, whichever
// comes first: the pause between retries of the GitOps writer and the
// webhook sender, and the demo's pacing; and it runs the controllers'
// loop (Loop), a pass at an interval and at once when cued.
package wait

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx ends. It returns nil after d, and
// ctx.Err() when ctx ended first. A d of zero or less returns at once
// (with ctx.Err() if ctx has already ended).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
