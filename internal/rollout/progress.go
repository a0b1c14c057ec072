package rollout

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// StepProgress is how far an active canary's step has come towards the
// next, as the controller last stored it: the canary's requests counted in
// the step against its minimum, and the step's time against its minimum.
type StepProgress struct {
	// Requests is the whole requests counted in the step.
	Requests    float64
	MinRequests int
	MinDuration time.Duration
	// Running says the rollout runs. A paused step's minimum time and
	// requests count again from its resumption: PausedWords says what it
	// will need.
	Running bool
	// Timed says the step's time counts towards a minimum: it runs and
	// has one. Elapsed is then its time so far, at most MinDuration.
	Timed   bool
	Elapsed time.Duration
	// Waiting says the running step has lasted its minimum time and waits
	// only for the canary's requests.
	Waiting bool
	// Person says the running step has served its minimums and waits for
	// a person to move it on, at Weight (from 0 to 1).
	Person bool
	Weight float64
}

// Progress is the progress of r's step as of now; false when r does not
// say what its step needs (a shadow, a rollout that ended, one the
// controller has not judged yet, a paused one whose resumption the
// server refuses). The minimums of a paused step are those
// of the step its resumption runs it at, when the server says (r.Next).
// The command line and the web UI word it each in their own way.
func Progress(r promote.Rollout, now time.Time) (StepProgress, bool) {
	n := r.StepNeeds
	if n == nil || !r.State.Active() || r.Strategy == policy.StrategyShadow {
		return StepProgress{}, false
	}
	if r.State == promote.RolloutPaused && r.Next != nil && r.Next.Refused != "" {
		// The server refuses its resumption (no plan of its strategy
		// carries it on): no step would count anything from it.
		return StepProgress{}, false
	}
	minRequests, minDuration := n.MinRequests, n.MinDuration
	if next := r.Next; r.State == promote.RolloutPaused && next != nil && next.Steps > 0 {
		// What the step the resumption runs r at needs, as the server's
		// controller says by the plan it runs now (an edited policy's
		// step may need other minimums than those stored).
		minRequests, minDuration = next.MinRequests, next.MinDuration
	}
	running := r.State == promote.RolloutRunning
	p := StepProgress{Requests: math.Floor(r.StepRequests), MinRequests: minRequests,
		MinDuration: time.Duration(minDuration * float64(time.Second)), Running: running,
		Waiting: running && n.WaitingForRequests, Person: r.WaitsForPerson(), Weight: r.Weight}
	if running && p.MinDuration > 0 {
		p.Timed = true
		p.Elapsed = min(max(0, now.Sub(r.StepStartedAt)), p.MinDuration)
	}
	return p, true
}

// PausedWords says what a paused step needs once resumed, when its
// minimum time and requests count again from zero (Controller.Resume):
// "needs 500 requests and 5m from its resumption", or "needs no minimum
// from its resumption". unit names the requests counted.
func (p StepProgress) PausedWords(unit string) string {
	var needs []string
	if p.MinRequests > 0 {
		needs = append(needs, strconv.Itoa(p.MinRequests)+" "+unit)
	}
	if p.MinDuration > 0 {
		needs = append(needs, ShortDuration(p.MinDuration))
	}
	if len(needs) == 0 {
		return "needs no minimum from its resumption"
	}
	return "needs " + strings.Join(needs, " and ") + " from its resumption"
}

// PersonWords says where a step that waits for a person stands, for
// people: "waiting for a person at 50%".
func (p StepProgress) PersonWords() string {
	return "waiting for a person at " + percentOf(p.Weight)
}

// percentOf writes a weight from 0 to 1 as a percent ("50%"), rounded to
// a hundredth, as policies give whole percents.
func percentOf(w float64) string {
	return strconv.FormatFloat(math.Round(w*10000)/100, 'f', -1, 64) + "%"
}

// ShortDuration writes d to the second without its zero units ("5m",
// "2m10s", "1h").
func ShortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
