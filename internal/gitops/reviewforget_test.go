package gitops

import (
	"strings"
	"testing"
)

// Once a pull request's change is recorded as delivered, the reconciler
// forgets the pull request: it keeps nothing per merged change, and when
// the overlay is later edited away from the live version, the next pass
// delivers it again at once, instead of polling the old, merged pull
// request first.
func TestReconcileForgetsAMergedPullRequest(t *testing.T) {
	gh := &fakeGitHub{t: t}
	rv := openReview(t, gh.handler(), githubWriter)
	bare, r := rv.bare, rv.r
	const branch = "promote/credit-risk-2-dev"
	dir := personClone(t, bare)
	runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/"+branch)
	runGit(t, dir, "push", "-q", "origin", "main")
	gh.set(1, "closed", true)
	if out := reconcile(t, r, "", ""); len(out.Actions) != 1 || out.Actions[0].Kind != ActionRecorded {
		t.Fatalf("Reconcile after the merge = %v, want recorded", kinds(out))
	}
	r.mu.Lock()
	n := len(r.reviews)
	r.mu.Unlock()
	if n != 0 {
		t.Errorf("the reconciler remembers %d pull requests after the merge was recorded, want 0", n)
	}

	// A person pins version 1, which the registry has, by hand.
	v1 := rv.f.register(t, "1", "0.90")
	v2, err := rv.f.svc.Version(t.Context(), "credit-risk", "2")
	if err != nil {
		t.Fatal(err)
	}
	editOnMain(t, bare, "deploy/overlays/dev/models/credit-risk.env", "pin by hand", func(s string) string {
		s = strings.Replace(s, "MODEL_VERSION=2", "MODEL_VERSION=1", 1)
		return strings.Replace(s, "MODEL_DIGEST="+v2.Digest, "MODEL_DIGEST="+v1.Digest, 1)
	})
	out := reconcile(t, r, "", "")
	if len(out.Actions) != 1 || out.Actions[0].Kind != ActionReview || out.Actions[0].PullRequest == nil ||
		out.Actions[0].PullRequest.Number != 2 {
		t.Errorf("Reconcile after the overlay was edited = %v, want review of a new pull request, #2", kinds(out))
	}
}
