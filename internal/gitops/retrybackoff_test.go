package gitops

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// failingRegistry is a registry that cannot be read, until ok is set,
// and records when each pass asked.
type failingRegistry struct {
	Registry
	mu    sync.Mutex
	asked []time.Time
	ok    bool
}

func (f *failingRegistry) Deployments(context.Context, string, string) ([]promote.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, time.Now())
	if f.ok {
		return nil, nil
	}
	return nil, errors.New("the store is unreachable")
}

// gaps returns the pauses between the passes, and forgets them.
func (f *failingRegistry) gaps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(f.asked); i++ {
		out = append(out, f.asked[i].Sub(f.asked[i-1]))
	}
	f.asked = f.asked[len(f.asked)-1:]
	return out
}

// runFailing runs, in a synctest bubble, a reconciler with a sweep every
// interval over a registry that cannot be read; stop ends it.
func runFailing(t *testing.T, interval time.Duration) (*failingRegistry, *Reconciler, func()) {
	t.Helper()
	w := newWriter(t, filepath.Join(t.TempDir(), "gitops.git"), nil)
	reg := &failingRegistry{}
	r, err := NewReconciler(ReconcilerConfig{Writer: w, Registry: reg, RetryDelay: 5 * time.Second, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return reg, r, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// A pass that keeps failing is tried again after RetryDelay, then after
// twice as long each time, at most after Interval: a remote that refuses
// the credentials, or a store that is down, is not asked again every few
// seconds for as long as it lasts. Once a pass goes through, the next
// failure is tried again after RetryDelay.
func TestRunBacksOffWhileFailing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, r, stop := runFailing(t, time.Minute)
		defer stop()

		time.Sleep(2*time.Minute + 16*time.Second)
		synctest.Wait()
		// 5, 10, 20, 40 s, then the sweep's interval: at 0, 5, 15, 35,
		// 75 and 135 s.
		want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute}
		if diff := cmp.Diff(want, reg.gaps()); diff != "" {
			t.Errorf("pauses between failing passes (-want +got):\n%s", diff)
		}

		reg.mu.Lock()
		reg.ok = true
		reg.mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		reg.mu.Lock()
		reg.ok = false
		reg.mu.Unlock()
		r.Trigger("credit-risk", "dev")
		time.Sleep(16 * time.Second)
		synctest.Wait()
		// The sweep at 195 s went through; the cue at 196 s failed and
		// was tried again after 5 s, then 10 s.
		if diff := cmp.Diff([]time.Duration{time.Minute, time.Second, 5 * time.Second, 10 * time.Second}, reg.gaps()); diff != "" {
			t.Errorf("pauses after a pass went through (-want +got):\n%s", diff)
		}
	})
}

// With a sweep far apart (--gitops-interval 1h), the pauses grow up to
// MaxRetryDelay and stay there: a remote that comes back is used within a
// minute, not an hour.
func TestRunRetriesAtMostEveryMaxRetryDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, _, stop := runFailing(t, time.Hour)
		defer stop()
		time.Sleep(4 * time.Minute) // passes at 0, 5, 15, 35, 75, 135 and 195 s
		synctest.Wait()
		want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
		if diff := cmp.Diff(want, reg.gaps()); diff != "" {
			t.Errorf("pauses between failing passes (-want +got):\n%s", diff)
		}
	})
}
