package cli

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// A policy edited since the rollout began (more or fewer steps, other
// weights, another strategy), and the server restarted with it, before
// its controller judged the rollout again: the REST API's rollout says
// what a person's go does as the rollout controller will do it, by the
// plan it carries the rollout on with (next), and promote rollout show
// says the same, with the step counted among that plan's steps, as does
// the refusal of an operation decided on an older revision. The server is
// the REST API over a real rollout controller and splitter, with the
// demo's canary waiting for a person.
func TestRolloutShowNextAfterThePolicyChanged(t *testing.T) {
	canary := webuitest.CanaryRollout
	tests := []struct {
		name    string
		rollout string // prod's rollout section after the edit
		step    int    // the step the rollout waits at, of the 3 it began with
		next    map[string]any
		// steps is the Step line's count, goes what the Waiting for line
		// says of a go.
		steps, goes string
	}{
		{"other weights", canary(10, 25, 100), 0, map[string]any{"steps": 3.0, "step": 1.0, "weight": 25.0},
			"1 of 3", "moves it on to step 2 at 25%"},
		{"more steps", canary(10, 20, 50, 100), 0, map[string]any{"steps": 4.0, "step": 1.0, "weight": 20.0},
			"1 of 4", "moves it on to step 2 at 20%"},
		{"fewer steps", canary(10, 100), 1, map[string]any{"steps": 2.0, "last": true},
			"2 of 2", "moves it on to all traffic and success"},
		{"one step left", canary(100), 1, map[string]any{"steps": 1.0, "last": true},
			"1 of 1", "moves it on to all traffic and success"},
		{"now a shadow", webuitest.ShadowRollout, 0,
			map[string]any{"refused": "the rollout of credit-risk 2 in prod cannot be moved on: the policy of prod now rolls out by shadow; this rollout began as a canary; " +
				"promote it now (promote rollout promote ID) or abort it (promote rollout abort ID)"},
			"1 of 3", "is refused: the rollout of credit-risk 2 in prod cannot be moved on: the policy of prod now rolls out by shadow"},
		{"now direct", "", 0,
			map[string]any{"refused": "the rollout of credit-risk 2 in prod cannot be moved on: environment prod has no rollout plan in its policy; this rollout began as a canary; " +
				"promote it now (promote rollout promote ID) or abort it (promote rollout abort ID)"},
			"1 of 3", "is refused: the rollout of credit-risk 2 in prod cannot be moved on: environment prod has no rollout plan in its policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, st := webuitest.NewSteering(t)
			if tt.step > 0 {
				// The old policy's step 2 of 3, at 50%, waits for a
				// person, as its controller recorded it.
				recordStep(t, env, st, tt.step, "waiting for a person at 50% (step 2)")
			}
			_, call, must := restartedAPI(t, env, st, tt.rollout)
			bob := env.Tokens["bob"]
			want := tt.next
			if r, ok := want["refused"].(string); ok {
				want = map[string]any{"refused": strings.ReplaceAll(r, " ID)", " "+st.ID+")")}
			}

			var shown struct {
				Revision int64          `json:"revision"`
				Next     map[string]any `json:"next"`
			}
			if err := json.Unmarshal([]byte(must(0, bob, "rollout", "show", st.ID, "-o", "json")), &shown); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, shown.Next); diff != "" {
				t.Errorf("rollout show -o json: next differs (-want +got):\n%s", diff)
			}
			var listed []struct {
				PromotionID string         `json:"promotion_id"`
				Next        map[string]any `json:"next"`
			}
			if err := json.Unmarshal([]byte(must(0, bob, "rollout", "list", "--active", "-o", "json")), &listed); err != nil || len(listed) != 1 || listed[0].PromotionID != st.ID {
				t.Fatalf("rollout list --active -o json = %+v, %v; want the one rollout", listed, err)
			} else if diff := cmp.Diff(want, listed[0].Next); diff != "" {
				t.Errorf("rollout list -o json: next differs (-want +got):\n%s", diff)
			}

			out := must(0, bob, "rollout", "show", st.ID)
			if !regexp.MustCompile(`(?m)^Step +` + regexp.QuoteMeta(tt.steps) + `, weight `).MatchString(out) {
				t.Errorf("rollout show: want the line Step %s, weight …:\n%s", tt.steps, out)
			}
			if !regexp.MustCompile(`(?m)^Waiting for +a person: promote rollout resume ` + st.ID + ` ` + regexp.QuoteMeta(tt.goes)).MatchString(out) {
				t.Errorf("rollout show: want the line Waiting for a person: promote rollout resume %s %s…:\n%s", st.ID, tt.goes, out)
			}

			// An operation decided on an older revision is refused,
			// saying where the rollout stands by the same count.
			code, _, errOut := call(bob, "rollout", "promote", st.ID, "--revision", fmt.Sprint(shown.Revision-1))
			if where := "(step " + tt.steps + ")"; code != 1 || !strings.Contains(errOut, where) {
				t.Errorf("rollout promote --revision %d = exit %d %s; want exit 1 saying %s", shown.Revision-1, code, errOut, where)
			}
		})
	}
}

