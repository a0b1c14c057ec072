package gitops

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// A pull request merged while the reconciler was down, however it was
// merged, is recognised at the restart (a new reconciler, and a writer on
// the same working directory): the change is recorded as delivered, with
// the commit on main that carries it, and nothing is committed or opened.
func TestReconcileRecognisesAPullRequestMergedWhileDown(t *testing.T) {
	const branch = "promote/credit-risk-2-dev"
	tests := []struct {
		name string
		// merge merges the review branch into main in the person's
		// clone dir.
		merge func(t *testing.T, dir string)
		// atReview is whether the change is recorded at the review
		// commit (which a merge commit keeps), else at the squashed or
		// rebased commit, found by its trailer or not.
		atReview bool
		// later is whether a person commits something else on main
		// after the merge: the change is still recorded at the merge's
		// commit, not at main's head.
		later bool
	}{
		{"merge commit", func(t *testing.T, dir string) {
			runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/"+branch)
		}, true, false},
		{"squash with the commit's message", func(t *testing.T, dir string) {
			msg := runGit(t, dir, "log", "-1", "--format=%B", "origin/"+branch)
			runGit(t, dir, "merge", "-q", "--squash", "origin/"+branch)
			runGitInput(t, dir, msg, "commit", "-q", "-F", "-")
		}, false, false},
		{"squash with the pull request's title", func(t *testing.T, dir string) {
			runGit(t, dir, "merge", "-q", "--squash", "origin/"+branch)
			runGit(t, dir, "commit", "-q", "-m", "promote credit-risk 2 to dev (#1)")
		}, false, false},
		{"squash with the pull request's title, then another commit", func(t *testing.T, dir string) {
			runGit(t, dir, "merge", "-q", "--squash", "origin/"+branch)
			runGit(t, dir, "commit", "-q", "-m", "promote credit-risk 2 to dev (#1)")
		}, false, true},
		{"rebase", func(t *testing.T, dir string) {
			runGit(t, dir, "cherry-pick", "origin/"+branch)
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bare := newRemote(t, nil)
			gh := &fakeGitHub{t: t}
			srv := httptest.NewServer(gh.handler())
			defer srv.Close()
			f := newRegistry(t)
			f.register(t, "2", "0.91")
			view := f.promote(t, "2", "dev")
			dir := filepath.Join(t.TempDir(), "clone")
			writer := func() *Writer {
				return newWriter(t, bare, func(c *Config) {
					c.Dir = dir
					c.Mode = ModePullRequest
					c.PullRequest = PullRequestConfig{Provider: ProviderGitHub, BaseURL: srv.URL, Repository: "acme/gitops"}
					c.Credentials = Credentials{Token: apiToken}
					c.HTTPClient = srv.Client()
				})
			}
			if out := reconcile(t, newReconciler(t, writer(), f.svc), "", ""); len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview {
				t.Fatalf("Reconcile = %v, want review", kinds(out))
			}

			// Down: a person moves main, then merges the pull request.
			editOnMain(t, bare, "deploy/overlays/staging/values.yaml", "tune staging", func(s string) string {
				return s + "# tuned\n"
			})
			person := personClone(t, bare)
			tt.merge(t, person)
			runGit(t, person, "push", "-q", "origin", "main")
			gh.set(1, "closed", true)
			head := runGit(t, bare, "rev-parse", "main")
			if tt.later {
				editOnMain(t, bare, "deploy/overlays/dev/values.yaml", "tune dev", func(s string) string {
					return s + "# tuned\n"
				})
			}
			n := commitCount(t, bare, "main")

			out := reconcile(t, newReconciler(t, writer(), f.svc), "", "")
			if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRecorded {
				t.Fatalf("Reconcile after the restart = %v, want recorded", kinds(out))
			}
			want := head
			if tt.atReview {
				want = runGit(t, bare, "rev-parse", "refs/heads/"+branch)
			}
			l, _ := f.live(t, "dev")
			if p := f.promotion(t, view.Promotion.ID); p.State != promote.StateSucceeded || l.Commit != want {
				t.Errorf("after the restart: promotion %s, live commit %q; want succeeded at %s", p.State, l.Commit, want)
			}
			if got := commitCount(t, bare, "main"); got != n || len(gh.pulls) != 1 {
				t.Errorf("main has %d commits (want %d), %d pull requests (want 1)", got, n, len(gh.pulls))
			}
			if out := reconcile(t, newReconciler(t, writer(), f.svc), "", ""); out.InSync != 1 || len(out.Actions) != 0 {
				t.Errorf("Reconcile again = %d in sync, %v; want 1 and nothing", out.InSync, kinds(out))
			}
			f.verify(t)
		})
	}
}
