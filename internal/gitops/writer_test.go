package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/promote"
)

var testNow = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return gittest.Run(t, dir, args...)
}

func runGitInput(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	return gittest.RunInput(t, dir, stdin, args...)
}

// newRemote returns a bare repository whose main branch holds the
// scaffolded example repository, after mutate (when not nil) changed it.
func newRemote(t *testing.T, mutate func(dir string)) string {
	t.Helper()
	return gittest.Remote(t, mutate)
}

func newWriter(t *testing.T, remote string, configure func(*Config)) *Writer {
	t.Helper()
	cfg := Config{
		Remote:      remote,
		Dir:         filepath.Join(t.TempDir(), "clone"),
		AuthorName:  "Promote Bot",
		AuthorEmail: "promote@example.com",
		Now:         func() time.Time { return testNow },
		Backoff:     time.Millisecond,
	}
	if configure != nil {
		configure(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

func commitCount(t *testing.T, bare, rev string) int {
	t.Helper()
	var n int
	fmt.Sscan(runGit(t, bare, "rev-list", "--count", rev), &n)
	return n
}

// cliTrailers returns the trailers of rev as git interpret-trailers
// parses them.
func cliTrailers(t *testing.T, bare, rev string) []string {
	t.Helper()
	msg := runGit(t, bare, "log", "-1", "--format=%B", rev)
	out := runGitInput(t, bare, msg+"\n", "interpret-trailers", "--parse")
	return strings.Split(out, "\n")
}

func wantTrailers(c Change) []string {
	var out []string
	for _, tr := range c.Trailers() {
		out = append(out, tr.Key+": "+tr.Value)
	}
	return out
}

// pinsOnBranch clones the remote with the git CLI and reads env's pins.
func pinsOnBranch(t *testing.T, bare, env string) map[string]overlay.Pin {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "check")
	runGit(t, t.TempDir(), "clone", "-q", bare, dir)
	pins, err := overlay.Pins(dir, env)
	if err != nil {
		t.Fatalf("Pins(%s): %v", env, err)
	}
	return pins
}

func TestPromoteLeavesOneCommit(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	w := newWriter(t, bare, nil)
	before := runGit(t, bare, "rev-parse", "main")
	n := commitCount(t, bare, "main")

	c := promotion("prod", "2", "pr-0042")
	res, err := w.Promote(ctx, c)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	head := runGit(t, bare, "rev-parse", "main")
	want := Result{Commit: head, Branch: "main", Attempts: 1}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Promote result (-want +got):\n%s", diff)
	}
	if got := commitCount(t, bare, "main"); got != n+1 {
		t.Errorf("main has %d commits, want %d", got, n+1)
	}
	if got := runGit(t, bare, "rev-parse", "main^"); got != before {
		t.Errorf("parent of the promotion = %s, want the previous head %s", got, before)
	}
	if got, want := strings.TrimSpace(runGit(t, bare, "log", "-1", "--format=%B", "main")), strings.TrimSpace(c.Message("deploy/overlays/prod")); got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
	if diff := cmp.Diff(wantTrailers(c), cliTrailers(t, bare, "main")); diff != "" {
		t.Errorf("git interpret-trailers --parse (-want +got):\n%s", diff)
	}
	if got, want := runGit(t, bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%at", "main"),
		fmt.Sprintf("Promote Bot <promote@example.com>|Promote Bot <promote@example.com>|%d", testNow.Unix()); got != want {
		t.Errorf("author|committer|time = %q, want %q", got, want)
	}
	for _, f := range strings.Split(runGit(t, bare, "show", "--name-only", "--format=", "main"), "\n") {
		if !strings.HasPrefix(f, "deploy/overlays/prod/") {
			t.Errorf("the promotion to prod changed %s, outside deploy/overlays/prod", f)
		}
	}
	if got := pinsOnBranch(t, bare, "prod")["credit-risk"]; got != c.Pin {
		t.Errorf("prod pins %+v, want %+v", got, c.Pin)
	}
}

func TestPromoteIsIdempotent(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	w := newWriter(t, bare, nil)
	c := promotion("staging", "2", "pr-0007")
	first, err := w.Promote(ctx, c)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	n := commitCount(t, bare, "main")

	// Again through the same writer, and through a fresh one (a restart
	// that lost its working directory): both find the pin in place.
	for name, w := range map[string]*Writer{"same writer": w, "fresh writer": newWriter(t, bare, nil)} {
		t.Run(name, func(t *testing.T) {
			res, err := w.Promote(ctx, c)
			if err != nil {
				t.Fatalf("Promote again: %v", err)
			}
			want := Result{NoChange: true, Head: first.Commit, Commit: first.Commit, Branch: "main", Attempts: 1}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("Promote again (-want +got):\n%s", diff)
			}
			if got := commitCount(t, bare, "main"); got != n {
				t.Errorf("main has %d commits after a repeated promotion, want %d", got, n)
			}
		})
	}
}

func TestRollbackLeavesOneCommit(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	w := newWriter(t, bare, nil)
	for _, c := range []Change{promotion("prod", "1", "pr-1"), promotion("prod", "2", "pr-2")} {
		if _, err := w.Promote(ctx, c); err != nil {
			t.Fatalf("Promote %s: %v", c.Pin.Version, err)
		}
	}
	bad := runGit(t, bare, "rev-parse", "main")
	n := commitCount(t, bare, "main")

	rb := rollback("prod", "1", "2", "rb-1")
	res, err := w.Promote(ctx, rb)
	if err != nil {
		t.Fatalf("Promote(rollback): %v", err)
	}
	if res.NoChange || res.Commit != runGit(t, bare, "rev-parse", "main") {
		t.Errorf("rollback result %+v; main is at %s", res, runGit(t, bare, "rev-parse", "main"))
	}
	if got := commitCount(t, bare, "main"); got != n+1 {
		t.Errorf("main has %d commits after the rollback, want %d", got, n+1)
	}
	// A new commit on top: the bad version's commit stays in history.
	if got := runGit(t, bare, "rev-parse", "main^"); got != bad {
		t.Errorf("the rollback's parent is %s, want the promotion it undoes %s", got, bad)
	}
	if got := runGit(t, bare, "log", "-1", "--format=%s", "main"); got != "rollback credit-risk in prod to 1" {
		t.Errorf("subject = %q", got)
	}
	got := cliTrailers(t, bare, "main")
	if diff := cmp.Diff(wantTrailers(rb), got); diff != "" {
		t.Errorf("git interpret-trailers --parse (-want +got):\n%s", diff)
	}
	for _, want := range []string{"Rollback-Of: 2", "Reason: canary at 10%: latency_p95_ms 240 > 180 for 3 analysis intervals"} {
		if !contains(got, want) {
			t.Errorf("trailers %q lack %q", got, want)
		}
	}
	if got := pinsOnBranch(t, bare, "prod")["credit-risk"]; got != rb.Pin {
		t.Errorf("prod pins %+v after the rollback, want %+v", got, rb.Pin)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCrashBeforePushIsRedone(t *testing.T) {
	bare := newRemote(t, nil)
	dir := filepath.Join(t.TempDir(), "clone")
	w := newWriter(t, bare, func(c *Config) { c.Dir = dir })
	n := commitCount(t, bare, "main")
	c := promotion("prod", "2", "pr-9")

	// The process dies between the commit and the push.
	ctx, cancel := context.WithCancel(t.Context())
	w.beforePush = cancel
	if _, err := w.Promote(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Promote with the push interrupted = %v, want context.Canceled", err)
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Fatalf("main has %d commits after an interrupted push, want %d", got, n)
	}
	// It also left debris in the working directory.
	if err := os.WriteFile(filepath.Join(dir, "debris.txt"), []byte("half-written"), 0o644); err != nil {
		t.Fatal(err)
	}
	kust := filepath.Join(dir, "deploy", "overlays", "prod", "kustomization.yaml")
	f, err := os.OpenFile(kust, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n# debris\n")
	f.Close()

	// At restart the reconciler asks again, in the same directory.
	w2 := newWriter(t, bare, func(c *Config) { c.Dir = dir })
	res, err := w2.Promote(t.Context(), c)
	if err != nil {
		t.Fatalf("Promote after restart: %v", err)
	}
	if res.NoChange {
		t.Fatal("Promote after a crash before the push = NoChange, want a commit")
	}
	if got := commitCount(t, bare, "main"); got != n+1 {
		t.Errorf("main has %d commits, want %d", got, n+1)
	}
	files := runGit(t, bare, "show", "--name-only", "--format=", "main")
	if strings.Contains(files, "debris.txt") {
		t.Errorf("the commit carries debris of the crash: %s", files)
	}
	if strings.Contains(runGit(t, bare, "show", "main:deploy/overlays/prod/kustomization.yaml"), "# debris") {
		t.Error("the commit carries the crash's edit of kustomization.yaml")
	}
}

func TestFindCommitAndPinned(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	w := newWriter(t, bare, nil)
	c := promotion("dev", "1", "pr-dev-1")
	res, err := w.Promote(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// A reader with its own clone sees what the writer pushed.
	r := newWriter(t, bare, nil)
	hash, ok, err := r.FindCommit(ctx, "pr-dev-1")
	if err != nil || !ok || hash != res.Commit {
		t.Errorf("FindCommit(pr-dev-1) = %s, %v, %v; want %s, true", hash, ok, err, res.Commit)
	}
	if _, ok, err := r.FindCommit(ctx, "pr-never"); ok || err != nil {
		t.Errorf("FindCommit(pr-never) = %v, %v; want false, nil", ok, err)
	}
	pins, err := r.Pinned(ctx, "dev")
	if err != nil {
		t.Fatalf("Pinned(dev): %v", err)
	}
	if got := pins["credit-risk"]; got != c.Pin {
		t.Errorf("Pinned(dev)[credit-risk] = %+v, want %+v", got, c.Pin)
	}
	pins, err = r.Pinned(ctx, "prod")
	if err != nil {
		t.Fatalf("Pinned(prod): %v", err)
	}
	if got, ok := pins["credit-risk"]; ok && got == c.Pin {
		t.Errorf("Pinned(prod) shows dev's promotion %+v", got)
	}
}

func TestPromoteRetriesWhenAnotherWriterWins(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	a := newWriter(t, bare, nil)
	b := newWriter(t, bare, nil)
	other := promotion("staging", "2", "pr-b")
	var once sync.Once
	a.beforePush = func() {
		once.Do(func() {
			if _, err := b.Promote(ctx, other); err != nil {
				t.Errorf("the other writer's Promote: %v", err)
			}
		})
	}
	n := commitCount(t, bare, "main")
	c := promotion("prod", "2", "pr-a")
	res, err := a.Promote(ctx, c)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if res.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2 (one lost race)", res.Attempts)
	}
	if got := commitCount(t, bare, "main"); got != n+2 {
		t.Errorf("main has %d commits, want %d", got, n+2)
	}
	if got := runGit(t, bare, "log", "-1", "--format=%(trailers:key=Promotion-Id,valueonly)", "main^"); strings.TrimSpace(got) != "pr-b" {
		t.Errorf("the commit under ours is %q, want the other writer's pr-b", got)
	}
	if got := pinsOnBranch(t, bare, "staging")["credit-risk"]; got != other.Pin {
		t.Errorf("staging pins %+v, want %+v", got, other.Pin)
	}
	if got := pinsOnBranch(t, bare, "prod")["credit-risk"]; got != c.Pin {
		t.Errorf("prod pins %+v, want %+v", got, c.Pin)
	}
}

func TestPromoteGivesUpAfterMaxAttempts(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	a := newWriter(t, bare, func(c *Config) { c.MaxAttempts = 3 })
	b := newWriter(t, bare, nil)
	v := 0
	a.beforePush = func() { // someone always gets there first
		v++
		if _, err := b.Promote(ctx, promotion("dev", fmt.Sprint(10+v), fmt.Sprint("pr-b-", v))); err != nil {
			t.Errorf("the other writer's Promote: %v", err)
		}
	}
	_, err := a.Promote(ctx, promotion("prod", "2", "pr-a"))
	if !errors.Is(err, ErrConflict) || promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("Promote = %v, want ErrConflict with code conflict", err)
	}
	if v != 3 {
		t.Errorf("lost %d races, want 3 attempts", v)
	}
	if _, ok, _ := b.FindCommit(ctx, "pr-a"); ok {
		t.Error("the abandoned change was pushed")
	}
}

// TestConcurrentWritersLandEveryChangeOnce runs one writer per environment,
// each with its own clone, promoting several versions in turn, all at once
// against one bare remote.
func TestConcurrentWritersLandEveryChangeOnce(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	envs := []string{"dev", "staging", "prod"}
	const versions = 3
	n := commitCount(t, bare, "main")
	var wg sync.WaitGroup
	for _, env := range envs {
		w := newWriter(t, bare, func(c *Config) { c.MaxAttempts = 20; c.Backoff = 5 * time.Millisecond })
		wg.Go(func() {
			for v := 1; v <= versions; v++ {
				c := promotion(env, fmt.Sprint(v), fmt.Sprintf("pr-%s-%d", env, v))
				c.Pin.Digest = fmt.Sprintf("sha256:%064d", v)
				if _, err := w.Promote(ctx, c); err != nil {
					t.Errorf("Promote %s %d: %v", env, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got, want := commitCount(t, bare, "main"), n+len(envs)*versions; got != want {
		t.Errorf("main has %d commits, want %d", got, want)
	}
	if merges := runGit(t, bare, "rev-list", "--merges", "--count", "main"); merges != "0" {
		t.Errorf("history has %s merge commits, want a straight line", merges)
	}
	seen := map[string]int{}
	for _, id := range strings.Fields(runGit(t, bare, "log", "--format=%(trailers:key=Promotion-Id,valueonly)", "main")) {
		seen[id]++
	}
	for _, env := range envs {
		for v := 1; v <= versions; v++ {
			if id := fmt.Sprintf("pr-%s-%d", env, v); seen[id] != 1 {
				t.Errorf("%s is in %d commits, want exactly 1", id, seen[id])
			}
		}
		if got := pinsOnBranch(t, bare, env)["credit-risk"].Version; got != fmt.Sprint(versions) {
			t.Errorf("%s pins version %q, want %d", env, got, versions)
		}
	}
}

func TestBrokenOverlayBlocks(t *testing.T) {
	bare := newRemote(t, func(dir string) {
		// Every overlay builds on deploy/base: without it none renders.
		if err := os.RemoveAll(filepath.Join(dir, "deploy", "base")); err != nil {
			t.Fatal(err)
		}
	})
	w := newWriter(t, bare, nil)
	n := commitCount(t, bare, "main")
	_, err := w.Promote(t.Context(), promotion("prod", "2", "pr-broken"))
	if !errors.Is(err, ErrRender) {
		t.Fatalf("Promote on a broken overlay = %v, want ErrRender", err)
	}
	if promote.ErrorCode(err) != promote.Blocked {
		t.Errorf("ErrorCode = %q, want %q", promote.ErrorCode(err), promote.Blocked)
	}
	var re *overlay.RenderError
	if !errors.As(err, &re) || re.Env != "prod" || re.Err == nil {
		t.Errorf("error %v does not wrap an *overlay.RenderError for prod with kustomize's error", err)
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Errorf("main has %d commits after a blocked promotion, want %d", got, n)
	}
	if strings.Contains(err.Error(), w.cfg.Dir) || !strings.Contains(err.Error(), "deploy/") {
		t.Errorf("error %q names the writer's clone %s, want paths in the repository (deploy/…)", err, w.cfg.Dir)
	}
}

// An overlay that cannot take a pin is named by its path in the
// repository, not in the writer's clone, and still matches ErrOverlay.
func TestOverlayErrorsNameRepositoryPaths(t *testing.T) {
	bare := newRemote(t, func(dir string) {
		if err := os.Remove(filepath.Join(dir, "deploy", "overlays", "prod", "kustomization.yaml")); err != nil {
			t.Fatal(err)
		}
	})
	w := newWriter(t, bare, nil)
	_, err := w.Promote(t.Context(), promotion("prod", "2", "pr-1"))
	if !errors.Is(err, ErrOverlay) {
		t.Fatalf("Promote into an overlay without its kustomization = %v, want ErrOverlay", err)
	}
	if want := "deploy/overlays/prod has no kustomization.yaml"; !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), w.cfg.Dir) {
		t.Errorf("error %q, want it to say %q without the clone's directory %s", err, want, w.cfg.Dir)
	}
	each, _, err := w.PinnedEach(t.Context(), []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(each[0].Err); !errors.Is(each[0].Err, ErrOverlay) || strings.Contains(got, w.cfg.Dir) || !strings.Contains(got, "deploy/overlays/prod") {
		t.Errorf("PinnedEach's error for prod = %q, want ErrOverlay naming deploy/overlays/prod without the clone's directory", got)
	}
}

func TestRemoteWithoutBranch(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git CLI is not installed")
	}
	bare := filepath.Join(t.TempDir(), "empty.git")
	runGit(t, t.TempDir(), "init", "-q", "--bare", "-b", "main", bare)
	w := newWriter(t, bare, nil)
	_, err := w.Promote(t.Context(), promotion("prod", "2", "p"))
	if promote.ErrorCode(err) != promote.NotFound || !strings.Contains(err.Error(), "no branch main") {
		t.Errorf("Promote to an empty remote = %v, want not_found naming the branch", err)
	}
}

func TestPromoteRejectsBadChanges(t *testing.T) {
	bare := newRemote(t, nil)
	w := newWriter(t, bare, nil)
	tests := []struct {
		name   string
		change func(*Change)
		want   string
	}{
		{"bad environment", func(c *Change) { c.Environment = "../prod" }, "environment"},
		{"empty model", func(c *Change) { c.Pin.Model = "" }, "model name is empty"},
		{"bad version", func(c *Change) { c.Pin.Version = "2 beta" }, "version"},
		{"digest not sha256", func(c *Change) { c.Pin.Digest = "md5:abc" }, "digest"},
		{"no artifact URI", func(c *Change) { c.Pin.URI = "" }, "artifact URI"},
		{"upper-case digest", func(c *Change) { c.Pin.Digest = strings.ToUpper(digest1) }, "digest"},
		{"no promotion id", func(c *Change) { c.PromotionID = "" }, "promotion id"},
		{"promotion id with a new line", func(c *Change) { c.PromotionID = "a\nModel: x" }, "promotion id"},
		{"rollback without reason", func(c *Change) { c.RollbackOf = "1"; c.Reason = " " }, "needs a reason"},
		{"rollback of a bad version", func(c *Change) { c.RollbackOf = "a/b"; c.Reason = "r" }, "rolled-back version"},
	}
	n := commitCount(t, bare, "main")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := promotion("prod", "2", "pr-1")
			tt.change(&c)
			_, err := w.Promote(t.Context(), c)
			if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Promote = %v, want invalid mentioning %q", err, tt.want)
			}
		})
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Errorf("bad changes made %d commits", got-n)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"remote is empty", "dir is empty"}},
		{"bad branch", Config{Remote: "/r", Dir: "/d", Branch: "main..x"}, []string{"branch"}},
		{"bad mode", Config{Remote: "/r", Dir: "/d", Mode: "email"}, []string{`mode "email"`}},
		{"pull request without provider", Config{Remote: "/r", Dir: "/d", Mode: ModePullRequest},
			[]string{"provider", "API token"}},
		{"github repository not owner/name", Config{Remote: "/r", Dir: "/d", Mode: ModePullRequest,
			PullRequest: PullRequestConfig{Provider: ProviderGitHub, Repository: "gitops"}, Credentials: Credentials{Token: "t"}},
			[]string{"owner/name"}},
		{"bad base URL", Config{Remote: "/r", Dir: "/d", Mode: ModePullRequest,
			PullRequest: PullRequestConfig{Provider: ProviderGitLab, Repository: "7", BaseURL: "gitlab.example.com"}, Credentials: Credentials{Token: "t"}},
			[]string{"base URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if promote.ErrorCode(err) != promote.Invalid {
				t.Fatalf("New = %v, want invalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestNewRefusesAForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Remote: "/r", Dir: dir}); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("New in a non-empty, non-Git directory = %v, want invalid", err)
	}
}

// A refusal from BeforePush (a deposed leader's fence) stops the change
// before its push: the branch does not move, and the error carries the
// refusal's code.
func TestBeforePushRefusalPushesNothing(t *testing.T) {
	bare := newRemote(t, nil)
	deposed := promote.Errorf(promote.Conflict, "deposed: lease %q is held by replica-b at epoch 2", "controllers")
	calls := 0
	w := newWriter(t, bare, func(c *Config) {
		c.BeforePush = func(context.Context) error { calls++; return deposed }
	})
	n := commitCount(t, bare, "main")
	_, err := w.Promote(t.Context(), promotion("prod", "2", "pr-9"))
	if !errors.Is(err, deposed) || promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("Promote with BeforePush refusing = %v, want the refusal (Conflict)", err)
	}
	if calls != 1 {
		t.Errorf("BeforePush called %d times, want 1", calls)
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Errorf("main has %d commits after a refused push, want %d", got, n)
	}
}
