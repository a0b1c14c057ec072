package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/nettest"
	"github.com/promote-ml/promote/internal/testtool"
)

// lockedBuffer is a bytes.Buffer safe to write from the server goroutine
// while the test reads it.
// lockedBuffer holds a server's standard error while the test reads it.
type lockedBuffer = testtool.Buffer

func freeAddr(t *testing.T) string {
	t.Helper()
	return nettest.FreeAddr(t)
}

// exampleServeSetup makes a fresh working directory for promote serve on
// the example pipeline: it returns the examples' directory, the pipeline
// file and a data directory in the working directory.
func exampleServeSetup(t *testing.T) (examples, pipelineFile, data string) {
	t.Helper()
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	return examples, filepath.Join(examples, "pipeline", "promote.yaml"), filepath.Join(dir, "data")
}

// createToken creates an API token in data with promote token create and
// returns its secret.
func createToken(t *testing.T, data, pipelineFile, name, role string, extra ...string) string {
	t.Helper()
	args := append([]string{"token", "create", "--name", name, "--role", role, "--quiet", "--data", data, "--pipeline", pipelineFile}, extra...)
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("token create %s: exit %d: %s", name, code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// TestServeWalkDevToProd runs `promote serve` on the example pipeline and
// walks one model from dev to prod with the CLI, as the README does.
func TestServeWalkDevToProd(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	dir := filepath.Dir(data) // the working directory
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	lead := createToken(t, data, pipelineFile, "lena", "approver", "--groups", "ml-lead")

	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	cli, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk", "--description", "Loan default classifier")
	out := must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(examples, "model.bin"),
		"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"), "--code-commit", "abc123")
	if !strings.Contains(out, "signature verified") {
		t.Errorf("register: %s", out)
	}
	// A metrics file with NaN is refused here, naming the line.
	bad := filepath.Join(dir, "nan.json")
	os.WriteFile(bad, []byte("{\n  \"accuracy\": NaN\n}\n"), 0o644)
	if code, _, errOut := cli(ci, "versions", "register", "credit-risk", "2", "--artifact", filepath.Join(examples, "model.bin"), "--metrics", bad); code != ExitUsage || !strings.Contains(errOut, "nan.json:2:15: accuracy: NaN is not a finite number") {
		t.Errorf("register with NaN: exit %d, %s", code, errOut)
	}
	if out := must(0, ci, "request", "credit-risk", "1", "--to", "dev"); !strings.Contains(out, "succeeded") {
		t.Errorf("dev: %s", out)
	}
	must(0, ci, "request", "credit-risk", "1", "--to", "staging")
	out = must(0, ci, "request", "credit-risk", "1", "--to", "prod", "-o", "json")
	var p struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.State != "awaiting_approval" {
		t.Fatalf("prod request = %s (%v)", out, err)
	}
	// The requester may not approve; the ML lead may.
	if code, _, errOut := cli(ci, "approve", p.ID); code != ExitBlocked || !strings.Contains(errOut, "needs the approver role") {
		t.Errorf("self approval: exit %d: %s", code, errOut)
	}
	if out := must(0, lead, "approve", p.ID); !strings.Contains(out, "State      succeeded") {
		t.Errorf("approve: %s", out)
	}
	// An approval without a comment leaves no trailing space on its line.
	for _, line := range strings.Split(must(0, ci, "promotions", "show", p.ID), "\n") {
		if strings.HasPrefix(line, "Approval") && strings.TrimRight(line, " \t") != line {
			t.Errorf("promotions show: the approval line ends in white space: %q", line)
		}
	}
	status := must(0, ci, "status", "credit-risk")
	for _, env := range []string{"dev ", "staging ", "prod "} {
		if !strings.Contains(status, env) {
			t.Errorf("status lacks %s: %s", env, status)
		}
	}
	if hist := must(0, ci, "history", "credit-risk", "--env", "prod"); !strings.Contains(hist, "lena") || !strings.Contains(hist, p.ID) {
		t.Errorf("history: %s", hist)
	}
	if out := must(0, ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
	export := filepath.Join(dir, "audit.jsonl")
	must(0, ci, "audit", "export", "-f", export)
	if out := must(0, ci, "audit", "verify", "--export", export); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("offline verify: %s", out)
	}
	// A tampered export is caught and named.
	raw, _ := os.ReadFile(export)
	os.WriteFile(export, bytes.Replace(raw, []byte(`\"actor\":\"lena\"`), []byte(`\"actor\":\"eve\"`), 1), 0o644)
	if code, out, _ := cli(ci, "audit", "verify", "--export", export); code != ExitBlocked || !strings.Contains(out, "BROKEN at event") || !strings.Contains(out, "modified") {
		t.Errorf("tampered export: exit %d: %s", code, out)
	}
	if code, _, errOut := cli("prm_wrong", "status", "credit-risk"); code != ExitUsage || !strings.Contains(errOut, "invalid or revoked token") {
		t.Errorf("wrong token: exit %d: %s", code, errOut)
	}
}

