package webui

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// TestLiveHistoryBounds: on a long alias history, the promotion page lists
// the newest sectionSize rollbacks of its version since it, and the version
// page the newest sectionSize times the version was live; each links to the
// audit log, which lists the older ones left out.
func TestLiveHistoryBounds(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	succeeded, err := f.env.Service.Promotion(ctx, f.demo.Succeeded)
	if err != nil {
		t.Fatal(err)
	}
	p := succeeded.Promotion // credit-risk 1 in prod, live
	const rounds = sectionSize + 3
	// Each round, 1 is rolled back to 2, then made live again.
	at := webuitest.Start.Add(30 * 24 * time.Hour)
	if err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
		for i := range rounds {
			for _, c := range []struct {
				l      promote.Live
				action string
			}{
				{promote.Live{Version: "2", PromotionID: fmt.Sprintf("rb_%02d", i), SetBy: "sre", Reason: fmt.Sprintf("round %02d", i), RollbackOf: p.Version}, promote.ActionRolledBack},
				{promote.Live{Version: p.Version, PromotionID: fmt.Sprintf("re_%02d", i), SetBy: "sre", Reason: "again"}, promote.ActionLiveChanged},
			} {
				at = at.Add(time.Minute)
				l := c.l
				l.Model, l.Environment, l.SetAt = p.Model, p.Environment, at
				if err := tx.SetLive(l); err != nil {
					return err
				}
				if _, err := tx.AppendAudit(promote.AuditEvent{Time: at, Actor: "sre", Action: c.action, Model: p.Model, Version: l.Version,
					Environment: p.Environment, PromotionID: l.PromotionID, Digest: p.Digest, Decision: "live"}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	// auditIDs is the promotion IDs of the events the audit page at path
	// lists.
	auditIDs := func(path string) string {
		t.Helper()
		a := b.get(path)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, a.status)
		}
		var ids []string
		for _, r := range a.all("audit-row") {
			ids = append(ids, text(byTag(r, "td")[6]))
		}
		return strings.Join(ids, " ")
	}

	page := b.get(Prefix + "/promotions/" + p.ID)
	rollbacks := page.all("rollback-commit")
	if len(rollbacks) != sectionSize {
		t.Fatalf("the promotion page lists %d rollbacks, want the newest %d of %d", len(rollbacks), sectionSize, rounds)
	}
	// Oldest first: the first shown is the oldest of the newest.
	for i, want := range map[int]string{0: fmt.Sprintf("round %02d", rounds-sectionSize), sectionSize - 1: fmt.Sprintf("round %02d", rounds-1)} {
		if got := text(rollbacks[i]); !strings.Contains(got, "Rolled back to 2 by sre") || !strings.Contains(got, want) {
			t.Errorf("rollback %d = %q, want %s's", i, got, want)
		}
	}
	more := attr(byTag(page.one(t, "more-rollbacks"), "a")[0], "href")
	if want := "/ui/audit?action=live.rolled_back&environment=prod&model=credit-risk"; more != want {
		t.Errorf("the link to every rollback = %q, want %q", more, want)
	}
	if got := auditIDs(more); !strings.Contains(got, "rb_00") || !strings.Contains(got, fmt.Sprintf("rb_%02d", rounds-1)) {
		t.Errorf("the audit log the promotion page links to lists %q, want the oldest rollback rb_00 and the newest", got)
	}

	version := b.get(Prefix + "/models/" + p.Model + "/versions/" + p.Version)
	var prod *html.Node
	for _, s := range version.all("env-history") {
		if attr(s, "data-env") == p.Environment {
			prod = s
		}
	}
	if prod == nil {
		t.Fatal("the version page has no prod section")
	}
	periods := byTag(prod, "li")
	if len(periods) != sectionSize {
		t.Fatalf("the version page lists %d periods in prod, want the newest %d of %d", len(periods), sectionSize, rounds+1)
	}
	if got := text(periods[0]); !strings.Contains(got, "until now") {
		t.Errorf("the newest period = %q, want it live until now", got)
	}
	if got := text(periods[1]); !strings.Contains(got, "(rolled back to 2)") {
		t.Errorf("the second period = %q, want it ended by the rollback to 2", got)
	}
	if len(byTestID(prod, "live-now")) != 1 {
		t.Error("the version's prod section does not say it is live now")
	}
	links := byTestID(prod, "more-periods")
	if len(links) != 1 {
		t.Fatalf("the prod section has %d links to the older periods, want 1", len(links))
	}
	more = attr(byTag(links[0], "a")[0], "href")
	if want := "/ui/audit?environment=prod&model=credit-risk&version=1"; more != want {
		t.Errorf("the link to every period = %q, want %q", more, want)
	}
	if got := auditIDs(more); !strings.Contains(got, "re_00") || !strings.Contains(got, p.ID) {
		t.Errorf("the audit log the version page links to lists %q, want the oldest change re_00 and the promotion %s", got, p.ID)
	}
}
