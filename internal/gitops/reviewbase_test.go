package gitops

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// personClone is a clone of bare with the git CLI, as a person works.
func personClone(t *testing.T, bare string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "person")
	runGit(t, t.TempDir(), "clone", "-q", bare, dir)
	return dir
}

// editOnMain has a person change file (relative to the repository) on
// main with edit, commit it as msg and push it.
func editOnMain(t *testing.T, bare, file, msg string, edit func(string) string) string {
	t.Helper()
	dir := personClone(t, bare)
	path := filepath.Join(dir, file)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(raw))
	if changed == string(raw) {
		t.Fatalf("the edit of %s changed nothing", file)
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "commit", "-q", "-am", msg)
	runGit(t, dir, "push", "-q", "origin", "main")
	return runGit(t, bare, "rev-parse", "main")
}

func githubWriter(t *testing.T, bare string, srv *httptest.Server) *Writer {
	t.Helper()
	return newWriter(t, bare, func(c *Config) {
		c.Mode = ModePullRequest
		c.PullRequest = PullRequestConfig{Provider: ProviderGitHub, BaseURL: srv.URL, Repository: "acme/gitops"}
		c.Credentials = Credentials{Token: apiToken}
		c.HTTPClient = srv.Client()
	})
}

// reviewing is a registry with version 2 promoted to dev and a reconciler
// whose writer opens pull requests on a fake host for a bare remote: its
// first pass has opened one.
type reviewing struct {
	bare string
	srv  *httptest.Server
	f    *regFixture
	view registry.PromotionView
	r    *Reconciler
}

// openReview makes a reviewing on host, the fake GitHub's or GitLab's
// handler, with writer (githubWriter or gitlabWriter).
func openReview(t *testing.T, host http.Handler, writer func(*testing.T, string, *httptest.Server) *Writer) reviewing {
	t.Helper()
	rv := reviewing{bare: newRemote(t, nil), srv: httptest.NewServer(host), f: newRegistry(t)}
	t.Cleanup(rv.srv.Close)
	rv.f.register(t, "2", "0.91")
	rv.view = rv.f.promote(t, "2", "dev")
	rv.r = newReconciler(t, writer(t, rv.bare, rv.srv), rv.f.svc)
	if diff := cmp.Diff([]string{"dev/2:review"}, kinds(reconcile(t, rv.r, "", ""))); diff != "" {
		t.Fatalf("Reconcile (-want +got):\n%s", diff)
	}
	return rv
}

