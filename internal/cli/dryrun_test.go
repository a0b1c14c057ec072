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
	// --env names the environment, as in every other command; --to, its
	// earlier name, still works, alone or with the same environment.
	for _, flags := range [][]string{{"--env", "dev"}, {"--to", "dev"}, {"--env", "dev", "--to", "dev"}} {
		args := append([]string{"request", "credit-risk", "1", "--dry-run", "-o", "json"}, flags...)
		var got registry.PromotionView
		if err := json.Unmarshal([]byte(must(0, vic, args...)), &got); err != nil || got.Promotion.Environment != "dev" {
			t.Errorf("request %v = %+v (%v), want a dry run to dev", flags, got.Promotion, err)
		}
	}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--env", "dev", "--to", "staging"}, `--env "dev" and --to "staging" name different environments`},
		{nil, `required flag(s) "env" not set`},
	} {
		args := append([]string{"request", "credit-risk", "1", "--dry-run"}, tc.flags...)
		if code, _, errOut := cli(vic, args...); code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("request %v = exit %d, %s; want exit %d saying %q", tc.flags, code, errOut, ExitUsage, tc.want)
		}
	}
	if help := must(0, vic, "request", "--help"); !strings.Contains(help, "request MODEL VERSION --env ENV") || !strings.Contains(help, "--env string") || strings.Contains(help, "--to string") {
		t.Errorf("request --help does not show --env as the flag, with --to hidden:\n%s", help)
	}
	// Without --dry-run a viewer is refused.
	if code, _, errOut := cli(vic, "request", "credit-risk", "1", "--to", "dev"); code == 0 || !strings.Contains(errOut, "submitter") {
		t.Errorf("a viewer's request = exit %d, %s; want refused, naming the submitter role", code, errOut)
	}
}
