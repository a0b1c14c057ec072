package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// TestServeNamesPromotionsStrandedByAPipelineChange: prod is renamed in
// promote.yaml while a promotion waits for approval there and a version
// is held there; the restarted server says, as it starts, that the
// promotion is stranded and how to end it, instead of leaving it to be
// found by an approver's error, and that the hold no longer applies.
func TestServeNamesPromotionsStrandedByAPipelineChange(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"dev.yaml":  "gate:\n  require: [tests_passed]\n",
		"prod.yaml": "gate:\n  require: [tests_passed]\n  approvals:\n    min: 1\n",
		"m.json":    `{"accuracy": 0.9, "checks": {"tests_passed": true}}`,
		"model.bin": "weights\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pipelineFile := filepath.Join(dir, "promote.yaml")
	writePipeline := func(prod string) {
		t.Helper()
		doc := "kind: Pipeline\nenvironments:\n  - name: dev\n    policy: dev.yaml\n  - name: " + prod + "\n    from: dev\n    policy: prod.yaml\n"
		if err := os.WriteFile(pipelineFile, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writePipeline("prod")
	data := filepath.Join(dir, "data")
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	lead := createToken(t, data, pipelineFile, "lena", "approver")

	server, _, stop := startStoppable(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", dir)
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "m1")
	must(0, ci, "versions", "register", "m1", "1", "--artifact", filepath.Join(dir, "model.bin"), "--metrics", filepath.Join(dir, "m.json"))
	must(0, ci, "request", "m1", "1", "--to", "dev")
	var p struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if out := must(0, ci, "request", "m1", "1", "--to", "prod", "-o", "json"); json.Unmarshal([]byte(out), &p) != nil || p.State != "awaiting_approval" {
		t.Fatalf("prod request = %s", out)
	}
	must(0, lead, "holds", "set", "m1", "1", "--env", "prod", "--reason", "fairness review pending")
	stop()

	writePipeline("production")
	_, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", dir)
	want := "promote: promotion " + p.ID + " of m1 1 is awaiting_approval in prod, which is no longer in " + pipelineFile + ": cancel it (promote cancel " + p.ID + ")"
	if !strings.Contains(serveErr.String(), want) {
		t.Errorf("serve's start does not name the stranded promotion; want %q in:\n%s", want, serveErr.String())
	}
	want = "promote: hold 1 on m1 1 in prod no longer applies: prod is no longer in " + pipelineFile
	if !strings.Contains(serveErr.String(), want) {
		t.Errorf("serve's start does not name the hold the rename lifted; want %q in:\n%s", want, serveErr.String())
	}
}

// TestStrandedTodo: every promotion that serve's start names as stranded
// comes with a next step a person can take, not only the news that
// nothing carries it out.
func TestStrandedTodo(t *testing.T) {
	for _, tc := range []struct {
		state promote.State
		want  []string
	}{
		{promote.StateAwaitingApproval, []string{"cancel it (promote cancel pr_1)"}},
		{promote.StateApproved, []string{"cancel it (promote cancel pr_1)"}},
		{promote.StateCommitted, []string{"put prod back in promote.yaml (with its rollout) and restart the server", "promoted or aborted"}},
		{promote.StateRollingOut, []string{"to keep m1 2 there, promote its rollout (promote rollout promote pr_1)",
			"put prod back in promote.yaml, restart the server, then abort it (promote rollout abort pr_1)"}},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			got := strandedTodo(promote.Promotion{ID: "pr_1", Model: "m1", Version: "2", Environment: "prod", State: tc.state}, "promote.yaml")
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("strandedTodo(%s) = %q, want it to say %q", tc.state, got, want)
				}
			}
		})
	}
}