// While a pull request is open, the branch moves under it: a person edits
// the pin lines of the environment by hand (which conflicts with the
// review commit), then another change lands elsewhere. At each pass, the
// reconciler rebuilds the review branch on the new head: the same pull
// request, still open, now merges cleanly; main itself is never pushed.
func TestReconcileRebuildsAReviewBranchWhenTheBranchMoves(t *testing.T) {
	gh := &fakeGitHub{t: t}
	rv := openReview(t, gh.handler(), githubWriter)
	bare, f, view, r := rv.bare, rv.f, rv.view, rv.r
	const branch = "promote/credit-risk-2-dev"
	first := runGit(t, bare, "rev-parse", branch)

	moves := []struct {
		name, file string
		edit       func(string) string
	}{
		{"a person edits dev's pin lines on main", "deploy/overlays/dev/models/credit-risk.env", func(s string) string {
			return strings.Replace(s, "s3://ml-models/credit-risk/1/", "s3://ml-models-eu/credit-risk/1/", 1)
		}},
		{"another change lands on main", "deploy/overlays/staging/values.yaml", func(s string) string {
			return strings.Replace(s, "logLevel: ", "logLevel:  ", 1)
		}},
	}
	for _, m := range moves {
		head := editOnMain(t, bare, m.file, m.name, m.edit)
		for pass := range 2 {
			out := reconcile(t, r, "", "")
			if len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview || out.Actions[0].PullRequest == nil ||
				out.Actions[0].PullRequest.Number != 1 {
				t.Fatalf("%s, pass %d: Reconcile = %v, want review of #1", m.name, pass+1, kinds(out))
			}
		}
		if got := runGit(t, bare, "rev-parse", "main"); got != head {
			t.Fatalf("%s: main moved to %s", m.name, got)
		}
		if got := runGit(t, bare, "rev-parse", branch+"^"); got != head {
			t.Errorf("%s: the review commit's parent = %s, want main's new head %s (the review branch was not rebuilt)", m.name, got, head)
		}
		if got := runGit(t, bare, "rev-list", "--count", "main.."+branch); got != "1" {
			t.Errorf("%s: the review branch is %s commits ahead of main, want 1", m.name, got)
		}
		if n, st := len(gh.pulls), gh.pulls[0]["state"]; n != 1 || st != "open" {
			t.Fatalf("%s: %d pull requests, the first %v; want the one, still open", m.name, n, st)
		}
	}
	if runGit(t, bare, "rev-parse", branch) == first {
		t.Fatal("the review branch never moved")
	}

	// The person merges it: no conflict, and the change is delivered.
	dir := personClone(t, bare)
	runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/"+branch)
	runGit(t, dir, "push", "-q", "origin", "main")
	gh.set(1, "closed", true)
	if diff := cmp.Diff([]string{"dev/2:recorded"}, kinds(reconcile(t, r, "", ""))); diff != "" {
		t.Errorf("Reconcile after the merge (-want +got):\n%s", diff)
	}
	if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded {
		t.Errorf("promotion is %s after the merge, want succeeded", p.State)
	}
	f.verify(t)
}

func gitlabWriter(t *testing.T, bare string, srv *httptest.Server) *Writer {
	t.Helper()
	return newWriter(t, bare, func(c *Config) {
		c.Mode = ModePullRequest
		c.PullRequest = PullRequestConfig{Provider: ProviderGitLab, BaseURL: srv.URL + "/api/v4", Repository: "group/gitops"}
		c.Credentials = Credentials{Token: apiToken}
		c.HTTPClient = srv.Client()
	})
}

// A person deletes the review branch of an open merge request (GitLab
// keeps the merge request open, and it can no longer merge): the
// reconciler pushes the branch again, for the same merge request.
func TestReconcileRestoresADeletedReviewBranch(t *testing.T) {
	gl := &fakeGitLab{t: t}
	rv := openReview(t, gl.handler(), gitlabWriter)
	bare, r := rv.bare, rv.r
	const branch = "promote/credit-risk-2-dev"
	runGit(t, bare, "branch", "-D", branch)

	out := reconcile(t, r, "", "")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview || out.Actions[0].PullRequest == nil ||
		out.Actions[0].PullRequest.Number != 1 {
		t.Fatalf("Reconcile after the branch was deleted = %v, want review of !1", kinds(out))
	}
	if got := runGit(t, bare, "branch", "--list", branch); got == "" {
		t.Fatalf("the review branch %s of the open merge request was not pushed again", branch)
	}
	if got, main := runGit(t, bare, "rev-parse", branch+"^"), runGit(t, bare, "rev-parse", "main"); got != main {
		t.Errorf("the review commit's parent = %s, want main's head %s", got, main)
	}
	if n, st := len(gl.mrs), gl.mrs[0]["state"]; n != 1 || st != "opened" {
		t.Errorf("%d merge requests, the first %v; want the one, still open", n, st)
	}
}

