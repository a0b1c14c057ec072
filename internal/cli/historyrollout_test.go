package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/gittest"
)

// historyCanaryPolicy starts the canary at half the traffic, where the
// comparison with stable needs many errors to tell the tracks apart, and
// has the analysis judge it against stable's past too.
var historyCanaryPolicy = strings.Replace(strings.Replace(canaryPolicy,
	"    - weight: 10\n      minRequests: 50\n    - weight: 50\n      minRequests: 100\n", "    - weight: 50\n      minRequests: 300\n", 1),
	"    alpha: 0.01\n", "    alpha: 0.01\n    history: {window: 168h}\n", 1)

// TestServeCanaryJudgedAgainstStablesPast runs promote serve with the
// local agent and the history tests on: a healthy version's rollout reads
// stable's past from the splitters and shows the two history tests; a
// version failing one request in ten, at 50% weight, is stopped by its
// splitter and rolled back by history_error_rate, with the rollback commit
// in Git.
func TestServeCanaryJudgedAgainstStablesPast(t *testing.T) {
	if !strings.Contains(historyCanaryPolicy, "history:") || strings.Contains(historyCanaryPolicy, "weight: 10\n") {
		t.Fatalf("the policy's edit did not apply:\n%s", historyCanaryPolicy)
	}
	c := newCanarySetup(t, historyCanaryPolicy)
	server, serveErr := startServe(t, append(c.args, "--rollout-interval", "1h")...)
	cli, must := clientOf(t, server)
	c.load(t)
	must(0, c.ci, "models", "create", "credit-risk")
	promote := func(v, want string) string {
		t.Helper()
		id := c.request(t, must, v)
		waitFor(t, 90*time.Second, "the promotion of "+v+" to be "+want, func() (bool, string) {
			var p struct {
				State string `json:"state"`
			}
			json.Unmarshal([]byte(must(0, c.ci, "promotions", "show", id, "-o", "json")), &p)
			_, show, _ := cli(c.ci, "rollout", "show", id)
			return p.State == want, p.State + "\n" + show + "\n" + tail(serveErr.String(), 30)
		})
		return id
	}
	promote("1", "succeeded")
	// Stable's past: version 1 alone, for a moment.
	time.Sleep(2 * time.Second)
	id2 := promote("2", "succeeded")
	if out := must(0, c.ci, "rollout", "show", id2); testStatus(out, "history_error_rate") != "ok" || testStatus(out, "history_latency") != "ok" {
		t.Errorf("rollout show of 2 does not show the history tests judging:\n%s", out)
	}
	id3 := promote("3", "rolled_back")
	out := must(0, c.ci, "rollout", "show", id3)
	if testStatus(out, "history_error_rate") != "fail" || !strings.Contains(out, "canary error rate is above stable's past") {
		t.Errorf("rollout show of 3 does not name the history test that failed it:\n%s", out)
	}
	waitFor(t, 20*time.Second, "the rollback commit", func() (bool, string) {
		got := gittest.Run(t, c.bare, "log", "-1", "--format=%(trailers:only,unfold)", "main")
		return strings.Contains(got, "Rollback-Of: 3") && strings.Contains(got, "history_error_rate"), got
	})
}

// testStatus returns the status rollout show gives the analysis's test
// name, "" when it lists none.
func testStatus(show, name string) string {
	for _, line := range strings.Split(show, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == name {
			return f[1]
		}
	}
	return ""
}
