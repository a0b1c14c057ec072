package httpapi

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// TestMalformedQueryRefused: a query string that does not parse is refused
// as a whole. Were the parameters it could not read dropped, a filter would
// vanish and the listing widen to everything, and a parameter the route
// does not take would pass unseen.
func TestMalformedQueryRefused(t *testing.T) {
	f := newFixture(t)
	f.model("churn")
	f.promoteTo("churn", "dev")
	var many strings.Builder
	many.WriteString("model=nosuch")
	for i := range 10000 {
		many.WriteString("&p")
		many.WriteString(strings.Repeat("x", i%7))
		many.WriteString("=1")
	}
	const ct = "application/json"
	tests := []struct {
		name, method, path, token, ct, body string
	}{
		{"bad escape drops a filter", "GET", "/api/v1/promotions?model=churn%zz", f.vera, "", ""},
		{"semicolon drops a filter", "GET", "/api/v1/promotions?model=nosuch;x", f.vera, "", ""},
		{"too many parameters drop every filter", "GET", "/api/v1/promotions?" + many.String(), f.vera, "", ""},
		{"bad escape in the audit filter", "GET", "/api/v1/audit?actor=nobody%zz", f.vera, "", ""},
		{"unknown parameter hidden on a write", "POST", "/api/v1/holds?dry_run=true;x", f.bob, ct,
			`{"model":"churn","version":"1","environment":"dev","reason":"x"}`},
		{"query hidden on a route that takes none", "GET", "/api/v1/models?x=%zz", f.vera, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.auditCount()
			var r rawResponse
			if tt.body != "" {
				r = f.do(tt.method, tt.path, tt.token, tt.ct, jsonBody(tt.body))
			} else {
				r = f.do(tt.method, tt.path, tt.token, tt.ct, nil)
			}
			path := tt.path
			if len(path) > 80 {
				path = path[:80] + "…"
			}
			if r.status != 400 || r.err.Error.Code != promote.Invalid || !strings.Contains(r.err.Error.Message, "malformed query string") {
				t.Errorf("%s %s = %d %s, want 400 invalid: malformed query string", tt.method, path, r.status, r.body)
			}
			if after := f.auditCount(); after != before {
				t.Errorf("audit events %d → %d: a refused request changed something", before, after)
			}
		})
	}
}

// TestRefusedTokenLogged: nothing throttles requests with a wrong token, so
// each is a warning that says where it came from, and never carries the
// token.
func TestRefusedTokenLogged(t *testing.T) {
	f := newFixture(t)
	f.do("GET", "/api/v1/models", "prm_guessedguessedguessed", "", nil)
	f.do("GET", "/api/v1/audit", "", "", nil)
	f.do("GET", "/api/v1/models", f.vera, "", nil)
	logs := f.logs.String()
	if strings.Contains(logs, "prm_guessedguessedguessed") {
		t.Fatalf("the refused token is in the log:\n%s", logs)
	}
	for _, route := range []string{`route="GET /api/v1/models"`, `route="GET /api/v1/audit"`} {
		found := false
		for line := range strings.Lines(logs) {
			if !strings.Contains(line, route) || !strings.Contains(line, "status=401") {
				continue
			}
			found = true
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "remote=127.0.0.1:") {
				t.Errorf("refused request logged as %q, want a warning with the remote address", line)
			}
		}
		if !found {
			t.Errorf("no 401 line for %s:\n%s", route, logs)
		}
	}
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "actor=vera") && (strings.Contains(line, "remote=") || !strings.Contains(line, "level=INFO")) {
			t.Errorf("an accepted request logged as %q, want an info line without the address", line)
		}
	}
}
