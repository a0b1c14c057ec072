package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// TestServeConfirmStepSurvivesARestart rolls out a canary whose 50% step
// waits for a person, through promote serve, the local agent and live
// traffic: the rollout waits at 50%, goes on waiting at 50% after the
// server is killed and started again on the same data (without moving
// on, however much traffic comes), says so in promote rollout show and
// list, and
// moves on only when a person resumes it; then it succeeds.
func TestServeConfirmStepSurvivesARestart(t *testing.T) {
	policy := strings.Replace(canaryPolicy, "    - weight: 50\n      minRequests: 100\n", "    - weight: 50\n      minRequests: 100\n      confirm: true\n", 1)
	if policy == canaryPolicy {
		t.Fatal("the policy has no step to confirm")
	}
	c := newCanarySetup(t, policy)
	srv, server := startServer(t, c.args...)
	call, must := clientOf(t, server)
	must(0, c.ci, "models", "create", "credit-risk")
	c.awaitPromotion(t, must, c.request(t, must, "1"), "succeeded", srv.stderr)
	c.load(t)
	id := c.request(t, must, "2")
	// Until the rollout starts, show says it is not found.
	rollout := func() promote.Rollout {
		var r promote.Rollout
		_, out, _ := call(c.lead, "rollout", "show", id, "-o", "json")
		json.Unmarshal([]byte(out), &r)
		return r
	}
	waiting := func(what string) promote.Rollout {
		t.Helper()
		var r promote.Rollout
		waitFor(t, 60*time.Second, what, func() (bool, string) {
			r = rollout()
			return r.WaitsForPerson() && r.Weight == 0.5, string(r.State) + " " + tail(srv.stderr.String(), 10)
		})
		return r
	}
	before := waiting("the rollout to wait for a person at 50%")

	srv.kill(t)
	srv, server = startServer(t, c.args...)
	call, must = clientOf(t, server)
	waiting("the restarted server's rollout to wait for a person at 50%")
	time.Sleep(500 * time.Millisecond) // ten intervals of the controller, under traffic
	r := rollout()
	if !r.WaitsForPerson() || r.Step != 1 || r.Weight != 0.5 || r.Revision != before.Revision {
		t.Fatalf("after the restart the rollout is %s at step %d weight %g, revision %d (was %d); want it waiting at step 2, 0.5, unchanged",
			r.State, r.Step+1, r.Weight, r.Revision, before.Revision)
	}
	if out := must(0, c.lead, "rollout", "show", id); !strings.Contains(out, "waiting for a person at 50%") {
		t.Errorf("rollout show of a waiting rollout lacks the wait:\n%s", out)
	}
	if out := must(0, c.lead, "rollout", "list", "--active"); !strings.Contains(out, "waiting for a person at 50%") {
		t.Errorf("rollout list --active does not say the rollout waits for a person:\n%s", out)
	}
	// The web UI of the restarted server steers it too: the approver's
	// page of the promotion offers to go on to the next step.
	jar, _ := cookiejar.New(nil)
	ui := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signInUI(t, ui, server, c.lead, "/ui/promotions/"+id)
	resp, err := ui.Get(server + "/ui/promotions/" + id)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-testid="rollout-resume">Go on to 100%</button>`) {
		t.Errorf("the promotion's page for the approver = %d, without a button to go on to 100%%:\n%s", resp.StatusCode, page)
	}
	if out := must(0, c.lead, "rollout", "resume", id, "--reason", "dashboards fine"); !strings.Contains(out, "3 of 3, weight 100%") {
		t.Errorf("rollout resume of the waiting rollout:\n%s\nwant it at step 3 of 3, weight 100%%", out)
	}
	c.awaitPromotion(t, must, id, "succeeded", srv.stderr)
}