// startServe runs promote serve with args on a free address until the test
// ends, waits until it is ready, and returns its URL and standard error.
func startServe(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	server, serveErr, _ := startStoppable(t, args...)
	return server, serveErr
}

// startStoppable is startServe that also returns a function stopping the
// server (as SIGTERM would) and waiting for it to exit.
func startStoppable(t *testing.T, args ...string) (string, *lockedBuffer, func()) {
	t.Helper()
	addr := freeAddr(t)
	if i := slices.Index(args, "--addr"); i >= 0 && i+1 < len(args) {
		addr = args[i+1] // the caller chose it
	} else {
		args = append([]string{"--addr", addr}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var serveErr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"serve"}, args...), strings.NewReader(""), &bytes.Buffer{}, &serveErr)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve exit %d: %s", code, serveErr.String())
				}
			case <-time.After(15 * time.Second):
				t.Error("serve did not stop")
			}
		})
	}
	t.Cleanup(stop)
	server := "http://" + addr
	waitFor(t, 10*time.Second, "the server to be ready", func() (bool, string) {
		resp, err := http.Get(server + "/readyz")
		if err != nil {
			return false, err.Error() + "\n" + serveErr.String()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, serveErr.String()
	})
	return server, &serveErr, stop
}

// clientOf returns two ways to run a client command against server: cli
// reports the exit code and output, must fails the test on another exit
// code.
func clientOf(t *testing.T, server string) (cli func(tok string, args ...string) (int, string, string), must func(want int, tok string, args ...string) string) {
	cli = func(tok string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		args = append(args, "--server", server, "--token", tok)
		code := Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	must = func(want int, tok string, args ...string) string {
		t.Helper()
		code, out, errOut := cli(tok, args...)
		if code != want {
			t.Fatalf("promote %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	return cli, must
}

// waitFor polls cond until it holds or the deadline passes; what says what
// is awaited, and cond's second result what it saw last.
func waitFor(t *testing.T, deadline time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s; last saw: %s", deadline, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A second server on the same SQLite data directory is refused, naming
// the first; the directory is free again once the first stops, even when
// it was killed.
func TestServeRefusesASharedDataDirectory(t *testing.T) {
	examples, _ := filepath.Abs("../../examples")
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--data", data, "--pipeline", filepath.Join(examples, "pipeline", "promote.yaml"), "--artifact-root", examples}
	_, _, stop := startStoppable(t, args...)
	code, _, errOut := run(t, "", append([]string{"serve", "--addr", freeAddr(t)}, args...)...)
	if code != ExitUsage || !strings.Contains(errOut, "in use by another promote serve") || !strings.Contains(errOut, fmt.Sprintf("process %d", os.Getpid())) {
		t.Errorf("a second serve on %s: exit %d, %s; want 2 naming the first server's process", data, code, errOut)
	}
	stop()

	// A killed server's lock goes with its process.
	child := startChild(t, append([]string{"serve", "--addr", freeAddr(t)}, args...)...)
	waitFor(t, 10*time.Second, "the child server to lock the directory", func() (bool, string) {
		raw, _ := os.ReadFile(filepath.Join(data, lockFileName))
		return strings.TrimSpace(string(raw)) == fmt.Sprint(child.cmd.Process.Pid), string(raw)
	})
	child.kill(t)
	_, _, stop = startStoppable(t, args...)
	stop()
}

// TestServeSaysWhenAPolicysRolloutIsUnused: an environment that promote.yaml
// rolls out directly (no rollout, or rollout: direct) takes no canary, even
// when its policy describes one; serve says so at start rather than leave
// a policy's canary and automatic rollback silently unused.
func TestServeSaysWhenAPolicysRolloutIsUnused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, "prod.yaml"), []byte(`gate:
  require: [tests_passed]
rollout:
  strategy: canary
  steps: [10, 50, 100]
`), 0o644)
	os.WriteFile(filepath.Join(dir, "promote.yaml"), []byte(`apiVersion: promote.dev/v1
kind: Pipeline
metadata:
  name: p
environments:
  - name: prod
    policy: prod.yaml
`), 0o644)
	_, serveErr := startServe(t, "--data", filepath.Join(dir, "data"), "--pipeline", filepath.Join(dir, "promote.yaml"))
	want := "environment prod rolls out direct in " + filepath.Join(dir, "promote.yaml") + ": the canary rollout of its policy prod.yaml is not used"
	if !strings.Contains(serveErr.String(), want) {
		t.Errorf("serve's start says nothing of prod's unused canary; want %q in:\n%s", want, serveErr.String())
	}
}

// TestServeSaysWhenOverlaysAreNotWritten: a pipeline whose environments
// name overlays, served without --gitops-remote, changes live versions in
// the registry only; serve says so at start, naming the environments,
// rather than leave a reader of promote init's next steps waiting for
// commits that never come. With no overlay named it says nothing.
func TestServeSaysWhenOverlaysAreNotWritten(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(filepath.Join(dir, "gate.yaml"), []byte("gate:\n  require: [tests_passed]\n"), 0o644)
	pipelineFile := func(name string, overlays bool) string {
		text := "apiVersion: promote.dev/v1\nkind: Pipeline\nmetadata:\n  name: p\nenvironments:\n" +
			"  - name: dev\n    policy: gate.yaml\n"
		for _, env := range [][2]string{{"staging", "dev"}, {"prod", "staging"}} {
			text += "  - name: " + env[0] + "\n    from: " + env[1] + "\n    policy: gate.yaml\n"
			if overlays {
				text += "    overlay: deploy/overlays/" + env[0] + "\n"
			}
		}
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(text), 0o644)
		return path
	}
	const notice = "GitOps is off"
	_, serveErr := startServe(t, "--data", filepath.Join(dir, "data"), "--pipeline", pipelineFile("overlays.yaml", true))
	want := "promote: GitOps is off (no --gitops-remote): promotions change live versions in the registry only, and the overlays of staging, prod are not updated\n"
	if !strings.Contains(serveErr.String(), want) {
		t.Errorf("serve's start says nothing of the overlays it does not write; want %q in:\n%s", want, serveErr.String())
	}
	_, serveErr = startServe(t, "--data", filepath.Join(dir, "data2"), "--pipeline", pipelineFile("plain.yaml", false))
	if strings.Contains(serveErr.String(), notice) {
		t.Errorf("serve of a pipeline without overlays says %q:\n%s", notice, serveErr.String())
	}
}

// TestServeBoundsHeaders: serve's own HTTP server bounds a request's
// headers as the API's does (httpapi.MaxHeaderBytes), not at net/http's
// default of 1 MiB.
func TestServeBoundsHeaders(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	for _, tt := range []struct {
		size int
		want int
	}{{1 << 10, http.StatusOK}, {2 * httpapi.MaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge}} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, server+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Padding", strings.Repeat("a", tt.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET /healthz with a %d-byte header = %d, want %d", tt.size, resp.StatusCode, tt.want)
		}
	}
}

