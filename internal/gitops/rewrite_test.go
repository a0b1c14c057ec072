package gitops

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// The branch is force-pushed back to an older commit (its history
// rewritten) while a version is live: the reconciler commits the live
// version again, and records that new commit, with an audit event naming
// the one the branch lost, so that the registry names a commit the branch
// holds and the audit trail has every commit Promote pushed. It used to
// keep the lost commit, and the new one was in no record.
func TestReconcileRecordsTheCommitAfterARewrite(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	for _, v := range []string{"2", "3"} {
		f.register(t, v, "0.9"+v)
	}
	// A clock that moves: the commit made again differs from the lost one.
	clock := testNow
	w := newWriter(t, bare, func(c *Config) {
		c.Now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	})
	r := newReconciler(t, w, f.svc)
	var promotionID string
	for _, v := range []string{"2", "3"} {
		promotionID = f.promote(t, v, "dev").Promotion.ID
		reconcile(t, r, "credit-risk", "dev")
	}
	lost, _ := f.live(t, "dev")
	if lost.Commit != runGit(t, bare, "rev-parse", "main") {
		t.Fatalf("live in dev = %+v, want its commit at the head of main", lost)
	}

	runGit(t, bare, "update-ref", "refs/heads/main", "main^") // git push --force of main^
	out := reconcile(t, r, "credit-risk", "dev")
	head := runGit(t, bare, "rev-parse", "main")
	if diff := cmp.Diff([]string{"dev/3:committed"}, kinds(out)); diff != "" || out.Actions[0].Commit != head || head == lost.Commit {
		t.Fatalf("reconcile after the rewrite = %v at %s, want 3 committed again at the new head %s (-want +got):\n%s",
			kinds(out), out.Actions[0].Commit, head, diff)
	}
	if got := runGit(t, bare, "log", "-1", "--format=%(trailers:key=Promotion-Id,valueonly)", "main"); strings.TrimSpace(got) != promotionID {
		t.Errorf("the new head carries Promotion-Id %q, want %s", got, promotionID)
	}
	if l, _ := f.live(t, "dev"); l.Version != "3" || l.Commit != head {
		t.Errorf("live in dev = %s at commit %s, want 3 at the new head %s, not the lost %s", l.Version, l.Commit, head, lost.Commit)
	}
	events, err := f.svc.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: promotionID, Action: promote.ActionCommitted})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || !strings.Contains(string(events[0].Reasons), head) || !strings.Contains(string(events[0].Reasons), lost.Commit) {
		t.Errorf("gitops.committed events of %s = %+v, want two, the newest naming %s and the lost %s", promotionID, events, head, lost.Commit)
	}

	// In sync again: nothing more is committed nor recorded.
	n := commitCount(t, bare, "main")
	if out := reconcile(t, r, "credit-risk", "dev"); len(out.Actions) != 0 || out.InSync != 1 {
		t.Errorf("reconcile once more = %v, want in sync", kinds(out))
	}
	if got := commitCount(t, bare, "main"); got != n {
		t.Errorf("main has %d commits, want still %d", got, n)
	}
	f.verify(t)
}
