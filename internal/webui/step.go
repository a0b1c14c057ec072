package webui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// stepView is how far an active canary's step has come towards the next:
// the canary's requests counted in the step against its minimum, the time
// since the step began against its minimum, and whether it has lasted its
// minimum time and waits only for requests.
type stepView struct {
	Requests    string
	MinRequests int
	// Elapsed is empty for a paused step, whose time counts again from
	// its resumption.
	Elapsed, MinDuration string
	Waiting              bool
}

// stepProgress is the progress of r's step as of now; nil when r does not
// say what its step needs (a shadow, a rollout that ended, one the
// controller has not judged yet).
func stepProgress(r promote.Rollout, now time.Time) *stepView {
	n := r.StepNeeds
	if n == nil || !r.State.Active() || r.Strategy == policy.StrategyShadow {
		return nil
	}
	minTime := time.Duration(n.MinDuration * float64(time.Second))
	v := &stepView{Requests: strconv.FormatFloat(math.Floor(r.StepRequests), 'f', -1, 64), MinRequests: n.MinRequests,
		MinDuration: shortDuration(minTime), Waiting: n.WaitingForRequests && r.State == promote.RolloutRunning}
	if r.State == promote.RolloutRunning && minTime > 0 {
		v.Elapsed = shortDuration(min(max(0, now.Sub(r.StepStartedAt)), minTime))
	}
	return v
}

// shortDuration writes d to the second without its zero units ("5m",
// "2m10s", "1h").
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
