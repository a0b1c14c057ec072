package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// promote request --dry-run shows what the request would get, exits as the
// request would (1 blocked), and records nothing; a viewer's token is
// enough.
func TestRequestDryRun(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	vic := createToken(t, data, pipelineFile, "vic", "viewer")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	cli, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	artifact := filepath.Join(examples, "model.bin")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", artifact, "--signature", filepath.Join(examples, "model.bin.sig"),
		"--metrics", filepath.Join(examples, "candidate.json"))

	out := must(0, vic, "request", "credit-risk", "1", "--to", "dev", "--dry-run")
	if !strings.HasPrefix(out, "Dry run: credit-risk 1 → dev (nothing was recorded)") || !strings.Contains(out, "Would be") || !strings.Contains(out, "approved") {
		t.Errorf("dry run to dev:\n%s", out)
	}
	code, out, _ := cli(vic, "request", "credit-risk", "1", "--to", "staging", "--dry-run")
	if code != ExitBlocked || !strings.Contains(out, "blocked") {
		t.Errorf("dry run to staging = exit %d:\n%s\nwant exit %d, blocked (not through dev)", code, out, ExitBlocked)
	}
	var v registry.PromotionView
	if err := json.Unmarshal([]byte(must(0, ci, "request", "credit-risk", "1", "--to", "dev", "--dry-run", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if !v.DryRun || v.ID != "" || v.State != promote.StateApproved || v.Gate == nil || !v.Gate.Allowed {
		t.Errorf("dry run as JSON = %+v", v)
	}
	if out := must(0, ci, "promotions", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("promotions after dry runs = %s, want none", out)
	}
	if out := must(0, ci, "audit", "list", "--action", "promotion.requested", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("promotion.requested events after dry runs = %s, want none", out)
	}
	// Without --dry-run a viewer is refused.
	if code, _, errOut := cli(vic, "request", "credit-risk", "1", "--to", "dev"); code == 0 || !strings.Contains(errOut, "submitter") {
		t.Errorf("a viewer's request = exit %d, %s; want refused, naming the submitter role", code, errOut)
	}
}
