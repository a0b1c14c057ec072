package webui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// An approval made in a session records the token the session was opened
// with, and the audit page's token filter lists what that token did.
func TestAuditPageTokenFilter(t *testing.T) {
	f := newFixture(t)
	f.approveAwaiting(t) // as bob, in a session
	tokens, err := f.env.Service.Tokens(t.Context(), promote.Principal{Name: "auditor", Role: promote.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	var bobs string
	for _, tok := range tokens {
		if tok.Name == "bob" {
			bobs = tok.ID
		}
	}
	want, err := f.env.Service.AuditEvents(t.Context(), promote.AuditFilter{TokenID: bobs})
	if err != nil || len(want) == 0 || want[len(want)-1].Action != promote.ActionPromotionApproval {
		t.Fatalf("AuditEvents(bob's token %s) = %+v, %v; want bob's approval first", bobs, want, err)
	}
	b := f.signIn("vera")
	p := b.get(Prefix + "/audit?token=" + bobs)
	rows := byTestID(p.doc, "audit-row")
	if p.status != http.StatusOK || len(rows) != len(want) {
		t.Fatalf("GET /audit?token=%s = %d with %d rows, want 200 and bob's %d events", bobs, p.status, len(rows), len(want))
	}
	for i, r := range rows {
		if got := attr(r, "data-action"); got != want[i].Action {
			t.Errorf("row %d is %s, want %s", i, got, want[i].Action)
		}
	}
	// Each row shows the token's ID, a link to every event made with it;
	// an event made with no token shows none.
	for i, r := range rows {
		links := byTestID(r, "audit-token")
		if len(links) != 1 || text(links[0]) != bobs || attr(links[0], "href") != Prefix+"/audit?token="+bobs {
			t.Errorf("row %d (%s) shows token links %d, want one to %s?token=%s", i, attr(r, "data-seq"), len(links), Prefix+"/audit", bobs)
		}
	}
	for _, r := range byTestID(b.get(Prefix+"/audit?actor=local-admin").doc, "audit-row") {
		if links := byTestID(r, "audit-token"); len(links) != 0 {
			t.Errorf("local-admin's event %s shows a token, %q", attr(r, "data-seq"), text(links[0]))
		}
	}
	// The CSV of the same filter lists the same events, each with the
	// token's ID, as a spreadsheet of everything needs to tell bob's
	// tokens apart; without the filter, the row of an event made with no
	// token (local-admin's, Promote's own) leaves it empty.
	csvRows := readCSV(t, b.get(Prefix+"/audit.csv?token="+bobs))
	tokenCol := csvColumn(t, "token_id")
	if len(csvRows) != len(want) {
		t.Fatalf("GET /audit.csv?token=%s = %d rows, want bob's %d events", bobs, len(csvRows), len(want))
	}
	for i, r := range csvRows {
		if r[0] != fmt.Sprint(want[i].Seq) || r[tokenCol] != bobs {
			t.Errorf("CSV row %d = event %s with token_id %q, want event %d with %s", i, r[0], r[tokenCol], want[i].Seq, bobs)
		}
	}
	all, err := f.env.Service.AuditEvents(t.Context(), promote.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range readCSV(t, b.get(Prefix+"/audit.csv")) {
		if i < len(all) && r[tokenCol] != all[i].TokenID {
			t.Errorf("CSV row of event %s: token_id %q, want %q", r[0], r[tokenCol], all[i].TokenID)
		}
	}
	if p := b.get(Prefix + "/audit?token=tok_0000000000000000"); p.status != http.StatusOK || len(byTestID(p.doc, "audit-row")) != 0 {
		t.Errorf("GET /audit?token=<another token> = %d with %d rows, want 200 and none", p.status, len(byTestID(p.doc, "audit-row")))
	}
	secret := f.env.Tokens["bob"]
	p = b.get(Prefix + "/audit?token=" + url.QueryEscape(secret))
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "not its ID") {
		t.Errorf("GET /audit?token=<a secret> = %d, want 400 saying it is not an ID", p.status)
	}
	if strings.Contains(p.body, secret) {
		t.Error("the audit page shows back a token's secret given as a token ID")
	}
}
