package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// approvalCanaryPolicy rolls prod out by canary, and needs an approver.
const approvalCanaryPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
  approvals:
    min: 1
rollout:
  strategy: canary
  steps:
    - weight: 10
      minDuration: 5m
      minRequests: 50
    - weight: 50
      minDuration: 1h30m
    - weight: 100
      minRequests: 20
`

// promote promotions show says, while a promotion awaits approval, what
// approving it sets going: the overlay committed and the canary's steps,
// as the server's rollout controller will run them; once it is decided,
// it says nothing of the kind.
func TestPromotionsShowOnApproval(t *testing.T) {
	c := newCanarySetup(t, approvalCanaryPolicy)
	server, _ := startServe(t, c.args...)
	_, must := clientOf(t, server)
	must(0, c.ci, "models", "create", "credit-risk")
	id := c.request(t, must, "1")

	out := must(0, c.ci, "promotions", "show", id)
	_, plan, ok := strings.Cut(out, "\nOn approval:\n")
	want := `  Commit   deploy/overlays/prod, pinning the version's digest
  Rollout  canary in 3 steps, judged against stable at each; a failure rolls back
  Step 1   10% of traffic for at least 5m and 50 requests
  Step 2   50% of traffic for at least 1h30m
  Step 3   100% of traffic for at least 20 requests
`
	if !ok || plan != want {
		t.Errorf("promotions show of a promotion awaiting approval:\n%s\nwant it to end with On approval:\n%s", out, want)
	}
	var view struct {
		State      string          `json:"state"`
		OnApproval json.RawMessage `json:"on_approval"`
	}
	if err := json.Unmarshal([]byte(must(0, c.ci, "promotions", "show", id, "-o", "json")), &view); err != nil {
		t.Fatal(err)
	}
	var got any
	json.Unmarshal(view.OnApproval, &got)
	wantJSON := map[string]any{"strategy": "canary", "overlay": "deploy/overlays/prod", "steps": []any{
		map[string]any{"weight": 10.0, "min_duration": 300.0, "min_requests": 50.0},
		map[string]any{"weight": 50.0, "min_duration": 5400.0, "min_requests": 0.0},
		map[string]any{"weight": 100.0, "min_duration": 0.0, "min_requests": 20.0},
	}}
	if diff := cmp.Diff(wantJSON, got); view.State != "awaiting_approval" || diff != "" {
		t.Errorf("promotions show -o json: %s, on_approval (-want +got):\n%s", view.State, diff)
	}

	must(0, c.lead, "approve", id)
	if out := must(0, c.ci, "promotions", "show", id); strings.Contains(out, "On approval") {
		t.Errorf("promotions show of an approved promotion:\n%s\nwant no On approval", out)
	}
}

// promote request --note leaves the approvers a note: promotions show
// shows it with its control characters escaped, as other people's text;
// JSON carries it as written. A note too long is refused, naming the
// limit, and records nothing.
func TestRequestNote(t *testing.T) {
	c := newCanarySetup(t, approvalCanaryPolicy)
	server, _ := startServe(t, c.args...)
	cli, must := clientOf(t, server)
	must(0, c.ci, "models", "create", "credit-risk")
	must(0, c.ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(c.art, "model-1.bin"),
		"--metrics", filepath.Join("..", "..", "examples", "candidate.json"))

	code, _, errOut := cli(c.ci, "request", "credit-risk", "1", "--env", "prod", "--note", strings.Repeat("n", 2001))
	if code != 2 || !strings.Contains(errOut, "the note is 2001 characters; at most 2000") {
		t.Errorf("request with a note of 2001 characters: exit %d, %q; want 2 and the limit", code, errOut)
	}
	if out := must(0, c.ci, "promotions", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after a refused request, promotions list = %s, want none", out)
	}

	const note = "retrained on March data;\nsee the report\x1b[2J"
	var p struct{ ID, Note string }
	if err := json.Unmarshal([]byte(must(0, c.ci, "request", "credit-risk", "1", "--env", "prod", "--note", note, "-o", "json")), &p); err != nil || p.Note != note {
		t.Fatalf("request --note -o json: note %q, %v; want %q", p.Note, err, note)
	}
	out := must(0, c.ci, "promotions", "show", p.ID)
	if !strings.Contains(out, `Note       retrained on March data; see the report\x1b[2J`) || strings.Contains(out, "\x1b") {
		t.Errorf("promotions show:\n%s\nwant the note on one line, its escape shown as \\x1b", out)
	}
}

// An environment that rolls out by canary on a server without a traffic
// splitter (GitOps but no local agent) takes all traffic at once, and
// "On approval" says why, in the table and in JSON.
func TestPromotionsShowOnApprovalWithoutSplitter(t *testing.T) {
	c := newCanarySetup(t, approvalCanaryPolicy)
	var args []string
	for i := 0; i < len(c.args); i++ {
		switch c.args[i] {
		case "--agent-addr", "--agent-endpoints", "--agent-interval":
			i++ // and its value
		default:
			args = append(args, c.args[i])
		}
	}
	server, _ := startServe(t, args...)
	_, must := clientOf(t, server)
	must(0, c.ci, "models", "create", "credit-risk")
	id := c.request(t, must, "1")

	const why = "canary is configured for prod, but this server has no traffic splitter (rollouts run only with GitOps, --gitops-remote, and the local agent, --agent-addr)"
	out := must(0, c.ci, "promotions", "show", id)
	if want := "  Rollout  direct: " + why + "; all traffic once the change is deployed\n"; !strings.Contains(out, want) {
		t.Errorf("promotions show:\n%s\nwant On approval to say\n%s", out, want)
	}
	var view struct {
		OnApproval struct{ Strategy, Reason string } `json:"on_approval"`
	}
	if err := json.Unmarshal([]byte(must(0, c.ci, "promotions", "show", id, "-o", "json")), &view); err != nil {
		t.Fatal(err)
	}
	if view.OnApproval.Strategy != "direct" || view.OnApproval.Reason != why {
		t.Errorf("on_approval = %+v, want direct, because %q", view.OnApproval, why)
	}
}
