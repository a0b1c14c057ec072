package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A token in PROMOTE_TOKEN is a secret: help, which prints the flags'
// defaults, must not show it, and a command must still use it.
func TestClientTokenFromEnvironment(t *testing.T) {
	const secret = "prm_doesnotleakdoesnotleak"
	t.Setenv("PROMOTE_TOKEN", secret)
	t.Setenv("PROMOTE_SERVER", "http://127.0.0.1:1")
	for _, args := range [][]string{
		{"status", "--help"},
		{"rollout", "--help"},
		{"rollout", "watch", "--help"},
		{"audit", "list", "--help"},
		{"help", "approve"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := run(t, "", args...)
			if code != ExitOK {
				t.Fatalf("promote %s = exit %d, want 0; stderr:\n%s", strings.Join(args, " "), code, errOut)
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("promote %s shows the token from PROMOTE_TOKEN:\n%s", strings.Join(args, " "), out)
			}
			if !strings.Contains(out, "$PROMOTE_TOKEN") {
				t.Errorf("promote %s does not name $PROMOTE_TOKEN:\n%s", strings.Join(args, " "), out)
			}
		})
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"from the environment", nil, secret},
		{"the flag first", []string{"--token", "prm_fromtheflag"}, "prm_fromtheflag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				http.Error(w, `{"error":{"code":"not_found","message":"no such model"}}`, http.StatusNotFound)
			}))
			defer srv.Close()
			run(t, "", append([]string{"status", "credit-risk", "--server", srv.URL}, tt.args...)...)
			if got != tt.want {
				t.Errorf("promote status %s sent the token %q, want %q", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}
}

// TestWhen checks that the times in tables name their zone and are the
// same whatever the machine's: an audit list read on a laptop in New York
// and one in a CI job must agree with the events' UTC times.
func TestWhen(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc", time.Date(2026, 11, 26, 13, 56, 11, 900, time.UTC), "2026-11-26 13:56:11 UTC"},
		{"another zone", time.Date(2026, 11, 26, 8, 56, 11, 0, time.FixedZone("EST", -5*3600)), "2026-11-26 13:56:11 UTC"},
		{"zero", time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := when(tt.in); got != tt.want {
				t.Errorf("when(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A listing's --limit outside 1 to 1,000, or a negative --before or
// --after, is bad input, refused before the server is asked: the client
// left such values out of the request, so that --limit -5 listed 100.
func TestListingsRefuseBadLimits(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
	}))
	defer srv.Close()
	for _, tt := range []struct {
		args []string
		code int
		want string // in stderr, or the query sent
	}{
		{[]string{"promotions", "list", "--limit", "-5"}, ExitUsage, "--limit -5: want a number from 1 to 1000"},
		{[]string{"promotions", "list", "--limit", "0"}, ExitUsage, "--limit 0: want a number from 1 to 1000"},
		{[]string{"promotions", "list", "--limit", "1001"}, ExitUsage, "--limit 1001: want a number from 1 to 1000"},
		{[]string{"webhooks", "deliveries", "--limit", "-1"}, ExitUsage, "--limit -1: want a number from 1 to 1000"},
		{[]string{"audit", "list", "--limit", "-1"}, ExitUsage, "--limit -1: want a number from 1 to 1000"},
		{[]string{"audit", "list", "--before", "-1"}, ExitUsage, "--before -1: want a sequence number"},
		{[]string{"audit", "list", "--after", "-7"}, ExitUsage, "--after -7: want a sequence number"},
		{[]string{"versions", "list", "m", "--limit", "0"}, ExitUsage, "--limit 0: want a number from 1 to 1000"},
		{[]string{"versions", "list", "m", "--limit", "1001"}, ExitUsage, "--limit 1001: want a number from 1 to 1000"},
		{[]string{"versions", "list", "m", "--before", "-1"}, ExitUsage, "--before -1: want a sequence number, a whole number from 1 (see promote versions list)"},
		{[]string{"versions", "list", "m", "--after", "-2"}, ExitUsage, "--after -2: want a sequence number, a whole number from 1 (see promote versions list)"},
		{[]string{"versions", "list", "m", "--limit", "20", "--before", "1841"}, ExitOK, "before=1841&limit=20"},
		{[]string{"versions", "list", "m"}, ExitOK, ""},
		{[]string{"promotions", "list", "--before", "-1"}, ExitUsage, "--before -1: want a sequence number, a whole number from 1 (see promote promotions list)"},
		{[]string{"promotions", "list", "--model", "m", "--after", "-3"}, ExitUsage, "--after -3: want a sequence number, a whole number from 1 (see promote promotions list)"},
		{[]string{"promotions", "list", "--limit", "20", "--before", "311"}, ExitOK, "before=311&limit=20"},
		{[]string{"promotions", "list", "--after", "7"}, ExitOK, "after=7"},
		{[]string{"holds", "list", "--limit", "0"}, ExitUsage, "--limit 0: want a number from 1 to 1000"},
		{[]string{"holds", "list", "--before", "-4"}, ExitUsage, "--before -4: want a hold's ID, a whole number from 1 (see promote holds list)"},
		{[]string{"holds", "list", "--all", "--limit", "20", "--after", "118"}, ExitOK, "after=118&all=true&limit=20"},
		{[]string{"rollout", "list", "--limit", "1001"}, ExitUsage, "--limit 1001: want a number from 1 to 1000"},
		{[]string{"rollout", "list", "--after", "-5"}, ExitUsage, "--after -5: want a sequence number, a whole number from 1 (see promote rollout list)"},
		{[]string{"rollouts", "list", "--limit", "20", "--before", "87"}, ExitOK, "before=87&limit=20"},
		{[]string{"rollout", "list"}, ExitOK, ""},
		{[]string{"promotions", "list", "--limit", "5"}, ExitOK, "limit=5"},
		{[]string{"webhooks", "deliveries", "--limit", "1000"}, ExitOK, "limit=1000"},
		{[]string{"audit", "list", "--limit", "3", "--after", "2"}, ExitOK, "after=2&limit=3"},
		{[]string{"promotions", "list"}, ExitOK, ""},
		{[]string{"promotions", "list", "--state", "awaiting"}, ExitUsage, `--state "awaiting": want one of requested, gated, blocked, awaiting_approval, approved`},
		{[]string{"promotions", "list", "--state", "awaiting_approval"}, ExitOK, "state=awaiting_approval"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			queries = nil
			code, _, errOut := run(t, "", append(tt.args, "--server", srv.URL, "--token", "prm_t")...)
			if code != tt.code {
				t.Fatalf("promote %s = exit %d, want %d; stderr: %s", strings.Join(tt.args, " "), code, tt.code, errOut)
			}
			if tt.code != ExitOK {
				if !strings.Contains(errOut, tt.want) || len(queries) != 0 {
					t.Errorf("promote %s: stderr %q, %d requests; want %q and none", strings.Join(tt.args, " "), errOut, len(queries), tt.want)
				}
				return
			}
			if len(queries) != 1 || queries[0] != tt.want {
				t.Errorf("promote %s sent %q, want one request with query %q", strings.Join(tt.args, " "), queries, tt.want)
			}
		})
	}
	// Both wrong, the same one is named each time: the first on the line
	// of the help, --before.
	for i := range 20 {
		_, _, errOut := run(t, "", "audit", "list", "--after", "-7", "--before", "-1", "--server", srv.URL, "--token", "prm_t")
		if !strings.Contains(errOut, "--before -1: want a sequence number") {
			t.Fatalf("promote audit list --after -7 --before -1 (run %d): stderr %q, want it to name --before each time", i+1, errOut)
		}
	}
}
