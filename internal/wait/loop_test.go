package wait

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// passes records a Loop's passes as "AT:WHY", AT the time since the loop
// started, and answers each with the Next that next gives for its index.
type passes struct {
	mu    sync.Mutex
	start time.Time
	got   []string
	next  func(i int) Next
}

func (p *passes) pass(_ context.Context, why Why) Next {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, fmt.Sprintf("%s:%s", time.Since(p.start), [...]string{"start", "timer", "cued"}[why]))
	if p.next == nil {
		return Next{}
	}
	return p.next(len(p.got) - 1)
}

func (p *passes) want(t *testing.T, what string, want ...string) {
	t.Helper()
	synctest.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if diff := cmp.Diff(want, p.got); diff != "" {
		t.Errorf("%s: passes (-want +got):\n%s", what, diff)
	}
}

// run runs l with p's passes until the test's bubble ends, and checks
// that Run returns once its context ends.
func run(t *testing.T, l Loop, p *passes) {
	p.start = time.Now()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		l.Run(ctx, p.pass)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestLoop(t *testing.T) {
	t.Run("every, and at once when cued", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := Loop{Every: time.Minute, Now: NewCue()}
			p := &passes{}
			run(t, l, p)
			p.want(t, "at start", "0s:start")
			time.Sleep(time.Minute)
			p.want(t, "a minute on", "0s:start", "1m0s:timer")
			time.Sleep(10 * time.Second)
			l.Now.Send()
			p.want(t, "cued", "0s:start", "1m0s:timer", "1m10s:cued")
			// The interval counts from the cued pass.
			time.Sleep(time.Minute - time.Nanosecond)
			p.want(t, "just before the next minute", "0s:start", "1m0s:timer", "1m10s:cued")
			time.Sleep(time.Nanosecond)
			p.want(t, "a minute after the cue", "0s:start", "1m0s:timer", "1m10s:cued", "2m10s:timer")
		})
	})
	t.Run("sooner when a pass asks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The first pass asks for 20s, the second for two minutes
			// (more than Every), the others for nothing.
			asks := []time.Duration{20 * time.Second, 2 * time.Minute}
			p := &passes{next: func(i int) Next {
				if i < len(asks) {
					return Next{In: asks[i]}
				}
				return Next{}
			}}
			run(t, Loop{Every: time.Minute}, p)
			time.Sleep(3 * time.Minute)
			p.want(t, "three minutes on", "0s:start", "20s:timer", "1m20s:timer", "2m20s:timer")
		})
	})
	t.Run("soon after its gap, once, and not when quiet", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := Loop{Every: time.Hour, Soon: NewCue(), Gap: 10 * time.Second}
			// The third pass fails: cues wait for the interval after it.
			p := &passes{next: func(i int) Next { return Next{Quiet: i == 2} }}
			run(t, l, p)
			time.Sleep(4 * time.Second)
			l.Soon.Send()
			synctest.Wait()
			l.Soon.Send() // while armed: the same pass
			p.want(t, "4s after start, cued", "0s:start")
			time.Sleep(6 * time.Second)
			p.want(t, "the gap over", "0s:start", "10s:cued")
			// Cued 30s after the last pass ended: at once.
			time.Sleep(30 * time.Second)
			l.Soon.Send()
			p.want(t, "cued after the gap", "0s:start", "10s:cued", "40s:cued")
			l.Soon.Send()
			time.Sleep(time.Hour - time.Nanosecond)
			p.want(t, "quiet: cues wait for the interval", "0s:start", "10s:cued", "40s:cued")
			time.Sleep(time.Nanosecond)
			p.want(t, "the interval", "0s:start", "10s:cued", "40s:cued", "1h0m40s:timer")
		})
	})
}
