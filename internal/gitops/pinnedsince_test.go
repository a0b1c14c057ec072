package gitops

import (
	"testing"

	"github.com/promote-ml/promote/promote"
)

// PinnedSince names the commit that brought the branch's pin of a model in
// an environment, past the commits on top of it that changed something
// else; the branch's head for a model the overlay does not pin, and
// nothing for a commit that is not a full hash.
func TestPinnedSince(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	w := newWriter(t, bare, nil)
	res, err := w.Promote(ctx, promotion("prod", "2", "pr-prod"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Promote(ctx, promotion("staging", "2", "pr-staging")); err != nil {
		t.Fatal(err)
	}
	editOnMain(t, bare, "deploy/overlays/prod/values.yaml", "tune prod", func(s string) string { return s + "# tuned\n" })
	_, head, err := w.PinnedEach(ctx, []string{"prod"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env, model, want string
	}{
		{"prod", "credit-risk", res.Commit},
		{"staging", "credit-risk", runGit(t, bare, "rev-parse", "main^")},
		{"prod", "fraud", head},
	} {
		if got, err := w.PinnedSince(ctx, head, tt.env, tt.model); err != nil || got != tt.want {
			t.Errorf("PinnedSince(%s, %s) = %s, %v; want %s", tt.env, tt.model, got, err, tt.want)
		}
	}
	if _, err := w.PinnedSince(ctx, head[:12], "prod", "credit-risk"); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("PinnedSince of an abbreviated hash = %v, want invalid", err)
	}
}