// What the reconciler leaves alone while a pull request waits: a review
// branch a person pushed to, and the branch of a pull request closed (on
// GitHub, deleting the branch closes it) even when main moved since.
func TestReconcileLeavesAReviewBranchAlone(t *testing.T) {
	const branch = "promote/credit-risk-2-dev"
	setup := func(t *testing.T) (bare string, gh *fakeGitHub, f *regFixture, r *Reconciler) {
		gh = &fakeGitHub{t: t}
		rv := openReview(t, gh.handler(), githubWriter)
		return rv.bare, gh, rv.f, rv.r
	}
	moveMain := func(t *testing.T, bare string) {
		editOnMain(t, bare, "deploy/overlays/staging/values.yaml", "tune staging", func(s string) string {
			return strings.Replace(s, "logLevel: ", "logLevel:  ", 1)
		})
	}

	t.Run("a person pushed to it", func(t *testing.T) {
		bare, gh, _, r := setup(t)
		dir := personClone(t, bare)
		runGit(t, dir, "checkout", "-q", branch)
		runGit(t, dir, "commit", "-q", "--allow-empty", "-m", "note for the reviewers")
		runGit(t, dir, "push", "-q", "origin", branch)
		theirs := runGit(t, bare, "rev-parse", branch)
		moveMain(t, bare)
		if out := reconcile(t, r, "", ""); len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview {
			t.Fatalf("Reconcile = %v, want review", kinds(out))
		}
		if got := runGit(t, bare, "rev-parse", branch); got != theirs {
			t.Errorf("the review branch moved to %s, want the person's commit %s kept", got, theirs)
		}
		if len(gh.pulls) != 1 {
			t.Errorf("%d pull requests, want 1", len(gh.pulls))
		}
	})
	t.Run("its pull request was closed and its branch deleted", func(t *testing.T) {
		bare, gh, f, r := setup(t)
		runGit(t, bare, "branch", "-D", branch)
		gh.set(1, "closed", false)
		moveMain(t, bare)
		if out := reconcile(t, r, "", ""); len(out.Actions) != 1 || out.Actions[0].Kind != ActionFailed {
			t.Fatalf("Reconcile = %v, want failed: the pull request was closed", kinds(out))
		}
		if got := runGit(t, bare, "branch", "--list", branch); got != "" {
			t.Errorf("the deleted review branch of a closed pull request was pushed again")
		}
		if len(gh.pulls) != 1 {
			t.Errorf("%d pull requests, want 1", len(gh.pulls))
		}
		if _, ok := f.live(t, "dev"); ok {
			t.Errorf("dev still has a live version after its pull request was closed")
		}
	})
}

// UpdateReview pushes nothing for a pull request closed since the caller
// saw it open, even when the branch moved: GitHub reopens no pull request
// whose branch was force-pushed after the close.
func TestUpdateReviewLeavesAClosedPullRequestsBranch(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	gh := &fakeGitHub{t: t}
	srv := httptest.NewServer(gh.handler())
	defer srv.Close()
	w := githubWriter(t, bare, srv)
	c := promotion("prod", "2", "pr-0042")
	if _, err := w.Promote(ctx, c); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	const branch = "promote/credit-risk-2-prod"
	review := runGit(t, bare, "rev-parse", branch)
	if res, err := w.UpdateReview(ctx, c); err != nil || res.Commit != review || res.Attempts != 0 {
		t.Fatalf("UpdateReview with main unmoved = %+v, %v; want the review commit %s, no push", res, err, review)
	}
	gh.set(1, "closed", false)
	editOnMain(t, bare, "deploy/overlays/staging/values.yaml", "tune staging", func(s string) string {
		return strings.Replace(s, "logLevel: ", "logLevel:  ", 1)
	})
	if _, err := w.UpdateReview(ctx, c); !errors.Is(err, errPRClosed) || !permanent(err) {
		t.Fatalf("UpdateReview of a closed pull request = %v, want it closed", err)
	}
	if got := runGit(t, bare, "rev-parse", branch); got != review {
		t.Errorf("the closed pull request's branch moved to %s, want %s", got, review)
	}
	if _, err := newWriter(t, bare, nil).UpdateReview(ctx, c); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("UpdateReview in push mode = %v, want invalid", err)
	}
}
