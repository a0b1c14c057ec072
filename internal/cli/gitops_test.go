package cli

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/agent"
	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/promtest"
	"github.com/promote-ml/promote/promote"
)

// gitopsRemote scaffolds a repository with promote init, pushes it as the
// first commit of a bare repository at bare, and returns the scaffold's
// directory.
func gitopsRemote(t *testing.T, bare string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git CLI is not installed")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	if code, _, errOut := run(t, "", "init", repo); code != ExitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	gittest.Run(t, repo, "init", "-q", "-b", "main")
	gittest.Run(t, repo, "add", "-A")
	gittest.Run(t, repo, "commit", "-q", "-m", "promote init")
	gittest.Run(t, filepath.Dir(bare), "init", "-q", "--bare", "-b", "main", bare)
	gittest.Run(t, repo, "push", "-q", bare, "main")
	return repo
}

// modelServer is a local model endpoint that says which version it is.
func modelServer(t *testing.T, version string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "version %s at %s", version, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func artifact(t *testing.T, dir, version string) (path, digest string) {
	t.Helper()
	path = filepath.Join(dir, "model-"+version+".bin")
	body := []byte("weights of credit-risk " + version)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, fmt.Sprintf("sha256:%x", sha256.Sum256(body))
}

// The agent's interval is 0 until set, and the agent then takes its own
// default: serve's help must say which, as docs/gitops.md does.
func TestServeHelpNamesTheAgentIntervalDefault(t *testing.T) {
	code, out, errOut := run(t, "", "serve", "--help")
	if code != ExitOK {
		t.Fatalf("serve --help = exit %d, %q", code, errOut)
	}
	line := regexp.MustCompile(`(?m)^.*--agent-interval .*$`).FindString(out)
	if want := "default: " + agent.DefaultInterval.String(); !strings.Contains(line, want) {
		t.Errorf("serve --help says of --agent-interval %q; want %q in it", line, want)
	}
}

// TestServeGitOps walks promote serve with its GitOps writer and local
// agent through the story: each promotion and the rollback leave exactly
// one commit with their trailers, and each commit is what changes which
// endpoint serves dev.
func TestServeGitOps(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "gitops.git")
	repo := gitopsRemote(t, bare)
	examples, _ := filepath.Abs("../../examples")
	data := filepath.Join(dir, "data")
	pipelineFile := filepath.Join(repo, "promote.yaml")
	tok := func(name, role string) string {
		t.Helper()
		code, out, errOut := run(t, "", "token", "create", "--name", name, "--role", role, "--quiet", "--data", data, "--pipeline", pipelineFile)
		if code != 0 {
			t.Fatalf("token create: exit %d: %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	ci, lead := tok("ci", "submitter"), tok("lena", "approver")

	art := t.TempDir()
	p1, d1 := artifact(t, art, "1")
	p2, d2 := artifact(t, art, "2")
	s1, s2 := modelServer(t, "1"), modelServer(t, "2")
	endpoints := filepath.Join(dir, "endpoints.yaml")
	os.WriteFile(endpoints, []byte(fmt.Sprintf("endpoints:\n  - {model: credit-risk, digest: %q, url: %q}\n  - {model: credit-risk, digest: %q, url: %q}\n",
		d1, s1.URL, d2, s2.URL)), 0o644)
	agentAddr := freeAddr(t)
	server, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", art,
		"--gitops-remote", bare, "--gitops-interval", "1h", "--agent-addr", agentAddr, "--agent-endpoints", endpoints, "--agent-interval", "50ms")
	cli, must := clientOf(t, server)
	start := gittest.Run(t, bare, "rev-parse", "main")

	// served waits until the agent serves dev's credit-risk from version.
	served := func(version string) {
		t.Helper()
		waitFor(t, 20*time.Second, "dev to serve version "+version, func() (bool, string) {
			resp, err := http.Get("http://" + agentAddr + "/dev/credit-risk/predict")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return string(body) == "version "+version+" at /predict", fmt.Sprintf("%d %s\n%s", resp.StatusCode, body, serveErr.String())
		})
	}
	committed := func(version string) string {
		t.Helper()
		var head string
		waitFor(t, 20*time.Second, "the commit of version "+version, func() (bool, string) {
			out := must(0, ci, "status", "credit-risk", "-o", "json")
			head = gittest.Run(t, bare, "rev-parse", "main")
			return strings.Contains(out, `"commit": "`+head+`"`) && strings.Contains(out, `"version": "`+version+`"`), out
		})
		return head
	}

	must(0, ci, "models", "create", "credit-risk")
	metrics := filepath.Join(examples, "candidate.json")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", p1, "--metrics", metrics)
	must(0, ci, "versions", "register", "credit-risk", "2", "--artifact", p2, "--metrics", metrics)
	for _, v := range []string{"1", "2"} {
		if out := must(0, ci, "request", "credit-risk", v, "--to", "dev"); !strings.Contains(out, "approved") {
			t.Fatalf("request %s to dev: %s", v, out)
		}
		head := committed(v)
		trailers := gittest.Run(t, bare, "log", "-1", "--format=%(trailers:only,unfold)", head)
		for _, want := range []string{"Model: credit-risk", "Version: " + v, "Environment: dev", "Gate: allowed"} {
			if !strings.Contains(trailers, want) {
				t.Errorf("commit of %s lacks trailer %q:\n%s", v, want, trailers)
			}
		}
		served(v)
	}
	if got := gittest.Run(t, bare, "rev-list", "--count", start+"..main"); got != "2" {
		t.Errorf("%s commits for two promotions, want 2", got)
	}

	// The rollback: one commit, 1 served again, 2 held.
	code, out, errOut := cli(lead, "rollback", "credit-risk", "--env", "dev", "--reason", "scores drift on thin files")
	if code != 0 || !strings.Contains(errOut, "2 → 1") || !strings.Contains(errOut, "committed ") {
		t.Fatalf("rollback: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	head := gittest.Run(t, bare, "rev-parse", "main")
	if !strings.Contains(out, head) {
		t.Errorf("rollback printed %q, want the commit %s", out, head)
	}
	trailers := gittest.Run(t, bare, "log", "-1", "--format=%(trailers:only,unfold)", "main")
	for _, want := range []string{"Version: 1", "Digest: " + d1, "Rollback-Of: 2", "Reason: scores drift on thin files"} {
		if !strings.Contains(trailers, want) {
			t.Errorf("rollback commit lacks %q:\n%s", want, trailers)
		}
	}
	if got := gittest.Run(t, bare, "rev-list", "--count", start+"..main"); got != "3" {
		t.Errorf("%s commits after the rollback, want 3", got)
	}
	served("1")
	if holds := must(0, ci, "holds", "list", "--model", "credit-risk"); !strings.Contains(holds, "rolled back to 1 by lena") {
		t.Errorf("holds after the rollback:\n%s", holds)
	}
	// Bad input changes nothing: no reason, an unknown version, nothing
	// earlier to go to.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollback", "credit-risk", "--env", "dev", "--reason", " "}, "a rollback needs a reason"},
		{[]string{"rollback", "credit-risk", "--env", "dev", "--to", "9", "--reason", "x"}, `version "9" of model "credit-risk" not found`},
		{[]string{"rollback", "credit-risk", "--env", "dev", "--reason", "x"}, "no earlier version of credit-risk that may go live"},
		{[]string{"rollback", "credit-risk", "--env", "qa", "--reason", "x"}, "qa"},
	} {
		if code, _, errOut := cli(lead, tt.args...); code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("promote %s: exit %d, stderr %q; want a failure saying %q", strings.Join(tt.args, " "), code, errOut, tt.want)
		}
	}
	if code, _, errOut := cli(ci, "rollback", "credit-risk", "--env", "dev", "--to", "2", "--reason", "x"); code == 0 || !strings.Contains(errOut, "approver role") {
		t.Errorf("rollback by a submitter: exit %d, %s", code, errOut)
	}
	if got := gittest.Run(t, bare, "rev-list", "--count", start+"..main"); got != "3" {
		t.Errorf("%s commits after refused rollbacks, want still 3", got)
	}
	if out := must(0, ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
}

// TestServeAgentDeploysThePipelinesEnvironments: the agent that serve
// runs deploys the pipeline's environments, not every overlay directory:
// the dev overlay promote init scaffolds, under a pipeline of staging and
// prod, is ignored (said once, shown in /-/status), not deployed.
func TestServeAgentDeploysThePipelinesEnvironments(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "gitops.git")
	repo := gitopsRemote(t, bare)
	pipelineFile := filepath.Join(repo, "promote.yaml")
	pipeline, err := os.ReadFile(pipelineFile)
	if err != nil {
		t.Fatal(err)
	}
	// staging and prod only: dev's entry goes, and staging no longer
	// comes from it.
	var kept []string
	skip := false
	for line := range strings.Lines(string(pipeline)) {
		switch {
		case strings.HasPrefix(line, "  - name: dev"):
			skip = true
			continue
		case strings.HasPrefix(line, "  - name: "):
			skip = false
		case strings.Contains(line, "from: dev"), strings.Contains(line, "soak: 1h"):
			continue
		}
		if !skip {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(pipelineFile, []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	s1 := modelServer(t, "1")
	endpoints := filepath.Join(dir, "endpoints.yaml")
	os.WriteFile(endpoints, []byte(fmt.Sprintf("endpoints:\n  - {model: credit-risk, digest: %q, url: %q}\n", overlay.DefaultPin.Digest, s1.URL)), 0o644)
	agentAddr := freeAddr(t)
	server, serveErr := startServe(t, "--data", filepath.Join(dir, "data"), "--pipeline", pipelineFile,
		"--gitops-remote", bare, "--gitops-interval", "1h", "--agent-addr", agentAddr, "--agent-endpoints", endpoints, "--agent-interval", "50ms")
	var st struct {
		LastSync     time.Time `json:"last_sync"`
		Environments []struct {
			Name   string `json:"name"`
			InSync bool   `json:"in_sync"`
			Error  string `json:"error"`
		} `json:"environments"`
		Ignored []string `json:"ignored"`
	}
	waitFor(t, 20*time.Second, "the agent's first sync", func() (bool, string) {
		resp, err := http.Get("http://" + agentAddr + "/-/status")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		st.Environments, st.Ignored = nil, nil
		body, _ := io.ReadAll(resp.Body)
		json.Unmarshal(body, &st)
		return !st.LastSync.IsZero(), string(body)
	})
	var names []string
	for _, e := range st.Environments {
		names = append(names, e.Name)
		if !e.InSync {
			t.Errorf("environment %s is not in sync: %+v", e.Name, e)
		}
	}
	if want := []string{"prod", "staging"}; !slices.Equal(names, want) || !slices.Equal(st.Ignored, []string{"dev"}) {
		t.Errorf("/-/status environments %v, ignored %v; want %v, ignoring [dev]", names, st.Ignored, want)
	}
	if !strings.Contains(serveErr.String(), "deploying staging, prod of ") {
		t.Errorf("serve's output does not say which environments the agent deploys:\n%s", serveErr.String())
	}
	resp, err := http.Get("http://" + agentAddr + "/dev/credit-risk/predict")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "ignores deploy/overlays/dev") {
		t.Errorf("GET /dev/credit-risk/predict = %d %s, want 404 saying dev's overlay is ignored", resp.StatusCode, body)
	}
	// The agent's sync health is on the server's /metrics, by the
	// environments it deploys (set once the poll that synced ends).
	waitFor(t, 20*time.Second, "the agent's sync health on /metrics", func() (bool, string) {
		resp, err := http.Get(server + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"promote_agent_sync_ok 1\n", `promote_agent_environment_in_sync{env="prod"} 1`,
			`promote_agent_environment_in_sync{env="staging"} 1`, "promote_agent_sync_last_success_timestamp_seconds "} {
			if !strings.Contains(string(body), want) {
				return false, fmt.Sprintf("/metrics lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(string(body), `promote_agent_environment_in_sync{env="dev"}`) {
			t.Errorf("/metrics has dev's sync, an environment the agent ignores:\n%s", body)
		}
		return true, ""
	})
}

// child is a promote process: this test binary run as promote.
type child struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(exe, args...), stderr: &lockedBuffer{}}
	c.cmd.Env = append(os.Environ(), childEnv+"=1")
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// kill stops the process at once, as a crash or kill -9 would.
// submitterToken creates a submitter's API token named ci in the store
// under data, before any server runs, and returns it.
func submitterToken(t *testing.T, data, pipelineFile string) string {
	t.Helper()
	code, out, errOut := run(t, "", "token", "create", "--name", "ci", "--role", "submitter", "--quiet", "--data", data, "--pipeline", pipelineFile)
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	return strings.TrimSpace(out)
}

// startServer starts promote serve with args in a child process, on a free
// loopback address, and returns it and its URL once /readyz answers 200.
func startServer(t *testing.T, args ...string) (*child, string) {
	t.Helper()
	addr := freeAddr(t)
	c := startChild(t, append([]string{"serve", "--addr", addr}, args...)...)
	server := "http://" + addr
	waitFor(t, 60*time.Second, "the server to be ready", func() (bool, string) {
		resp, err := http.Get(server + "/readyz")
		if err != nil {
			return false, err.Error() + "\n" + c.stderr.String()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, c.stderr.String()
	})
	return c, server
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

// TestServeGitOpsRepairsAfterKill stops a real server process between the
// registry's update and the push, and checks that the restarted server
// commits the change exactly once.
func TestServeGitOpsRepairsAfterKill(t *testing.T) {
	dir := t.TempDir()
	// The remote does not exist yet: the first server's push cannot
	// happen, and it is killed while it keeps trying.
	bare := filepath.Join(dir, "gitops.git")
	repo := filepath.Join(t.TempDir(), "repo")
	if code, _, errOut := run(t, "", "init", repo); code != ExitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	examples, _ := filepath.Abs("../../examples")
	data := filepath.Join(dir, "data")
	pipelineFile := filepath.Join(repo, "promote.yaml")
	ci := submitterToken(t, data, pipelineFile)
	art := t.TempDir()
	p1, _ := artifact(t, art, "1")
	p2, _ := artifact(t, art, "2")
	serve := func() (*child, string) {
		return startServer(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", art, "--gitops-remote", bare, "--gitops-interval", "1h")
	}

	first, server := serve()
	_, must := clientOf(t, server)
	metrics := filepath.Join(examples, "candidate.json")
	must(0, ci, "models", "create", "credit-risk")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", p1, "--metrics", metrics)
	if out := must(0, ci, "request", "credit-risk", "1", "--to", "dev"); !strings.Contains(out, "approved") {
		t.Fatalf("request: %s", out)
	}
	waitFor(t, 60*time.Second, "the first server to fail its push", func() (bool, string) {
		return strings.Contains(first.stderr.String(), "gitops: reconcile"), first.stderr.String()
	})
	first.kill(t)

	// The remote appears; a new server starts on the same data.
	gittest.Run(t, repo, "init", "-q", "-b", "main")
	gittest.Run(t, repo, "add", "-A")
	gittest.Run(t, repo, "commit", "-q", "-m", "promote init")
	gittest.Run(t, dir, "init", "-q", "--bare", "-b", "main", bare)
	gittest.Run(t, repo, "push", "-q", bare, "main")
	start := gittest.Run(t, bare, "rev-parse", "main")
	second, server := serve()
	_, must = clientOf(t, server)
	waitFor(t, 60*time.Second, "the restarted server to commit", func() (bool, string) {
		out := must(0, ci, "promotions", "list", "--model", "credit-risk", "-o", "json")
		return strings.Contains(out, `"state": "succeeded"`), out + second.stderr.String()
	})
	if got := gittest.Run(t, bare, "rev-list", "--count", start+"..main"); got != "1" {
		t.Fatalf("%s commits after the restart, want 1", got)
	}

	// Killed again after the commit, and restarted: nothing is committed
	// twice; the next promotion is the only new commit.
	second.kill(t)
	third, server := serve()
	_, must = clientOf(t, server)
	must(0, ci, "versions", "register", "credit-risk", "2", "--artifact", p2, "--metrics", metrics)
	must(0, ci, "request", "credit-risk", "2", "--to", "dev")
	waitFor(t, 60*time.Second, "the commit of version 2", func() (bool, string) {
		got := gittest.Run(t, bare, "log", "-1", "--format=%s", "main")
		return got == "promote credit-risk 2 to dev", got + "\n" + third.stderr.String()
	})
	if got := gittest.Run(t, bare, "rev-list", "--count", start+"..main"); got != "2" {
		t.Errorf("%s commits after two promotions and two kills, want 2", got)
	}
	if out := must(0, ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
}

const canaryPipeline = `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: prod
    policy: prod.yaml
    rollout: canary
`

const canaryPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
rollout:
  strategy: canary
  steps:
    - weight: 10
      minRequests: 50
    - weight: 50
      minRequests: 100
    - weight: 100
      minRequests: 50
  analysis:
    alpha: 0.01
  rollback:
    automatic: true
    hold: true
    when: [slo_breach, regression]
`

// TestServeCanary runs promote serve with GitOps, the local agent and the
// rollout controller, real model servers and live traffic: a healthy
// version walks 10 -> 50 -> 100 and succeeds; one whose server fails one
// request in ten is rolled back automatically, with the rollback commit in
// Git, the hold in the registry and the audit chain intact.
func TestServeCanary(t *testing.T) {
	for _, source := range []string{"splitters", "prometheus"} {
		t.Run(source, func(t *testing.T) { testServeCanary(t, source == "prometheus") })
	}
}

// canarySetup is a GitOps remote, a pipeline with prod rolling out by
// canary under policy, tokens, and model servers for versions 1 to 3
// (3 fails one request in ten) listed in an endpoints file.
type canarySetup struct {
	bare, data, art, agentAddr string
	ci, lead                   string
	digests                    map[string]string
	args                       []string // promote serve's
}

func newCanarySetup(t *testing.T, policy string) *canarySetup {
	t.Helper()
	dir := t.TempDir()
	c := &canarySetup{bare: filepath.Join(dir, "gitops.git"), data: filepath.Join(dir, "data"), art: t.TempDir(),
		agentAddr: freeAddr(t), digests: map[string]string{}}
	gitopsRemote(t, c.bare)
	cfgDir := t.TempDir()
	pipelineFile := filepath.Join(cfgDir, "promote.yaml")
	os.WriteFile(pipelineFile, []byte(canaryPipeline), 0o644)
	os.WriteFile(filepath.Join(cfgDir, "prod.yaml"), []byte(policy), 0o644)
	tok := func(name, role string) string {
		t.Helper()
		code, out, errOut := run(t, "", "token", "create", "--name", name, "--role", role, "--quiet", "--data", c.data, "--pipeline", pipelineFile)
		if code != 0 {
			t.Fatalf("token create: exit %d: %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	c.ci, c.lead = tok("ci", "submitter"), tok("lena", "approver")
	var lines []string
	for _, v := range []string{"1", "2", "3"} {
		_, d := artifact(t, c.art, v)
		c.digests[v] = d
		lines = append(lines, fmt.Sprintf("  - {model: credit-risk, digest: %q, url: %q}", d, modelBackend(t, v, v == "3")))
	}
	endpoints := filepath.Join(dir, "endpoints.yaml")
	os.WriteFile(endpoints, []byte("endpoints:\n"+strings.Join(lines, "\n")+"\n"), 0o644)
	c.args = []string{"--data", c.data, "--pipeline", pipelineFile, "--artifact-root", c.art,
		"--gitops-remote", c.bare, "--gitops-interval", "1h", "--agent-addr", c.agentAddr, "--agent-endpoints", endpoints,
		"--agent-interval", "50ms", "--rollout-interval", "50ms"}
	return c
}

// load sends requests to prod's credit-risk through the agent until the
// test ends.
func (c *canarySetup) load(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	var load sync.WaitGroup
	load.Go(func() {
		for ctx.Err() == nil {
			if resp, err := http.Get("http://" + c.agentAddr + "/prod/credit-risk/predict"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Cleanup(func() { stop(); load.Wait() })
}

// modelBackend starts a model server for version v that answers "version
// v", failing one answer in ten with a 500 when faulty, and returns its URL.
func modelBackend(t *testing.T, v string, faulty bool) string {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if faulty && n.Add(1)%10 == 0 {
			http.Error(w, "model error", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "version %s", v)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// request registers version v of credit-risk (its artifact made by
// newCanarySetup, the example's metrics) and requests it to prod as the CI
// token, and returns the promotion's ID.
func (c *canarySetup) request(t *testing.T, must mustFunc, v string) string {
	t.Helper()
	metrics := filepath.Join("..", "..", "examples", "candidate.json")
	must(0, c.ci, "versions", "register", "credit-risk", v, "--artifact", filepath.Join(c.art, "model-"+v+".bin"), "--metrics", metrics)
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(must(0, c.ci, "request", "credit-risk", v, "--to", "prod", "-o", "json")), &p); err != nil || p.ID == "" {
		t.Fatalf("request %s to prod: %v", v, err)
	}
	return p.ID
}

// awaitPromotion waits until promotion id is in state want, showing the
// server's last log lines when it does not get there.
func (c *canarySetup) awaitPromotion(t *testing.T, must mustFunc, id, want string, serveErr interface{ String() string }) {
	t.Helper()
	waitFor(t, 60*time.Second, "promotion "+id+" to be "+want, func() (bool, string) {
		var got struct {
			State string `json:"state"`
		}
		json.Unmarshal([]byte(must(0, c.ci, "promotions", "show", id, "-o", "json")), &got)
		return got.State == want, got.State + "\n" + tail(serveErr.String(), 10)
	})
}

// served sends n requests to prod's credit-risk through the agent and
// counts the answers by body (or error).
func (c *canarySetup) served(n int) map[string]int {
	seen := map[string]int{}
	for range n {
		resp, err := http.Get("http://" + c.agentAddr + "/prod/credit-risk/predict")
		if err != nil {
			seen[err.Error()]++
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen[string(body)]++
	}
	return seen
}

// testServeCanary is TestServeCanary with the counts read from the
// splitters in process, or from a real Prometheus scraping the server's
// /metrics.
func testServeCanary(t *testing.T, withPrometheus bool) {
	c := newCanarySetup(t, canaryPolicy)
	bare, art, agentAddr, ci, lead, digests := c.bare, c.art, c.agentAddr, c.ci, c.lead, c.digests
	args := c.args
	var prom *promtest.Server
	if withPrometheus {
		// Prometheus scrapes the server's /metrics, where the splitters'
		// counters are; the controller queries it. Prometheus scrapes
		// every second: judging every 50 ms would spend the error budget
		// on a busy machine's slow queries in no time.
		addr := freeAddr(t)
		prom = promtest.Launch(t, addr)
		args = append(args, "--addr", addr, "--prometheus-url", prom.URL, "--rollout-interval", "250ms", "--rollout-error-budget", "20")
	} else {
		// With the splitters in process, the controller judges as the
		// candidates' requests arrive and starts a rollout when the
		// agent deployed its candidate: an hour's interval never comes.
		args = append(args, "--rollout-interval", "1h")
	}
	// A webhook receiver that checks every request's signature.
	hooks := newHookReceiver(t)
	args = append(args, "--webhooks", hooks.config(t))
	server, serveErr := startServe(t, args...)
	if prom != nil {
		prom.WaitUp(t, 1)
	}
	cli, must := clientOf(t, server)
	c.load(t)

	must(0, ci, "models", "create", "credit-risk")
	metrics := filepath.Join("..", "..", "examples", "candidate.json")
	state := func(id string) string {
		out := must(0, ci, "promotions", "show", id, "-o", "json")
		var p struct {
			State string `json:"state"`
		}
		json.Unmarshal([]byte(out), &p)
		return p.State
	}
	promoteTo := func(v, want string) string {
		t.Helper()
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", filepath.Join(art, "model-"+v+".bin"), "--metrics", metrics)
		out := must(0, ci, "request", "credit-risk", v, "--to", "prod", "-o", "json")
		var p struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil || p.ID == "" {
			t.Fatalf("request %s: %s", v, out)
		}
		waitFor(t, 90*time.Second, "the promotion of "+v+" to be "+want, func() (bool, string) {
			s := state(p.ID)
			if s == want {
				return true, s
			}
			_, show, _ := cli(ci, "rollout", "show", p.ID)
			return false, s + "\n" + show + "\n" + tail(serveErr.String(), 40)
		})
		return p.ID
	}
	promoteTo("1", "succeeded")
	id2 := promoteTo("2", "succeeded")
	if out := must(0, ci, "rollout", "show", id2); !strings.Contains(out, "succeeded") || !strings.Contains(out, "3, weight 100%") {
		t.Errorf("rollout show of 2:\n%s", out)
	}
	id3 := promoteTo("3", "rolled_back")
	code, out, _ := cli(ci, "rollout", "watch", id3)
	if code != ExitBlocked || !strings.Contains(out, "rolled_back") {
		t.Errorf("rollout watch of a rolled-back rollout: exit %d\n%s", code, out)
	}

	// Git: the rollback is a commit that pins 2 again.
	waitFor(t, 20*time.Second, "the rollback commit", func() (bool, string) {
		got := gittest.Run(t, bare, "log", "-1", "--format=%s", "main")
		return got == "rollback credit-risk in prod to 2", got
	})
	trailers := gittest.Run(t, bare, "log", "-1", "--format=%(trailers:only,unfold)", "main")
	for _, want := range []string{"Version: 2", "Digest: " + digests["2"], "Rollback-Of: 3", "Reason: the canary analysis failed"} {
		if !strings.Contains(trailers, want) {
			t.Errorf("rollback commit lacks %q:\n%s", want, trailers)
		}
	}
	if holds := must(0, lead, "holds", "list", "--model", "credit-risk"); !strings.Contains(holds, "rolled back to 2 by rollout") {
		t.Errorf("holds after the automatic rollback:\n%s", holds)
	}
	// The agent serves 2 alone again.
	waitFor(t, 20*time.Second, "prod to serve version 2 alone", func() (bool, string) {
		seen := map[string]int{}
		for range 40 {
			resp, err := http.Get("http://" + agentAddr + "/prod/credit-risk/predict")
			if err != nil {
				return false, err.Error()
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen[string(body)]++
		}
		return seen["version 2"] == 40, fmt.Sprint(seen)
	})
	if out := must(0, ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
	// The webhooks told of the commits, the steps, the rollback and the
	// successes, every one signed.
	waitFor(t, 20*time.Second, "the webhooks", func() (bool, string) {
		got := hooks.types()
		for _, want := range []string{"promotion.requested", "gitops.committed", "rollout.step", "promotion.succeeded", "rollout.rolled_back"} {
			if !slices.Contains(got, want) {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
	if n := hooks.rejected.Load(); n != 0 {
		t.Errorf("the receiver rejected %d webhook requests", n)
	}
	// The delivery log is in the API (an attempt is recorded once its
	// answer is in, just after the receiver saw it).
	waitFor(t, 10*time.Second, "the delivery log", func() (bool, string) {
		ds, err := httpapi.NewClient(server, ci, nil).Deliveries(t.Context(), 1000)
		delivered := 0
		for _, d := range ds {
			if d.Status == "delivered" && d.Endpoint == "test" && d.Code == http.StatusOK {
				delivered++
			}
		}
		return err == nil && delivered >= len(hooks.types()), fmt.Sprintf("%d delivered of %d received (%v)", delivered, len(hooks.types()), err)
	})
}

// hookReceiver is a webhook receiver that checks every request as
// docs/webhooks.md says: the signature, the timestamp and the ID.
type hookReceiver struct {
	srv      *httptest.Server
	secret   []byte
	guard    *notify.ReplayGuard
	mu       sync.Mutex
	got      []string       // the events' types, in order
	events   []notify.Event // the events, in order
	rejected atomic.Int64
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{secret: []byte("webhook-secret-0123456789"), guard: notify.NewReplayGuard(5*time.Minute, time.Now)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify(h.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			h.rejected.Add(1)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if err := h.guard.Check(r.Header.Get("Promote-Webhook-Id")); err != nil {
			h.rejected.Add(1)
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		var ev notify.Event
		json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.got = append(h.got, ev.Type)
		h.events = append(h.events, ev)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// config writes the webhooks file that points at the receiver.
func (h *hookReceiver) config(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), h.secret, 0o600)
	file := filepath.Join(dir, "webhooks.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf("webhooks:\n  - name: test\n    url: %s\n    secretFile: secret\n", h.srv.URL)), 0o644)
	return file
}

func (h *hookReceiver) types() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

const slowCanaryPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
rollout:
  strategy: canary
  steps:
    - weight: 10
      minRequests: 50
    - weight: 50
      minRequests: 1500
    - weight: 100
      minRequests: 50
`

// cliFunc and mustFunc are clientOf's.
type (
	cliFunc  = func(tok string, args ...string) (int, string, string)
	mustFunc = func(want int, tok string, args ...string) string
)

// midCanary starts a server on c, has version 1 go live and version 2's
// canary reach step 2, and returns the server's stop, its log, a client,
// the rollout's ID and a reader of its state ("running 2 0.5"); the reader
// asks the client *cli, which a test replaces when it restarts the server.
func midCanary(t *testing.T, c *canarySetup) (stop func(), serveErr *lockedBuffer, cli *cliFunc, id2 string, rolloutOf func(string) (string, string)) {
	t.Helper()
	server, serveErr, stop := startStoppable(t, c.args...)
	run, must := clientOf(t, server)
	cli = &run
	c.load(t)
	must(0, c.ci, "models", "create", "credit-risk")
	request := func(v string) string { return c.request(t, must, v) }
	rolloutOf = func(id string) (string, string) {
		_, out, _ := (*cli)(c.ci, "rollout", "show", id, "-o", "json")
		var r struct {
			State  string  `json:"state"`
			Step   int     `json:"step"`
			Weight float64 `json:"weight"`
		}
		json.Unmarshal([]byte(out), &r)
		return fmt.Sprintf("%s %d %g", r.State, r.Step+1, r.Weight), out
	}
	id1 := request("1")
	waitFor(t, 30*time.Second, "version 1 to be live", func() (bool, string) {
		s, out := rolloutOf(id1)
		return s == "succeeded 1 1", out + tail(serveErr.String(), 20)
	})
	id2 = request("2")
	waitFor(t, 30*time.Second, "the canary of 2 to reach step 2", func() (bool, string) {
		s, out := rolloutOf(id2)
		return s == "running 2 0.5", out + tail(serveErr.String(), 20)
	})
	return stop, serveErr, cli, id2, rolloutOf
}

// TestServeCanaryCannotJudgeAfterRestart stops the server in the middle of
// a canary and starts it again with a metric source it cannot read (a
// Prometheus that is not there): past the error budget the controller
// cannot judge, so it returns all traffic to stable and pauses the rollout;
// nothing is rolled back.
func TestServeCanaryCannotJudgeAfterRestart(t *testing.T) {
	c := newCanarySetup(t, slowCanaryPolicy)
	stop, _, cli, id2, rolloutOf := midCanary(t, c)
	stop()
	server, serveErr, _ := startStoppable(t, append(slices.Clone(c.args), "--prometheus-url", "http://"+freeAddr(t), "--rollout-error-budget", "2")...)
	*cli, _ = clientOf(t, server)
	waitFor(t, 30*time.Second, "the rollout to pause, unable to judge", func() (bool, string) {
		s, out := rolloutOf(id2)
		return s == "paused 2 0" && strings.Contains(out, "cannot judge"), out + tail(serveErr.String(), 20)
	})
	if seen := c.served(40); seen["version 1"] != 40 {
		t.Fatalf("prod served %v while the rollout is paused unable to judge, want version 1 (stable) only", seen)
	}
	code, out, errOut := (*cli)(c.ci, "holds", "list", "--model", "credit-risk", "-o", "json")
	var holds []json.RawMessage
	if err := json.Unmarshal([]byte(out), &holds); code != 0 || err != nil || len(holds) != 0 {
		t.Errorf("holds list after a pause for want of metrics: exit %d, %v; want none:\n%s%s", code, err, out, errOut)
	}
}

// TestServeCanaryResumesAfterRestart stops the server in the middle of a
// canary and starts it again on the same data: the rollout resumes at its
// step, the agent gives the candidate no traffic the controller did not
// give it, and the rollout finishes with no commit written twice.
func TestServeCanaryResumesAfterRestart(t *testing.T) {
	c := newCanarySetup(t, slowCanaryPolicy)
	stop, serveErr, cli, id2, rolloutOf := midCanary(t, c)
	commits := gittest.Run(t, c.bare, "rev-list", "--count", "main")

	stop()
	server, serveErr, _ := startStoppable(t, c.args...)
	var must mustFunc
	*cli, must = clientOf(t, server)
	if s, out := rolloutOf(id2); s != "running 2 0.5" {
		t.Fatalf("after the restart the rollout is %s, want still running at step 2, 0.5:\n%s", s, out)
	}
	waitFor(t, 60*time.Second, "the canary of 2 to finish after the restart", func() (bool, string) {
		s, out := rolloutOf(id2)
		return s == "succeeded 3 1", out + tail(serveErr.String(), 20)
	})
	if got := gittest.Run(t, c.bare, "rev-list", "--count", "main"); got != commits {
		t.Errorf("the branch has %s commits after the restart, want still %s", got, commits)
	}
	events := must(0, c.ci, "audit", "list", "--promotion", id2, "-o", "json")
	if n := strings.Count(events, `"decision": "step 2: weight 50%"`); n != 1 {
		t.Errorf("step 2 recorded %d times, want once:\n%s", n, events)
	}
	if out := must(0, c.ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
}

// refuseRollbacks is a pre-receive hook that refuses every push of a
// rollback commit, as a protected branch or a broken credential would.
const refuseRollbacks = `#!/bin/sh
while read old new ref; do
  if git log -1 --format=%s "$new" | grep -q '^rollback'; then
    echo "rollbacks are refused" >&2
    exit 1
  fi
done
`

// TestServeCanaryRollbackSurvivesRestartBeforeItsCommit has the remote
// refuse the commit of an automatic rollback, restarts the server before
// it lands and lets it land later: prod serves the stable version alone
// throughout, never the rolled-back candidate the branch still pins, and
// the rollback commit lands once.
func TestServeCanaryRollbackSurvivesRestartBeforeItsCommit(t *testing.T) {
	c := newCanarySetup(t, canaryPolicy)
	hook := filepath.Join(c.bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte(refuseRollbacks), 0o755); err != nil {
		t.Fatal(err)
	}
	server, serveErr, stop := startStoppable(t, c.args...)
	_, must := clientOf(t, server)
	c.load(t)
	must(0, c.ci, "models", "create", "credit-risk")
	request := func(v, want string) {
		t.Helper()
		c.awaitPromotion(t, must, c.request(t, must, v), want, serveErr)
	}
	onlyStable := func(when string) {
		t.Helper()
		if seen := c.served(40); seen["version 1"] != 40 {
			t.Errorf("%s prod served %v, want version 1 (stable) alone", when, seen)
		}
	}
	request("1", "succeeded")
	request("3", "rolled_back") // one answer in ten fails
	waitFor(t, 20*time.Second, "the remote to refuse the rollback commit", func() (bool, string) {
		return strings.Contains(serveErr.String(), "pre-receive hook declined"), tail(serveErr.String(), 10)
	})
	onlyStable("after the rollback, its commit refused,")
	if got := gittest.Run(t, c.bare, "log", "-1", "--format=%s", "main"); got != "promote credit-risk 3 to prod" {
		t.Fatalf("main's head is %q, want still the promotion of 3", got)
	}

	stop()
	server, serveErr, _ = startStoppable(t, c.args...)
	waitFor(t, 20*time.Second, "the restarted server to try the rollback commit", func() (bool, string) {
		return strings.Contains(serveErr.String(), "pre-receive hook declined"), tail(serveErr.String(), 10)
	})
	onlyStable("after a restart, the rollback commit still refused,")

	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the rollback commit", func() (bool, string) {
		got := gittest.Run(t, c.bare, "log", "-1", "--format=%s", "main")
		return got == "rollback credit-risk in prod to 1", got
	})
	// The agent applies the commit soon after it lands.
	waitFor(t, 10*time.Second, "the agent to apply the rollback commit", func() (bool, string) {
		resp, err := http.Get("http://" + c.agentAddr + "/-/status")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		head := gittest.Run(t, c.bare, "rev-parse", "main")
		return strings.Contains(string(b), head), string(b)
	})
	onlyStable("once the rollback commit landed,")
	if n := gittest.Run(t, c.bare, "rev-list", "--count", "--grep=^Rollback-Of: 3", "main"); n != "1" {
		t.Errorf("main has %s rollback commits, want 1", n)
	}
	_, must = clientOf(t, server)
	if out := must(0, c.ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
	// The rollback's evidence, read by a person: promote audit show.
	var steps []promote.AuditEvent
	if err := json.Unmarshal([]byte(must(0, c.ci, "audit", "list", "--action", "rollout.step", "--model", "credit-risk", "-o", "json")), &steps); err != nil {
		t.Fatal(err)
	}
	var seq int64
	for _, e := range steps {
		if e.Decision == "rolled_back" && e.Version == "3" {
			seq = e.Seq
		}
	}
	if seq == 0 {
		t.Fatalf("no rollout.step rolled_back event of version 3 among %+v", steps)
	}
	out := must(0, c.ci, "audit", "show", fmt.Sprint(seq))
	for _, want := range []string{"Action\x20", "rollout.step", "rolled_back", "Reasons:", `"verdict"`, `"name": "error_rate"`, `"p_value"`, "Hash"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit show %d lacks %q:\n%s", seq, want, out)
		}
	}
	var shown promote.AuditEvent
	if err := json.Unmarshal([]byte(must(0, c.ci, "audit", "show", fmt.Sprint(seq), "-o", "json")), &shown); err != nil || shown.Seq != seq || shown.Hash == "" {
		t.Errorf("audit show %d -o json = %+v, %v", seq, shown, err)
	}
	must(2, c.ci, "audit", "show", "999999")
	must(2, c.ci, "audit", "show", "x")
}

// A person's rollback in a canary environment, after a canary took all the
// traffic: the version rolled back to takes it all at once when the
// rollback's commit lands, as a rollback should; it does not become a
// candidate at weight 0 that no rollout moves.
func TestServeManualRollbackAfterACanaryMovesTheTraffic(t *testing.T) {
	c := newCanarySetup(t, canaryPolicy)
	server, serveErr, _ := startStoppable(t, c.args...)
	_, must := clientOf(t, server)
	c.load(t)
	must(0, c.ci, "models", "create", "credit-risk")
	for _, v := range []string{"1", "2"} {
		c.awaitPromotion(t, must, c.request(t, must, v), "succeeded", serveErr)
	}
	if seen := c.served(40); seen["version 2"] != 40 {
		t.Fatalf("after the canary of 2 succeeded prod served %v, want version 2 alone", seen)
	}
	must(0, c.lead, "rollback", "credit-risk", "--env", "prod", "--reason", "a downstream report broke")
	waitFor(t, 30*time.Second, "the agent to serve version 1 alone", func() (bool, string) {
		seen := c.served(40)
		return seen["version 1"] == 40, fmt.Sprint(seen, "\n", tail(serveErr.String(), 10))
	})
	if got := gittest.Run(t, c.bare, "log", "-1", "--format=%s", "main"); got != "rollback credit-risk in prod to 1" {
		t.Errorf("main's head is %q, want the rollback commit", got)
	}
}

// TestServeGitOpsShowsARefusedCommit has the remote refuse every push: the
// promotion's change waits for its commit, promote status says why, and
// the leader's /metrics count the change and the refusals. Once the remote
// takes the push, the commit lands and the error is gone.
func TestServeGitOpsShowsARefusedCommit(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "gitops.git")
	repo := gitopsRemote(t, bare)
	hook := filepath.Join(bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	pipelineFile := filepath.Join(repo, "promote.yaml")
	ci := submitterToken(t, data, pipelineFile)
	art := t.TempDir()
	p1, _ := artifact(t, art, "1")
	server, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", art,
		"--gitops-remote", bare, "--gitops-interval", "1h")
	_, must := clientOf(t, server)
	scrape := func() string {
		t.Helper()
		resp, err := http.Get(server + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}

	must(0, ci, "models", "create", "credit-risk")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", p1, "--metrics", filepath.Join("..", "..", "examples", "candidate.json"))
	must(0, ci, "request", "credit-risk", "1", "--to", "dev")
	waitFor(t, 20*time.Second, "status to say why the commit fails", func() (bool, string) {
		out := must(0, ci, "status", "credit-risk")
		return strings.Contains(out, "COMMIT FAILING") && strings.Contains(out, "pre-receive hook declined"), out + "\n" + tail(serveErr.String(), 5)
	})
	var st struct {
		Live map[string]struct {
			Commit      string `json:"commit"`
			CommitError *struct {
				Message string    `json:"message"`
				Since   time.Time `json:"since"`
			} `json:"commit_error"`
		} `json:"live"`
	}
	if err := json.Unmarshal([]byte(must(0, ci, "status", "credit-risk", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if l := st.Live["dev"]; l.Commit != "" || l.CommitError == nil || l.CommitError.Since.IsZero() ||
		!strings.Contains(l.CommitError.Message, "pre-receive hook declined") {
		t.Errorf("status -o json: live in dev = %+v, want no commit and the refusal with its time", l)
	}
	metrics := scrape()
	for _, want := range []string{
		`promote_gitops_pending_changes{env="dev"} 1`,
		`promote_gitops_delivery_failures_total{env="dev",reason="unreachable"} 0`,
		"# HELP promote_gitops_delivery_failures_total ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	if !regexp.MustCompile(`promote_gitops_delivery_failures_total\{env="dev",reason="push_rejected"\} [1-9]`).MatchString(metrics) {
		t.Errorf("/metrics counts no refused push in dev:\n%s", metrics)
	}

	if err := os.Remove(hook); err != nil {
		t.Fatal(err)
	}
	head := ""
	waitFor(t, 20*time.Second, "the commit to land", func() (bool, string) {
		out := must(0, ci, "status", "credit-risk", "-o", "json")
		head = gittest.Run(t, bare, "rev-parse", "main")
		return strings.Contains(out, `"commit": "`+head+`"`), out
	})
	if out := must(0, ci, "status", "credit-risk"); strings.Contains(out, "COMMIT FAILING") {
		t.Errorf("status after the commit landed still shows a failure:\n%s", out)
	}
	if out := must(0, ci, "status", "credit-risk", "-o", "json"); strings.Contains(out, "commit_error") {
		t.Errorf("status -o json after the commit landed still has a commit error:\n%s", out)
	}
	metrics = scrape()
	if !strings.Contains(metrics, `promote_gitops_pending_changes{env="dev"} 0`) ||
		!regexp.MustCompile(`promote_gitops_last_commit_timestamp_seconds\{env="dev"\} \d`).MatchString(metrics) {
		t.Errorf("/metrics after the commit landed, want nothing pending in dev and the commit's time:\n%s", metrics)
	}
}
