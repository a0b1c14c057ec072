package webui

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// TestRefusedSignInLogged: nothing throttles sign-ins, so a refused token
// is a warning in the log that says where it came from, and never
// carries the token itself.
func TestRefusedSignInLogged(t *testing.T) {
	var logs testtool.Buffer
	f := newFixture(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	b := f.browser()
	for _, token := range []string{"prm_guessedguessedguessed", "not-even-a-token"} {
		login := b.get(Prefix + "/login")
		res := b.post(Prefix+"/login", url.Values{"csrf": {login.csrf(t)}, "token": {token}})
		if res.status != http.StatusUnauthorized {
			t.Fatalf("sign in with %q = %d, want 401", token, res.status)
		}
		if strings.Contains(logs.String(), token) {
			t.Fatalf("the refused token is in the log:\n%s", logs.String())
		}
	}
	var refused []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "sign-in refused") {
			refused = append(refused, line)
		}
	}
	if len(refused) != 2 {
		t.Fatalf("%d lines say a sign-in was refused, want 2:\n%s", len(refused), logs.String())
	}
	for _, line := range refused {
		if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "remote=127.0.0.1:") || !strings.Contains(line, "status=401") {
			t.Errorf("refused sign-in logged as %q, want a warning with the remote address and the status", line)
		}
	}
}

// TestAuditPageMalformedQuery: a query string that does not parse is
// refused, not read in part; a filter lost that way would show the whole
// log as if it were filtered.
func TestAuditPageMalformedQuery(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	for _, q := range []string{"model=x%zz", "model=x;action=hold.set", "actor=%"} {
		res := b.get(Prefix + "/audit?" + q)
		if res.status != http.StatusBadRequest || !strings.Contains(res.body, "malformed query string") {
			t.Errorf("GET /audit?%s = %d, want 400 naming the malformed query string:\n%.300s", q, res.status, res.body)
		}
	}
	if res := b.get(Prefix + "/audit?model=x"); res.status != http.StatusOK {
		t.Errorf("GET /audit?model=x = %d, want 200", res.status)
	}
}

// TestAuditCSVCancelled: a person who cancels a long CSV download is not
// an error in the log; the server says the client went away.
func TestAuditCSVCancelled(t *testing.T) {
	var logs testtool.Buffer
	f := newFixture(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	err := f.env.Store.Update(t.Context(), func(tx promote.Tx) error {
		for i := range 20000 {
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: "ci",
				Action: promote.ActionHoldCleared, Model: "m", Reasons: json.RawMessage(`["` + strings.Repeat("x", 200) + `"]`)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+Prefix+"/audit.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatalf("read the start of the CSV: %v", err)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "cancelled by the client") {
		if time.Now().After(deadline) {
			t.Fatalf("no line says the client cancelled the download:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a cancelled download is logged as an error:\n%s", logs.String())
	}
}
