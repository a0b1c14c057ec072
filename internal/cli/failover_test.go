package cli

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// testLeaseTTL is the replicas' lease in these tests: short, so that a
// takeover after a kill -9 takes seconds.
const testLeaseTTL = 2 * time.Second

// replica is one promote serve process of several sharing a database.
type replica struct {
	*child
	name   string
	api    string // the API's URL
	agent  string // the agent's address, when it runs one
	client *httpapi.Client
	self   string // its holder name in the lease
	dead   bool
}

// startReplicas starts n promote serve processes on the PostgreSQL
// database dsn with args, each with its own address, agent address (when
// withAgent) and data directory (its GitOps and agent clones), and waits
// until each is ready and knows its holder name.
func startReplicas(t *testing.T, n int, dsn, token string, withAgent bool, args ...string) []*replica {
	t.Helper()
	var rs []*replica
	for i := range n {
		r := &replica{name: fmt.Sprintf("replica %d", i+1)}
		addr := freeAddr(t)
		r.api = "http://" + addr
		a := append([]string{"serve", "--addr", addr, "--database", dsn, "--data", filepath.Join(t.TempDir(), "data"),
			"--lease-ttl", testLeaseTTL.String()}, args...)
		if withAgent {
			r.agent = freeAddr(t)
			a = append(a, "--agent-addr", r.agent)
		}
		r.child = startChild(t, a...)
		r.client = httpapi.NewClient(r.api, token, nil)
		rs = append(rs, r)
	}
	for _, r := range rs {
		waitFor(t, 30*time.Second, r.name+" to be ready", func() (bool, string) {
			l, err := r.client.Leader(t.Context())
			if err != nil {
				return false, err.Error() + "\n" + tail(r.stderr.String(), 20)
			}
			r.self = l.Self
			return true, ""
		})
	}
	return rs
}

// leaderOf waits until exactly one live replica leads, at an epoch after
// after, and every live replica sees it in the lease; it returns it and
// its epoch.
func leaderOf(t *testing.T, rs []*replica, deadline time.Duration, after int64) (*replica, int64) {
	t.Helper()
	var lead *replica
	var epoch int64
	waitFor(t, deadline, "one replica to lead", func() (bool, string) {
		lead, epoch = nil, 0
		var seen []string
		for _, r := range rs {
			if r.dead {
				continue
			}
			l, err := r.client.Leader(t.Context())
			if err != nil {
				return false, r.name + ": " + err.Error()
			}
			seen = append(seen, fmt.Sprintf("%s: leader %t, holder %s at epoch %d", r.name, l.Leader, l.Holder, l.Epoch))
			if l.Leader {
				if lead != nil {
					return false, strings.Join(seen, "; ")
				}
				lead, epoch = r, l.Epoch
			}
		}
		if lead == nil || epoch <= after {
			return false, strings.Join(seen, "; ")
		}
		for _, r := range rs {
			if l, err := r.client.Leader(t.Context()); !r.dead && (err != nil || l.Holder != lead.self || l.Epoch != epoch) {
				return false, strings.Join(seen, "; ")
			}
		}
		return true, ""
	})
	return lead, epoch
}

// followers returns the live replicas but lead.
func followers(rs []*replica, lead *replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r != lead && !r.dead {
			out = append(out, r)
		}
	}
	return out
}

// tokenOn creates a token in the database dsn.
func tokenOn(t *testing.T, dsn, pipelineFile, name, role string) string {
	t.Helper()
	code, out, errOut := run(t, "", "token", "create", "--name", name, "--role", role, "--quiet", "--database", dsn, "--pipeline", pipelineFile)
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut)
	}
	return strings.TrimSpace(out)
}

// commitsByPromotion counts the commits on the branch after the first
// (promote init), in all and by their Promotion-Id trailer.
func commitsByPromotion(t *testing.T, bare string) (map[string]int, int) {
	t.Helper()
	first := gittest.Run(t, bare, "rev-list", "--max-parents=0", "main")
	byID := map[string]int{}
	commits := strings.Fields(gittest.Run(t, bare, "rev-list", first+"..main"))
	for _, c := range commits {
		byID[strings.TrimSpace(gittest.Run(t, bare, "log", "-1", "--format=%(trailers:key=Promotion-Id,valueonly)", c))]++
	}
	return byID, len(commits)
}

// argOf returns the value of flag in args.
func argOf(t *testing.T, args []string, flag string) string {
	t.Helper()
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("no %s in %v", flag, args)
	return ""
}

