package gitops

import (
	"testing"
)

// A review branch a person pushed to is theirs after a restart too: the
// new reconciler, which does not remember the pull request, goes through
// the writer's Promote, which finds the pull request open and leaves the
// branch as the person left it, as the running reconciler does.
func TestRestartLeavesAReviewBranchAPersonPushedTo(t *testing.T) {
	const branch = "promote/credit-risk-2-dev"
	gh := &fakeGitHub{t: t}
	rv := openReview(t, gh.handler(), githubWriter)
	bare, srv, f := rv.bare, rv.srv, rv.f
	dir := personClone(t, bare)
	runGit(t, dir, "checkout", "-q", branch)
	runGit(t, dir, "commit", "-q", "--allow-empty", "-m", "note for the reviewers")
	runGit(t, dir, "push", "-q", "origin", branch)
	theirs := runGit(t, bare, "rev-parse", branch)

	restarted := newReconciler(t, githubWriter(t, bare, srv), f.svc)
	if out := reconcile(t, restarted, "", ""); len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview {
		t.Fatalf("Reconcile after the restart = %v, want review", kinds(out))
	}
	if got := runGit(t, bare, "rev-parse", branch); got != theirs {
		t.Errorf("after the restart the review branch moved to %s, want the person's commit %s kept", got, theirs)
	}
	if len(gh.pulls) != 1 {
		t.Errorf("%d pull requests, want 1", len(gh.pulls))
	}
}
