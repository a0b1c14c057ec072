package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/httpapi"
)

// A version registered and promoted to dev moves to staging by itself on
// a server whose pipeline sets autoPromote there: right after its dev
// promotion succeeds (the interval is an hour), requested by auto-promote
// as the audit log and the promotion list show.
func TestServeAutoPromotes(t *testing.T) {
	examples, _, data := exampleServeSetup(t)
	dir := filepath.Dir(data)
	policies := filepath.Join(examples, "pipeline", "policies")
	pipelineFile := filepath.Join(dir, "promote.yaml")
	os.WriteFile(pipelineFile, []byte(`apiVersion: promote.dev/v1
kind: Pipeline
trustedKeys: [`+filepath.Join(examples, "cosign.pub")+`]
environments:
  - name: dev
    policy: `+filepath.Join(policies, "dev.yaml")+`
  - name: staging
    from: dev
    autoPromote: true
    policy: `+filepath.Join(policies, "staging.yaml")+`
`), 0o644)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples, "--auto-promote-every", "1h")
	if want := "promote auto-promotes into staging when a promotion succeeds, when a soak or a freeze ends, and at least every 1h0m0s"; !strings.Contains(serveErr.String(), want) {
		t.Errorf("serve's start = %q, want %q", serveErr.String(), want)
	}
	cli, must := clientOf(t, server)
	envs, err := httpapi.NewClient(server, ci, nil).Environments(context.Background())
	if err != nil || len(envs) != 2 || envs[0].AutoPromote || !envs[1].AutoPromote {
		t.Errorf("Environments = %+v, %v; want auto_promote on staging only", envs, err)
	}
	must(0, ci, "models", "create", "credit-risk")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(examples, "model.bin"),
		"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	must(0, ci, "request", "credit-risk", "1", "--env", "dev")
	waitFor(t, 10*time.Second, "version 1 live in staging", func() (bool, string) {
		code, out, errOut := cli(ci, "status", "credit-risk", "-o", "json")
		return code == 0 && strings.Contains(out, `"staging": {`) && strings.Contains(out, `"version": "1"`), out + errOut
	})
	audit := must(0, ci, "audit", "list", "--model", "credit-risk", "--env", "staging", "--action", "promotion.requested", "--actor", "auto-promote")
	if !strings.Contains(audit, "auto-promote") || !strings.Contains(audit, "promotion.requested") {
		t.Errorf("audit list of auto-promote's requests in staging:\n%s", audit)
	}
	list := must(0, ci, "promotions", "list", "--model", "credit-risk", "--env", "staging")
	if !strings.Contains(list, "auto-promote") || !strings.Contains(list, "succeeded") {
		t.Errorf("promotions list of staging:\n%s", list)
	}
	// Once live there, not requested again.
	must(0, ci, "request", "credit-risk", "1", "--env", "dev")
	time.Sleep(200 * time.Millisecond)
	if list := must(0, ci, "promotions", "list", "--model", "credit-risk", "--env", "staging", "-o", "json"); strings.Count(list, `"id"`) != 1 {
		t.Errorf("staging promotions after a second dev success = %s, want one", list)
	}
}
