package webui

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/invisible"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// A right-to-left override (U+202E) in a person's text — a note, a
// comment, a reason, a description — would make the reader see its words
// in another order than they were written (CVE-2021-42574). Every page
// kind shows such characters as their code points, ⟨U+202E⟩, in every
// field that comes from a person, a file or another server, and keeps the
// note's line breaks.
func TestPagesRevealInvisibleCharacters(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	as := f.env.Principals
	const rlo, shown = "\u202e", "⟨U+202E⟩"

	if _, err := f.env.Service.CreateModel(ctx, as["alice"], "bidi-model", "Scores "+rlo+"loans"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Service.SetHold(ctx, as["root"], "credit-risk", "2", "dev", "flaky "+rlo+"tests"); err != nil {
		t.Fatal(err)
	}
	cleared, err := f.env.Service.SetHold(ctx, as["root"], "fraud-detector", "1", "dev", "audit pending")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Service.ClearHold(ctx, as["root"], cleared.ID, "audit "+rlo+"done"); err != nil {
		t.Fatal(err)
	}
	waiting, err := f.env.Service.Promotion(ctx, f.demo.Awaiting)
	if err != nil {
		t.Fatal(err)
	}
	p := waiting.Promotion
	noted, err := f.env.Service.RequestPromotion(ctx, promote.Principal{Name: p.RequestedBy, Role: promote.RoleSubmitter},
		registry.PromoteRequest{Model: p.Model, Version: p.Version, Environment: p.Environment, Note: "retrained;\nsee the " + rlo + "report"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.env.RecordDeliveries(ctx, promote.WebhookDelivery{ID: "dl_2", EventID: "ev_43", EventType: "promotion.approved",
		Endpoint: "https://hooks.example.com/promote", Attempt: 1, Status: notify.StatusFailed, At: webuitest.Start.Add(73 * time.Hour),
		Code: 500, Error: "receiver answered 500: " + rlo + "gnorw"}); err != nil {
		t.Fatal(err)
	}
	// Names are letters, digits and a few marks when the service stores
	// them, so a requester or a rollout's reason with such a character
	// comes only from a store written otherwise: it is shown the same way.
	db := f.rawDB()
	if _, err := db.ExecContext(ctx, `UPDATE promotions SET requested_by = $1 WHERE id = $2`, "mallory"+rlo+"eci", f.demo.Succeeded); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE rollouts SET reason = $1 WHERE promotion_id = $2`, "paused by "+rlo+"nobody", f.demo.RolledBack); err != nil {
		t.Fatal(err)
	}

	b := f.signIn("bob")
	for _, tt := range []struct {
		kind, path string
		status     int
		want       string
	}{
		{"pipeline", Prefix + "/", http.StatusOK, "flaky " + shown + "tests"},
		{"promotion", Prefix + "/promotions/" + noted.Promotion.ID, http.StatusOK, "retrained;\nsee the " + shown + "report"},
		{"version", Prefix + "/models/credit-risk/versions/2", http.StatusOK, "flaky " + shown + "tests"},
		{"model", Prefix + "/models/bidi-model", http.StatusOK, "Scores " + shown + "loans"},
		{"promotions", Prefix + "/promotions?model=credit-risk", http.StatusOK, "mallory" + shown + "eci"},
		{"rollouts", Prefix + "/rollouts", http.StatusOK, "paused by " + shown + "nobody"},
		{"holds", Prefix + "/holds", http.StatusOK, "audit " + shown + "done"},
		{"audit", Prefix + "/audit?action=hold.set", http.StatusOK, "flaky " + shown + "tests"},
		{"webhooks", Prefix + "/webhooks", http.StatusOK, "receiver answered 500: " + shown + "gnorw"},
		{"error", Prefix + "/no%E2%80%AEsuch", http.StatusNotFound, "/ui/no" + shown + "such"},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			res := b.get(tt.path)
			if res.status != tt.status {
				t.Fatalf("GET %s = %d, want %d:\n%s", tt.path, res.status, tt.status, res.body)
			}
			if i := strings.IndexFunc(res.body, invisible.Is); i >= 0 {
				t.Errorf("GET %s sends %U as it is:\n%s", tt.path, []rune(res.body[i:])[0], res.body)
			}
			if !strings.Contains(res.body, tt.want) {
				t.Errorf("GET %s does not show %q:\n%s", tt.path, tt.want, res.body)
			}
		})
	}
}
