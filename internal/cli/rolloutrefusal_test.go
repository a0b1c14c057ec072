package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What a person is told when a rollout command does not apply: an
// operation on a rollout that has ended says that it has ended and how,
// and show of a promotion that has no rollout says what the promotion is,
// as the operations do. Each exits non-zero and changes nothing.
func TestRolloutRefusalsSayWhy(t *testing.T) {
	c := newCanarySetup(t, slowCanaryPolicy)
	_, _, cli, id2, _ := midCanary(t, c)
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := (*cli)(c.lead, args...)
		if code != want {
			t.Fatalf("promote %s = exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}
	revision := func(id string) int64 {
		t.Helper()
		var r struct {
			Revision int64  `json:"revision"`
			State    string `json:"state"`
		}
		if err := json.Unmarshal([]byte(run(ExitOK, "rollout", "show", id, "-o", "json")), &r); err != nil {
			t.Fatal(err)
		}
		return r.Revision
	}
	var rollouts []struct {
		PromotionID string `json:"promotion_id"`
	}
	if err := json.Unmarshal([]byte(run(ExitOK, "rollout", "list", "-o", "json")), &rollouts); err != nil || len(rollouts) != 2 {
		t.Fatalf("rollout list = %v, %+v; want two rollouts", err, rollouts)
	}
	id1 := rollouts[1].PromotionID
	run(ExitOK, "rollout", "abort", id2, "--reason", "wrong feature flags")
	events := run(ExitOK, "audit", "verify")

	for _, tt := range []struct {
		id, want string
	}{
		{id1, "the rollout of credit-risk 1 in prod has ended: it succeeded"},
		{id2, "the rollout of credit-risk 2 in prod has ended: it was rolled back"},
	} {
		before := revision(tt.id)
		for _, verb := range []string{"pause", "resume", "abort", "promote"} {
			if got := run(ExitBlocked, "rollout", verb, tt.id, "--reason", "a look"); !strings.Contains(got, tt.want) {
				t.Errorf("rollout %s of an ended rollout says %q, want %q", verb, got, tt.want)
			}
		}
		if after := revision(tt.id); after != before {
			t.Errorf("refused operations moved the rollout from revision %d to %d", before, after)
		}
	}
	if got := run(ExitOK, "audit", "verify"); got != events {
		t.Errorf("refused operations changed the audit log: %q, then %q", events, got)
	}

	// A promotion the gate blocked has no rollout, and never will.
	metrics := filepath.Join(t.TempDir(), "metrics.json")
	os.WriteFile(metrics, []byte(`{"accuracy": 0.9, "checks": {"tests_passed": false}}`), 0o644)
	code, out, errOut := (*cli)(c.ci, "versions", "register", "credit-risk", "3", "--artifact", filepath.Join(c.art, "model-3.bin"), "--metrics", metrics)
	if code != ExitOK {
		t.Fatalf("versions register 3: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = (*cli)(c.ci, "request", "credit-risk", "3", "--to", "prod", "-o", "json")
	var p struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &p); code != ExitBlocked || err != nil || p.State != "blocked" {
		t.Fatalf("request of 3 = exit %d, %v, %s; want blocked", code, err, out)
	}
	want := "promotion " + p.ID + " of credit-risk 3 to prod is blocked and has no rollout to show"
	if got := run(ExitUsage, "rollout", "show", p.ID); !strings.Contains(got, want) {
		t.Errorf("rollout show of a blocked promotion says %q, want %q", got, want)
	}
	if got := run(ExitUsage, "rollout", "show", "pr_0000000000000000"); !strings.Contains(got, `"pr_0000000000000000" not found`) {
		t.Errorf("rollout show of an unknown promotion says %q, want it not found", got)
	}
}
