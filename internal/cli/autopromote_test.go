package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// A version registered and promoted to dev moves to staging by itself on
// a server whose pipeline sets autoPromote there: right after its dev
// promotion succeeds (the interval is an hour), requested by auto-promote
// as the audit log and the promotion list show.
func TestServeAutoPromotes(t *testing.T) {
	examples, policies, dir, data := exampleServeSetupAuto(t)
	pipelineFile := autoPipeline(t, dir, examples, filepath.Join(policies, "dev.yaml"), filepath.Join(policies, "staging.yaml"))
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples, "--auto-promote-every", "1h")
	if want := "promote auto-promotes into staging when a promotion ends or a hold is cleared, when a soak or a freeze ends, and at least every 1h0m0s"; !strings.Contains(serveErr.String(), want) {
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

// exampleServeSetupAuto is exampleServeSetup, with the examples' policy
// directory and the test's directory.
func exampleServeSetupAuto(t *testing.T) (examples, policies, dir, data string) {
	t.Helper()
	examples, _, data = exampleServeSetup(t)
	return examples, filepath.Join(examples, "pipeline", "policies"), filepath.Dir(data), data
}

// autoPipeline writes, in dir, a pipeline that trusts the key in
// examples, of dev, gated by devPolicy, and staging, whose version comes
// from dev by autoPromote, gated by stagingPolicy, and returns its path.
func autoPipeline(t *testing.T, dir, examples, devPolicy, stagingPolicy string) string {
	t.Helper()
	pipelineFile := filepath.Join(dir, "promote.yaml")
	err := os.WriteFile(pipelineFile, []byte(`apiVersion: promote.dev/v1
kind: Pipeline
trustedKeys: [`+filepath.Join(examples, "cosign.pub")+`]
environments:
  - name: dev
    policy: `+devPolicy+`
  - name: staging
    from: dev
    autoPromote: true
    policy: `+stagingPolicy+`
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return pipelineFile
}

// approvalPolicy writes, in dir, a policy named name that asks one
// approval besides passed tests, and returns its path.
func approvalPolicy(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("gate:\n  require: [tests_passed]\n  noBaseline: pass\n  approvals:\n    min: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A promotion that ends otherwise than in success frees its environment
// for the version that waited for it, which is requested at once, not at
// the next interval (an hour here): version 1's automatic request, which
// awaits approval in staging, is cancelled by a submitter, and version 2,
// which succeeded in dev meanwhile, is requested in its place.
func TestServeAutoPromotesWhenAPromotionEnds(t *testing.T) {
	examples, policies, dir, data := exampleServeSetupAuto(t)
	pipelineFile := autoPipeline(t, dir, examples, filepath.Join(policies, "dev.yaml"), approvalPolicy(t, dir, "staging.yaml"))
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples, "--auto-promote-every", "1h")
	cli, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	staging := func(t *testing.T, what string, want ...string) []promote.Promotion {
		t.Helper()
		var ps []promote.Promotion
		waitFor(t, 10*time.Second, what, func() (bool, string) {
			code, out, errOut := cli(ci, "promotions", "list", "--model", "credit-risk", "--env", "staging", "-o", "json")
			ps = nil
			if code != 0 || json.Unmarshal([]byte(out), &ps) != nil {
				return false, out + errOut
			}
			var got []string
			for i := len(ps) - 1; i >= 0; i-- {
				got = append(got, ps[i].Version+":"+string(ps[i].State)+":"+ps[i].RequestedBy)
			}
			return strings.Join(got, " ") == strings.Join(want, " "), strings.Join(got, " ")
		})
		return ps
	}
	for _, v := range []string{"1", "2"} {
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", filepath.Join(examples, "model.bin"),
			"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	}
	must(0, ci, "request", "credit-risk", "1", "--env", "dev")
	ps := staging(t, "version 1 awaiting approval in staging", "1:awaiting_approval:auto-promote")
	// Version 2 waits for staging's promotion of version 1 to end.
	must(0, ci, "request", "credit-risk", "2", "--env", "dev")
	must(0, ci, "cancel", ps[0].ID, "--reason", "version 2 fixes the threshold")
	staging(t, "version 2 requested in staging once version 1's promotion ended",
		"1:cancelled:auto-promote", "2:awaiting_approval:auto-promote")
}

// A version held in staging waits there after it succeeds in dev, and is
// requested as soon as a person clears the hold, not at the next interval
// (an hour here). A second model, not held, shows when a pass has seen the
// held version: a pass visits every model, oldest first, and the one that
// requests the second model's version in staging began after both
// succeeded in dev. Staging takes an approval, so that no promotion there
// ends and cues another pass before the hold is cleared.
func TestServeAutoPromotesWhenAHoldIsCleared(t *testing.T) {
	examples, policies, dir, data := exampleServeSetupAuto(t)
	pipelineFile := autoPipeline(t, dir, examples, filepath.Join(policies, "dev.yaml"), approvalPolicy(t, dir, "staging.yaml"))
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	root := createToken(t, data, pipelineFile, "root", "admin")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples, "--auto-promote-every", "1h")
	cli, must := clientOf(t, server)
	for _, model := range []string{"credit-risk", "churn"} {
		must(0, ci, "models", "create", model)
		must(0, ci, "versions", "register", model, "1", "--artifact", filepath.Join(examples, "model.bin"),
			"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	}
	var h promote.Hold
	if err := json.Unmarshal([]byte(must(0, root, "holds", "set", "credit-risk", "1", "--env", "staging", "--reason", "pending review", "-o", "json")), &h); err != nil || h.ID == 0 {
		t.Fatalf("holds set = %+v, %v; want a hold", h, err)
	}
	must(0, ci, "request", "credit-risk", "1", "--env", "dev")
	must(0, ci, "request", "churn", "1", "--env", "dev")
	staging := func(model string) (int, string) {
		code, out, errOut := cli(ci, "promotions", "list", "--model", model, "--env", "staging", "-o", "json")
		var ps []promote.Promotion
		if code != 0 || json.Unmarshal([]byte(out), &ps) != nil {
			return -1, out + errOut
		}
		return len(ps), out
	}
	waitFor(t, 10*time.Second, "churn 1 requested in staging", func() (bool, string) {
		n, out := staging("churn")
		return n == 1, out
	})
	if n, out := staging("credit-risk"); n != 0 {
		t.Fatalf("staging promotions of credit-risk's held version = %s, want none", out)
	}
	must(0, root, "holds", "clear", fmt.Sprint(h.ID), "--reason", "review passed")
	waitFor(t, 10*time.Second, "credit-risk 1 requested in staging once its hold is cleared", func() (bool, string) {
		n, out := staging("credit-risk")
		return n == 1 && strings.Contains(out, `"requested_by": "auto-promote"`), out
	})
}

// TestReplicasAutoPromoteWhatAnotherApproves runs two promote serve
// processes on one PostgreSQL database. A promotion to dev is requested
// and approved through the replica that does not lead; the leader, whose
// automatic promotion looks only every hour by itself, requests version 1
// in staging within seconds: it hears of the promotion that ended on the
// other replica from the shared audit log.
func TestReplicasAutoPromoteWhatAnotherApproves(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	examples, policies, dir, _ := exampleServeSetupAuto(t)
	pipelineFile := autoPipeline(t, dir, examples, approvalPolicy(t, dir, "dev.yaml"), filepath.Join(policies, "staging.yaml"))
	ci := tokenOn(t, dsn, pipelineFile, "ci", "submitter")
	lead := tokenOn(t, dsn, pipelineFile, "lead", "approver")
	rs := startReplicas(t, 2, dsn, ci, false, "--pipeline", pipelineFile, "--artifact-root", examples, "--auto-promote-every", "1h")
	leader, epoch := leaderOf(t, rs, 15*time.Second, 0)
	via := followers(rs, leader)[0]
	t.Logf("%s leads at epoch %d; requests go through %s", leader.name, epoch, via.name)
	_, must := clientOf(t, via.api)
	must(0, ci, "models", "create", "credit-risk")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(examples, "model.bin"),
		"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	var p promote.Promotion
	if err := json.Unmarshal([]byte(must(0, ci, "request", "credit-risk", "1", "--env", "dev", "-o", "json")), &p); err != nil || p.State != promote.StateAwaitingApproval {
		t.Fatalf("request of version 1 in dev = %+v, %v; want it awaiting approval", p, err)
	}
	must(0, lead, "approve", p.ID)
	waitFor(t, 15*time.Second, "version 1 requested in staging by the leader's automatic promotion", func() (bool, string) {
		var ps []promote.Promotion
		out := must(0, ci, "promotions", "list", "--model", "credit-risk", "--env", "staging", "-o", "json")
		if err := json.Unmarshal([]byte(out), &ps); err != nil {
			return false, out
		}
		return len(ps) == 1 && ps[0].Version == "1" && ps[0].RequestedBy == registry.AutoPromoteActor.Name,
			out + "\n--- leader\n" + tail(leader.stderr.String(), 15)
	})
}
