package webui

import (
	"strconv"
	"time"

	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/promote"
)

// stepView is how far an active canary's step has come towards the next:
// the canary's requests counted in the step against its minimum, the time
// since the step began against its minimum, and whether it has lasted its
// minimum time and waits only for requests, or for a person.
type stepView struct {
	Requests    string
	MinRequests int
	// Elapsed is empty for a paused step, whose time counts again from
	// its resumption.
	Elapsed, MinDuration string
	Waiting              bool
	// Person, when set, says that the step has served its minimums and
	// waits for a person ("waiting for a person at 50%"); Last, that a
	// person's go then ends the rollout.
	Person string
	Last   bool
	// Paused, when set, says what a paused step needs once resumed, when
	// its minimums count again ("needs 500 requests and 5m from its
	// resumption").
	Paused string
}

// stepProgress is the progress of r's step as of now; nil when r does not
// say what its step needs (a shadow, a rollout that ended, one the
// controller has not judged yet).
func stepProgress(r promote.Rollout, now time.Time) *stepView {
	p, ok := rollout.Progress(r, now)
	if !ok {
		return nil
	}
	v := &stepView{Requests: strconv.FormatFloat(p.Requests, 'f', -1, 64), MinRequests: p.MinRequests,
		MinDuration: rollout.ShortDuration(p.MinDuration), Waiting: p.Waiting}
	if p.Person {
		v.Person = p.PersonWords()
		v.Last = rollout.GoEnds(r)
	}
	if p.Timed {
		v.Elapsed = rollout.ShortDuration(p.Elapsed)
	}
	if !p.Running && !p.Person {
		v.Paused = p.PausedWords("requests")
	}
	return v
}