// TestServeSaysNoEnvironmentRollsOut: with the agent and no environment
// whose policy rolls out progressively, serve's start says so, instead
// of a line naming an empty list.
func TestServeSaysNoEnvironmentRollsOut(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "gitops.git")
	gitopsRemote(t, bare)
	os.WriteFile(filepath.Join(dir, "prod.yaml"), []byte("gate:\n  require: [tests_passed]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "promote.yaml"), []byte("apiVersion: promote.dev/v1\nkind: Pipeline\nmetadata:\n  name: p\nenvironments:\n  - name: prod\n    policy: prod.yaml\n"), 0o644)
	endpoints := filepath.Join(dir, "endpoints.yaml")
	os.WriteFile(endpoints, []byte("endpoints: []\n"), 0o644)
	_, serveErr := startServe(t, "--data", filepath.Join(dir, "data"), "--pipeline", filepath.Join(dir, "promote.yaml"),
		"--gitops-remote", bare, "--gitops-interval", "1h", "--agent-addr", freeAddr(t), "--agent-endpoints", endpoints)
	out := serveErr.String()
	if want := "promote rolls out no environment progressively"; !strings.Contains(out, want) || strings.Contains(out, "rolls out  progressively") {
		t.Errorf("serve's start = %q, want %q and no empty list", out, want)
	}
}

// serve verifies the whole audit chain again every --audit-verify-every:
// an event edited after start is found broken at each verification, and
// counted each time in /metrics.
func TestServeAuditVerifyEvery(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	createToken(t, data, pipelineFile, "ci", "submitter") // an audit event
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--audit-verify-every", "50ms")
	rawSQLite(t, data, `UPDATE audit_events SET body = CAST(replace(CAST(body AS TEXT), '"seq":', '"seq": ') AS BLOB) WHERE seq = 1`)
	failures := regexp.MustCompile(`(?m)^promote_audit_chain_verification_failures_total (\d+)$`)
	waitFor(t, 10*time.Second, "the break counted at three verifications", func() (bool, string) {
		resp, err := http.Get(server + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := failures.FindSubmatch(b)
		if m == nil {
			return false, string(b)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n >= 3, string(m[0])
	})
}
