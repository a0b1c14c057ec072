package wait

import (
	"context"
	"time"
)

// Cue is a wake-up call for a Loop: Send never blocks, and cues sent
// before the loop takes one count as one. Make it with NewCue; a nil Cue
// is never cued.
type Cue chan struct{}

// NewCue returns a Cue.
func NewCue() Cue { return make(Cue, 1) }

// Send cues the loop that waits on c; it never blocks.
func (c Cue) Send() {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Why says what started a pass of a Loop.
type Why int

const (
	// Start is the loop's first pass.
	Start Why = iota
	// Timer is a pass whose wait (Loop.Every, or Next.In) ran out.
	Timer
	// Cued is a pass that a Cue brought: Loop.Now, or Loop.Soon after
	// its gap.
	Cued
)

// Next is what a pass tells its Loop about the wait that follows it.
type Next struct {
	// In, when above zero and below the loop's Every, is the wait
	// before the next pass: something is due then.
	In time.Duration
	// Quiet ignores Loop.Soon until the next pass (a pass that failed:
	// the next one waits for Every or Now, so that a store that cannot
	// be reached is not asked at every cue).
	Quiet bool
}

// Loop makes a pass at once and then again, until its context ends,
// whenever the first of these comes: Every after the last pass ended (or
// the shorter wait the pass asked for in Next.In), a cue on Now, or a cue
// on Soon once Gap has passed since the last pass ended. It is the
// controllers' loop: a pass at an interval, and at once when something
// happened that it should see.
type Loop struct {
	Every time.Duration // positive
	Now   Cue
	Soon  Cue
	Gap   time.Duration
}

// Run makes the passes; it returns when ctx ends, once the pass under way
// (which gets ctx) has returned.
func (l Loop) Run(ctx context.Context, pass func(ctx context.Context, why Why) Next) {
	timer := time.NewTimer(l.Every)
	defer timer.Stop()
	soon := time.NewTimer(l.Gap)
	soon.Stop()
	defer soon.Stop()
	why := Start
	for ctx.Err() == nil {
		next := pass(ctx, why)
		end := time.Now()
		wait := l.Every
		if next.In > 0 && next.In < wait {
			wait = next.In
		}
		timer.Reset(wait)
		soon.Stop()
		armed := false
	waiting:
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
				why = Timer
				break waiting
			case <-l.Now:
				why = Cued
				break waiting
			case <-l.Soon:
				if armed || next.Quiet {
					continue
				}
				// The gap counts from the last pass's end, so that cues
				// leave what a pass reads idle for at least Gap.
				armed = true
				soon.Reset(max(0, l.Gap-time.Since(end)))
			case <-soon.C:
				why = Cued
				break waiting
			}
		}
	}
}
