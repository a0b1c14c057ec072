package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// promote rollout show prints the rollout's revision, and the operations
// take it with --revision: one decided on a revision the rollout has moved
// on from is refused (exit 1) naming the revision now, and changes
// nothing; one on the current revision is carried out. The server is the
// REST API over a real rollout controller and splitter, with the demo's
// canary waiting for a person at 10%.
func TestRolloutOpRevisionFlag(t *testing.T) {
	ctx := t.Context()
	env, st := webuitest.NewSteering(t)
	call, must := steeringAPI(t, env.Service, st.Controller)
	bob := env.Tokens["bob"]

	var shown promote.Rollout
	if err := json.Unmarshal([]byte(must(0, bob, "rollout", "show", st.ID, "-o", "json")), &shown); err != nil || shown.Revision < 1 {
		t.Fatalf("rollout show -o json = revision %d, %v; want the rollout's revision", shown.Revision, err)
	}
	if out := must(0, bob, "rollout", "show", st.ID); !regexp.MustCompile(fmt.Sprintf(`(?m)^Revision +%d$`, shown.Revision)).MatchString(out) {
		t.Errorf("rollout show lacks the line Revision %d:\n%s", shown.Revision, out)
	}

	code, out, errOut := call(bob, "rollout", "promote", st.ID, "--revision", fmt.Sprint(shown.Revision-1), "--reason", "all good")
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("now %d", shown.Revision)) || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("rollout promote --revision %d of a rollout at %d = exit %d\n%s%s\nwant exit 1 naming revision %d", shown.Revision-1, shown.Revision, code, out, errOut, shown.Revision)
	}
	if r, err := env.Service.Rollout(ctx, st.ID); err != nil || r.Revision != shown.Revision || r.State != promote.RolloutRunning || st.Splitter.Weights() != 0.1 {
		t.Errorf("after a refused promote the rollout is %s, revision %d, splitter %g (%v); want it unchanged at revision %d, 10%%", r.State, r.Revision, st.Splitter.Weights(), err, shown.Revision)
	}
	if code, _, errOut := call(bob, "rollout", "abort", st.ID, "--revision", "-1"); code != 2 || !strings.Contains(errOut, "--revision -1") {
		t.Errorf("rollout abort --revision -1 = exit %d %s, want 2 naming the flag", code, errOut)
	}

	out = must(0, bob, "rollout", "resume", st.ID, "--revision", fmt.Sprint(shown.Revision), "--reason", "dashboards fine")
	if !strings.Contains(out, "weight 50%") || st.Splitter.Weights() != 0.5 {
		t.Errorf("rollout resume --revision %d = splitter %g\n%s\nwant it on at 50%%", shown.Revision, st.Splitter.Weights(), out)
	}
}