// restartedAPI restarts env's server after prod's policy was edited to
// have rollout as its rollout section (webuitest.Env.Restart), and serves
// the REST API over its service and a rollout controller that steers st:
// the service, and the CLI as a client of it (clientOf).
func restartedAPI(t *testing.T, env *webuitest.Env, st *webuitest.Steering, rollout string) (*registry.Service,
	func(tok string, args ...string) (int, string, string), func(want int, tok string, args ...string) string) {
	t.Helper()
	svc, ctl, err := env.Restart(st, webuitest.ProdPolicy(rollout))
	if err != nil {
		t.Fatal(err)
	}
	call, must := steeringAPI(t, svc, ctl)
	return svc, call, must
}

// steeringAPI serves the REST API over svc, with ctl carrying out the
// operations on rollouts, until t ends, and returns the CLI as a client
// of it (clientOf).
func steeringAPI(t *testing.T, svc *registry.Service, ctl *rollout.Controller) (func(tok string, args ...string) (int, string, string), func(want int, tok string, args ...string) string) {
	t.Helper()
	srv := httptest.NewServer(httpapi.NewServer(svc, httpapi.Options{Rollouts: ctl}).Handler())
	t.Cleanup(srv.Close)
	return clientOf(t, srv.URL)
}

// recordStep records st's rollout at step (from 0) at 50%, as its
// controller would, saying why: a step the policy's plan may lose in an
// edit.
func recordStep(t *testing.T, env *webuitest.Env, st *webuitest.Steering, step int, why string) {
	t.Helper()
	r, err := env.Service.Rollout(t.Context(), st.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Step, r.Weight = step, 0.5
	if _, err := env.Service.RecordRollout(t.Context(), registry.RolloutActor, r, why); err != nil {
		t.Fatal(err)
	}
}

// A paused canary whose environment's policy now rolls out by shadow,
// and the server restarted with it: no plan carries the rollout on, so
// the rollout controller refuses its resumption as it refuses a go on a
// rollout waiting for a person. The REST API's rollout says so (next's
// refused), promote rollout show words it on its Resume line, and
// promote rollout resume is refused with that reason (exit 1), changing
// nothing.
func TestRolloutResumeOfAPausedRolloutAfterTheStrategyChanged(t *testing.T) {
	ctx := t.Context()
	env, st := webuitest.NewSteering(t)
	if _, err := st.Controller.Pause(ctx, promote.Principal{Name: "bob", Role: promote.RoleApprover}, st.ID, "a look"); err != nil {
		t.Fatal(err)
	}
	svc, call, must := restartedAPI(t, env, st, webuitest.ShadowRollout)
	bob := env.Tokens["bob"]
	refused := "the rollout of credit-risk 2 in prod cannot be moved on: the policy of prod now rolls out by shadow; this rollout began as a canary; " +
		"promote it now (promote rollout promote " + st.ID + ") or abort it (promote rollout abort " + st.ID + ")"

	var shown struct {
		State    string         `json:"state"`
		Revision int64          `json:"revision"`
		Next     map[string]any `json:"next"`
	}
	if err := json.Unmarshal([]byte(must(0, bob, "rollout", "show", st.ID, "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"refused": refused}, shown.Next); shown.State != "paused" || diff != "" {
		t.Errorf("rollout show -o json: state %s, next differs (-want +got):\n%s", shown.State, diff)
	}
	out := must(0, bob, "rollout", "show", st.ID)
	if !regexp.MustCompile(`(?m)^Resume +promote rollout resume ` + st.ID + ` is refused: ` + regexp.QuoteMeta(refused) + `$`).MatchString(out) {
		t.Errorf("rollout show: want the line Resume promote rollout resume %s is refused: %s:\n%s", st.ID, refused, out)
	}
	// Nor does it say what the step needs from a resumption that is
	// refused: no plan says what the rollout would run at.
	if strings.Contains(out, "Progress") {
		t.Errorf("rollout show: a Progress line for a rollout whose resumption is refused:\n%s", out)
	}
	if code, _, errOut := call(bob, "rollout", "resume", st.ID, "--reason", "go on"); code != 1 || !strings.Contains(errOut, refused) {
		t.Errorf("rollout resume = exit %d %s; want exit 1 saying %s", code, errOut, refused)
	}
	after, err := svc.Rollout(ctx, st.ID)
	if err != nil || after.State != promote.RolloutPaused || after.Revision != shown.Revision {
		t.Errorf("after the refused resumption the rollout is %s at revision %d (%v); want paused at revision %d", after.State, after.Revision, err, shown.Revision)
	}
}

// A paused canary that its environment's policy still carries on: the
// REST API's rollout says where a resumption puts it (next), by the
// policy the server runs now, promote rollout show words it on its
// Resume line, and promote rollout resume puts it there: its step again
// at that step's weight, or the edited policy's last step, with all the
// traffic, when the policy lost the rollout's step.
func TestRolloutShowResumeOfAPausedRollout(t *testing.T) {
	canary := webuitest.CanaryRollout
	tests := []struct {
		name    string
		rollout string // prod's rollout section after the edit
		step    int    // the step the rollout is paused at, of the 3 it began with
		next    map[string]any
		// steps is the Step line's count, at what the Resume line says
		// of a resumption.
		steps, at string
		// progress is the Progress line: what the step the resumption
		// runs the rollout at needs, by the edited policy.
		progress string
		weight   float64
	}{
		{"other weights", canary(10, 25, 100), 1, map[string]any{"steps": 3.0, "step": 1.0, "weight": 25.0, "min_requests": 10.0},
			"2 of 3", "step 2 of 3, at 25% of the traffic", "needs 10 requests from its resumption", 0.25},
		{"a step the policy lost", canary(100), 1, map[string]any{"steps": 1.0, "weight": 100.0, "min_requests": 10.0},
			"1 of 1", "step 1 of 1, with all the traffic", "needs 10 requests from its resumption", 1},
		{"other minimums", "rollout:\n  strategy: canary\n  steps:\n    - weight: 10\n      minRequests: 10\n" +
			"    - weight: 50\n      minRequests: 300\n      minDuration: 5m\n    - weight: 100\n      minRequests: 10\n", 1,
			map[string]any{"steps": 3.0, "step": 1.0, "weight": 50.0, "min_requests": 300.0, "min_duration": 300.0},
			"2 of 3", "step 2 of 3, at 50% of the traffic", "needs 300 requests and 5m from its resumption", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			env, st := webuitest.NewSteering(t)
			recordStep(t, env, st, tt.step, "step 2: weight 50%")
			if _, err := st.Controller.Pause(ctx, promote.Principal{Name: "bob", Role: promote.RoleApprover}, st.ID, "a look"); err != nil {
				t.Fatal(err)
			}
			svc, _, must := restartedAPI(t, env, st, tt.rollout)
			bob := env.Tokens["bob"]

			var shown struct {
				State string         `json:"state"`
				Next  map[string]any `json:"next"`
			}
			if err := json.Unmarshal([]byte(must(0, bob, "rollout", "show", st.ID, "-o", "json")), &shown); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.next, shown.Next); shown.State != "paused" || diff != "" {
				t.Errorf("rollout show -o json: state %s, next differs (-want +got):\n%s", shown.State, diff)
			}
			out := must(0, bob, "rollout", "show", st.ID)
			if !regexp.MustCompile(`(?m)^Step +` + regexp.QuoteMeta(tt.steps) + `, weight `).MatchString(out) {
				t.Errorf("rollout show: want the line Step %s, weight …:\n%s", tt.steps, out)
			}
			if !regexp.MustCompile(`(?m)^Progress +` + regexp.QuoteMeta(tt.progress) + `$`).MatchString(out) {
				t.Errorf("rollout show: want the line Progress %s:\n%s", tt.progress, out)
			}
			if !regexp.MustCompile(`(?m)^Resume +promote rollout resume ` + st.ID + ` runs it again at ` + regexp.QuoteMeta(tt.at) + `;`).MatchString(out) {
				t.Errorf("rollout show: want the line Resume promote rollout resume %s runs it again at %s; …:\n%s", st.ID, tt.at, out)
			}
			must(0, bob, "rollout", "resume", st.ID, "--reason", "go on")
			if after, err := svc.Rollout(ctx, st.ID); err != nil || after.State != promote.RolloutRunning || after.Weight != tt.weight {
				t.Errorf("after the resumption the rollout is %s at %g (%v); want running at %g, as next said", after.State, after.Weight, err, tt.weight)
			}
		})
	}
}
