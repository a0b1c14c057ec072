package registry

import (
	"context"
	"sync"
)

// ForEachModel calls seed with each model's index from 0 to models-1,
// from workers goroutines at once, and done (when not nil; one call at a
// time) after each that succeeded. The first error stops the rest, and it
// is returned.
func ForEachModel(ctx context.Context, models, workers int, seed func(ctx context.Context, m int) error, done func()) error {
	jobs := make(chan int)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range max(workers, 1) {
		wg.Go(func() {
			for m := range jobs {
				if err := seed(ctx, m); err != nil {
					cancel(err)
					return
				}
				if done != nil {
					mu.Lock()
					done()
					mu.Unlock()
				}
			}
		})
	}
feed:
	for m := range models {
		select {
		case jobs <- m:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
}
