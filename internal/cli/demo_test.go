package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/demo"
	"github.com/promote-ml/promote/internal/gittest"
)

// TestDemo runs promote demo --no-wait end to end, as a newcomer would,
// and checks the outcome it leaves in its workspace: the Git history of
// the GitOps remote (a commit per promotion, then the rollback with its
// trailers), and, through a server started again on its data, the live
// version in every environment, the hold on v3 in prod, the rollouts and
// the audit chain.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	goroutines := runtime.NumGoroutine()
	start := time.Now()
	code, out, errOut := run(t, "", "demo", "--no-wait", "--dir", dir, "--addr", freeAddr(t))
	took := time.Since(start)
	t.Logf("promote demo took %s (it must finish within 2 minutes)", took.Round(100*time.Millisecond))
	if code != ExitOK {
		log, _ := os.ReadFile(filepath.Join(dir, "promote.log"))
		t.Fatalf("promote demo: exit %d\nstdout:\n%s\nstderr:\n%s\nserver log (tail):\n%s", code, out, errOut, tail(string(log), 60))
	}
	// Everything the demo started has stopped.
	waitFor(t, 10*time.Second, "the demo's goroutines to end", func() (bool, string) {
		n := runtime.NumGoroutine()
		buf := make([]byte, 1<<20)
		return n <= goroutines, fmt.Sprintf("%d goroutines, %d before the demo:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	})
	for _, want := range []string{
		"ci tries to approve its own request: refused",
		"the canary passed every step: v2 takes all of prod's traffic",
		"ROLLED BACK automatically at step",
		"blocked by the gate's rule no_hold",
		"audit chain verified: OK",
		"Not waiting (--no-wait): stopping now.",
		"The workspace is kept in " + dir,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the narration lacks %q:\n%s", want, out)
		}
	}

	// Git: the scaffold, one commit per promotion in order, then the
	// rollback of 3 in prod, pinning 2 again.
	bare := filepath.Join(dir, "gitops.git")
	type commit struct {
		Subject  string
		Trailers map[string]string
	}
	var commits []commit // oldest first
	if _, err := exec.LookPath("git"); err == nil {
		for _, h := range strings.Fields(gittest.Run(t, bare, "rev-list", "--reverse", "main")) {
			c := commit{Subject: gittest.Run(t, bare, "log", "-1", "--format=%s", h), Trailers: map[string]string{}}
			for _, line := range strings.Split(gittest.Run(t, bare, "log", "-1", "--format=%(trailers:only,unfold)", h), "\n") {
				if k, v, ok := strings.Cut(line, ": "); ok {
					c.Trailers[k] = v
				}
			}
			commits = append(commits, c)
		}
	} else {
		t.Log("the git CLI is not installed: reading the remote with go-git")
		hist, err := demo.History(bare)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range slices.Backward(hist) {
			c := commit{Subject: h.Subject, Trailers: map[string]string{}}
			for _, tr := range h.Trailers {
				c.Trailers[tr.Key] = tr.Value
			}
			commits = append(commits, c)
		}
	}
	var subjects []string
	for _, c := range commits {
		subjects = append(subjects, c.Subject)
	}
	wantSubjects := []string{"promote init: the credit-risk pipeline, policies and overlays"}
	for _, v := range []string{"1", "2", "3"} {
		for _, env := range []string{"dev", "staging", "prod"} {
			wantSubjects = append(wantSubjects, "promote credit-risk "+v+" to "+env)
		}
	}
	wantSubjects = append(wantSubjects, "rollback credit-risk in prod to 2")
	if diff := cmp.Diff(wantSubjects, subjects); diff != "" {
		t.Fatalf("the history of main (-want +got):\n%s", diff)
	}
	ids := map[string]bool{}
	for _, c := range commits[1:] {
		if id := c.Trailers["Promotion-Id"]; id == "" || ids[id] {
			t.Errorf("commit %q: Promotion-Id %q missing or repeated", c.Subject, id)
		} else {
			ids[id] = true
		}
		if strings.HasSuffix(c.Subject, "to prod") && c.Trailers["Approved-By"] != "lena" {
			t.Errorf("commit %q: Approved-By %q, want lena", c.Subject, c.Trailers["Approved-By"])
		}
	}
	rb := commits[len(commits)-1].Trailers
	for k, want := range map[string]string{"Model": "credit-risk", "Version": "2", "Environment": "prod", "Rollback-Of": "3"} {
		if rb[k] != want {
			t.Errorf("rollback commit: %s = %q, want %q (trailers %v)", k, rb[k], want, rb)
		}
	}
	if !strings.HasPrefix(rb["Reason"], "the canary analysis failed: ") {
		t.Errorf("rollback commit: Reason %q, want the canary analysis's", rb["Reason"])
	}

	// The registry, through a server started again on the demo's data.
	data, pipelineFile := filepath.Join(dir, "data"), filepath.Join(dir, "repo", "promote.yaml")
	code, tokOut, errOut := run(t, "", "token", "create", "--name", "auditor", "--role", "viewer", "--quiet", "--data", data, "--pipeline", pipelineFile)
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	viewer := strings.TrimSpace(tokOut)
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile)
	_, must := clientOf(t, server)

	var status struct {
		Live map[string]struct {
			Version    string `json:"version"`
			RollbackOf string `json:"rollback_of"`
			Commit     string `json:"commit"`
		} `json:"live"`
	}
	if err := json.Unmarshal([]byte(must(0, viewer, "status", "credit-risk", "-o", "json")), &status); err != nil {
		t.Fatal(err)
	}
	live := map[string]string{}
	for env, l := range status.Live {
		live[env] = "v" + l.Version
		if l.RollbackOf != "" {
			live[env] += " (rollback of v" + l.RollbackOf + ")"
		}
		if l.Commit == "" {
			t.Errorf("%s: live version %s has no commit", env, l.Version)
		}
	}
	if diff := cmp.Diff(map[string]string{"dev": "v3", "staging": "v3", "prod": "v2 (rollback of v3)"}, live); diff != "" {
		t.Errorf("live versions (-want +got):\n%s", diff)
	}

	var holds []struct {
		Version     string  `json:"version"`
		Environment string  `json:"environment"`
		SetBy       string  `json:"set_by"`
		ClearedAt   *string `json:"cleared_at"`
	}
	if err := json.Unmarshal([]byte(must(0, viewer, "holds", "list", "--model", "credit-risk", "-o", "json")), &holds); err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || holds[0].Version != "3" || holds[0].Environment != "prod" || holds[0].SetBy != "rollout" || holds[0].ClearedAt != nil {
		t.Errorf("holds = %+v, want one, on v3 in prod, set by the rollout", holds)
	}

	var rollouts []struct {
		Version string `json:"version"`
		Stable  string `json:"stable"`
		State   string `json:"state"`
	}
	if err := json.Unmarshal([]byte(must(0, viewer, "rollout", "list", "--model", "credit-risk", "-o", "json")), &rollouts); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rollouts {
		got["v"+r.Version] = r.State + " against v" + r.Stable
	}
	if diff := cmp.Diff(map[string]string{"v1": "succeeded against v", "v2": "succeeded against v1", "v3": "rolled_back against v2"}, got); diff != "" {
		t.Errorf("prod's rollouts (-want +got):\n%s", diff)
	}

	if out := must(0, viewer, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
}

// A workspace that holds anything already is refused, and left as it was.
func TestDemoRefusesANonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "", "demo", "--no-wait", "--dir", dir)
	if code != ExitUsage || !strings.Contains(errOut, "is not empty") {
		t.Errorf("demo --dir on a non-empty directory: exit %d, %s; want 2 saying it is not empty", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d entries after the refusal, want only notes.txt", len(entries))
	}
}
