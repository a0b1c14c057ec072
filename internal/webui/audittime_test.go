package webui

import (
	"net/http"
	"strings"
	"testing"
)

// The audit page's Since and Until take what the command line takes,
// a duration back from now included.
func TestAuditPageRelativeSince(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	// The demo's events are from 2026-11-18: none in the last hour,
	// all in the last 10,000 days.
	if p := b.get(Prefix + "/audit?since=1h"); p.status != http.StatusOK || len(byTestID(p.doc, "audit-row")) != 0 {
		t.Errorf("GET /audit?since=1h = %d with %d rows, want 200 and none", p.status, len(byTestID(p.doc, "audit-row")))
	}
	if p := b.get(Prefix + "/audit?since=10000d"); p.status != http.StatusOK || len(byTestID(p.doc, "audit-row")) == 0 {
		t.Errorf("GET /audit?since=10000d = %d with %d rows, want 200 and the demo's events", p.status, len(byTestID(p.doc, "audit-row")))
	}
	if p := b.get(Prefix + "/audit?since=soon"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "duration back from now") {
		t.Errorf("GET /audit?since=soon = %d, want 400 saying what a time may be", p.status)
	}
}