// pinsOf reads what the branch pins in env through a GitOps writer of its
// own, as the reconciler does.
func pinsOf(t *testing.T, bare, env string) map[string]string {
	t.Helper()
	w, err := gitops.New(gitops.Config{Remote: bare, Dir: filepath.Join(t.TempDir(), "check")})
	if err != nil {
		t.Fatal(err)
	}
	pins, err := w.Pinned(t.Context(), env)
	if err != nil {
		t.Fatalf("Pinned(%s): %v", env, err)
	}
	out := map[string]string{}
	for m, p := range pins {
		out[m] = p.Version + " " + p.Digest
	}
	return out
}

const failoverPolicy = `apiVersion: promote.dev/v1
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
      minRequests: 800
    - weight: 100
      minRequests: 50
  analysis:
    alpha: 0.01
  rollback:
    automatic: true
    hold: true
    when: [slo_breach, regression]
`

// TestFailover runs three promote serve processes on one PostgreSQL
// database and one GitOps repository, each with its own agent. A canary
// is requested through a follower; the leader is killed with kill -9 in
// the middle of it; another replica takes over within the lease time and
// a margin, resumes the rollout at its stored step and finishes it; a bad
// canary that follows is rolled back by the new leader. Git holds one
// commit per change, the registry's live version is what the overlay
// pins, the audit chain verifies and records each step once, and every
// surviving agent serves what the rollouts decided.
func TestFailover(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	c := newCanarySetup(t, failoverPolicy)
	pipelineFile := argOf(t, c.args, "--pipeline")
	ci := tokenOn(t, dsn, pipelineFile, "ci", "submitter")
	endpoints := argOf(t, c.args, "--agent-endpoints")
	rs := startReplicas(t, 3, dsn, ci, true, "--pipeline", pipelineFile, "--artifact-root", c.art,
		"--gitops-remote", c.bare, "--gitops-interval", "1h", "--agent-endpoints", endpoints,
		"--agent-interval", "50ms", "--rollout-interval", "50ms")
	lead, epoch := leaderOf(t, rs, 15*time.Second, 0)
	t.Logf("%s leads at epoch %d", lead.name, epoch)

	// Load through every agent: each replica's splitter divides its own
	// traffic, and the leader judges by its own.
	ctx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, r := range rs {
		load.Go(func() {
			for ctx.Err() == nil {
				if resp, err := hc.Get("http://" + r.agent + "/prod/credit-risk/predict"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				} else {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	t.Cleanup(func() { stopLoad(); load.Wait() })

	via := followers(rs, lead)[0]
	cli, must := clientOf(t, via.api)
	must(0, ci, "models", "create", "credit-risk")
	metrics := filepath.Join("..", "..", "examples", "candidate.json")
	request := func(v string) string {
		t.Helper()
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", filepath.Join(c.art, "model-"+v+".bin"), "--metrics", metrics)
		var p struct {
			ID string `json:"id"`
		}
		json.Unmarshal([]byte(must(0, ci, "request", "credit-risk", v, "--to", "prod", "-o", "json")), &p)
		if p.ID == "" {
			t.Fatalf("request %s: no promotion", v)
		}
		return p.ID
	}
	rolloutOf := func(id string) (string, string) {
		_, out, _ := cli(ci, "rollout", "show", id, "-o", "json")
		var r struct {
			State  string  `json:"state"`
			Step   int     `json:"step"`
			Weight float64 `json:"weight"`
		}
		json.Unmarshal([]byte(out), &r)
		return fmt.Sprintf("%s %d %g", r.State, r.Step+1, r.Weight), out
	}
	logs := func() string {
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "--- %s (%s)\n%s\n", r.name, r.self, tail(r.stderr.String(), 15))
		}
		return b.String()
	}

	id1 := request("1")
	waitFor(t, 30*time.Second, "version 1 to be live", func() (bool, string) {
		s, out := rolloutOf(id1)
		return s == "succeeded 1 1", out + logs()
	})
	id2 := request("2")
	waitFor(t, 30*time.Second, "the canary of 2 to reach step 2", func() (bool, string) {
		s, out := rolloutOf(id2)
		return s == "running 2 0.5", out + logs()
	})

	// kill -9 the leader in the middle of the canary.
	killed := time.Now()
	lead.kill(t)
	lead.dead = true
	next, nextEpoch := leaderOf(t, rs, testLeaseTTL+10*time.Second, epoch)
	t.Logf("%s took over at epoch %d, %s after the leader was killed (lease %s)", next.name, nextEpoch,
		time.Since(killed).Round(10*time.Millisecond), testLeaseTTL)
	if s, out := rolloutOf(id2); !strings.HasPrefix(s, "running 2 ") && !strings.HasPrefix(s, "running 3 ") && s != "succeeded 3 1" {
		t.Fatalf("after the takeover the rollout is %s, want it on from step 2:\n%s", s, out)
	}
	waitFor(t, 45*time.Second, "the canary of 2 to finish under the new leader", func() (bool, string) {
		s, out := rolloutOf(id2)
		return s == "succeeded 3 1", out + logs()
	})

	// Every surviving agent gives 2 all the traffic: the follower's
	// splitter followed the rollout, which only the leader drives.
	serves := func(version string) {
		t.Helper()
		for _, r := range followers(rs, nil) {
			waitFor(t, 20*time.Second, r.name+"'s agent to serve version "+version+" alone", func() (bool, string) {
				seen := map[string]int{}
				for range 40 {
					resp, err := hc.Get("http://" + r.agent + "/prod/credit-risk/predict")
					if err != nil {
						return false, err.Error()
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					seen[string(body)]++
				}
				return seen["version "+version] == 40, fmt.Sprint(seen)
			})
		}
	}
	serves("2")

	// A bad canary under the new leader, requested through a follower.
	cli, must = clientOf(t, followers(rs, next)[0].api)
	id3 := request("3")
	waitFor(t, 60*time.Second, "the canary of 3 to be rolled back", func() (bool, string) {
		s, out := rolloutOf(id3)
		return strings.HasPrefix(s, "rolled_back"), out + logs()
	})
	waitFor(t, 20*time.Second, "the rollback commit", func() (bool, string) {
		got := gittest.Run(t, c.bare, "log", "-1", "--format=%s", "main")
		return got == "rollback credit-risk in prod to 2", got
	})

	// Git: one commit per change — three promotions and the rollback.
	byID, n := commitsByPromotion(t, c.bare)
	if n != 4 || len(byID) != 4 || byID[id1] != 1 || byID[id2] != 1 || byID[id3] != 1 {
		t.Errorf("the branch has %d commits after promote init, by promotion %v; want 4, one each for %s, %s, %s and the rollback",
			n, byID, id1, id2, id3)
	}
	// The registry's live version is what the overlay pins.
	st, err := next.client.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	live := st.Live["prod"]
	if got, want := pinsOf(t, c.bare, "prod")["credit-risk"], "2 "+c.digests["2"]; live.Version != "2" || got != want {
		t.Errorf("prod: the registry has %s live, the overlay pins %q; want 2 and %q", live.Version, got, want)
	}
	// The audit chain verifies, and records each of the rollout's steps
	// and each commit once.
	for _, r := range followers(rs, nil) {
		res, err := r.client.VerifyAudit(t.Context())
		if err != nil || !res.OK || res.Events != res.HeadSeq {
			t.Errorf("audit verify on %s = %+v, %v; want OK with no gap", r.name, res, err)
		}
	}
	count := func(id string) map[string]int {
		events, err := next.client.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: id, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, e := range events {
			n[e.Action+" "+e.Decision]++
		}
		return n
	}
	got := count(id2)
	for _, want := range []string{"rollout.started running", "rollout.step step 1: weight 10%", "rollout.step step 2: weight 50%",
		"rollout.step step 3: weight 100%", "rollout.finished succeeded", "gitops.committed committed"} {
		if got[want] != 1 {
			t.Errorf("the audit log of %s has %q %d times, want once: %v", id2, want, got[want], got)
		}
	}
	for _, id := range []string{id1, id3} {
		if n := count(id)["gitops.committed committed"]; n != 1 {
			t.Errorf("the audit log of %s has %d commits, want 1", id, n)
		}
	}
	// How long the leader took to commit a change approved through a
	// follower, which cued only itself (reported, not asserted).
	for _, id := range []string{id1, id2, id3} {
		events, err := next.client.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: id, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var changed, committed time.Time
		for _, e := range events {
			switch e.Action {
			case promote.ActionLiveChanged:
				changed = e.Time
			case promote.ActionCommitted:
				committed = e.Time
			}
		}
		t.Logf("%s: approved through a follower, committed by the leader %s later", id, committed.Sub(changed).Round(time.Millisecond))
	}
	// And 2 alone again after the rollback.
	serves("2")
}

// addModels declares models beside credit-risk in a promote init
// scaffold: a ConfigMap in the base, and in each overlay of envs (copied
// from copyFrom when missing) an images entry and a model config pinning
// a placeholder version 0, which no registry entry matches.
func addModels(t *testing.T, repo string, envs []string, copyFrom string, models []string) {
	t.Helper()
	appendTo := func(path, text string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	deploy := filepath.Join(repo, "deploy")
	base := filepath.Join(deploy, "base", "kustomization.yaml")
	var resources strings.Builder
	for _, m := range models {
		appendTo(base, fmt.Sprintf("  - name: model-%s\n    literals:\n      - MODEL_NAME=%s\n", m, m))
		fmt.Fprintf(&resources, "  - model-%s.yaml\n", m)
		deployment := fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: model-%s\nspec:\n  selector:\n    matchLabels: {app: model-%s}\n"+
			"  template:\n    metadata:\n      labels: {app: model-%s}\n    spec:\n      containers:\n        - name: model\n          image: registry.example.com/models/%s\n", m, m, m, m)
		if err := os.WriteFile(filepath.Join(deploy, "base", "model-"+m+".yaml"), []byte(deployment), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, []byte(strings.Replace(string(raw), "\nresources:\n", "\nresources:\n"+resources.String(), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, env := range envs {
		dir := filepath.Join(deploy, "overlays", env)
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(deploy, "overlays", copyFrom))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, env := range envs {
		dir := filepath.Join(deploy, "overlays", env)
		kust := filepath.Join(dir, "kustomization.yaml")
		raw, err := os.ReadFile(kust)
		if err != nil {
			t.Fatal(err)
		}
		var images, generators strings.Builder
		for _, m := range models {
			digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("placeholder "+m)))
			fmt.Fprintf(&images, "  - name: registry.example.com/models/%s\n    digest: %s\n", m, digest)
			fmt.Fprintf(&generators, "  - name: model-%s\n    behavior: merge\n    envs:\n      - models/%s.env\n", m, m)
			env := fmt.Sprintf("MODEL_NAME=%s\nMODEL_VERSION=0\nMODEL_URI=s3://models/%s/0/model.bin\nMODEL_DIGEST=%s\n", m, m, digest)
			if err := os.WriteFile(filepath.Join(dir, "models", m+".env"), []byte(env), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		text := strings.Replace(string(raw), "\nimages:\n", "\nimages:\n"+images.String(), 1)
		if err := os.WriteFile(kust, []byte(text+generators.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// replicasPipeline has dev and three environments after it, so that
// three promotions of one version can run at once.
const replicasPipeline = `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: dev
    policy: gate.yaml
  - name: staging
    from: dev
    policy: gate.yaml
  - name: qa
    from: dev
    policy: gate.yaml
  - name: prod
    from: dev
    policy: gate.yaml
`

const replicasPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
`

// TestReplicasLoad sends 100 promotions — 25 models to dev, then to
// staging, qa and prod at once — round-robin to three promote serve
// processes sharing one PostgreSQL database and one GitOps repository,
// with the reconciler's full sweep out of the way (an hour), so that the
// leader hears of most changes through the audit log. Git then holds
// exactly one commit per promotion, each environment's overlay pins what
// the registry says is live, and every promotion's audit events are there
// once, in a chain that verifies.
func TestReplicasLoad(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git CLI is not installed")
	}
	envs := []string{"dev", "staging", "qa", "prod"}
	var models []string
	for i := range 25 {
		models = append(models, fmt.Sprintf("model-%02d", i+1))
	}
	dir := t.TempDir()
	repo, bare := filepath.Join(dir, "repo"), filepath.Join(dir, "gitops.git")
	if code, _, errOut := run(t, "", "init", repo); code != ExitOK {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	addModels(t, repo, envs, "staging", models)
	gittest.Run(t, repo, "init", "-q", "-b", "main")
	gittest.Run(t, repo, "add", "-A")
	gittest.Run(t, repo, "commit", "-q", "-m", "promote init")
	gittest.Run(t, dir, "init", "-q", "--bare", "-b", "main", bare)
	gittest.Run(t, repo, "push", "-q", bare, "main")
	cfgDir := t.TempDir()
	pipelineFile := filepath.Join(cfgDir, "promote.yaml")
	os.WriteFile(pipelineFile, []byte(replicasPipeline), 0o644)
	os.WriteFile(filepath.Join(cfgDir, "gate.yaml"), []byte(replicasPolicy), 0o644)
	ci := tokenOn(t, dsn, pipelineFile, "ci", "submitter")
	rs := startReplicas(t, 3, dsn, ci, false, "--pipeline", pipelineFile, "--gitops-remote", bare, "--gitops-interval", "1h")
	lead, _ := leaderOf(t, rs, 15*time.Second, 0)
	t.Logf("%s leads", lead.name)

	var mu sync.Mutex
	var ids []string
	var next int
	client := func() *httpapi.Client { // round-robin
		mu.Lock()
		defer mu.Unlock()
		next++
		return rs[next%len(rs)].client
	}
	digest := func(m string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("weights of "+m))) }
	promoteTo := func(ctx context.Context, m, env string) error {
		c := client()
		v, err := c.RequestPromotion(ctx, registry.PromoteRequest{Model: m, Version: "1", Environment: env})
		if err != nil {
			return fmt.Errorf("request %s to %s: %w", m, env, err)
		}
		mu.Lock()
		ids = append(ids, v.Promotion.ID)
		mu.Unlock()
		// The pause grows to half a second: 75 promotions polled every
		// 50 ms would keep the two cores busy answering the polls.
		pause := 50 * time.Millisecond
		for ctx.Err() == nil {
			p, err := client().Promotion(ctx, v.Promotion.ID)
			if err != nil {
				return err
			}
			switch p.Promotion.State {
			case promote.StateSucceeded:
				return nil
			case promote.StateApproved, promote.StateCommitted, promote.StateAwaitingApproval:
			default:
				return fmt.Errorf("%s to %s is %s: %s", m, env, p.Promotion.State, p.Promotion.Reason)
			}
			time.Sleep(pause)
			pause = min(2*pause, 500*time.Millisecond)
		}
		return fmt.Errorf("%s to %s: %w", m, env, ctx.Err())
	}
	// A bound on a hang, not a measure: the 100 promotions take 35–60 s
	// on a two-core machine (BENCHMARKS.md, Replicas), and more than
	// twice that when other work shares it.
	ctx, cancel := context.WithTimeout(t.Context(), 360*time.Second)
	defer cancel()
	started := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(models)*len(envs))
	for _, m := range models {
		wg.Go(func() {
			c := client()
			if _, err := c.CreateModel(ctx, m, ""); err != nil {
				errs <- err
				return
			}
			if _, err := c.RegisterVersion(ctx, registry.RegisterRequest{Model: m, Version: "1", ArtifactURI: "s3://models/" + m + "/1/model.bin",
				Digest: digest(m), Metrics: []byte(`{"checks": {"tests_passed": true}}`)}); err != nil {
				errs <- err
				return
			}
			if err := promoteTo(ctx, m, "dev"); err != nil {
				errs <- err
				return
			}
			var after sync.WaitGroup
			for _, env := range envs[1:] {
				after.Go(func() {
					if err := promoteTo(ctx, m, env); err != nil {
						errs <- err
					}
				})
			}
			after.Wait()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		for _, r := range rs {
			t.Logf("--- %s\n%s", r.name, tail(r.stderr.String(), 20))
		}
		t.FailNow()
	}
	t.Logf("%d promotions through %d replicas in %s", len(ids), len(rs), time.Since(started).Round(100*time.Millisecond))

	// Git: exactly one commit per promotion.
	byID, n := commitsByPromotion(t, bare)
	if n != len(ids) || len(byID) != len(ids) {
		t.Errorf("the branch has %d commits for %d promotions, want %d, one each", n, len(byID), len(ids))
	}
	for _, id := range ids {
		if byID[id] != 1 {
			t.Errorf("promotion %s has %d commits, want 1", id, byID[id])
		}
	}
	// Each overlay pins what the registry says is live.
	for _, env := range envs {
		pins := pinsOf(t, bare, env)
		for _, m := range models {
			st, err := rs[0].client.Status(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			live := st.Live[env]
			if want := "1 " + digest(m); live.Version != "1" || live.Commit == "" || pins[m] != want {
				t.Errorf("%s in %s: the registry has %q live at commit %q, the overlay pins %q; want 1, a commit, and %q",
					m, env, live.Version, live.Commit, pins[m], want)
			}
		}
	}
	// The audit chain verifies with no gap, and each promotion has the
	// same events, once each: none missing, none twice.
	res, err := rs[1].client.VerifyAudit(t.Context())
	if err != nil || !res.OK || res.Events != res.HeadSeq {
		t.Errorf("audit verify = %+v, %v; want OK with no gap", res, err)
	}
	var want []string
	for _, id := range ids {
		events, err := rs[2].client.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: id, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range events {
			got = append(got, e.Action+" "+e.Decision)
		}
		slices.Sort(got)
		if want == nil {
			want = got
			for _, a := range []string{"promotion.requested", "gitops.committed committed", "live.changed"} {
				if n := len(slices.DeleteFunc(slices.Clone(got), func(s string) bool { return !strings.HasPrefix(s, a) })); n != 1 {
					t.Errorf("the audit log of %s has %d events %q, want 1: %v", id, n, a, got)
				}
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the audit events of %s differ from those of %s (-first +this):\n%s", id, ids[0], diff)
		}
	}
}
