package gitops

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// A review branch left over from an earlier promotion of the same version
// to the same environment (its pull request merged, the branch kept, a
// person's commit on top of it, then the version rolled back on main) is
// not a person's work on this promotion: a new promotion pushes its own
// commit to it, as before the branch was left to people, rather than
// opening a pull request on the old, merged branch.
func TestPromoteReviewReplacesAnEarlierPromotionsReviewBranch(t *testing.T) {
	const branch = "promote/credit-risk-2-prod"
	bare := newRemote(t, nil)
	gh := &fakeGitHub{t: t}
	srv := httptest.NewServer(gh.handler())
	t.Cleanup(srv.Close)
	w := githubWriter(t, bare, srv)
	if _, err := w.Promote(t.Context(), promotion("prod", "2", "pr-1")); err != nil {
		t.Fatalf("Promote pr-1: %v", err)
	}
	dir := personClone(t, bare)
	runGit(t, dir, "checkout", "-q", branch)
	runGit(t, dir, "commit", "-q", "--allow-empty", "-m", "note for the reviewers")
	runGit(t, dir, "push", "-q", "origin", branch)
	runGit(t, dir, "checkout", "-q", "main")
	runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", branch)
	runGit(t, dir, "push", "-q", "origin", "main")
	gh.set(1, "closed", true)
	// The version is taken out of prod on main again (a rollback).
	runGit(t, dir, "revert", "--no-edit", "-m", "1", "HEAD")
	runGit(t, dir, "push", "-q", "origin", "main")

	res, err := w.Promote(t.Context(), promotion("prod", "2", "pr-2"))
	if err != nil {
		t.Fatalf("Promote pr-2: %v", err)
	}
	head := runGit(t, bare, "rev-parse", branch)
	if res.Commit != head {
		t.Errorf("Promote pr-2: commit %s, want the review branch's head %s", res.Commit, head)
	}
	if msg := runGit(t, bare, "log", "-1", "--format=%B", branch); !strings.Contains(msg, TrailerPromotionID+": pr-2") {
		t.Errorf("the review branch's head after Promote pr-2 is %q, want pr-2's commit", msg)
	}
	if parent, main := runGit(t, bare, "rev-parse", branch+"^"), runGit(t, bare, "rev-parse", "main"); parent != main {
		t.Errorf("pr-2's review commit is on %s, want on main's head %s", parent, main)
	}
}
