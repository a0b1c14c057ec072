package traffic

import (
	"log/slog"
	"sync/atomic"

	"github.com/promote-ml/promote/promote"
)

// Judge is told of every request a splitter's canary and stable tracks
// answer, as it is counted on /metrics (the same outcome and latency:
// failed means a 5xx, a timeout or a connection error, as the analysis
// counts errors), and may take the canary's traffic away. It is not told
// of mirrored requests, nor of those the candidate header pinned to the
// candidate (TrackPinned), which are no evidence either way. Its methods
// are called on the requests' goroutines, concurrently, and must return
// at once: a Judge locks itself.
type Judge interface {
	// Canary counts one canary request; it returns true once the canary
	// must get no more traffic.
	Canary(failed bool, seconds float64) (trip bool)
	// Stable counts one stable request.
	Stable(failed bool, seconds float64)
}

// judging is a Judge as attached to a splitter: a new one for each
// SetJudge, so that a judge attached anew starts untripped.
type judging struct {
	j       Judge
	tripped atomic.Bool // set with the splitter's mu held
}

// SetJudge attaches j to the splitter (nil detaches it). A tripped judge
// (one whose Canary returned true) has set the canary's weight to 0; while
// it stays attached, SetWeight and SetCanary refuse a weight above 0 with
// a Conflict. Attaching another judge, or nil, clears the trip: the
// weight stays where it is until set again.
func (s *Splitter) SetJudge(j Judge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j == nil {
		s.judge.Store(nil)
		return
	}
	s.judge.Store(&judging{j: j})
}

// Tripped reports whether the attached judge has tripped (false without a
// judge).
func (s *Splitter) Tripped() bool {
	h := s.judge.Load()
	return h != nil && h.tripped.Load()
}

// judged tells h's judge of a request counted on track: the stable and
// canary tracks only (account leaves out the pinned requests, and the
// mirrors are counted elsewhere).
func (s *Splitter) judged(h *judging, track Track, o outcome, seconds float64) {
	failed := o.isError()
	switch track {
	case TrackStable:
		h.j.Stable(failed, seconds)
	case TrackCanary:
		if h.j.Canary(failed, seconds) && !h.tripped.Load() {
			s.trip(h)
		}
	}
}

// trip takes the canary's traffic away for h's judge, once, unless
// another judge has been attached since: the weight goes to 0 as with
// SetWeight(0), at once rather than at the controller's next look.
func (s *Splitter) trip(h *judging) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.judge.Load() != h || h.tripped.Load() {
		return
	}
	h.tripped.Store(true)
	rt := *s.routes.Load()
	var version string
	if rt.canary != nil {
		version = rt.canary.Version
	}
	if rt.weight != 0 {
		rt.weight = 0
		s.store(&rt, TrackCanary)
	}
	s.log.Warn("traffic: the judge took the canary's traffic away", slog.String(attrVersion, version), slog.Float64(attrWeight, 0))
}

// checkTripped refuses a canary weight above 0 while a tripped judge is
// attached. It is called with mu held.
func (s *Splitter) checkTripped(what string, weight float64) error {
	if weight == 0 {
		return nil
	}
	if h := s.judge.Load(); h != nil && h.tripped.Load() {
		return promote.Errorf(promote.Conflict, "%s of %s in %s to %g: the judge took the canary's traffic away; attach another judge, or none, first",
			what, s.cfg.Model, s.cfg.Env, weight)
	}
	return nil
}
