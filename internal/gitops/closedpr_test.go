package gitops

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// A rollback's pull request that a person closes without merging stays
// closed: the reconciler opens no other one, neither at its next passes nor
// after a restart (a new reconciler and writer, as on another replica).
// The rollback stays live in the registry, the difference with the branch
// shows beside it (its commit error names the pull request and what to do)
// and is audited once; once the person reopens the pull request, it is
// followed again.
func TestReconcileClosedRollbackPullRequestStaysClosed(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	f.register(t, "3", "0.92")
	push := newReconciler(t, newWriter(t, bare, nil), f.svc)
	for _, v := range []string{"2", "3"} {
		f.promote(t, v, "dev")
		reconcile(t, push, "credit-risk", "dev")
	}

	gh := &fakeGitHub{t: t}
	srv := httptest.NewServer(gh.handler())
	defer srv.Close()
	r := newReconciler(t, githubWriter(t, bare, srv), f.svc)
	rb, err := f.svc.Rollback(t.Context(), lena, registry.RollbackRequest{Model: "credit-risk", Environment: "dev", Reason: "error rate 5% on the canary"})
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if out := reconcile(t, r, "credit-risk", "dev"); len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview {
		t.Fatalf("Reconcile of the rollback = %v, want review", kinds(out))
	}
	if len(gh.pulls) != 1 {
		t.Fatalf("%d pull requests opened for the rollback, want 1", len(gh.pulls))
	}
	gh.set(1, "closed", false)
	mainBefore := runGit(t, bare, "rev-parse", "main")

	check := func(what string, r *Reconciler) {
		t.Helper()
		out := reconcile(t, r, "credit-risk", "dev")
		if len(out.Actions) != 1 || out.Actions[0].Kind != ActionRetry || !strings.Contains(out.Actions[0].Err.Error(), "closed without merging") {
			t.Fatalf("%s: Reconcile = %v, want retry: the pull request was closed", what, kinds(out))
		}
		if n := len(gh.pulls); n != 1 {
			t.Fatalf("%s: %d pull requests, want still the one the person closed", what, n)
		}
		if st := gh.pulls[0]["state"]; st != "closed" {
			t.Fatalf("%s: the pull request is %v, want closed", what, st)
		}
		if got := runGit(t, bare, "rev-parse", "main"); got != mainBefore {
			t.Fatalf("%s: main moved to %s", what, got)
		}
		l, _ := f.live(t, "dev")
		if l.PromotionID != rb.Live.PromotionID || l.Version != "2" || l.Commit != "" {
			t.Fatalf("%s: live in dev = %+v, want the rollback to 2, waiting for its commit", what, l)
		}
		if l.CommitError == nil || !strings.Contains(l.CommitError.Message, "https://github.example/acme/gitops/pull/1") ||
			!strings.Contains(l.CommitError.Message, "reopen") {
			t.Fatalf("%s: commit error = %+v, want one naming the closed pull request and what to do", what, l.CommitError)
		}
	}
	for i := range 3 {
		check("pass "+string(rune('1'+i)), r)
	}
	check("after a restart", newReconciler(t, githubWriter(t, bare, srv), f.svc))
	var failed int
	for _, a := range f.auditActions(t, rb.Live.PromotionID) {
		if a == promote.ActionUndeliverable+":failed" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("the rollback's audit events %v: want one gitops.failed", f.auditActions(t, rb.Live.PromotionID))
	}

	// The person reopens it: the reconciler follows it again.
	gh.set(1, "open", false)
	r = newReconciler(t, githubWriter(t, bare, srv), f.svc)
	if out := reconcile(t, r, "credit-risk", "dev"); len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview ||
		out.Actions[0].PullRequest == nil || out.Actions[0].PullRequest.Number != 1 {
		t.Fatalf("Reconcile once the pull request is reopened = %v, want review of #1", kinds(out))
	}
	if n := len(gh.pulls); n != 1 {
		t.Fatalf("%d pull requests after the reopening, want 1", n)
	}
	f.verify(t)
}

// The writer opens no other merge request for a change whose merge
// request a person closed, and leaves its review branch alone (so that it
// can still be reopened), even when the branch moved since; a later change
// of the same version is a new request and gets its own.
func TestPromoteDoesNotReopenAClosedMergeRequest(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	gl := &fakeGitLab{t: t}
	srv := httptest.NewServer(gl.handler())
	defer srv.Close()
	w := gitlabWriter(t, bare, srv)
	c := rollback("staging", "1", "2", "rb-7")
	if _, err := w.Promote(ctx, c); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	const branch = "promote/credit-risk-1-staging"
	review := runGit(t, bare, "rev-parse", "refs/heads/"+branch)
	gl.mu.Lock()
	gl.mrs[0]["state"] = "closed"
	gl.mu.Unlock()

	// Someone else moves main meanwhile.
	other := filepath.Join(t.TempDir(), "other")
	runGit(t, t.TempDir(), "clone", "-q", bare, other)
	runGit(t, other, "commit", "-q", "--allow-empty", "-m", "unrelated")
	runGit(t, other, "push", "-q", "origin", "main")

	_, err := w.Promote(ctx, c)
	if !errors.Is(err, errPRClosed) || !permanent(err) || !strings.Contains(err.Error(), "merge_requests/1") ||
		!strings.Contains(err.Error(), branch+" into main") {
		t.Fatalf("Promote after the merge request was closed = %v, want a permanent error naming it and its branches", err)
	}
	if n := len(gl.mrs); n != 1 {
		t.Errorf("%d merge requests, want still 1", n)
	}
	if got := runGit(t, bare, "rev-parse", "refs/heads/"+branch); got != review {
		t.Errorf("the review branch moved to %s, want it left at %s", got, review)
	}

	again := c
	again.PromotionID = "rb-8"
	res, err := w.Promote(ctx, again)
	if err != nil || res.PullRequest == nil || res.PullRequest.Number != 2 {
		t.Fatalf("Promote of a new rollback to the same version = %+v, %v; want merge request 2", res, err)
	}
}
